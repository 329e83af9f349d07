"""A small cluster for controller tests: Clock + Store + a client, controllers started on demand.

The client is tests/kube/controllers/fakeapi.FakeClient (the API server's behaviour the controllers
rely on, without RBAC or defaulting), so each controller can be driven alone with the scheduler's
and kubelet's writes done by hand; test_cluster_controllers.py runs them in the assembled cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fakeapi import FakeClient

from meshrepro.kube.controllers.base import Controller, ControllerContext
from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.sim.clock import Clock, rfc3339
from meshrepro.sim.trace import Trace

EVENTS = ResourceKey("", "events")


class Cluster:
    def __init__(self, version: tuple[int, int] = (1, 29)) -> None:
        self.clock = Clock(seed=1)
        self.store = Store()
        self.trace = Trace()
        self.client: Any = FakeClient(self.clock, self.store)
        self.ctx = ControllerContext(self.clock, self.store, self.client, self.trace, version)

    def start(self, *controllers: Controller) -> None:
        for controller in controllers:
            controller.start()

    def run(self, until: float) -> None:
        self.clock.run_until(until)

    def put(self, key: ResourceKey, obj: Obj) -> Obj:
        """Create an object as a user would (through the client, so it gets uid and timestamps)."""
        meta = obj["metadata"]
        result = self.client.create(f"{key.group}/v1" if key.group else "v1", key.resource,
                                    meta.get("namespace", ""), obj)
        assert result.ok, result.body
        return result.body

    def namespace(self, name: str) -> Obj:
        return self.put(ResourceKey("", "namespaces"), {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}, "status": {"phase": "Active"}})

    def events(self, namespace: str = "default") -> list[tuple[str, str, str, str]]:
        """(involved name, type, reason, message) in creation order."""
        events = sorted(self.store.iter(EVENTS, namespace), key=lambda e: int(e["metadata"]["resourceVersion"]))
        return [(e["involvedObject"]["name"], e["type"], e["reason"], e["message"]) for e in events]

    def set_pod(self, namespace: str, name: str, *, node: str | None = "kind-control-plane",
                phase: str = "Running", ready: bool = True, ip: str = "10.244.0.5", at: float | None = None) -> Obj:
        """What the scheduler and kubelet would write."""
        pod = self.store.get(ResourceKey("", "pods"), namespace, name)
        assert pod is not None
        if node:
            pod["spec"]["nodeName"] = node
        stamp = rfc3339(self.clock.wall(at))
        pod["status"] = {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}],
                         "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                         "lastTransitionTime": stamp}]}
        return self.store.put(ResourceKey("", "pods"), pod)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    yield Cluster()
