from conftest import Cluster

from meshrepro.kube.controllers.rootca import DESCRIPTION, RootCACertPublisher
from meshrepro.kube.controllers.serviceaccount import ServiceAccountController
from meshrepro.kube.store import ResourceKey

SA = ResourceKey("", "serviceaccounts")
CM = ResourceKey("", "configmaps")
NS = ResourceKey("", "namespaces")


def test_default_service_account_in_existing_and_new_namespaces(cluster: Cluster) -> None:
    cluster.namespace("default")
    cluster.start(ServiceAccountController(cluster.ctx))
    cluster.run(1)
    sa = cluster.store.get(SA, "default", "default")
    assert sa is not None and sa["metadata"]["creationTimestamp"] == "2024-01-18T09:57:00Z"
    cluster.run(5)
    cluster.namespace("team")
    cluster.run(6)
    assert cluster.store.get(SA, "team", "default")["metadata"]["creationTimestamp"] == "2024-01-18T09:57:05Z"


def test_deleted_default_service_account_is_recreated(cluster: Cluster) -> None:
    cluster.namespace("default")
    cluster.start(ServiceAccountController(cluster.ctx))
    cluster.run(1)
    first = cluster.store.get(SA, "default", "default")["metadata"]["uid"]
    cluster.client.delete("v1", "serviceaccounts", "default", "default")
    cluster.run(2)
    assert cluster.store.get(SA, "default", "default")["metadata"]["uid"] != first


def test_no_service_account_in_terminating_namespace(cluster: Cluster) -> None:
    ns = cluster.namespace("gone")
    ns["metadata"]["deletionTimestamp"] = "2024-01-18T09:57:00Z"
    ns["status"] = {"phase": "Terminating"}
    cluster.store.put(NS, ns)
    cluster.start(ServiceAccountController(cluster.ctx))
    cluster.run(1)
    assert cluster.store.get(SA, "gone", "default") is None


def test_root_ca_config_map_published_and_repaired(cluster: Cluster) -> None:
    cluster.namespace("default")
    cluster.start(RootCACertPublisher(cluster.ctx, ca_pem="-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"))
    cluster.run(1)
    cm = cluster.store.get(CM, "default", "kube-root-ca.crt")
    assert cm["data"] == {"ca.crt": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"}
    assert cm["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}
    assert DESCRIPTION.startswith("Contains a CA bundle that can be used to verify the kube-apiserver")
    cm["data"] = {"ca.crt": "tampered"}
    cluster.client.update("v1", "configmaps", cm)
    cluster.run(2)
    assert cluster.store.get(CM, "default", "kube-root-ca.crt")["data"]["ca.crt"].startswith("-----BEGIN")
    cluster.client.delete("v1", "configmaps", "default", "kube-root-ca.crt")
    cluster.run(3)
    assert cluster.store.get(CM, "default", "kube-root-ca.crt") is not None
