"""istio-cni: which pods each release captures, and what happens at sandbox creation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from meshrepro.istio.cni import CniAgent
from meshrepro.istio.ztunnel import Ztunnel
from meshrepro.kube.cni import CNIError, CNIResult
from meshrepro.kube.store import ResourceKey, Store
from meshrepro.net.stack import Network
from meshrepro.runtime.process import Buffer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

NAMESPACES = ResourceKey("", "namespaces")


@dataclass
class FakeKubelet:
    node_ns: Any
    node_name: str = "kind-control-plane"
    node_ip: str = "172.18.0.2"
    cni_chain: list[Any] = field(default_factory=list)


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, Any]] = []

    def patch(self, api_version: str, resource: str, namespace: str, name: str, patch: Any) -> None:
        self.patches.append((namespace, name, patch))


def agent(version: tuple[int, int, int], *, namespace_labels: dict[str, str] | None = None,
          ztunnel: bool = True, ambient: bool = True) -> tuple[CniAgent, Network, Clock, Buffer]:
    clock = Clock(seed=1)
    network = Network(clock)
    node_ns = network.add_namespace("node:kind-control-plane", ["172.18.0.2"], "node", node="kind-control-plane")
    node_ns.devices = {"lo": ["127.0.0.1"], "eth0": ["172.18.0.2"], "veth": ["10.244.0.1"]}
    store = Store()
    store.put(NAMESPACES, {"metadata": {"name": "default", "labels": namespace_labels or {}}})
    log = Buffer()
    zt = None
    if ztunnel:
        zt_ns = network.add_namespace("pod:istio-system/ztunnel", ["10.244.0.2"], "ztunnel", node="kind-control-plane")
        zt = Ztunnel(clock, network, Trace(), version, "kind-control-plane", "ztunnel-x", zt_ns, Buffer())
    cni = CniAgent(clock, network, store, FakeClient(), Trace(), version, FakeKubelet(node_ns),  # type: ignore[arg-type]
                   log, {"CNI_NETWORK_CONFIG": json.dumps({"type": "istio-cni", "ambient_enabled": ambient,
                                                           "kubernetes": {"exclude_namespaces": ["kube-system"]}})},
                   lambda: zt)
    return cni, network, clock, log


def pod(name: str = "web", *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {},
                         "annotations": annotations or {}},
            "spec": {"nodeName": "kind-control-plane", **spec}, "status": {}}


AMBIENT = {"istio.io/dataplane-mode": "ambient"}


@pytest.mark.parametrize("version, namespace, the_pod, expected", [
    ((1, 20, 2), AMBIENT, pod(), True),
    ((1, 20, 2), {}, pod(labels=AMBIENT), False),  # the pod label enrolls only from 1.22
    ((1, 22, 0), {}, pod(labels=AMBIENT), True),
    ((1, 21, 0), AMBIENT, pod(annotations={"ambient.istio.io/redirection": "disabled"}), False),
    ((1, 22, 0), AMBIENT, pod(annotations={"ambient.istio.io/redirection": "disabled"}), True),  # no longer honoured
    ((1, 22, 0), AMBIENT, pod(labels={"istio.io/dataplane-mode": "none"}), False),
    ((1, 24, 0), AMBIENT, pod(annotations={"sidecar.istio.io/status": "{}"}), False),
    ((1, 24, 0), AMBIENT, pod(annotations={"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/8"},
                              securityContext={"runAsUser": 1337}), True),  # sidecar settings change nothing
])
def test_redirection_enabled_per_release(version: tuple[int, int, int], namespace: dict[str, str],
                                         the_pod: dict[str, Any], expected: bool) -> None:
    cni, *_ = agent(version, namespace_labels=namespace)
    assert cni.redirection_enabled(the_pod)[0] is expected


def run_add(cni: CniAgent, network: Network, clock: Clock, the_pod: dict[str, Any]) -> Any:
    netns = network.add_namespace("pod:default/web", ["10.244.0.7"], "pod web", node="kind-control-plane")
    process = clock.env.process(cni.plugin.add(the_pod, netns, CNIResult(["10.244.0.7"])))
    clock.env.run(until=process)
    return process.value, netns


def test_node_level_capture_adds_the_pod_ip_to_the_ipset() -> None:
    cni, network, clock, log = agent((1, 20, 2), namespace_labels=AMBIENT)
    result, netns = run_add(cni, network, clock, pod())
    assert isinstance(result, CNIResult)
    ipset = network.namespaces["node:kind-control-plane"].ipsets.get("ztunnel-pods-ips")
    assert ipset is not None and ipset.test("10.244.0.7")
    assert netns.ruleset.empty  # nothing inside the pod before 1.21
    assert "Adding pod 'web/default' (uid-web) to ipset" in log.getvalue()


def test_inpod_capture_writes_rules_and_hands_the_pod_to_ztunnel() -> None:
    cni, network, clock, _ = agent((1, 22, 3), namespace_labels=AMBIENT)
    result, netns = run_add(cni, network, clock, pod())
    assert isinstance(result, CNIResult)
    assert "-j REDIRECT --to-ports 15001" in netns.ruleset.save()
    assert netns.listener_for("tcp", "10.244.0.7", 15001) is not None


def test_without_ztunnel_the_sandbox_fails_with_the_plugin_error() -> None:
    cni, network, clock, log = agent((1, 23, 0), namespace_labels=AMBIENT, ztunnel=False)
    result, _ = run_add(cni, network, clock, pod())
    assert isinstance(result, CNIError)
    assert result.message == "unable to push CNI event (status code 500): partial add error: no ztunnel connection"
    assert "pod: default/web was not enrolled and is unhealthy" in log.getvalue()


def test_a_pod_outside_the_mesh_is_left_alone() -> None:
    cni, network, clock, _ = agent((1, 22, 3))
    result, netns = run_add(cni, network, clock, pod())
    assert isinstance(result, CNIResult) and netns.ruleset.empty


PODS = ResourceKey("", "pods")


@pytest.mark.parametrize("version", [(1, 20, 2), (1, 22, 3)])
def test_a_running_pod_is_enrolled_when_its_namespace_is_labelled_later(version: tuple[int, int, int]) -> None:
    cni, network, clock, log = agent(version)
    netns = network.add_namespace("pod:default/web", ["10.244.0.7"], "pod web", node="kind-control-plane")
    running = pod()
    running["status"] = {"phase": "Running", "podIP": "10.244.0.7"}
    cni.store.put(PODS, running)
    cni.start()
    assert not cni.enrolled
    cni.store.put(NAMESPACES, {"metadata": {"name": "default", "labels": AMBIENT}})
    clock.env.run(until=1)
    assert cni.enrolled == {"uid-web": ["10.244.0.7"]}
    if version < (1, 21, 0):
        assert "\tambient\tAdding pod 'web/default' (uid-web) to ipset" in log.getvalue()
        assert "cmdAdd" not in log.getvalue()  # the informer, not the plugin
    else:
        assert netns.listener_for("tcp", "10.244.0.7", 15001) is not None


def sidecar_pod(annotations: dict[str, str] | None = None, init_user: int | None = None) -> dict[str, Any]:
    init = {"name": "init-kubectl", "image": "bitnami/kubectl"}
    if init_user is not None:
        init["securityContext"] = {"runAsUser": init_user}
    return pod(annotations={"sidecar.istio.io/status": "{}", **(annotations or {})},
               initContainers=[{"name": "istio-validation", "image": "proxyv2"}, init],
               containers=[{"name": "nginx", "image": "nginx"},
                           {"name": "istio-proxy", "image": "proxyv2", "securityContext": {"runAsUser": 1337}}])


def test_the_sidecar_branch_writes_istio_iptables_rules_from_the_annotations() -> None:
    cni, network, clock, _ = agent((1, 20, 2), ambient=False)
    result, netns = run_add(cni, network, clock, sidecar_pod({
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32"}))
    assert isinstance(result, CNIResult)
    rules = netns.ruleset.save()
    assert "-A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN" in rules
    assert "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN" in rules
    assert "--dport 15020 -j RETURN" in rules  # the plugin excludes the status port outbound too


def test_the_sidecar_branch_rejects_a_malformed_cidr_and_fails_the_sandbox() -> None:
    cni, network, clock, log = agent((1, 22, 3), ambient=False)
    result, netns = run_add(cni, network, clock, sidecar_pod({
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.300/32"}))
    assert isinstance(result, CNIError) and "annotation value error" in result.message
    assert netns.ruleset.empty and "redirect failed due to bad params" in log.getvalue()


def test_a_pod_without_a_sidecar_is_left_alone_and_logged() -> None:
    cni, network, clock, log = agent((1, 20, 2), ambient=False)
    result, netns = run_add(cni, network, clock, pod(containers=[{"name": "nginx", "image": "nginx"}]))
    assert isinstance(result, CNIResult) and netns.ruleset.empty
    assert "\tinfo\tcni\texcluded because it does not have istio-proxy container (have [nginx])" in log.getvalue()
