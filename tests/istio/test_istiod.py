"""istiod's workload index: which pods each release publishes to ztunnel, and when the push lands."""

from __future__ import annotations

from typing import Any

import pytest

from meshrepro.istio.istiod import DEBOUNCE_AFTER, PUSH_LATENCY, STATIC_STRICT_POLICY, Istiod, Snapshot
from meshrepro.kube.store import ResourceKey, Store
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")


class _NoClient:
    """No namespaces exist in these tests, so istiod never writes."""

    def create(self, *args: Any) -> None:
        raise AssertionError("unexpected write")


NO_CLIENT: Any = _NoClient()


class Recorder:
    name = "ztunnel test"

    def __init__(self) -> None:
        self.pushes: list[tuple[float, Snapshot]] = []
        self.clock: Clock | None = None

    def on_push(self, snapshot: Snapshot) -> None:
        assert self.clock is not None
        self.pushes.append((self.clock.now, snapshot))

    def names(self) -> list[str]:
        return [w.name for w in self.pushes[-1][1].workloads] if self.pushes else []


def pod(name: str, phase: str, ip: str = "", *, ready: bool = False, host_network: bool = False,
        annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": name},
                         "annotations": annotations or {}},
            "spec": {"nodeName": "kind-control-plane", "serviceAccountName": "sa", "hostNetwork": host_network,
                     "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}]}]},
            "status": status}


def run(version: tuple[int, int, int], *pods: dict[str, Any], ambient: bool = True,
        extra: list[tuple[ResourceKey, dict[str, Any]]] = ()) -> tuple[Recorder, Istiod, Clock]:
    clock, store = Clock(seed=1), Store()
    istiod = Istiod(clock, store, NO_CLIENT, Trace(), version, ambient=ambient)
    recorder = Recorder()
    recorder.clock = clock
    istiod.start()
    istiod.connect(recorder)
    for key, obj in extra:
        store.put(key, obj)
    for p in pods:
        store.put(PODS, p)
    clock.env.run(until=5)
    return recorder, istiod, clock


@pytest.mark.parametrize("version, published", [
    ((1, 20, 2), False), ((1, 21, 0), False), ((1, 21, 1), False),
    ((1, 21, 2), True), ((1, 22, 0), True), ((1, 23, 0), True), ((1, 24, 0), True)])
def test_pending_pod_with_ip_is_published_from_the_fix(version: tuple[int, int, int], published: bool) -> None:
    recorder, _, _ = run(version, pod("init", "Pending", "10.244.0.14"))
    assert ("init" in recorder.names()) is published


@pytest.mark.parametrize("version", [(1, 20, 2), (1, 22, 3), (1, 24, 0)])
def test_running_pod_is_published_in_every_release(version: tuple[int, int, int]) -> None:
    recorder, _, _ = run(version, pod("web", "Running", "10.244.0.9", ready=True))
    [workload] = recorder.pushes[-1][1].workloads
    assert (workload.addresses, workload.status, workload.identity) == (
        ("10.244.0.9",), "HEALTHY", "spiffe://cluster.local/ns/default/sa/sa")


def test_pending_pod_without_ip_waits_for_its_ip_with_krt_but_not_in_the_legacy_index() -> None:
    krt, _, _ = run((1, 22, 0), pod("p", "Pending"))
    assert krt.names() == []
    legacy, _, _ = run((1, 21, 2), pod("p", "Pending"))
    assert legacy.names() == ["p"] and legacy.pushes[-1][1].workloads[0].addresses == ()


def test_legacy_index_ignores_an_update_that_only_adds_the_ip() -> None:
    """istio<=1.21 handlePod only recomputes on label/annotation/phase/readiness changes (caveat 3.3)."""
    clock, store = Clock(seed=1), Store()
    istiod = Istiod(clock, store, NO_CLIENT, Trace(), (1, 21, 2), ambient=True)
    istiod.start()
    store.put(PODS, pod("p", "Pending"))
    store.put(PODS, pod("p", "Pending", "10.244.0.7"))
    assert istiod.workloads[("default", "p")].addresses == ()
    krt = Istiod(clock, Store(), NO_CLIENT, Trace(), (1, 22, 0), ambient=True)
    krt.start()
    krt.store.put(PODS, pod("p", "Pending"))
    krt.store.put(PODS, pod("p", "Pending", "10.244.0.7"))
    assert krt.workloads[("default", "p")].addresses == ("10.244.0.7",)


