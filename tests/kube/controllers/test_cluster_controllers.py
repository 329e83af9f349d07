"""The controllers inside the assembled simulated cluster (real API server, scheduler and kubelet)."""

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.store import ResourceKey
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

EVENTS = ResourceKey("", "events")
PODS = ResourceKey("", "pods")
RS = ResourceKey("apps", "replicasets")


@pytest.fixture
def kind() -> Cluster:
    clock = Clock(seed=3)
    cluster = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(ClusterSpec())
    clock.run_until(5)
    return cluster


def nginx(sa: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"serviceAccountName": sa, "containers": [{"name": "nginx",
                                                                                     "image": "nginx"}]}}}}


def events(cluster: Cluster, component: str) -> list[tuple[str, str, int, str, str]]:
    found = sorted((e for e in cluster.store.iter(EVENTS, "default") if e["source"]["component"] == component),
                   key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [(e["firstTimestamp"][11:], e["lastTimestamp"][11:], e["count"], e["reason"], e["message"]) for e in found]


def test_every_namespace_gets_default_account_and_root_ca(kind: Cluster) -> None:
    for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"):
        assert kind.store.peek(ResourceKey("", "serviceaccounts"), ns, "default") is not None
        cm = kind.store.peek(ResourceKey("", "configmaps"), ns, "kube-root-ca.crt")
        assert cm is not None and cm["data"]["ca.crt"] == kind.pki.ca.pem()


def test_missing_service_account_then_created(kind: Cluster) -> None:
    kind.apply_object(nginx("x"))
    kind.clock.run_until(8)
    kind.apply_object({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "default"}})
    kind.clock.run_until(40)
    [rs] = [o["metadata"]["name"] for o in kind.store.iter(RS, "default")]
    [pod] = [o["metadata"]["name"] for o in kind.store.iter(PODS, "default")]
    assert events(kind, "deployment-controller") == [
        ("09:57:05Z", "09:57:05Z", 1, "ScalingReplicaSet", f"Scaled up replica set {rs} to 1")]
    # Ten failures 5 ms * 2^n apart (the last at 5.0 + 2.555 s); the next retry at 5.0 + 5.115 s succeeds.
    assert events(kind, "replicaset-controller") == [
        ("09:57:05Z", "09:57:07Z", 10, "FailedCreate",
         (f'Error creating: pods "{rs}-" is forbidden: error looking up service account default/x: '
          'serviceaccount "x" not found')),
        ("09:57:10Z", "09:57:10Z", 1, "SuccessfulCreate", f"Created pod: {pod}")]
    status = kind.store.get(ResourceKey("apps", "deployments"), "default", "nginx")["status"]
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Available", "True", "MinimumReplicasAvailable"), ("Progressing", "True", "NewReplicaSetAvailable")]


def test_deleting_the_deployment_collects_replicaset_and_pods(kind: Cluster) -> None:
    kind.apply_object(nginx("default"))
    kind.clock.run_until(20)
    kind.client.delete("apps/v1", "deployments", "default", "nginx")
    kind.clock.run_until(21)
    assert list(kind.store.iter(RS, "default")) == []
    # The collector deleted the pod too; the kubelet stopped it and removed the object.
    assert list(kind.store.iter(PODS, "default")) == []
    assert any(r.component == "garbage-collector-controller" and r.subject.startswith("Pod default/nginx-")
               for r in kind.trace.records)
