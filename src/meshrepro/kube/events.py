"""Event recording as client-go's EventRecorder does it: one Event per (object, reason, message), counted."""

from __future__ import annotations

from meshrepro.kube.client import Client
from meshrepro.kube.store import Obj
from meshrepro.sim.clock import Clock, rfc3339


class EventRecorder:
    def __init__(self, client: Client, clock: Clock, component: str, host: str = "") -> None:
        self.client = client
        self.clock = clock
        self.component = component
        self.host = host
        self._recorded: dict[tuple[str, ...], str] = {}

    def record(self, obj: Obj, event_type: str, reason: str, message: str, field_path: str = "") -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        involved = {"kind": obj["kind"], "namespace": meta.get("namespace", ""), "name": meta["name"],
                    "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", "v1"),
                    "resourceVersion": meta.get("resourceVersion", "")}
        if not involved["namespace"]:
            del involved["namespace"]
        if field_path:
            involved["fieldPath"] = field_path
        now = rfc3339(self.clock.wall())
        # client-go's EventCorrelator remembers what it recorded: a repeat bumps the count of the same Event.
        key = (namespace, involved["uid"], field_path, event_type, reason, message)
        known = self._recorded.get(key)
        if known is not None:
            existing = self.client.get("v1", "events", namespace, known)
            if existing is not None:
                existing["count"] = existing.get("count", 1) + 1
                existing["lastTimestamp"] = now
                self.client.update("v1", "events", existing)
                return
        # client-go names events <object>.<unix nanos in hex>
        nanos = int(self.clock.wall().timestamp() * 1e9) + self.clock.rng.randrange(1_000_000)
        source = {"component": self.component}
        if self.host:
            source["host"] = self.host
        name = f"{meta['name']}.{nanos:x}"
        self._recorded[key] = name
        self.client.create("v1", "events", namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message, "source": source,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": event_type,
            "eventTime": None, "reportingComponent": self.component if self.component != "kubelet" else "kubelet",
            "reportingInstance": self.host,
        })
