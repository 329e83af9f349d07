"""What istiod pushes to one sidecar, computed from the cluster's store (an informer's view, read only).

The pieces of xDS the sidecar model uses, each from the istiod code that builds it (1.18-1.27):
- Services: every ClusterIP Service of the cluster (no `Sidecar` resource, no exportTo), its VIPs and TCP ports, each
  port's protocol by `pkg/config/kube/conversion.go` ConvertProtocol (appProtocol first, then the port name's prefix;
  unknown is sniffed; 25/53/3306/27017 are TCP), its ready endpoints from the EndpointSlices (`PILOT_SEND_UNHEALTHY_
  ENDPOINTS` is off by default). Per endpoint the pod's `security.istio.io/tlsMode` label decides auto mTLS
  (`model.GetTLSModeFromEndpointLabels`: the injector sets it to `istio`; absent means `disabled`) and its service
  account gives the SPIFFE identity.
- A service's inferred mTLS mode for clients (`BestEffortInferServiceMTLSMode`): the namespace/mesh
  PeerAuthentication, PERMISSIVE without one; DISABLE turns auto mTLS off for every endpoint.
- Inbound: the ports of the Services selecting this pod (target ports resolved against its containers), their
  protocol, and this workload's composed PeerAuthentication (`istio.peerauth`).
- Mesh config: the `istio` ConfigMap of the root namespace (`outboundTrafficPolicy.mode`, `accessLogFile`,
  `accessLogEncoding`, `trustDomain`, `connectTimeout`, `inboundTrafficPolicy.mode` from 1.22, `defaultConfig`
  overlaid by the pod's `proxy.istio.io/config` annotation).
- The root certificate the pod mounts: the `istio-ca-root-cert` ConfigMap of its namespace.

Not modelled: headless Services (Istio's per-endpoint listeners), ExternalName, ServiceEntry, DestinationRule (TLS
settings, subsets), VirtualService, Sidecar, Telemetry, a custom `accessLogFormat`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from meshrepro.istio.peerauth import (
    PEER_AUTHENTICATIONS,
    PERMISSIVE,
    EffectiveMtls,
    effective_mtls,
    namespace_mtls,
)
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.kube.store import ResourceKey, Store
from meshrepro.net.tls import Certificate, parse_pem_bundle

Obj = dict[str, Any]
PODS = ResourceKey("", "pods")
SERVICES = ResourceKey("", "services")
ENDPOINT_SLICES = ResourceKey("discovery.k8s.io", "endpointslices")
CONFIG_MAPS = ResourceKey("", "configmaps")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TLS_MODE_LABEL = "security.istio.io/tlsMode"  # label.SecurityTlsMode
SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status"
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
ROOT_CERT_CONFIG_MAP = "istio-ca-root-cert"
MESH_CONFIG_MAP = "istio"
DEFAULT_ROOT_NAMESPACE = "istio-system"
WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})  # SMTP, DNS, MySQL, MongoDB
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"})  # protocol.Instance.IsHTTP
SNIFFED = "UnsupportedProtocol"
_PARSE = {"tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web", "http": "HTTP", "http_proxy": "HTTP_PROXY",
          "http2": "HTTP2", "https": "HTTPS", "tls": "TLS", "mongo": "Mongo", "redis": "Redis", "mysql": "MySQL"}


def convert_protocol(version: IstioVersion, port: int, name: str, protocol: str = "TCP",
                     app_protocol: str | None = None) -> str:
    """ConvertProtocol: the Istio protocol of a Service port (`UnsupportedProtocol` means sniffed)."""
    if protocol == "UDP":
        return "UDP"
    text = name
    if app_protocol is not None:
        text = app_protocol
        if app_protocol == "kubernetes.io/h2c" and flags(version).appprotocol_kubernetes_h2c:
            return "HTTP2"
        if app_protocol in ("kubernetes.io/ws", "kubernetes.io/wss") and flags(version).appprotocol_kubernetes_ws:
            return "HTTP" if app_protocol == "kubernetes.io/ws" else "HTTPS"
    if text[:8].lower() == "grpc-web":
        return "GRPC-Web"
    parsed = _PARSE.get(text.split("-", 1)[0].lower(), SNIFFED)
    if parsed == SNIFFED and port in WELL_KNOWN_TCP_PORTS:
        return "TCP"
    return parsed


def is_http(protocol: str) -> bool:
    return protocol in HTTP_PROTOCOLS


def is_http_or_sniffed(protocol: str) -> bool:
    return protocol in HTTP_PROTOCOLS or protocol == SNIFFED


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int  # the endpoint's port for this service port (the resolved target port)
    pod: str  # "<namespace>/<name>" of the targetRef, "" if none
    service_account: str
    identity: str  # spiffe://<trust domain>/ns/<ns>/sa/<sa>
    tls_mode: str  # the pod's security.istio.io/tlsMode label: "istio" means the client sends ISTIO_MUTUAL
    has_sidecar: bool  # the pod carries sidecar.istio.io/status (informational: auto mTLS looks at tls_mode)
    node: str = ""


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str  # Istio protocol (HTTP, TCP, UnsupportedProtocol...)
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    hostname: str  # <name>.<namespace>.svc.<domain>
    vips: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    mtls_mode: str = PERMISSIVE  # BestEffortInferServiceMTLSMode: DISABLE turns auto mTLS off

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)

    def domains(self, port: int, proxy_namespace: str) -> frozenset[str]:
        """generateVirtualHostDomains: the FQDN, its shorter forms within the cluster domain (the bare name only from
        the same namespace), the VIPs; each also with `:port`."""
        name, namespace = self.name, self.namespace
        suffix = self.hostname.removeprefix(f"{name}.{namespace}.")  # svc.cluster.local
        parts = suffix.split(".")
        names = {self.hostname, f"{name}.{namespace}"}
        names |= {f"{name}.{namespace}." + ".".join(parts[:i]) for i in range(1, len(parts))}
        if namespace == proxy_namespace:
            names.add(name)
        names |= set(self.vips)
        return frozenset(names | {f"{n}:{port}" for n in names})


@dataclass(frozen=True)
class InboundPort:
    port: int  # the workload's port (a Service's target port)
    protocol: str
    service: str  # the hostname of the first Service that declares it
    service_port: int


@dataclass(frozen=True)
class MeshConfig:
    outbound_mode: str = "ALLOW_ANY"  # outboundTrafficPolicy.mode: ALLOW_ANY | REGISTRY_ONLY
    access_log_file: str = ""  # accessLogFile: "/dev/stdout" logs to the container's stdout
    access_log_encoding: str = "TEXT"
    access_log_format: str = ""  # a custom format is not modelled (the default text format is used)
    trust_domain: str = "cluster.local"
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    connect_timeout: float = 10.0  # connectTimeout
    inbound_localhost: bool = False  # inboundTrafficPolicy.mode: LOCALHOST (1.22+)
    discovery_address: str = "istiod.istio-system.svc:15012"  # defaultConfig.discoveryAddress
    hold_application_until_proxy_starts: bool = False
    termination_drain_duration: float = 5.0  # defaultConfig.terminationDrainDuration


@dataclass(frozen=True)
class SidecarConfig:
    namespace: str
    pod_name: str
    pod_ip: str
    service_account: str
    identity: str
    mesh: MeshConfig
    services: tuple[Service, ...] = ()
    inbound: tuple[InboundPort, ...] = ()
    peer_authentication: EffectiveMtls = field(default_factory=EffectiveMtls)
    root_cert: Certificate | None = None

    # -- lookups the listeners make -----------------------------------------------------

    def service_at(self, ip: str, port: int) -> tuple[Service, ServicePort] | None:
        """The Service whose VIP and port the connection was dialled to."""
        for service in self.services:
            if ip in service.vips:
                found = service.port(port)
                if found is not None:
                    return service, found
        return None

    def http_services(self, port: int) -> list[tuple[Service, ServicePort]]:
        """The services behind the outbound listener 0.0.0.0_<port>'s route table (HTTP or sniffed ports)."""
        return [(s, p) for s in self.services for p in s.ports if p.port == port and is_http_or_sniffed(p.protocol)]

    def route(self, port: int, authority: str) -> tuple[Service, ServicePort] | None:
        """The virtual host of route `<port>` matching the request's authority (case-insensitive), if any."""
        wanted = authority.lower()
        for service, service_port in self.http_services(port):
            if wanted in service.domains(port, self.namespace):
                return service, service_port
        return None

    def inbound_port(self, port: int) -> InboundPort | None:
        return next((p for p in self.inbound if p.port == port), None)

    def mtls_mode(self, port: int) -> str:
        return self.peer_authentication.for_port(port)


