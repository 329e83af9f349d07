"""The Istio components of every cluster on a machine, started by the binaries in Istio's images.

When the kubelet starts a container from `istio/pilot`, `istio/ztunnel` or `istio/install-cni`, the image's
binary hands its process here: the component runs while the container runs, in the container's network
namespace, on its node, with the configuration its environment carries (as the charts set it), and stops
with the container. Nothing here is started by `istioctl` directly: it only creates the API objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshrepro.istio.cni import CniAgent
from meshrepro.istio.envoy import run_sidecar, wait_main
from meshrepro.istio.injector import InjectorContext, make_injection_hook
from meshrepro.istio.istio_iptables import iptables_save_main, istio_iptables_main
from meshrepro.istio.istiod import PUSH_LATENCY, Istiod
from meshrepro.istio.sidecar_config import SidecarConfig, sidecar_config
from meshrepro.istio.versions import IstioVersion
from meshrepro.istio.workload import Workload
from meshrepro.istio.ztunnel import READINESS_PORT, Ztunnel
from meshrepro.kube.client import Client
from meshrepro.kube.cluster import Cluster
from meshrepro.kube.rbac import User
from meshrepro.kube.store import ResourceKey
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import NamespaceView, Wait
from meshrepro.runtime.process import Process, ProgramRun

ENDPOINT_SLICES = ResourceKey("discovery.k8s.io", "endpointslices")
ISTIOD_READINESS_PORT = 8080
CNI_READINESS_PORT = 8000


@dataclass
class ClusterMesh:
    """What runs in one cluster: at most one istiod that ztunnels connect to, a ztunnel and a CNI agent per node."""

    istiods: list[Istiod] = field(default_factory=list)
    istiod_env: dict[str, str] = field(default_factory=dict)  # the serving istiod's container environment
    ztunnels: dict[str, Ztunnel] = field(default_factory=dict)  # node -> ztunnel
    agents: dict[str, CniAgent] = field(default_factory=dict)

    @property
    def istiod(self) -> Istiod | None:
        return self.istiods[0] if self.istiods else None


class Mesh:
    def __init__(self, cluster_of: Callable[[str], Cluster | None]) -> None:
        self.cluster_of = cluster_of
        self.clusters: dict[int, ClusterMesh] = {}

    def state(self, cluster: Cluster) -> ClusterMesh:
        return self.clusters.setdefault(id(cluster), ClusterMesh())

    def attach(self, cluster: Cluster) -> None:
        """The API server calls istiod's /inject for pods its MutatingWebhookConfigurations select."""
        state = self.state(cluster)

        def context() -> InjectorContext | None:
            istiod = state.istiod
            if istiod is None or not _serving(cluster, "istio-system", "istiod"):
                return None  # the webhook's Service has no ready endpoint: the call is refused
            return InjectorContext(istiod.version, dict(state.istiod_env), istiod.root_namespace, cluster.trace,
                                   lambda: cluster.clock.now)

        cluster.apiserver.admission.mutating_hooks.append(
            ("istio-sidecar-injector", make_injection_hook(cluster.store, context)))

    def detach(self, cluster: Cluster) -> None:
        """`kind delete cluster`: its components went with its nodes."""
        self.clusters.pop(id(cluster), None)

    def ztunnel_workloads(self, namespace: str, pod_name: str) -> list[Workload] | None:
        """What the ztunnel in that pod knows (`istioctl ztunnel-config workloads`)."""
        for state in self.clusters.values():
            for ztunnel in state.ztunnels.values():
                if ztunnel.name == f"ztunnel {pod_name}" and namespace == "istio-system":
                    return sorted(ztunnel.workloads.values(), key=lambda w: (w.namespace, w.name))
        return None

    # -- the binaries --------------------------------------------------------------------

    def run(self, component: str, version: IstioVersion, proc: Process) -> ProgramRun:
        network = proc.host.network
        assert isinstance(network, NamespaceView), "Istio binaries run in containers"
        netns = network.ns
        cluster = self.cluster_of(netns.node or "")
        if cluster is None:
            proc.stderr.write(f"{component}: no cluster for node {netns.node}\n")
            return 1
        if component == "iptables-save":
            return (yield from iptables_save_main(proc))
        runner = {"pilot-discovery": self._istiod, "ztunnel": self._ztunnel, "install-cni": self._cni,
                  "pilot-agent": self._pilot_agent}[component]
        return (yield from runner(cluster, version, proc))

    def _istiod(self, cluster: Cluster, version: IstioVersion, proc: Process) -> ProgramRun:
        env = proc.env
        ambient = "true" in (env.get("PILOT_ENABLE_AMBIENT"), env.get("PILOT_ENABLE_AMBIENT_CONTROLLERS"))
        client = Client(cluster.apiserver, User.authenticated(
            "system:serviceaccount:istio-system:istiod", ["system:serviceaccounts", "system:masters"]))
        istiod = Istiod(cluster.clock, cluster.store, client, cluster.trace, version, ambient=ambient,
                        root_namespace=env.get("POD_NAMESPACE", "istio-system"))
        state = self.state(cluster)
        ns = _netns(proc)
        ns.listen(ISTIOD_READINESS_PORT, HttpListener("istiod", _ok))
        state.istiods.append(istiod)
        if state.istiod is istiod:
            state.istiod_env = dict(env)
        istiod.start()
        for ztunnel in state.ztunnels.values():
            if state.istiod is istiod:
                istiod.connect(ztunnel)
        try:
            yield proc.clock.env.event()
        finally:
            istiod.stop()
            state.istiods.remove(istiod)
            ns.unlisten(ISTIOD_READINESS_PORT)
            successor = state.istiod
            if successor is not None:  # the ztunnels' xDS streams reconnect to a remaining replica
                for ztunnel in state.ztunnels.values():
                    successor.connect(ztunnel)
        return 0

    def _ztunnel(self, cluster: Cluster, version: IstioVersion, proc: Process) -> ProgramRun:
        ns = _netns(proc)
        node = ns.node or ""
        ztunnel = Ztunnel(cluster.clock, cluster.network, cluster.trace, version, node,
                          proc.env.get("POD_NAME", proc.host.hostname), ns, proc.stdout)
        state = self.state(cluster)
        state.ztunnels[node] = ztunnel
        ztunnel.start()
        if state.istiod is not None:
            state.istiod.connect(ztunnel)
        try:
            yield proc.clock.env.event()
        finally:
            ztunnel.stop()
            if state.ztunnels.get(node) is ztunnel:
                del state.ztunnels[node]
            for istiod in state.istiods:
                istiod.disconnect(ztunnel)
        return 0

    def _cni(self, cluster: Cluster, version: IstioVersion, proc: Process) -> ProgramRun:
        ns = _netns(proc)
        node = ns.node or ""
        kubelet = cluster.kubelet_of(node)
        assert kubelet is not None
        state = self.state(cluster)
        client = Client(cluster.apiserver, User.authenticated(
            "system:serviceaccount:istio-system:istio-cni", ["system:serviceaccounts", "system:masters"]))
        agent = CniAgent(cluster.clock, cluster.network, cluster.store, client, cluster.trace, version, kubelet,
                         proc.stdout, dict(proc.env), lambda: state.ztunnels.get(node))
        state.agents[node] = agent
        ns.listen(CNI_READINESS_PORT, HttpListener("istio-cni readiness", _ok))
        agent.start()
        try:
            yield proc.clock.env.event()
        finally:
            agent.stop()
            ns.unlisten(CNI_READINESS_PORT)
            if state.agents.get(node) is agent:
                del state.agents[node]
        return 0

    def _pilot_agent(self, cluster: Cluster, version: IstioVersion, proc: Process) -> ProgramRun:
        """The proxyv2 image's entrypoint: `istio-iptables` (istio-init/istio-validation), `proxy sidecar`
        (istio-proxy), `wait` (holdApplicationUntilProxyStarts' postStart), `proxy router` (gateways)."""
        args = proc.argv[1:]
        if args[:1] == ["istio-iptables"]:
            return (yield from istio_iptables_main(version, proc))
        if args[:1] == ["wait"]:
            return (yield from wait_main(version, proc))
        if args[:2] == ["proxy", "sidecar"]:
            state = self.state(cluster)
            return (yield from run_sidecar(version, proc, lambda: _sidecar_xds(cluster, state), trace=cluster.trace))
        return (yield from self._gateway(proc))

    def _gateway(self, proc: Process) -> ProgramRun:
        """A gateway's proxy: ready on 15021 (its routing is not modelled)."""
        ns = _netns(proc)
        ns.listen(READINESS_PORT, HttpListener("istio-proxy readiness", _ok))
        try:
            yield proc.clock.env.event()
        finally:
            ns.unlisten(READINESS_PORT)
        return 0


