"""endpointslice-controller and endpoint-controller: the pods behind every Service with a selector.

Ports of pkg/controller/endpointslice (reconciler.go, utils.go: podToEndpoint, getEndpointPorts,
setEndpointSliceLabels) and pkg/controller/endpoint/endpoints_controller.go (syncService,
addEndpointSubset). Services without a selector (the `kubernetes` Service) are left alone: their
endpoints come from the API server's reconciler or from the user.
"""

from __future__ import annotations

from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key
from meshrepro.kube.controllers.util import (
    ENDPOINT_SLICES,
    ENDPOINTS,
    PODS,
    SERVICES,
    RateLimitedQueue,
    error_message,
    is_pod_ready,
    namespace_terminating,
)
from meshrepro.kube.selectors import Requirement, matches_labels
from meshrepro.kube.store import Obj, WatchEvent

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def _selector(service: Obj) -> list[Requirement] | None:
    selector = service["spec"].get("selector")
    if not selector:
        return None
    return [Requirement(k, "=", (str(v),)) for k, v in sorted(selector.items())]


def _should_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """endpointutil.ShouldPodBeInEndpoints."""
    status = pod.get("status") or {}
    phase, policy = status.get("phase"), pod["spec"].get("restartPolicy", "Always")
    if (policy == "Never" and phase in ("Failed", "Succeeded")) or (policy == "OnFailure" and phase == "Succeeded"):
        return False
    if not status.get("podIP"):
        return False
    return include_terminating or "deletionTimestamp" not in pod["metadata"]


def _find_port(pod: Obj, service_port: dict[str, Any]) -> int | None:
    """podutil.FindPort: a number as is, a name looked up among the containers' ports."""
    target = service_port.get("targetPort", service_port["port"])
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _pod_ref(pod: Obj) -> dict[str, str]:
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _hostname(pod: Obj, service: Obj) -> str:
    spec = pod["spec"]
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        return str(spec["hostname"])
    return ""


def _service_owner(service: Obj) -> dict[str, Any]:
    meta = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta["uid"], "controller": True,
            "blockOwnerDeletion": True}


