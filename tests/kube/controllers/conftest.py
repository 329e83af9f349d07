"""A small cluster for controller tests: Clock + Store + a client, controllers started on demand.

While kube/apiserver.py (or what it imports) cannot be imported yet, `meshrepro.kube.client` is
replaced by a stub module and the client is tests/kube/controllers/fakeapi.FakeClient.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

try:
    import meshrepro.kube.client  # noqa: F401
    REAL_API = True
except ImportError:
    REAL_API = False
    _stub = types.ModuleType("meshrepro.kube.client")
    _stub.Client = object  # type: ignore[attr-defined]
    sys.modules["meshrepro.kube.client"] = _stub

from meshrepro.kube.controllers.base import Controller, ControllerContext  # noqa: E402
from meshrepro.kube.store import Obj, ResourceKey, Store  # noqa: E402
from meshrepro.sim.clock import Clock, rfc3339  # noqa: E402
from meshrepro.sim.trace import Trace  # noqa: E402

from fakeapi import FakeClient  # noqa: E402

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
