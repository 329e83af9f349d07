"""Service, Endpoints and EndpointSlice rows (printers.go)."""

from __future__ import annotations

from meshrepro.kube.printers._table import (
    Cell,
    Context,
    Obj,
    age,
    age_column,
    column,
    format_labels,
    meta,
    name_column,
    spec,
    status,
)
from meshrepro.kube.versions import Flags

_MAX_LISTED = 3  # endpoints and ports shown before "+ N more..."


def service_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Type", doc="ServiceSpec.type"),
            column("Cluster-IP", doc="ServiceSpec.clusterIP"),
            column("External-IP", doc="ServiceSpec.externalIPs"),
            column("Port(s)", doc="ServiceSpec.ports"),
            age_column(),
            column("Selector", doc="ServiceSpec.selector", priority=1)]


def service_row(obj: Obj, ctx: Context) -> list[Cell]:
    cluster_ips = spec(obj).get("clusterIPs") or []
    return [meta(obj).get("name", ""), spec(obj).get("type", ""), cluster_ips[0] if cluster_ips else "<none>",
            _external_ip(obj), _ports(spec(obj).get("ports") or []) or "<none>", age(obj, ctx),
            format_labels(spec(obj).get("selector"))]


def _external_ip(obj: Obj) -> str:
    svc_spec = spec(obj)
    external_ips = svc_spec.get("externalIPs") or []
    svc_type = svc_spec.get("type")
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if svc_type == "LoadBalancer":
        lb_ips = _load_balancer_ips(obj)
        if external_ips:
            return ",".join(([*lb_ips.split(",")] if lb_ips else []) + external_ips)
        return lb_ips or "<pending>"
    if svc_type == "ExternalName":
        return svc_spec.get("externalName", "")
    return "<unknown>"


def _load_balancer_ips(obj: Obj) -> str:
    # printers.go clips this to 16 characters unless Wide; the apiserver always renders Wide.
    ingress = (status(obj).get("loadBalancer") or {}).get("ingress") or []
    return ",".join(sorted({i.get("ip") or i.get("hostname") for i in ingress
                            if i.get("ip") or i.get("hostname")}))


def _ports(ports: list[Obj]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol", "")
        if port.get("nodePort", 0) > 0:
            pieces.append(f"{port.get('port', 0)}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces)


def endpoints_columns(_: Flags) -> list[Obj]:
    return [name_column(), column("Endpoints", doc="Endpoints.subsets"), age_column()]


def endpoints_row(obj: Obj, ctx: Context) -> list[Cell]:
    return [meta(obj).get("name", ""), _format_endpoints(obj.get("subsets") or []), age(obj, ctx)]


def _format_endpoints(subsets: list[Obj]) -> str:
    """formatEndpoints: ip:port per (port, address), the first three, then `+ N more...`."""
    if not subsets:
        return "<none>"
    listed: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        # Headless services may have no ports: list the bare addresses.
        targets = [addresses] if not ports else [
            [_join_host_port(ip, port.get("port", 0)) for ip in addresses] for port in ports]
        for group in targets:
            count += len(group)
            listed.extend(group[:max(0, _MAX_LISTED - len(listed))])
    text = ",".join(listed)
    return f"{text} + {count - _MAX_LISTED} more..." if count > _MAX_LISTED else text


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def endpointslice_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("AddressType", doc="EndpointSlice.addressType"),
            column("Ports", doc="EndpointSlice.ports"),
            column("Endpoints", doc="EndpointSlice.endpoints"),
            age_column()]


def endpointslice_row(obj: Obj, ctx: Context) -> list[Cell]:
    ports = [_slice_port(p) for p in obj.get("ports") or []]
    addresses = [a for endpoint in obj.get("endpoints") or [] for a in endpoint.get("addresses") or []]
    return [meta(obj).get("name", ""), obj.get("addressType", ""), _list_with_more(ports),
            _list_with_more(addresses), age(obj, ctx)]


def _slice_port(port: Obj) -> str:
    if port.get("port") is not None:
        return str(port["port"])
    return port["name"] if port.get("name") is not None else "*"


def _list_with_more(items: list[str]) -> str:
    """listWithMoreString: first three, `+ N more...`, `<unset>` when empty."""
    text = ",".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        return f"{text} + {len(items) - _MAX_LISTED} more..."
    return text or "<unset>"