class _ServiceController(Controller):
    """Services keyed by name; a pod change requeues every Service that selects it or lists it."""

    primary = SERVICES
    secondary = (PODS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        # The pod informer's index by (namespace, label, value): a Service's pods without scanning its namespace.
        self._by_label: dict[tuple[str, str, str], set[Key]] = {}
        self._labels_of: dict[Key, dict[str, str]] = {}

    def start(self) -> None:
        super().start()
        for pod in self.ctx.store.iter(PODS):
            self._index(WatchEvent("ADDED", PODS, pod))

    def keys_for(self, event: WatchEvent) -> list[Key]:
        self._index(event)
        pod = event.object
        namespace, uid = pod["metadata"]["namespace"], pod["metadata"].get("uid")
        keys = []
        for service in self.ctx.store.iter(SERVICES, namespace):
            selector = _selector(service)
            if selector is not None and (matches_labels(selector, pod) or self._lists(service, uid)):
                keys.append((namespace, service["metadata"]["name"]))
        return keys

    def _index(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        key = (meta["namespace"], meta["name"])
        for label, value in self._labels_of.pop(key, {}).items():
            self._by_label[(key[0], label, value)].discard(key)
        if event.type != "DELETED":
            labels = self._labels_of[key] = meta.get("labels") or {}
            for label, value in labels.items():
                self._by_label.setdefault((key[0], label, value), set()).add(key)

    def _lists(self, service: Obj, uid: str | None) -> bool:
        raise NotImplementedError

    def reconcile(self, namespace: str, name: str) -> None:
        service = self.ctx.store.peek(SERVICES, namespace, name)
        if service is None:
            error = self.service_gone(namespace, name)
        elif _selector(service) is None:
            return
        else:
            error = self.sync(service)
        if error:
            self.ctx.trace.add(self.ctx.clock.now, self.name, f"Service {namespace}/{name}", "sync failed", error)
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    def sync(self, service: Obj) -> str:
        raise NotImplementedError

    def service_gone(self, namespace: str, name: str) -> str:
        """EndpointSlices carry an owner reference: the garbage collector removes them."""
        return ""

    def _pods(self, service: Obj) -> list[Obj]:
        """The pods the Service's (non-empty) selector matches, in key order."""
        namespace = service["metadata"]["namespace"]
        keys = set.intersection(*(self._by_label.get((namespace, label, str(value)), set())
                                  for label, value in service["spec"]["selector"].items()))
        pods = (self.ctx.store.peek(PODS, namespace, name) for _, name in sorted(keys))
        return [pod for pod in pods if pod is not None]  # the index follows the store: all are there

    def _write(self, api_version: str, resource: str, namespace: str, obj: Obj, existing: Obj | None) -> str:
        if existing is None:
            result = self.ctx.client.create(api_version, resource, namespace, obj)
            if not result.ok and namespace_terminating(result):
                return ""
        else:
            merged = {**existing, **{k: v for k, v in obj.items() if k != "metadata"}}
            merged["metadata"] = {**existing["metadata"], **{k: v for k, v in obj["metadata"].items()
                                                             if k != "generateName"}}
            result = self.ctx.client.update(api_version, resource, merged)
        return "" if result.ok else error_message(result)


class EndpointSliceController(_ServiceController):
    name = "endpointslice-controller"

    def _lists(self, service: Obj, uid: str | None) -> bool:
        return any(ep.get("targetRef", {}).get("uid") == uid
                   for s in self._slices(service) for ep in s.get("endpoints") or [])

    def _slices(self, service: Obj) -> list[Obj]:
        meta = service["metadata"]
        return [s for s in self.ctx.store.iter(ENDPOINT_SLICES, meta["namespace"])
                if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == meta["name"]
                and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY]

    def sync(self, service: Obj) -> str:
        if service["spec"].get("type") == "ExternalName":
            return ""
        # Endpoints grouped by their resolved port list: one slice per distinct list.
        groups: dict[tuple[tuple[str, str, int, str], ...], list[dict[str, Any]]] = {}
        for pod in self._pods(service):
            if not _should_be_in_endpoints(pod, include_terminating=True):
                continue
            ports = self._ports(service, pod)
            groups.setdefault(ports, []).append(self._endpoint(service, pod))
        desired = [(ports, eps) for ports, eps in groups.items()] or [((), [])]
        existing = sorted(self._slices(service), key=lambda s: s["metadata"]["name"])
        namespace = service["metadata"]["namespace"]
        for index, (ports, endpoints) in enumerate(desired):
            current = existing[index] if index < len(existing) else None
            wanted = self._slice(service, ports, endpoints)
            if current is not None and all(current.get(k) == wanted.get(k) for k in ("addressType", "endpoints", "ports")) \
                    and current["metadata"].get("labels") == wanted["metadata"]["labels"]:
                continue
            error = self._write("discovery.k8s.io/v1", "endpointslices", namespace, wanted,
                                self.ctx.store.get(ENDPOINT_SLICES, namespace, current["metadata"]["name"])
                                if current else None)
            if error:
                return error
        for extra in existing[len(desired):]:
            result = self.ctx.client.delete("discovery.k8s.io/v1", "endpointslices", namespace,
                                            extra["metadata"]["name"])
            if not result.ok and result.status != 404:
                return error_message(result)
        return ""

    @staticmethod
    def _ports(service: Obj, pod: Obj) -> tuple[tuple[str, str, int, str], ...]:
        """getEndpointPorts: the service ports this pod resolves (named ports it lacks are skipped)."""
        ports = []
        for port in service["spec"].get("ports") or []:
            number = _find_port(pod, port)
            if number is not None:
                ports.append((port.get("name", ""), port.get("protocol", "TCP"), number, port.get("appProtocol", "")))
        return tuple(ports)

    @staticmethod
    def _endpoint(service: Obj, pod: Obj) -> dict[str, Any]:
        """podToEndpoint."""
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        terminating = "deletionTimestamp" in pod["metadata"]
        serving = publish or is_pod_ready(pod)
        ready = serving and (publish or not terminating)
        endpoint: dict[str, Any] = {"addresses": [pod["status"]["podIP"]],
                                    "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
        hostname = _hostname(pod, service)
        if hostname:
            endpoint["hostname"] = hostname
        endpoint["targetRef"] = _pod_ref(pod)
        if pod["spec"].get("nodeName"):
            endpoint["nodeName"] = pod["spec"]["nodeName"]
        return endpoint

    @staticmethod
    def _slice(service: Obj, ports: tuple[tuple[str, str, int, str], ...], endpoints: list[dict[str, Any]]) -> Obj:
        meta = service["metadata"]
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}
        if service["spec"].get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        labels.update({MANAGED_BY_LABEL: MANAGED_BY, SERVICE_NAME_LABEL: meta["name"]})
        port_list = []
        for name, protocol, number, app_protocol in ports:
            port: dict[str, Any] = {"name": name, "protocol": protocol, "port": number}
            if app_protocol:
                port["appProtocol"] = app_protocol
            port_list.append(port)
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                             "labels": dict(sorted(labels.items())), "ownerReferences": [_service_owner(service)]},
                "addressType": "IPv4", "endpoints": endpoints or None, "ports": port_list or None}


