"""A kind cluster assembled from its components: control plane, nodes, networking, bootstrap objects.

The order of `start()` follows a kubeadm boot: storage and API server, bootstrap policy and
namespaces, controllers and scheduler, then each node's kubelet and kube-proxy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from meshrepro.kube.addons import addon_objects
from meshrepro.kube.admission import Admission, validate_pod_probes
from meshrepro.kube.apiserver import APIServer, APIServerConfig
from meshrepro.kube.authn import Authenticator
from meshrepro.kube.bootstrap_policy import bootstrap_objects
from meshrepro.kube.client import Client
from meshrepro.kube.cni import PtpHostLocal
from meshrepro.kube.controllers.base import ControllerContext
from meshrepro.kube.controllers.registry import start_all
from meshrepro.kube.dns import ClusterZone, CoreDNSListener
from meshrepro.kube.kubelet import Kubelet
from meshrepro.kube.kubelet.kubelet import NodeConfig
from meshrepro.kube.kubelet.volumes import MountError
from meshrepro.kube.pki import ClusterPKI, create_pki
from meshrepro.kube.proxy import KubeProxy
from meshrepro.kube.rbac import User
from meshrepro.kube.scheduler import Scheduler
from meshrepro.kube.services import ServiceAllocator
from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.kube.subresources import register_pod_subresources
from meshrepro.kube.tokens import ISSUER, BoundObject, TokenClaims, TokenIssuer
from meshrepro.kube.versions import KubeVersion, flags
from meshrepro.manifests.kinds import KindRegistry
from meshrepro.net.addressing import KIND_NETWORK, SERVICE_SUBNET, Pool, host_local_pool, node_pod_cidr
from meshrepro.net.server import ForwardListener, HttpListener
from meshrepro.net.stack import NetNamespace, Network, ResolverConfig
from meshrepro.net.tls import ServerTLS
from meshrepro.runtime.images import Catalogue
from meshrepro.sim.clock import Clock, rfc3339
from meshrepro.sim.trace import Trace

API_PORT = 6443
# What a kind node reports: the host's CPUs and memory, and the kubelet's default max-pods of 110.
NODE_RESOURCES = {"cpu": "2", "ephemeral-storage": "263112772Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                  "memory": "24570724Ki", "pods": "110"}
SYSTEM = User.authenticated("system:kube-controller-manager", ["system:masters"])


@dataclass(frozen=True)
class PortMapping:
    container_port: int
    host_port: int
    listen_address: str = "0.0.0.0"
    protocol: str = "TCP"


@dataclass(frozen=True)
class NodeSpec:
    role: str  # control-plane | worker
    port_mappings: tuple[PortMapping, ...] = ()


@dataclass(frozen=True)
class ClusterSpec:
    name: str = "kind"
    version: KubeVersion = (1, 29)
    git_version: str = "v1.29.2"
    nodes: tuple[NodeSpec, ...] = (NodeSpec("control-plane"),)
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = SERVICE_SUBNET


@dataclass
class Node:
    name: str
    ip: str
    netns: NetNamespace
    kubelet: Kubelet
    proxy: KubeProxy


@dataclass
class Cluster:
    spec: ClusterSpec
    clock: Clock
    trace: Trace
    network: Network
    catalogue: Catalogue
    host_ns: NetNamespace  # the machine kind runs on: published ports land here
    store: Store = field(default_factory=Store)
    kinds: KindRegistry = field(default_factory=KindRegistry)
    nodes: list[Node] = field(default_factory=list)
    api_host_port: int = 0
    node_pool: Pool | None = None  # the docker network `kind`, shared by every cluster on the machine

    def __post_init__(self) -> None:
        self.flags = flags(self.spec.version)
        self.service_pool = Pool(self.spec.service_subnet)
        rng = self.clock.rng
        if self.node_pool is None:
            self.node_pool = Pool(KIND_NETWORK, first_offset=2)
        self.node_names = self._node_names()
        self.node_ips = [self.node_pool.allocate() for _ in self.spec.nodes]
        admin_groups = ("kubeadm:cluster-admins",) if self.flags.kubeadm_cluster_admins_group else ("system:masters",)
        self.pki: ClusterPKI = create_pki(self.clock.wall(), [rng.getrandbits(64) for _ in range(3)],
                                          self.node_names[0], self.node_ips[0], self._service_ip(1), admin_groups)
        self.issuer = TokenIssuer(rng.getrandbits(256).to_bytes(32, "big"), f"{rng.getrandbits(160):040x}")
        self.api_host_port = 32768 + rng.randrange(0, 28000)

    # -- assembly ------------------------------------------------------------------------

    def start(self) -> None:
        admission = Admission(self.store, self.spec.version, self._random_suffix)
        admission.validators.append(lambda request: validate_pod_probes(request, self.spec.version))
        authn = Authenticator(self.clock, self.issuer, self.trace)
        self.apiserver = APIServer(self.clock, self.store, self.trace, self.kinds, authn, admission,
                                   APIServerConfig(self.spec.version, self.spec.git_version, self.node_names[0],
                                                   f"{self.node_ips[0]}:{API_PORT}"))
        self.apiserver.services = ServiceAllocator(self.service_pool, self.clock.rng)
        self.client = Client(self.apiserver, SYSTEM)
        self._bootstrap()
        ctx = ControllerContext(self.clock, self.store, self.client, self.trace, self.spec.version)
        self.controllers = start_all(ctx, ca_pem=self.pki.ca.pem())
        self.scheduler = Scheduler(self.clock, self.store, self.client, self.trace)
        self.scheduler.start()
        for index, (node_spec, name, ip) in enumerate(zip(self.spec.nodes, self.node_names, self.node_ips)):
            self._start_node(index, node_spec, name, ip)
        register_pod_subresources(self.apiserver, self.kubelet_of)
        self._serve_dns()

    def _start_node(self, index: int, spec: NodeSpec, name: str, ip: str) -> None:
        netns = self.network.add_namespace(f"node:{name}", [ip], f"node {name}", node=name)
        netns.resolver = ResolverConfig(["172.18.0.1"], [], ndots=1)
        pod_cidr = node_pod_cidr(index, self.spec.pod_subnet)
        kubelet = Kubelet(self.clock, self.store, Client(self.apiserver, User.authenticated(
            f"system:node:{name}", ["system:nodes", "system:masters"])), self.trace, self.flags, self.network, netns,
            self.catalogue, NodeConfig(name, ip, self._service_ip(10)), self._token_for)
        gateway = pod_cidr.rsplit(".", 1)[0] + ".1"
        # kindnet's ptp veths all carry the pod CIDR's .1 on the node side, with a route to the pod CIDR.
        self.network.assign(netns, gateway)
        netns.devices = {"lo": ["127.0.0.1"], "eth0": [ip], "veth": [gateway]}
        netns.routes = [(pod_cidr, "veth")]
        kubelet.cni_chain.append(PtpHostLocal(self.network, host_local_pool(pod_cidr), gateway))
        proxy = KubeProxy(self.clock, self.store, self.trace, self.network, netns, self.node_ips, self.spec.pod_subnet)
        if spec.role == "control-plane":
            netns.listen(API_PORT, HttpListener("kube-apiserver", self.apiserver.serve,
                                                ServerTLS(self.pki.apiserver, self.pki.ca)))
            if index == 0:
                self.host_ns.listen(self.api_host_port, ForwardListener(
                    "docker-proxy", self.network, self.host_ns, (ip, API_PORT)), ip="127.0.0.1")
        for mapping in spec.port_mappings:
            address = mapping.listen_address or "0.0.0.0"
            self.host_ns.listen(mapping.host_port, ForwardListener(
                "docker-proxy", self.network, self.host_ns, (ip, mapping.container_port)), ip=address,
                protocol=mapping.protocol.lower())
        self.client.create("v1", "nodes", "", self._node_object(name, ip, pod_cidr, spec.role))
        self.nodes.append(Node(name, ip, netns, kubelet, proxy))
        proxy.start()
        kubelet.start()

    def stop(self) -> None:
        """`kind delete cluster`: the node containers disappear, and with them every address and listener."""
        for node in self.nodes:
            for name in [n for n, ns in self.network.namespaces.items() if ns.node == node.name]:
                self.network.remove_namespace(name)
        for key in [k for k, listener in self.host_ns.listeners.items()
                    if getattr(listener, "target", ("",))[0] in self.node_ips]:
            del self.host_ns.listeners[key]

    def kubelet_of(self, node_name: str) -> Kubelet | None:
        return next((n.kubelet for n in self.nodes if n.name == node_name), None)

    def _serve_dns(self) -> None:
        """CoreDNS pods bind UDP/53 once their container runs; the zone is their informer view."""
        listener = CoreDNSListener(ClusterZone(self.store))

        def on_pod(event: Any) -> None:
            pod = event.object
            labels = pod["metadata"].get("labels") or {}
            if labels.get("k8s-app") != "kube-dns" or event.type == "DELETED":
                return
            statuses = pod.get("status", {}).get("containerStatuses") or []
            running = any("running" in s.get("state", {}) for s in statuses)
            ns = self.network.owner_of(pod.get("status", {}).get("podIP", ""))
            if ns is not None:
                if running:
                    ns.listen(53, listener, protocol="udp")
                else:
                    ns.unlisten(53, protocol="udp")

        self.store.watch(on_pod, ResourceKey("", "pods"))

    # -- bootstrap -----------------------------------------------------------------------

    def _bootstrap(self) -> None:
        for name in ("default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"):
            self.client.create("v1", "namespaces", "", {"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": name}})
        for obj in bootstrap_objects(self.spec.version):
            api_version = obj["apiVersion"]
            plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
                      "Role": "roles", "RoleBinding": "rolebindings"}[obj["kind"]]
            self.client.create(api_version, plural, obj["metadata"].get("namespace", ""), obj)
        self._service("default", "kubernetes", self._service_ip(1),
                      [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_PORT}],
                      labels={"component": "apiserver", "provider": "kubernetes"})
        self._apiserver_endpoints()
        self._service("kube-system", "kube-dns", self._service_ip(10), [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}],
            selector={"k8s-app": "kube-dns"},
            labels={"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"})
        for obj in addon_objects(self.spec, self.node_names):
            self.apply_object(obj)

    def apply_object(self, obj: Obj) -> None:
        kind = self.kinds.by_kind(obj["apiVersion"], obj["kind"])
        assert kind is not None, obj["kind"]
        self.client.create(obj["apiVersion"], kind.plural, obj["metadata"].get("namespace", ""), obj)

    def _service(self, namespace: str, name: str, ip: str, ports: list[Obj], selector: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None) -> None:
        spec: Obj = {"clusterIP": ip, "clusterIPs": [ip], "ports": ports, "type": "ClusterIP"}
        if selector:
            spec["selector"] = selector
        self.client.create("v1", "services", namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": name, "namespace": namespace, "labels": labels or {}}, "spec": spec})

    def _apiserver_endpoints(self) -> None:
        """The API server's own endpoint reconciler writes the `kubernetes` Service's endpoints."""
        ip = self.node_ips[0]
        self.client.create("v1", "endpoints", "default", {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": API_PORT,
                                                               "protocol": "TCP"}]}]})
        self.client.create("discovery.k8s.io/v1", "endpointslices", "default", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": API_PORT, "protocol": "TCP"}]})

    def _node_object(self, name: str, ip: str, pod_cidr: str, role: str) -> Obj:
        labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        spec: Obj = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "providerID": f"kind://docker/{self.spec.name}/{name}"}
        if role == "control-plane":
            labels["node-role.kubernetes.io/control-plane"] = ""
            labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
            if len(self.spec.nodes) > 1:  # kind untaints single-node clusters so workloads can run there
                spec["taints"] = [{"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}]
        now = rfc3339(self.clock.wall())
        conditions = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now,
                       "lastTransitionTime": now} for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                           "lastTransitionTime": now})
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec,
                "status": {"addresses": [{"address": ip, "type": "InternalIP"}, {"address": name, "type": "Hostname"}],
                           "allocatable": dict(NODE_RESOURCES), "capacity": dict(NODE_RESOURCES),
                           "conditions": conditions,
                           "nodeInfo": {"architecture": "amd64", "containerRuntimeVersion": "containerd://1.7.13",
                                        "kernelVersion": "6.5.0-14-generic", "kubeProxyVersion": self.spec.git_version,
                                        "kubeletVersion": self.spec.git_version, "operatingSystem": "linux",
                                        "osImage": "Debian GNU/Linux 12 (bookworm)"}}}

    # -- helpers -------------------------------------------------------------------------

    def _node_names(self) -> list[str]:
        names, workers = [], 0
        control_planes = 0
        for node in self.spec.nodes:
            if node.role == "control-plane":
                control_planes += 1
                names.append(f"{self.spec.name}-control-plane" + (str(control_planes) if control_planes > 1 else ""))
            else:
                workers += 1
                names.append(f"{self.spec.name}-worker" + (str(workers) if workers > 1 else ""))
        return names

    def _service_ip(self, offset: int) -> str:
        return str(self.service_pool.network[offset])

    def _random_suffix(self, length: int) -> str:
        return self.apiserver.random_suffix(length)

    def _token_for(self, pod: Obj, audience: str, expiration: int) -> str | MountError:
        """TokenRequest as the kubelet makes it for a projected serviceAccountToken source."""
        namespace = pod["metadata"]["namespace"]
        sa_name = pod["spec"].get("serviceAccountName", "default")
        sa = self.store.peek(ResourceKey("", "serviceaccounts"), namespace, sa_name)
        if sa is None:
            return MountError(f'MountVolume.SetUp failed for volume "token" : failed to fetch token: '
                              f'serviceaccounts "{sa_name}" not found')
        issued = int(self.clock.wall().timestamp())
        extended = expiration == 3607 and not audience
        node = next((n for n in self.nodes if n.name == pod["spec"].get("nodeName")), None)
        node_obj = self.store.peek(ResourceKey("", "nodes"), "", node.name) if node else None
        claims = TokenClaims(
            subject=f"system:serviceaccount:{namespace}:{sa_name}", namespace=namespace, service_account=sa_name,
            service_account_uid=sa["metadata"]["uid"], audiences=(audience or ISSUER,), issued_at=issued,
            expires_at=issued + (365 * 24 * 3600 if extended else expiration),
            pod=BoundObject("Pod", pod["metadata"]["name"], pod["metadata"]["uid"]),
            node=BoundObject("Node", node_obj["metadata"]["name"], node_obj["metadata"]["uid"])
            if node_obj is not None and self.flags.token_node_claims else None,
            jti=self.apiserver.new_uid() if self.flags.token_node_claims else "",
            warn_after=issued + 3607 if extended else None)
        return self.issuer.issue(claims)

    # -- the admin's kubeconfig (what `kind create cluster` writes) ----------------------

    def admin_kubeconfig(self) -> str:
        context = f"kind-{self.spec.name}"
        ca = base64.b64encode(self.pki.ca.pem().encode()).decode()
        cert = base64.b64encode(self.pki.admin.pem().encode()).decode()
        key = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nsimulated\n-----END RSA PRIVATE KEY-----\n").decode()
        return (f"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n"
                f"    server: https://127.0.0.1:{self.api_host_port}\n  name: {context}\ncontexts:\n- context:\n"
                f"    cluster: {context}\n    user: {context}\n  name: {context}\ncurrent-context: {context}\n"
                f"kind: Config\npreferences: {{}}\nusers:\n- name: {context}\n  user:\n"
                f"    client-certificate-data: {cert}\n    client-key-data: {key}\n")
