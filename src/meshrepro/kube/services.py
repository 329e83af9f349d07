"""The Service registry's allocators and checks: cluster IPs from the service CIDR, node ports from
30000-32767, and the validation errors the API server returns for them."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from meshrepro.kube import status as api_status
from meshrepro.kube.store import Obj
from meshrepro.net.addressing import Pool

NODE_PORT_RANGE = (30000, 32767)
_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")  # sorted, as the validation message lists them


class ServiceAllocator:
    def __init__(self, pool: Pool, rng: random.Random) -> None:
        self.pool = pool
        self.rng = rng
        self.node_ports: set[int] = set()

    def allocate(self, service: Obj) -> tuple[int, dict[str, Any]] | None:
        """Fill in clusterIP(s) and node ports of a new Service; a Status denial when they cannot be had."""
        spec = service.setdefault("spec", {})
        name = service["metadata"].get("name", "")
        errors = _validate(spec)
        if errors:
            return api_status.invalid(_SERVICE_KIND, name, errors)
        kind = spec.get("type", "ClusterIP")
        if kind == "ExternalName":
            return None
        requested = spec.get("clusterIP", "")
        if requested and requested != "None":
            if requested not in self.pool:
                return api_status.invalid(_SERVICE_KIND, name, [api_status.invalid_value(
                    "spec.clusterIPs", [requested], f"failed to allocate IP {requested}: the provided IP "
                    f"({requested}) is not in the valid range. The range of valid IPs is {self.pool.network}")])
            if not self.pool.reserve(requested):
                return api_status.invalid(_SERVICE_KIND, name, [api_status.invalid_value(
                    "spec.clusterIPs", [requested],
                    f"failed to allocate IP {requested}: provided IP is already allocated")])
        elif not requested:
            requested = self._random_ip()
        spec["clusterIP"] = requested
        spec["clusterIPs"] = [requested]
        taken: list[int] = []
        for index, port in enumerate(spec.get("ports") or []):
            if kind not in ("NodePort", "LoadBalancer"):
                continue
            wanted = port.get("nodePort")
            if wanted:
                if wanted in self.node_ports:
                    # A failed create gives back everything it took (the registry's allocation transaction).
                    self.node_ports.difference_update(taken)
                    if requested != "None":
                        self.pool.release(requested)
                    return api_status.invalid(_SERVICE_KIND, name, [api_status.invalid_value(
                        f"spec.ports[{index}].nodePort", wanted, "provided port is already allocated")])
            else:
                wanted = self._random_node_port()
                port["nodePort"] = wanted
            self.node_ports.add(wanted)
            taken.append(wanted)
        return None

    def update(self, old: Obj, new: Obj) -> tuple[int, dict[str, Any]] | None:
        """An update keeps the cluster IP, allocates node ports a new NodePort type needs, frees dropped ones."""
        spec, old_spec = new.setdefault("spec", {}), old.get("spec", {})
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec and not spec.get(key):
                spec[key] = old_spec[key]
        name = new["metadata"].get("name", "")
        errors = _validate(spec)
        if errors:
            return api_status.invalid(_SERVICE_KIND, name, errors)
        owned = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")}
        wanted: set[int] = set()
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for index, port in enumerate(spec.get("ports") or []):
                number = port.get("nodePort")
                if not number:
                    number = port["nodePort"] = self._random_node_port()
                elif number in self.node_ports and number not in owned:
                    return api_status.invalid(_SERVICE_KIND, name, [api_status.invalid_value(
                        f"spec.ports[{index}].nodePort", number, "provided port is already allocated")])
                wanted.add(number)
        self.node_ports.difference_update(owned - wanted)
        self.node_ports.update(wanted)
        return None

    def release(self, service: Obj) -> None:
        spec = service.get("spec", {})
        if spec.get("clusterIP") not in (None, "", "None"):
            self.pool.release(spec["clusterIP"])
        for port in spec.get("ports") or []:
            self.node_ports.discard(port.get("nodePort"))

    def _random_ip(self) -> str:
        # The allocator picks at random, preferring the upper block: the lower block is kept for static IPs.
        network = self.pool.network
        low = min(max(16, network.num_addresses // 16), 256)
        while True:
            candidate = str(network[self.rng.randrange(low, network.num_addresses - 1)])
            if self.pool.reserve(candidate):
                return candidate

    def _random_node_port(self) -> int:
        while True:
            port = self.rng.randint(*NODE_PORT_RANGE)
            if port not in self.node_ports:
                return port


class _Kind:
    group = ""
    kind = "Service"


_SERVICE_KIND = _Kind()


def _validate(spec: Obj) -> list[api_status.FieldError]:
    """The checks of pkg/apis/core/validation ValidateService that users actually trip over."""
    errors: list[api_status.FieldError] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in _TYPES:
        errors.append(api_status.not_supported("spec.type", kind, _TYPES))
    ports = spec.get("ports") or []
    if kind != "ExternalName" and not ports and spec.get("clusterIP") != "None":
        errors.append(api_status.required("spec.ports", ""))
    if kind == "ExternalName" and not spec.get("externalName"):
        errors.append(api_status.required("spec.externalName", ""))
    seen: set[tuple[int, str]] = set()
    names: set[str] = set()
    for index, port in enumerate(ports):
        where = f"spec.ports[{index}]"
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(api_status.invalid_value(f"{where}.port", number,
                                                   "must be between 1 and 65535, inclusive"))
        if len(ports) > 1 and not port.get("name"):
            errors.append(api_status.required(f"{where}.name", ""))
        if port.get("name"):
            if port["name"] in names:
                errors.append(api_status.duplicate(f"{where}.name", port["name"]))
            names.add(port["name"])
        key = (number, port.get("protocol", "TCP"))
        if key in seen:
            errors.append(api_status.duplicate(where, {"port": number, "protocol": key[1]}))
        seen.add(key)
        node_port = port.get("nodePort")
        if node_port and kind == "ClusterIP":
            errors.append(api_status.forbidden_field(f"{where}.nodePort", "may not be used when `type` is 'ClusterIP'"))
        elif node_port and not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
            errors.append(api_status.invalid_value(
                f"{where}.nodePort", node_port,
                "provided port is not in the valid range. The range of valid ports is 30000-32767"))
    if spec.get("clusterIP") not in (None, "", "None"):
        try:
            ipaddress.ip_address(spec["clusterIP"])
        except ValueError:
            errors.append(api_status.invalid_value("spec.clusterIPs[0]", spec["clusterIP"],
                                                   "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    return errors