class SidecarXds:
    """istiod's xDS for sidecars: the configuration istiod computes from its view of the cluster, once its first
    push can have reached the proxy (a sidecar is not ready before). Later changes reach the proxy at its next
    connection rather than after a debounced push."""

    def __init__(self, cluster: Cluster, istiod: Istiod) -> None:
        self.cluster = cluster
        self.istiod = istiod

    def config_for(self, namespace: str, pod_name: str) -> SidecarConfig | None:
        if self.cluster.clock.now < self.istiod.started + PUSH_LATENCY:
            return None
        return sidecar_config(self.cluster.store, self.istiod.version, namespace, pod_name)


def _sidecar_xds(cluster: Cluster, state: ClusterMesh) -> SidecarXds | None:
    istiod = state.istiod
    return SidecarXds(cluster, istiod) if istiod is not None else None


def _serving(cluster: Cluster, namespace: str, service: str) -> bool:
    """A ready endpoint behind the Service (what kube-proxy would forward the webhook call to)."""
    return any(endpoint.get("conditions", {}).get("ready")
               for eps in cluster.store.iter(ENDPOINT_SLICES, namespace)
               if (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == service
               for endpoint in eps.get("endpoints") or [])


def _netns(proc: Process) -> Any:
    network = proc.host.network
    assert isinstance(network, NamespaceView)
    return network.ns


def _ok(peer: Peer, request: Request) -> Wait:
    return Response(200, {"Content-Type": "text/plain"}, b"")
    yield  # pragma: no cover
