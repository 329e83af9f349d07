"""kube-proxy: Service virtual IPs and node ports translated to ready endpoints, on every node.

Installed as a node hook in the connection walk: the same place its iptables KUBE-SERVICES chain
sits (PREROUTING for traffic from pods, OUTPUT for the node's own processes).
"""

from __future__ import annotations

from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.net.stack import HookResult, Network, Packet, Verdict
from meshrepro.sim.clock import Clock

SERVICES = ResourceKey("", "services")
SLICES = ResourceKey("discovery.k8s.io", "endpointslices")


class KubeProxy:
    def __init__(self, clock: Clock, store: Store, network: Network, node_ips: list[str]) -> None:
        self.clock = clock
        self.store = store
        self.network = network
        self.node_ips = set(node_ips)

    def install(self, node_name: str) -> None:
        self.network.node_hooks.setdefault(node_name, []).append(self.hook)

    def hook(self, packet: Packet) -> HookResult | None:
        ip, port = packet.destination
        for service in self.store.iter(SERVICES):
            spec = service.get("spec", {})
            for svc_port in spec.get("ports") or []:
                if svc_port.get("protocol", "TCP").lower() != packet.protocol:
                    continue
                if spec.get("clusterIP") == ip and svc_port["port"] == port:
                    return self._translate(service, svc_port, packet, f"{ip}:{port}")
                if svc_port.get("nodePort") == port and ip in self.node_ips:
                    return self._translate(service, svc_port, packet, f"node port {port}")
        return None

    def _translate(self, service: Obj, svc_port: Obj, packet: Packet, via: str) -> HookResult:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        port_name = svc_port.get("name", "")
        endpoints = self._ready_endpoints(namespace, name, port_name)
        chain = f"KUBE-SVC for {namespace}/{name}" + (f":{port_name}" if port_name else "")
        if not endpoints:
            return HookResult(Verdict.REJECT, None, "kube-proxy", f"REJECT {via}",
                              f"service {namespace}/{name} has no ready endpoints ({chain})")
        # iptables mode picks with `-m statistic --mode random`; the run's seeded generator stands in for it.
        target = endpoints[self.clock.rng.randrange(len(endpoints))] if len(endpoints) > 1 else endpoints[0]
        return HookResult(Verdict.CONTINUE, target, "kube-proxy", f"DNAT {via} -> {target[0]}:{target[1]}",
                          f"{chain}, {len(endpoints)} ready endpoint(s)")

    def _ready_endpoints(self, namespace: str, service: str, port_name: str) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for endpoint_slice in self.store.iter(SLICES, namespace):
            labels = endpoint_slice["metadata"].get("labels") or {}
            if labels.get("kubernetes.io/service-name") != service:
                continue
            port = next((p["port"] for p in endpoint_slice.get("ports") or [] if p.get("name", "") == port_name), None)
            if port is None:
                continue
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", True):
                    found += [(address, port) for address in endpoint.get("addresses") or []]
        return sorted(set(found))
