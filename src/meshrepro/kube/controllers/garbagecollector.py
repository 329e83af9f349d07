"""garbagecollector: dependents whose owners are gone are deleted; orphaning and foreground deletion.

Port of the decisions in pkg/controller/garbagecollector/garbagecollector.go: attemptToDeleteItem
(owners looked up by uid through apiVersion/kind/name; all owners absent → delete, some absent →
patch the dangling references out) and orphanDependents / processDeletingDependentsItem for owners
deleted with the `orphan` or `foregroundDeletion` finalizer. The graph builder is an index from
owner uid to dependents fed by the watch.
"""

from __future__ import annotations

from meshrepro.kube.controllers.base import Controller, ControllerContext
from meshrepro.kube.controllers.util import RateLimitedQueue, error_message
from meshrepro.kube.store import Obj, ResourceKey, WatchEvent
from meshrepro.manifests.kinds import KindInfo, KindRegistry

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

Ident = tuple[ResourceKey, str, str]  # resource, namespace, name


def _encode(ident: Ident) -> tuple[str, str]:
    """Queue keys are (namespace, name) pairs: the resource travels in the second part."""
    key, namespace, name = ident
    return namespace, f"{key.resource}.{key.group}/{name}"


def _decode(namespace: str, encoded: str) -> Ident:
    qualified, _, name = encoded.partition("/")
    resource, _, group = qualified.partition(".")
    return ResourceKey(group, resource), namespace, name


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    primary = ResourceKey("", "namespaces")  # unused: the collector watches every resource

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.kinds = KindRegistry()
        self.retries = RateLimitedQueue(self)
        self.dependents: dict[str, set[Ident]] = {}  # owner uid -> dependents

    def start(self) -> None:
        self.ctx.store.watch(self._on_event)
        self.ctx.clock.process(self._run())
        for kind in self.kinds:
            for obj in list(self.ctx.store.iter(ResourceKey(kind.group, kind.plural))):
                self._on_event(WatchEvent("ADDED", ResourceKey(kind.group, kind.plural), obj))

    def _on_event(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        ident: Ident = (event.key, meta.get("namespace", ""), meta["name"])
        for ref in meta.get("ownerReferences") or []:
            owned = self.dependents.setdefault(ref["uid"], set())
            if event.type == "DELETED":
                owned.discard(ident)
            else:
                owned.add(ident)
        if event.type == "DELETED":
            for dependent in sorted(self.dependents.pop(meta.get("uid", ""), set()), key=str):
                self.enqueue(_encode(dependent))
            for ref in meta.get("ownerReferences") or []:  # an owner deleted in foreground may be done now
                kind = self._owner_kind(ref)
                if kind is not None:
                    self.enqueue(_encode((ResourceKey(kind.group, kind.plural),
                                          ident[1] if kind.namespaced else "", ref["name"])))
            return
        if meta.get("ownerReferences") or "deletionTimestamp" in meta:
            self.enqueue(_encode(ident))

    def reconcile(self, namespace: str, name: str) -> None:
        ident = _decode(namespace, name)
        obj = self.ctx.store.get(*ident)
        if obj is None:
            return
        finalizers = obj["metadata"].get("finalizers") or []
        if "deletionTimestamp" in obj["metadata"] and (ORPHAN in finalizers or FOREGROUND in finalizers):
            error = self._orphan(obj, ident) if ORPHAN in finalizers else self._foreground(obj, ident)
        elif "deletionTimestamp" not in obj["metadata"]:
            error = self._attempt_to_delete(obj, ident)
        else:
            error = ""
        if error:
            self.ctx.trace.add(self.ctx.clock.now, self.name, f"{obj['kind']} {namespace}/{obj['metadata']['name']}",
                               "garbage collection failed", error)
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    def _owner_kind(self, ref: dict[str, str]) -> KindInfo | None:
        return self.kinds.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))

    def _attempt_to_delete(self, obj: Obj, ident: Ident) -> str:
        solid, dangling, waiting = [], [], []
        for ref in obj["metadata"].get("ownerReferences") or []:
            kind = self._owner_kind(ref)
            if kind is None:
                solid.append(ref)  # an owner of an unknown kind cannot be judged absent
                continue
            owner = self.ctx.store.peek(ResourceKey(kind.group, kind.plural), ident[1] if kind.namespaced else "",
                                        ref["name"])
            if owner is None or owner["metadata"].get("uid") != ref["uid"]:
                dangling.append(ref)
            elif "deletionTimestamp" in owner["metadata"] and FOREGROUND in (owner["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        if not dangling and not waiting:
            return ""
        if solid:
            gone = {r["uid"] for r in [*dangling, *waiting]}
            obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"]["ownerReferences"] if r["uid"] not in gone]
            return self._update(obj, ident)
        self.ctx.trace.add(self.ctx.clock.now, self.name, f"{obj['kind']} {ident[1]}/{ident[2]}",
                           "deleting dependent", "all owners are gone" if not waiting else "owner deleted in foreground")
        return self._delete(ident)

    def _orphan(self, owner: Obj, ident: Ident) -> str:
        uid = owner["metadata"]["uid"]
        for dependent in sorted(self.dependents.get(uid, set()), key=str):
            obj = self.ctx.store.get(*dependent)
            if obj is None:
                continue
            obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"].get("ownerReferences") or []
                                                  if r["uid"] != uid]
            error = self._update(obj, dependent)
            if error:
                return error
        return self._finish(owner, ident, ORPHAN)

    def _foreground(self, owner: Obj, ident: Ident) -> str:
        remaining = [d for d in sorted(self.dependents.get(owner["metadata"]["uid"], set()), key=str)
                     if self.ctx.store.peek(*d) is not None]
        for dependent in remaining:
            error = self._delete(dependent)
            if error:
                return error
        if remaining:
            return ""  # their DELETED events requeue the dependents; the owner is looked at again below
        return self._finish(owner, ident, FOREGROUND)

    def _finish(self, owner: Obj, ident: Ident, finalizer: str) -> str:
        owner["metadata"]["finalizers"] = [f for f in owner["metadata"].get("finalizers") or [] if f != finalizer]
        error = self._update(owner, ident)
        if error or owner["metadata"]["finalizers"]:
            return error
        return self._delete(ident)

    def _update(self, obj: Obj, ident: Ident) -> str:
        kind = self.kinds.by_kind(obj["apiVersion"], obj["kind"])
        result = self.ctx.client.update(obj["apiVersion"], kind.plural if kind else ident[0].resource, obj)
        return "" if result.ok or result.status == 404 else error_message(result)

    def _delete(self, ident: Ident) -> str:
        key, namespace, name = ident
        kind = next((k for k in self.kinds if k.group == key.group and k.plural == key.resource), None)
        api_version = kind.api_version if kind else (f"{key.group}/v1" if key.group else "v1")
        result = self.ctx.client.delete(api_version, key.resource, namespace, name)
        return "" if result.ok or result.status == 404 else error_message(result)