# -- building it ------------------------------------------------------------------------------


def sidecar_config(store: Store, version: IstioVersion, namespace: str, pod_name: str) -> SidecarConfig:
    """Everything one sidecar's Envoy is configured with, as istiod would compute it now."""
    pod = store.peek(PODS, namespace, pod_name) or {"metadata": {"name": pod_name, "namespace": namespace}}
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    mesh = mesh_config(store, version, meta.get("annotations") or {})
    service_account = spec.get("serviceAccountName") or "default"
    pas = list(store.iter(PEER_AUTHENTICATIONS))
    services = tuple(_service(store, version, svc, mesh, pas) for svc in store.iter(SERVICES) if _has_vip(svc))
    inbound = _inbound(store, version, pod)
    root = store.peek(CONFIG_MAPS, namespace, ROOT_CERT_CONFIG_MAP)
    certs = parse_pem_bundle(((root or {}).get("data") or {}).get("root-cert.pem", "")) if root else None
    return SidecarConfig(
        namespace=namespace, pod_name=pod_name, pod_ip=status.get("podIP", ""), service_account=service_account,
        identity=spiffe(mesh.trust_domain, namespace, service_account), mesh=mesh, services=services, inbound=inbound,
        peer_authentication=effective_mtls(pas, root_namespace=mesh.root_namespace, namespace=namespace,
                                           labels=meta.get("labels") or {}),
        root_cert=certs[0] if certs else None)


