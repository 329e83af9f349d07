from conftest import Cluster

from meshrepro.kube.controllers.endpoints import EndpointsController, EndpointSliceController
from meshrepro.kube.store import ResourceKey

PODS = ResourceKey("", "pods")
SVC = ResourceKey("", "services")
EP = ResourceKey("", "endpoints")
SLICES = ResourceKey("discovery.k8s.io", "endpointslices")


def service(publish: bool = False) -> dict:
    spec = {"selector": {"app": "web"}, "clusterIP": "10.96.10.10",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}]}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default",
                                                               "labels": {"app": "web"}}, "spec": spec}


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
                                                           "labels": {"app": "web"}},
            "spec": {"serviceAccountName": "default",
                     "containers": [{"name": "c", "image": "nginx",
                                     "ports": [{"name": "web", "containerPort": 8080, "protocol": "TCP"}]}]}}


def setup(c: Cluster, publish: bool = False) -> None:
    c.namespace("default")
    c.put(ResourceKey("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                               "metadata": {"name": "default", "namespace": "default"}})
    c.put(SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}})
    c.put(SVC, service(publish))
    c.start(EndpointSliceController(c.ctx), EndpointsController(c.ctx))


def test_placeholder_then_ready_and_not_ready_pods(cluster: Cluster) -> None:
    c = cluster
    setup(c)
    c.run(1)
    [placeholder] = c.store.list(SLICES, "default")
    assert placeholder["metadata"]["name"].startswith("web-") and len(placeholder["metadata"]["name"]) == 9
    assert placeholder["endpoints"] is None and placeholder["ports"] is None
    assert placeholder["metadata"]["labels"] == {"app": "web",
                                                 "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                                 "kubernetes.io/service-name": "web"}
    assert c.store.get(EP, "default", "web")["metadata"]["labels"] == {"app": "web"}
    assert "subsets" not in c.store.get(EP, "default", "web")
    assert c.store.get(EP, "default", "kubernetes") is None  # no selector: not ours

    a = c.put(PODS, pod("web-a"))
    b = c.put(PODS, pod("web-b"))
    c.run(2)
    c.set_pod("default", "web-a", ip="10.244.0.7")
    c.set_pod("default", "web-b", ip="10.244.0.6", ready=False)
    c.run(3)
    [s] = c.store.list(SLICES, "default")
    assert s["metadata"]["name"] == placeholder["metadata"]["name"]  # the placeholder is reused
    assert s["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert s["endpoints"] == [
        {"addresses": ["10.244.0.7"], "conditions": {"ready": True, "serving": True, "terminating": False},
         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-a", "uid": a["metadata"]["uid"]},
         "nodeName": "kind-control-plane"},
        {"addresses": ["10.244.0.6"], "conditions": {"ready": False, "serving": False, "terminating": False},
         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-b", "uid": b["metadata"]["uid"]},
         "nodeName": "kind-control-plane"}]
    assert c.store.get(EP, "default", "web")["subsets"] == [{
        "addresses": [{"ip": "10.244.0.7", "nodeName": "kind-control-plane",
                       "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-a",
                                     "uid": a["metadata"]["uid"]}}],
        "notReadyAddresses": [{"ip": "10.244.0.6", "nodeName": "kind-control-plane",
                               "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-b",
                                             "uid": b["metadata"]["uid"]}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]

    # Terminating: still in the slice (terminating, not ready), gone from Endpoints.
    c.client.delete("v1", "pods", "default", "web-a")
    c.run(4)
    [s] = c.store.list(SLICES, "default")
    assert s["endpoints"][0]["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert "addresses" not in c.store.get(EP, "default", "web")["subsets"][0]


def test_publish_not_ready_addresses(cluster: Cluster) -> None:
    c = cluster
    setup(c, publish=True)
    c.put(PODS, pod("web-a"))
    c.run(1)
    c.set_pod("default", "web-a", ready=False)
    c.run(2)
    [s] = c.store.list(SLICES, "default")
    assert s["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert [a["ip"] for a in c.store.get(EP, "default", "web")["subsets"][0]["addresses"]] == ["10.244.0.5"]


def test_service_deletion_removes_endpoints(cluster: Cluster) -> None:
    c = cluster
    setup(c)
    c.run(1)
    c.client.delete("v1", "services", "default", "web")
    c.run(2)
    assert c.store.get(EP, "default", "web") is None


def test_service_pods_come_from_the_label_index_as_a_namespace_scan_would_find_them(cluster: Cluster) -> None:
    """Pods created before the controllers start, pods of other namespaces or labels, relabelled pods."""
    c = cluster
    c.namespace("default")
    c.namespace("other")
    for namespace in ("default", "other"):
        c.put(ResourceKey("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                   "metadata": {"name": "default", "namespace": namespace}})
    c.put(PODS, pod("web-early"))
    c.set_pod("default", "web-early", ip="10.244.0.9")
    elsewhere = pod("web-elsewhere")
    elsewhere["metadata"]["namespace"] = "other"
    c.put(PODS, elsewhere)
    c.set_pod("other", "web-elsewhere", ip="10.244.0.10")
    svc = service()
    svc["spec"]["selector"] = {"app": "web", "tier": "front"}
    c.put(SVC, svc)
    c.start(EndpointSliceController(c.ctx), EndpointsController(c.ctx))
    c.run(1)
    assert c.store.list(SLICES, "default")[0]["endpoints"] is None  # web-early lacks tier=front

    early = c.store.get(PODS, "default", "web-early")
    early["metadata"]["labels"]["tier"] = "front"
    c.client.update("v1", "pods", early)
    for name, ip in (("web-b", "10.244.0.6"), ("web-a", "10.244.0.7")):
        created = pod(name)
        created["metadata"]["labels"]["tier"] = "front"
        c.put(PODS, created)
        c.set_pod("default", name, ip=ip)
    c.run(2)
    [s] = c.store.list(SLICES, "default")
    assert [e["targetRef"]["name"] for e in s["endpoints"]] == ["web-a", "web-b", "web-early"]

    relabelled = c.store.get(PODS, "default", "web-b")
    relabelled["metadata"]["labels"] = {"app": "web"}
    c.client.update("v1", "pods", relabelled)
    c.client.delete("v1", "pods", "default", "web-early")
    c.run(3)
    [s] = c.store.list(SLICES, "default")
    assert [e["targetRef"]["name"] for e in s["endpoints"]] == ["web-a", "web-early"]  # web-early terminating
    assert [a["targetRef"]["name"] for a in c.store.get(EP, "default", "web")["subsets"][0]["addresses"]] == ["web-a"]
