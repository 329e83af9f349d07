"""What istiod pushes to one sidecar, computed from a hand-built store."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from meshrepro.istio.peerauth import PEER_AUTHENTICATIONS, effective_mtls, namespace_mtls
from meshrepro.istio.sidecar_config import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    PODS,
    SERVICES,
    convert_protocol,
    mesh_config,
    sidecar_config,
)
from meshrepro.kube.store import Store
from meshrepro.net.tls import Certificate

V = (1, 22, 0)


def pod(name: str, ip: str, *, ns: str = "default", labels: dict[str, str] | None = None, sa: str = "default",
        sidecar: bool = True, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels or {})}
    if sidecar:
        meta["labels"]["security.istio.io/tlsMode"] = "istio"
        meta["annotations"] = {"sidecar.istio.io/status": "{}"}
    return {"metadata": meta, "spec": {"serviceAccountName": sa, "containers": [{"name": "app", "ports": ports or []}]},
            "status": {"podIP": ip}}


def service(name: str, vip: str, ports: list[dict[str, Any]], *, ns: str = "default",
            selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": vip, "clusterIPs": [vip], "ports": ports, "selector": selector or {"app": name}}}


def endpoint_slice(service_name: str, ports: list[dict[str, Any]], endpoints: list[tuple[str, str, bool]],
                   ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": f"{service_name}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service_name}},
            "ports": ports,
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready},
                           "targetRef": {"kind": "Pod", "namespace": ns, "name": name}}
                          for name, ip, ready in endpoints]}


def pa(name: str, ns: str, mode: str | None, *, selector: dict[str, str] | None = None,
       ports: dict[str, str] | None = None, created: str = "2024-01-18T09:57:00Z") -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if ports:
        spec["portLevelMtls"] = {p: {"mode": m} for p, m in ports.items()}
    return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": created}, "spec": spec}


def mesh_cm(mesh: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "istio", "namespace": "istio-system"}, "data": {"mesh": yaml.safe_dump(mesh)}}


def put(store: Store, key: Any, *objs: dict[str, Any]) -> None:
    for obj in objs:
        store.put(key, obj)


@pytest.mark.parametrize(("port", "name", "app_protocol", "version", "expected"), [
    (80, "http", None, V, "HTTP"),
    (80, "http-web", None, V, "HTTP"),
    (80, "HTTP2-x", None, V, "HTTP2"),
    (9000, "grpc-web-ui", None, V, "GRPC-Web"),
    (5432, "tcp-db", None, V, "TCP"),
    (443, "https", None, V, "HTTPS"),
    (8080, "", None, V, "UnsupportedProtocol"),
    (8080, "web", None, V, "UnsupportedProtocol"),
    (3306, "", None, V, "TCP"),  # well-known ports default to TCP
    (8080, "tcp", "http", V, "HTTP"),  # appProtocol wins over the name
    (8080, "web", "kubernetes.io/h2c", (1, 18, 0), "UnsupportedProtocol"),
    (8080, "web", "kubernetes.io/h2c", (1, 19, 0), "HTTP2"),
    (8080, "web", "kubernetes.io/ws", (1, 23, 0), "UnsupportedProtocol"),
    (8080, "web", "kubernetes.io/ws", (1, 24, 0), "HTTP"),
])
def test_protocol_selection(port: int, name: str, app_protocol: str | None, version: Any, expected: str) -> None:
    assert convert_protocol(version, port, name, "TCP", app_protocol) == expected


def _store() -> Store:
    store = Store()
    put(store, PODS, pod("client", "10.244.0.7", labels={"app": "client"}, sa="client"),
        pod("server-1", "10.244.0.9", labels={"app": "server"}, sa="server", ports=[{"name": "web",
                                                                                      "containerPort": 80}]),
        pod("server-2", "10.244.0.10", labels={"app": "server"}, sa="server", sidecar=False),
        pod("other", "10.244.1.5", ns="other", labels={"app": "other"}))
    put(store, SERVICES, service("server", "10.96.0.50", [{"name": "http", "port": 8080, "targetPort": "web"},
                                                          {"name": "tcp-db", "port": 5432, "targetPort": 5432}]),
        service("other", "10.96.0.60", [{"name": "http", "port": 8080}], ns="other"),
        {"metadata": {"name": "headless", "namespace": "default"},
         "spec": {"clusterIP": "None", "ports": [{"port": 80}], "selector": {"app": "none"}}})
    put(store, ENDPOINT_SLICES,
        endpoint_slice("server", [{"name": "http", "port": 80}, {"name": "tcp-db", "port": 5432}],
                       [("server-1", "10.244.0.9", True), ("server-2", "10.244.0.10", True),
                        ("server-3", "10.244.0.11", False)]))
    return store


def test_services_endpoints_and_auto_mtls_identity() -> None:
    config = sidecar_config(_store(), V, "default", "client")
    assert config.identity == "spiffe://cluster.local/ns/default/sa/client"
    assert [s.hostname for s in config.services] == ["server.default.svc.cluster.local",
                                                    "other.other.svc.cluster.local"]  # headless left out
    found = config.service_at("10.96.0.50", 8080)
    assert found is not None
    svc, port = found
    assert port.protocol == "HTTP"
    # the not-ready endpoint is not pushed; the port is the slice's (the resolved target port)
    assert [(e.address, e.port, e.tls_mode, e.has_sidecar) for e in port.endpoints] == [
        ("10.244.0.10", 80, "disabled", False), ("10.244.0.9", 80, "istio", True)]
    assert port.endpoints[1].identity == "spiffe://cluster.local/ns/default/sa/server"
    assert config.service_at("10.96.0.50", 80) is None
    assert svc.mtls_mode == "PERMISSIVE"


def test_routes_match_the_authority_with_short_names_only_in_the_same_namespace() -> None:
    config = sidecar_config(_store(), V, "default", "client")
    for authority in ("server", "server:8080", "server.default", "server.default.svc.cluster.local:8080",
                      "10.96.0.50:8080", "SERVER.default.svc"):
        route = config.route(8080, authority)
        assert route is not None and route[0].name == "server", authority
    assert config.route(8080, "other") is None  # another namespace's bare name
    route = config.route(8080, "other.other")
    assert route is not None and route[0].name == "other"
    assert config.route(8080, "example.com") is None


def test_inbound_ports_resolve_named_target_ports() -> None:
    config = sidecar_config(_store(), V, "default", "server-1")
    assert [(p.port, p.protocol, p.service_port) for p in config.inbound] == [(80, "HTTP", 8080), (5432, "TCP", 5432)]
    assert sidecar_config(_store(), V, "default", "client").inbound == ()


def test_mesh_config_and_root_certificate() -> None:
    store = _store()
    put(store, CONFIG_MAPS, mesh_cm({"accessLogFile": "/dev/stdout", "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                                     "inboundTrafficPolicy": {"mode": "LOCALHOST"}, "connectTimeout": "2s",
                                     "defaultConfig": {"holdApplicationUntilProxyStarts": False}}))
    root = Certificate("cluster.local", "cluster.local", "abc", organizations=("cluster.local",), is_ca=True)
    put(store, CONFIG_MAPS, {"metadata": {"name": "istio-ca-root-cert", "namespace": "default"},
                             "data": {"root-cert.pem": root.pem()}})
    pods = store.peek(PODS, "default", "client")
    assert pods is not None
    pods["metadata"]["annotations"] = {"proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}'}
    config = sidecar_config(store, V, "default", "client")
    assert config.mesh.access_log_file == "/dev/stdout"
    assert config.mesh.outbound_mode == "REGISTRY_ONLY"
    assert config.mesh.connect_timeout == 2.0
    assert config.mesh.inbound_localhost is True
    assert config.mesh.hold_application_until_proxy_starts is True  # the pod annotation wins
    assert config.root_cert == root
    # inboundTrafficPolicy is a 1.22 mesh setting
    assert mesh_config(store, (1, 21, 2)).inbound_localhost is False
    assert mesh_config(Store(), V).outbound_mode == "ALLOW_ANY"


def test_peer_authentication_scopes_and_inheritance() -> None:
    pas = [pa("mesh", "istio-system", "STRICT"),
           pa("ns", "default", "PERMISSIVE"),
           pa("older-ns", "default", "DISABLE", created="2024-01-18T09:00:00Z"),
           pa("wl", "default", None, selector={"app": "server"}, ports={"8080": "STRICT", "9090": "UNSET"}),
           pa("root-selector", "istio-system", "DISABLE", selector={"app": "server"})]
    server = effective_mtls(pas, root_namespace="istio-system", namespace="default", labels={"app": "server"})
    # the oldest namespace policy wins; the workload policy's UNSET inherits it, port UNSET too
    assert server.mode == "DISABLE"
    assert server.for_port(8080) == "STRICT"
    assert server.for_port(9090) == "DISABLE"
    assert server.workload_policy == "wl"
    other = effective_mtls(pas, root_namespace="istio-system", namespace="other", labels={"app": "server"})
    assert (other.mode, other.port_modes) == ("STRICT", ())  # the mesh policy; root selectors apply nowhere else
    assert effective_mtls([], root_namespace="istio-system", namespace="x", labels={}).mode == "PERMISSIVE"
    assert namespace_mtls(pas, root_namespace="istio-system", namespace="default") == "DISABLE"
    assert namespace_mtls(pas, root_namespace="istio-system", namespace="other") == "STRICT"
    assert namespace_mtls([], root_namespace="istio-system", namespace="other") is None
    assert namespace_mtls([pa("ns", "a", None), pa("m", "istio-system", "STRICT")],
                          root_namespace="istio-system", namespace="a") == "STRICT"


def test_sidecar_config_carries_the_workload_and_service_modes() -> None:
    store = _store()
    put(store, PEER_AUTHENTICATIONS, pa("strict", "default", "STRICT"),
        pa("wl", "default", "PERMISSIVE", selector={"app": "server"}, ports={"5432": "DISABLE"}))
    server = sidecar_config(store, V, "default", "server-1")
    assert server.mtls_mode(80) == "PERMISSIVE"
    assert server.mtls_mode(5432) == "DISABLE"
    client = sidecar_config(store, V, "default", "client")
    assert client.mtls_mode(80) == "STRICT"
    assert client.services[0].mtls_mode == "STRICT"  # what clients infer: the namespace policy only