def spiffe(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def mesh_config(store: Store, version: IstioVersion, pod_annotations: Mapping[str, str] | None = None,
                root_namespace: str = DEFAULT_ROOT_NAMESPACE) -> MeshConfig:
    """The `mesh` key of the `istio` ConfigMap, with the pod's proxy.istio.io/config over defaultConfig."""
    cm = store.peek(CONFIG_MAPS, root_namespace, MESH_CONFIG_MAP)
    mesh = _yaml(((cm or {}).get("data") or {}).get("mesh", "")) if cm else {}
    default = dict(mesh.get("defaultConfig") or {})
    default.update(_yaml((pod_annotations or {}).get(PROXY_CONFIG_ANNOTATION, "")))
    inbound = str(((mesh.get("inboundTrafficPolicy") or {}).get("mode")) or "").upper()
    return MeshConfig(
        outbound_mode=str(((mesh.get("outboundTrafficPolicy") or {}).get("mode")) or "ALLOW_ANY").upper(),
        access_log_file=str(mesh.get("accessLogFile") or ""),
        access_log_encoding=str(mesh.get("accessLogEncoding") or "TEXT").upper(),
        access_log_format=str(mesh.get("accessLogFormat") or ""),
        trust_domain=str(mesh.get("trustDomain") or "cluster.local"),
        root_namespace=str(mesh.get("rootNamespace") or root_namespace),
        connect_timeout=_seconds(mesh.get("connectTimeout"), 10.0),
        inbound_localhost=inbound == "LOCALHOST" and flags(version).mesh_inbound_traffic_policy,
        discovery_address=str(default.get("discoveryAddress") or f"istiod.{root_namespace}.svc:15012"),
        hold_application_until_proxy_starts=bool(default.get("holdApplicationUntilProxyStarts")),
        termination_drain_duration=_seconds(default.get("terminationDrainDuration"), 5.0))


def _yaml(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _seconds(value: Any, default: float) -> float:
    """A protobuf Duration as YAML writes it: `10s`, `1.5s`, `500ms`, `1m`."""
    if value is None or value == "":
        return default
    text = str(value).strip()
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * scale
            except ValueError:
                return default
    try:
        return float(text)
    except ValueError:
        return default


def _has_vip(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") not in (None, "", "None")


def _service(store: Store, version: IstioVersion, svc: Obj, mesh: MeshConfig, pas: list[Obj]) -> Service:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    namespace, name = meta.get("namespace", ""), meta["name"]
    vips = tuple(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None")
    slices = [s for s in store.iter(ENDPOINT_SLICES, namespace)
              if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name]
    ports = []
    for port in spec.get("ports") or []:
        if port.get("protocol", "TCP") != "TCP":
            continue
        protocol = convert_protocol(version, port["port"], port.get("name", ""), port.get("protocol", "TCP"),
                                    port.get("appProtocol"))
        ports.append(ServicePort(port.get("name", ""), port["port"], protocol,
                                 _endpoints(store, slices, port.get("name", ""), mesh)))
    inferred = namespace_mtls(pas, root_namespace=mesh.root_namespace, namespace=namespace) or PERMISSIVE
    return Service(namespace, name, f"{name}.{namespace}.svc.cluster.local", vips, tuple(ports), inferred)


def _endpoints(store: Store, slices: list[Obj], port_name: str, mesh: MeshConfig) -> tuple[Endpoint, ...]:
    found: list[Endpoint] = []
    for piece in slices:
        number = next((p.get("port") for p in piece.get("ports") or [] if p.get("name", "") == port_name), None)
        if number is None:
            continue
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            pod = store.peek(PODS, ref.get("namespace", ""), ref.get("name", "")) if ref.get("kind") == "Pod" else None
            pod_meta = (pod or {}).get("metadata") or {}
            namespace = pod_meta.get("namespace", ref.get("namespace", ""))
            account = ((pod or {}).get("spec") or {}).get("serviceAccountName") or "default"
            for address in endpoint.get("addresses") or []:
                found.append(Endpoint(
                    address=address, port=int(number),
                    pod=f"{namespace}/{pod_meta['name']}" if pod_meta else "", service_account=account,
                    identity=spiffe(mesh.trust_domain, namespace, account),
                    tls_mode=(pod_meta.get("labels") or {}).get(TLS_MODE_LABEL, "disabled"),
                    has_sidecar=SIDECAR_STATUS_ANNOTATION in (pod_meta.get("annotations") or {}),
                    node=endpoint.get("nodeName", "")))
    return tuple(sorted(found, key=lambda e: (e.address, e.port)))


def _inbound(store: Store, version: IstioVersion, pod: Obj) -> tuple[InboundPort, ...]:
    """The pod's service instances: each selecting Service's TCP ports, at the target port."""
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    ports: dict[int, InboundPort] = {}
    for svc in store.iter(SERVICES, meta.get("namespace", "")):
        spec = svc.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for port in spec.get("ports") or []:
            if port.get("protocol", "TCP") != "TCP":
                continue
            target = _target_port(pod, port)
            if target is None or target in ports:
                continue
            protocol = convert_protocol(version, port["port"], port.get("name", ""), "TCP", port.get("appProtocol"))
            ports[target] = InboundPort(target, protocol, f"{svc['metadata']['name']}.{meta.get('namespace', '')}"
                                        ".svc.cluster.local", port["port"])
    return tuple(sorted(ports.values(), key=lambda p: p.port))


def _target_port(pod: Obj, port: Obj) -> int | None:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None
