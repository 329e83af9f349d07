"""kube-proxy in iptables mode: Services and their ready endpoints rendered as the real proxier renders
them (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*, KUBE-NODEPORTS, REJECT for Services without endpoints)
and loaded into every node's network namespace with `iptables-restore --noflush`.

The rules are what decides: a connection to a ClusterIP is DNATed by the node's nat table, exactly
where the kernel would do it, and the trail of matched rules explains the decision.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.kube.store import ResourceKey, Store, WatchEvent
from meshrepro.net.stack import NetNamespace, Network
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

SERVICES = ResourceKey("", "services")
SLICES = ResourceKey("discovery.k8s.io", "endpointslices")
MIN_SYNC_PERIOD = 1.0  # KubeProxyIPTablesConfiguration.minSyncPeriod default
MASQ_MARK = "0x4000"

_BASE_NAT = """-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
"""
_BASE_FILTER = """-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
"""


def _hash(text: str) -> str:
    """portProtoHash: base32 of the SHA-256, first 16 characters."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def service_chain(port_name: str, protocol: str) -> str:
    return "KUBE-SVC-" + _hash(port_name + protocol)


def external_chain(port_name: str, protocol: str) -> str:
    return "KUBE-EXT-" + _hash(port_name + protocol)


def endpoint_chain(port_name: str, protocol: str, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash(port_name + protocol + endpoint)


class KubeProxy:
    """One kube-proxy per node; each renders the same rules from its informer view."""

    def __init__(self, clock: Clock, store: Store, trace: Trace, network: Network, node_ns: NetNamespace,
                 node_ips: list[str], pod_subnet: str) -> None:
        self.clock = clock
        self.store = store
        self.trace = trace
        self.network = network
        self.node_ns = node_ns
        self.node_ips = node_ips
        self.pod_subnet = pod_subnet
        self._pending: simpy.Event | None = None
        self._last_sync = -MIN_SYNC_PERIOD

    def start(self) -> None:
        self.node_ns.ruleset.restore(self._base(), noflush=True)
        self.sync()
        self.store.watch(self._changed, SERVICES)
        self.store.watch(self._changed, SLICES)

    def _changed(self, event: WatchEvent) -> None:
        if self._pending is None:
            self._pending = self.clock.env.event()
            self.clock.process(self._sync_later())

    def _sync_later(self) -> Generator[simpy.Event, Any, None]:
        # The proxier batches changes: at most one iptables-restore per minSyncPeriod.
        yield self.clock.timeout(max(0.0, self._last_sync + MIN_SYNC_PERIOD - self.clock.now))
        self._pending = None
        self.sync()

    def sync(self) -> None:
        self._last_sync = self.clock.now
        text = self.render()
        self.node_ns.ruleset.restore(text, noflush=True)
        self.trace.add(self.clock.now, f"kube-proxy/{self.node_ns.node}", f"node {self.node_ns.node}",
                       "synced iptables rules", f"{text.count(chr(10) + '-A ')} rules in its chains")

    def _base(self) -> str:
        """The jumps from the built-in chains, as kube-proxy ensures them at start (with its chains declared)."""
        nat_chains = "".join(f":{c} - [0:0]\n" for c in ("KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"))
        filter_chains = "".join(f":{c} - [0:0]\n" for c in ("KUBE-EXTERNAL-SERVICES", "KUBE-SERVICES"))
        return f"*nat\n{nat_chains}{_BASE_NAT}COMMIT\n*filter\n{filter_chains}{_BASE_FILTER}COMMIT\n"

    def render(self) -> str:
        """The nat and filter tables kube-proxy writes (its own chains only; --noflush keeps the rest)."""
        nat_chains = ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"]
        nat: list[str] = [
            f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
            f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
            f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
            ('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
             "--random-fully"),
        ]
        filter_rules: list[str] = []
        services_rules: list[str] = []
        nodeport_rules: list[str] = []
        for service in self.store.iter(SERVICES):
            spec = service.get("spec", {})
            cluster_ip = spec.get("clusterIP", "")
            if not cluster_ip or cluster_ip == "None" or spec.get("type") == "ExternalName":
                continue
            namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
            for port in spec.get("ports") or []:
                protocol = port.get("protocol", "TCP").lower()
                port_name = f"{namespace}/{name}" + (f":{port['name']}" if port.get("name") else "")
                endpoints = self._endpoints(namespace, name, port.get("name", ""), protocol)
                svc_chain = service_chain(port_name, protocol)
                match = f"-p {protocol} -m comment --comment \"{port_name} cluster IP\" -m {protocol} --dport {port['port']}"
                if not endpoints:
                    filter_rules.append(
                        f"-A KUBE-SERVICES -d {cluster_ip}/32 -p {protocol} -m comment --comment \"{port_name} has no "
                        f"endpoints\" -m {protocol} --dport {port['port']} -j REJECT --reject-with icmp-port-unreachable")
                    if port.get("nodePort"):
                        filter_rules.append(
                            f"-A KUBE-EXTERNAL-SERVICES -p {protocol} -m comment --comment \"{port_name} has no "
                            f"endpoints\" -m addrtype --dst-type LOCAL -m {protocol} --dport {port['nodePort']} "
                            f"-j REJECT --reject-with icmp-port-unreachable")
                    continue
                nat_chains.append(svc_chain)
                services_rules.append(f"-A KUBE-SERVICES -d {cluster_ip}/32 {match} -j {svc_chain}")
                nat.append(f"-A {svc_chain} ! -s {self.pod_subnet} -d {cluster_ip}/32 {match} -j KUBE-MARK-MASQ")
                if port.get("nodePort"):
                    ext_chain = external_chain(port_name, protocol)
                    nat_chains.append(ext_chain)
                    nodeport_rules.append(f"-A KUBE-NODEPORTS -p {protocol} -m comment --comment \"{port_name}\" "
                                          f"-m {protocol} --dport {port['nodePort']} -j {ext_chain}")
                    nat.append(f"-A {ext_chain} -m comment --comment \"masquerade traffic for {port_name} external "
                               f"destinations\" -j KUBE-MARK-MASQ")
                    nat.append(f"-A {ext_chain} -j {svc_chain}")
                for index, (address, target_port) in enumerate(endpoints):
                    endpoint = f"{address}:{target_port}"
                    sep = endpoint_chain(port_name, protocol, endpoint)
                    nat_chains.append(sep)
                    remaining = len(endpoints) - index
                    statistic = (f" -m statistic --mode random --probability {1.0 / remaining:0.10f}"
                                 if remaining > 1 else "")
                    nat.append(f"-A {svc_chain} -m comment --comment \"{port_name} -> {endpoint}\"{statistic} -j {sep}")
                    nat.append(f"-A {sep} -s {address}/32 -m comment --comment \"{port_name}\" -j KUBE-MARK-MASQ")
                    nat.append(f"-A {sep} -p {protocol} -m comment --comment \"{port_name}\" -m {protocol} "
                               f"-j DNAT --to-destination {endpoint}")
        services_rules.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must '
                              'be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
        nat_text = "".join(f":{chain} - [0:0]\n" for chain in dict.fromkeys(nat_chains))
        nat_text += "\n".join([*nodeport_rules, *services_rules, *nat]) + "\n"
        filter_text = "".join(f":{chain} - [0:0]\n" for chain in ("KUBE-EXTERNAL-SERVICES", "KUBE-SERVICES"))
        filter_text += "".join(rule + "\n" for rule in filter_rules)
        return f"*filter\n{filter_text}COMMIT\n*nat\n{nat_text}COMMIT\n"

    def _endpoints(self, namespace: str, service: str, port_name: str, protocol: str) -> list[tuple[str, int]]:
        """Ready endpoints of a Service port, in the order the proxier sorts them (by address string)."""
        found: set[tuple[str, int]] = set()
        for endpoint_slice in self.store.iter(SLICES, namespace):
            labels = endpoint_slice["metadata"].get("labels") or {}
            if labels.get("kubernetes.io/service-name") != service:
                continue
            port = next((p["port"] for p in endpoint_slice.get("ports") or []
                         if p.get("name", "") == port_name and p.get("protocol", "TCP").lower() == protocol), None)
            if port is None:
                continue
            for endpoint in endpoint_slice.get("endpoints") or []:
                if (endpoint.get("conditions") or {}).get("ready", True):
                    found.update((address, port) for address in endpoint.get("addresses") or [])
        return sorted(found, key=lambda e: f"{e[0]}:{e[1]}")

