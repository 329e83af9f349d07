"""A stand-in for the API server while kube/apiserver.py cannot be imported yet.

It does what the controllers rely on: generateName, uid, creationTimestamp, generation, the
ServiceAccount existence check of pod admission, graceful pod deletion, finalizers, status
subresources, and field selectors on events. Every call lands in `calls`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.sim.clock import Clock, rfc3339

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_WITH_GENERATION = {"apps", "batch"}


@dataclass
class Result:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _status(code: int, reason: str, message: str) -> Result:
    return Result(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": code})


def _key(api_version: str, resource: str) -> ResourceKey:
    group = api_version.rpartition("/")[0]
    return ResourceKey(group, resource)


@dataclass
class FakeClient:
    clock: Clock
    store: Store
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)

    def get(self, api_version: str, resource: str, namespace: str, name: str) -> Obj | None:
        return self.store.get(_key(api_version, resource), namespace, name)

    def list(self, api_version: str, resource: str, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> list[Obj]:
        wanted = dict(part.split("=", 1) for part in field_selector.split(",") if part)
        items = []
        for obj in self.store.list(_key(api_version, resource), namespace or None):
            values = {"involvedObject.name": obj.get("involvedObject", {}).get("name"), "reason": obj.get("reason"),
                      "metadata.name": obj["metadata"]["name"]}
            if all(values.get(k) == v for k, v in wanted.items()):
                items.append(obj)
        return items

    def create(self, api_version: str, resource: str, namespace: str, obj: Obj) -> Result:
        key = _key(api_version, resource)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if namespace:
            meta["namespace"] = namespace
            ns = self.store.peek(ResourceKey("", "namespaces"), "", namespace)
            if ns is None:
                return _status(404, "NotFound", f'namespaces "{namespace}" not found')
            if "deletionTimestamp" in ns["metadata"]:
                return _status(403, "Forbidden", f'{resource} "{meta.get("name") or meta.get("generateName")}" is '
                               f"forbidden: unable to create new content in namespace {namespace} because it is "
                               "being terminated")
        if resource == "pods":
            sa = obj.setdefault("spec", {}).setdefault("serviceAccountName", "default")
            if self.store.peek(ResourceKey("", "serviceaccounts"), namespace, sa) is None:
                shown = meta.get("name") or meta.get("generateName")
                return _status(403, "Forbidden", f'pods "{shown}" is forbidden: error looking up service account '
                               f'{namespace}/{sa}: serviceaccount "{sa}" not found')
        if not meta.get("name"):
            meta["name"] = meta["generateName"] + "".join(self.clock.rng.choice(ALPHABET) for _ in range(5))
        if self.store.peek(key, namespace, meta["name"]) is not None:
            return _status(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists')
        meta["uid"] = f"uid-{self.clock.rng.getrandbits(32):08x}"
        meta["creationTimestamp"] = rfc3339(self.clock.wall())
        if key.group in _WITH_GENERATION:
            meta["generation"] = 1
        self.calls.append(("create", resource, namespace, meta["name"]))
        return Result(201, self.store.put(key, obj))

    def update(self, api_version: str, resource: str, obj: Obj, subresource: str = "") -> Result:
        key = _key(api_version, resource)
        meta = obj["metadata"]
        current = self.store.get(key, meta.get("namespace", ""), meta["name"])
        if current is None:
            return _status(404, "NotFound", f'{resource} "{meta["name"]}" not found')
        rv = meta.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{meta["name"]}"')
        new = copy.deepcopy(obj)
        for immutable in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if immutable in current["metadata"]:
                new["metadata"][immutable] = current["metadata"][immutable]
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = new.get("status", {})
            new = merged
        else:
            if "status" in current:
                new["status"] = current["status"]
            if key.group in _WITH_GENERATION and new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        self.calls.append((f"update{'/' + subresource if subresource else ''}", resource,
                           meta.get("namespace", ""), meta["name"]))
        return Result(200, self.store.put(key, new))

    def update_status(self, api_version: str, resource: str, obj: Obj) -> Result:
        return self.update(api_version, resource, obj, "status")

    def patch(self, api_version: str, resource: str, namespace: str, name: str, patch: Any,
              patch_type: str = "application/merge-patch+json", subresource: str = "") -> Result:
        current = self.store.get(_key(api_version, resource), namespace, name)
        if current is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found')
        return self.update(api_version, resource, _merge(current, patch), subresource)

    def delete(self, api_version: str, resource: str, namespace: str, name: str) -> Result:
        key = _key(api_version, resource)
        current = self.store.get(key, namespace, name)
        if current is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found')
        self.calls.append(("delete", resource, namespace, name))
        meta = current["metadata"]
        if (resource == "pods" and current.get("spec", {}).get("nodeName")) or meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", rfc3339(self.clock.wall()))
            return Result(200, self.store.put(key, current))
        self.store.delete(key, namespace, name)
        return Result(200, current)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out