def test_terminal_and_host_network_pods_by_release() -> None:
    assert run((1, 22, 0), pod("h", "Running", "172.18.0.2", host_network=True))[0].names() == []
    assert run((1, 24, 0), pod("h", "Running", "172.18.0.2", host_network=True))[0].names() == ["h"]
    assert run((1, 24, 0), pod("done", "Succeeded", "10.244.0.3"))[0].names() == []


def test_without_ambient_there_is_no_index() -> None:
    recorder, istiod, _ = run((1, 22, 0), pod("web", "Running", "10.244.0.9"), ambient=False)
    assert recorder.pushes == [] and istiod.workloads == {}


def test_push_lands_after_debounce_and_latency() -> None:
    recorder, _, _ = run((1, 22, 0), pod("web", "Running", "10.244.0.9"))
    # the first push is the connect-time snapshot (empty), then the debounced one
    times = [t for t, _ in recorder.pushes]
    assert times == [pytest.approx(PUSH_LATENCY), pytest.approx(DEBOUNCE_AFTER + PUSH_LATENCY)]


def test_hbone_only_once_the_cni_annotated_the_pod() -> None:
    recorder, _, _ = run((1, 22, 0), pod("a", "Running", "10.244.0.9"),
                         pod("b", "Running", "10.244.0.10", annotations={"ambient.istio.io/redirection": "enabled"}))
    protocols = {w.name: w.tunnel_protocol for w in recorder.pushes[-1][1].workloads}
    assert protocols == {"a": "TCP", "b": "HBONE"}


def test_service_ports_resolve_named_target_ports() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.50", "clusterIPs": ["10.96.0.50"], "selector": {"app": "web"},
                        "ports": [{"port": 8080, "targetPort": "http", "protocol": "TCP"}]}}
    recorder, _, _ = run((1, 22, 0), pod("web", "Running", "10.244.0.9"),
                         extra=[(ResourceKey("", "services"), service)])
    [workload] = recorder.pushes[-1][1].workloads
    assert workload.service_ports == (("default/web.default.svc.cluster.local", 8080, 80),)


def pa(name: str, namespace: str, mode: str, selector: dict[str, str] | None = None,
       ports: dict[str, str] | None = None) -> tuple[ResourceKey, dict[str, Any]]:
    spec: dict[str, Any] = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {p: {"mode": m} for p, m in ports.items()}
    return ResourceKey("security.istio.io", "peerauthentications"), {
        "apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize("policies, expected", [
    ([], ()),
    ([pa("p", "default", "PERMISSIVE")], ()),
    ([pa("p", "default", "STRICT")], (f"istio-system/{STATIC_STRICT_POLICY}",)),
    ([pa("mesh", "istio-system", "STRICT")], (f"istio-system/{STATIC_STRICT_POLICY}",)),
    ([pa("mesh", "istio-system", "STRICT"), pa("p", "default", "PERMISSIVE")], ()),
    ([pa("w", "default", "UNSET", {"app": "web"}, {"8080": "STRICT"})],
     ("default/converted_peer_authentication_w",)),
])
def test_peer_authentication_becomes_deny_policies(policies: list[Any], expected: tuple[str, ...]) -> None:
    recorder, _, _ = run((1, 22, 0), pod("web", "Running", "10.244.0.9"), extra=policies)
    snapshot = recorder.pushes[-1][1]
    uid = snapshot.workloads[0].uid
    assert tuple(p.key for p in snapshot.policies.get(uid, ())) == expected


def test_peer_authentication_is_ignored_before_ambient_supported_it() -> None:
    recorder, _, _ = run((1, 18, 0), pod("web", "Running", "10.244.0.9"), extra=[pa("p", "default", "STRICT")])
    assert recorder.pushes[-1][1].policies == {}
