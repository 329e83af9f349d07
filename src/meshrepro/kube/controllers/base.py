"""The controller pattern: informer callbacks feed a de-duplicating work queue drained by a SimPy process."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.kube.client import Client
from meshrepro.kube.events import EventRecorder
from meshrepro.kube.store import Obj, ResourceKey, Store, WatchEvent
from meshrepro.kube.versions import KubeVersion
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

Key = tuple[str, str]  # (namespace, name)


@dataclass
class ControllerContext:
    clock: Clock
    store: Store  # the shared informer cache: read only
    client: Client  # writes go through the API server
    trace: Trace
    version: KubeVersion

    def recorder(self, component: str) -> EventRecorder:
        return EventRecorder(self.client, self.clock, component)


class Controller:
    """Subclasses set `name`, `primary` (the kind whose keys are queued) and implement `reconcile`."""

    name = "controller"
    primary: ResourceKey
    secondary: tuple[ResourceKey, ...] = ()  # kinds whose changes map to primary keys via `keys_for`

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.queue: list[Key] = []
        self._queued: set[Key] = set()  # what `queue` holds, for O(1) de-duplication
        self._wakeup: simpy.Event | None = None

    def start(self) -> None:
        self.ctx.store.watch(self._on_primary, self.primary)
        for key in self.secondary:
            self.ctx.store.watch(self._on_secondary, key)
        self.ctx.clock.process(self._run())
        for obj in list(self.ctx.store.iter(self.primary)):
            self.enqueue(_key(obj))

    def enqueue(self, key: Key) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self.queue.append(key)
        if self._wakeup is not None and not self._wakeup.triggered:
            self._wakeup.succeed()


    def keys_for(self, event: WatchEvent) -> list[Key]:
        """Primary keys affected by a change of a secondary object (default: its controller owner)."""
        owner = controller_of(event.object)
        if owner is None:
            return []
        return [(event.object["metadata"].get("namespace", ""), owner["name"])]

    def reconcile(self, namespace: str, name: str) -> None:
        raise NotImplementedError

    def _on_primary(self, event: WatchEvent) -> None:
        self.enqueue(_key(event.object))

    def _on_secondary(self, event: WatchEvent) -> None:
        for key in self.keys_for(event):
            self.enqueue(key)

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self.queue:
                self._wakeup = self.ctx.clock.env.event()
                yield self._wakeup
                self._wakeup = None
                continue
            # Informers deliver within milliseconds; a zero-delay yield keeps writes ordered after the change.
            yield self.ctx.clock.timeout(0)
            key = self.queue.pop(0)
            self._queued.discard(key)
            self.reconcile(*key)


def _key(obj: Obj) -> Key:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def controller_of(obj: Obj) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Obj, block: bool = True) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}
