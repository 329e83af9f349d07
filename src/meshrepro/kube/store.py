"""The cluster's storage (etcd's role): objects by resource, namespace and name, with resource versions and watches."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from meshrepro.manifests.values import clone

Obj = dict[str, Any]


@dataclass(frozen=True)
class ResourceKey:
    """A resource as the API addresses it: group "" for the core group."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    key: ResourceKey
    object: Obj


Watcher = Callable[[WatchEvent], None]


class Store:
    """In-memory object store. Iteration is in etcd key order (namespace, then name), as the real list is."""

    def __init__(self) -> None:
        self._objects: dict[ResourceKey, dict[tuple[str, str], Obj]] = {}
        # Per resource and namespace, the names in key order: listing needs no sort, and a namespace's
        # list does not touch the others.
        self._names: dict[ResourceKey, dict[str, list[str]]] = {}
        self._revision = 0
        self._watchers: list[tuple[ResourceKey | None, Watcher]] = []
        self._watchers_of: dict[ResourceKey, tuple[Watcher, ...]] = {}  # by event key, in registration order

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, key: ResourceKey, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(key, {}).get((namespace, name))
        return clone(obj) if obj is not None else None

    def peek(self, key: ResourceKey, namespace: str, name: str) -> Obj | None:
        """The stored object itself, for read-only hot paths (callers must not mutate it)."""
        return self._objects.get(key, {}).get((namespace, name))

    def list(self, key: ResourceKey, namespace: str | None = None) -> list[Obj]:
        return [clone(obj) for obj in self.iter(key, namespace)]

    def iter(self, key: ResourceKey, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects in key order, not copied: read only. The keys are the ones stored when iteration starts."""
        bucket = self._objects.get(key, {})
        names = self._names.get(key, {})
        spaces = sorted(names) if namespace is None else [namespace] if namespace in names else []
        for ident in [(space, name) for space in spaces for name in names[space]]:
            yield bucket[ident]

    def put(self, key: ResourceKey, obj: Obj) -> Obj:
        """Create or replace, taking ownership of `obj`; bumps the resource version and notifies watchers.

        Returns the stored object itself: read only, like everything `iter` and `peek` give out.
        """
        meta = obj["metadata"]
        ident = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(key, {})
        event_type = "MODIFIED" if ident in bucket else "ADDED"
        if event_type == "ADDED":
            bisect.insort(self._names.setdefault(key, {}).setdefault(ident[0], []), ident[1])
        self._revision += 1
        meta["resourceVersion"] = str(self._revision)
        bucket[ident] = obj
        self._notify(WatchEvent(event_type, key, obj))
        return obj

    def delete(self, key: ResourceKey, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(key, {}).pop((namespace, name), None)
        if obj is not None:
            self._forget_name(key, namespace, name)
            self._revision += 1
            self._notify(WatchEvent("DELETED", key, obj))
        return obj

    def watch(self, watcher: Watcher, key: ResourceKey | None = None) -> None:
        self._watchers.append((key, watcher))
        self._watchers_of = {}

    def unwatch(self, watcher: Watcher, key: ResourceKey | None = None) -> None:
        self._watchers = [(k, w) for k, w in self._watchers if not (w == watcher and k == key)]
        self._watchers_of = {}

    def _forget_name(self, key: ResourceKey, namespace: str, name: str) -> None:
        spaces = self._names[key]
        names = spaces[namespace]
        del names[bisect.bisect_left(names, name)]
        if not names:
            del spaces[namespace]

    def _notify(self, event: WatchEvent) -> None:
        # A tuple made before the first call: watchers added or removed meanwhile change later events only.
        watchers = self._watchers_of.get(event.key)
        if watchers is None:
            watchers = self._watchers_of[event.key] = tuple(
                w for k, w in self._watchers if k is None or k == event.key)
        for watcher in watchers:
            watcher(event)