class EndpointsController(_ServiceController):
    name = "endpoint-controller"

    def _lists(self, service: Obj, uid: str | None) -> bool:
        current = self.ctx.store.peek(ENDPOINTS, service["metadata"]["namespace"], service["metadata"]["name"])
        return current is not None and any(
            a.get("targetRef", {}).get("uid") == uid for subset in current.get("subsets") or []
            for a in [*(subset.get("addresses") or []), *(subset.get("notReadyAddresses") or [])])

    def service_gone(self, namespace: str, name: str) -> str:
        """Endpoints have no owner reference: the controller deletes them itself."""
        if self.ctx.store.peek(ENDPOINTS, namespace, name) is None:
            return ""
        result = self.ctx.client.delete("v1", "endpoints", namespace, name)
        return "" if result.ok or result.status == 404 else error_message(result)

    def sync(self, service: Obj) -> str:
        publish = bool(service["spec"].get("publishNotReadyAddresses"))
        headless = service["spec"].get("clusterIP") == "None"
        # Subsets keyed by their port list, as RepackSubsets groups them.
        subsets: dict[tuple[tuple[str, int, str, str], ...], dict[str, list[dict[str, Any]]]] = {}
        for pod in self._pods(service):
            if not _should_be_in_endpoints(pod, include_terminating=publish):
                continue
            address: dict[str, Any] = {"ip": pod["status"]["podIP"]}
            hostname = _hostname(pod, service)
            if hostname:
                address["hostname"] = hostname
            if pod["spec"].get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            address["targetRef"] = _pod_ref(pod)
            kind = "addresses" if publish or is_pod_ready(pod) else "notReadyAddresses"
            service_ports = service["spec"].get("ports") or []
            if not service_ports and headless:
                subsets.setdefault((), {}).setdefault(kind, []).append(address)
            for port in service_ports:
                number = _find_port(pod, port)
                if number is None:
                    continue  # addEndpointSubset is skipped for ports the pod cannot resolve
                key = ((port.get("name", ""), number, port.get("protocol", "TCP"), port.get("appProtocol", "")),)
                subsets.setdefault(key, {}).setdefault(kind, []).append(address)
        wanted_subsets = [self._subset(ports, addresses) for ports, addresses in self._repack(subsets)]
        meta = service["metadata"]
        labels = dict(meta.get("labels") or {})
        if headless:
            labels[HEADLESS_LABEL] = ""
        wanted: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                       "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
        if labels:
            wanted["metadata"]["labels"] = dict(sorted(labels.items()))
        if wanted_subsets:
            wanted["subsets"] = wanted_subsets
        current = self.ctx.store.get(ENDPOINTS, meta["namespace"], meta["name"])
        if current is not None and current.get("subsets") == wanted.get("subsets") \
                and (current["metadata"].get("labels") or {}) == labels:
            return ""
        if current is not None:
            current.pop("subsets", None)
            current["metadata"].pop("labels", None)
        return self._write("v1", "endpoints", meta["namespace"], wanted, current)

    @staticmethod
    def _repack(subsets: dict[Any, dict[str, list[dict[str, Any]]]]) -> list[tuple[Any, dict[str, list[Any]]]]:
        """RepackSubsets: pods with identical port lists share one subset (single-port lists merged per
        pod address set); addresses sorted by IP then uid."""
        by_addresses: dict[str, tuple[list[Any], dict[str, list[Any]]]] = {}
        for ports, addresses in subsets.items():
            key = repr(sorted((k, a["ip"]) for k, v in addresses.items() for a in v))
            entry = by_addresses.setdefault(key, ([], addresses))
            entry[0].extend(ports)
        out = []
        for ports, addresses in by_addresses.values():
            ordered = {k: sorted(v, key=lambda a: (a["ip"], a["targetRef"]["uid"]))
                       for k, v in sorted(addresses.items())}
            out.append((tuple(ports), ordered))
        return out

    @staticmethod
    def _subset(ports: tuple[tuple[str, int, str, str], ...], addresses: dict[str, list[Any]]) -> dict[str, Any]:
        subset: dict[str, Any] = {}
        if addresses.get("addresses"):
            subset["addresses"] = addresses["addresses"]
        if addresses.get("notReadyAddresses"):
            subset["notReadyAddresses"] = addresses["notReadyAddresses"]
        port_list = []
        for name, number, protocol, app_protocol in ports:
            port: dict[str, Any] = {"name": name} if name else {}
            port.update({"port": number, "protocol": protocol})
            if app_protocol:
                port["appProtocol"] = app_protocol
            port_list.append(port)
        if port_list:
            subset["ports"] = port_list
        return subset
