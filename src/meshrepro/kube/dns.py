"""Cluster DNS as CoreDNS's kubernetes plugin answers it, from its informer view of Services and endpoints."""

from __future__ import annotations

from typing import Any

from meshrepro.kube.store import ResourceKey, Store
from meshrepro.net.stack import ConnectionRecord, DnsQuery, DnsReply

SERVICES = ResourceKey("", "services")
SLICES = ResourceKey("discovery.k8s.io", "endpointslices")


class ClusterZone:
    """`<svc>.<ns>.svc.<domain>` → ClusterIP (or ready endpoint IPs for headless Services)."""

    def __init__(self, store: Store, domain: str = "cluster.local") -> None:
        self.store = store
        self.domain = domain

    def lookup(self, fqdn: str) -> DnsReply | None:
        """An answer for names in the cluster domain; None for names outside it (forwarded upstream)."""
        name = fqdn.rstrip(".")
        suffix = ".svc." + self.domain
        if not name.endswith(suffix) and name != self.domain and not name.endswith("." + self.domain):
            return None
        labels = name[: -len(suffix)].split(".") if name.endswith(suffix) else []
        if len(labels) != 2:
            return DnsReply("NXDOMAIN")
        service_name, namespace = labels
        service = self.store.peek(SERVICES, namespace, service_name)
        if service is None:
            return DnsReply("NXDOMAIN")
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName":
            # A CNAME to an outside name; resolving that needs the upstream servers, which are offline here.
            return DnsReply("SERVFAIL")
        if spec.get("clusterIP") == "None":
            addresses = sorted({a for s in self.store.iter(SLICES, namespace)
                                if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == service_name
                                for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready", True)
                                for a in e.get("addresses") or []})
            return DnsReply("NOERROR", tuple(addresses))
        return DnsReply("NOERROR", (spec["clusterIP"],))


class CoreDNSListener:
    """The UDP/53 listener of a CoreDNS pod; names outside the cluster get SERVFAIL (no upstream offline)."""

    name = "coredns"

    def __init__(self, zone: ClusterZone) -> None:
        self.zone = zone

    def answer(self, message: Any, record: ConnectionRecord) -> DnsReply | None:
        if not isinstance(message, DnsQuery):
            return None
        reply = self.zone.lookup(message.name)
        if reply is None:
            record.hop("coredns", f"forward {message.name} upstream", "meshrepro is offline: no upstream answers")
            return DnsReply("SERVFAIL")
        record.hop("coredns", f"{message.name} → {reply.rcode} {' '.join(reply.addresses)}".rstrip())
        return reply
