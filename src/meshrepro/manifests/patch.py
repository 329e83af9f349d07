"""Patches as the API server applies them and as `kubectl apply` computes them.

- `strategic_merge`: apimachinery `strategicpatch.StrategicMergeMapPatch` (patch.go); list merge
  keys and strategies come from the OpenAPI `x-kubernetes-patch-*` extensions of the release.
- `json_merge_patch` / `merge_patch_diff`: RFC 7386.
- `json_patch`: RFC 6902, error texts modelled on evanphx/json-patch (the API server's library).
- `three_way_merge`: kubectl's client-side apply patch (`CreateThreeWayMergePatch`, or
  `CreateThreeWayJSONMergePatch` for custom resources, which have no strategic merge).

Simplification: when `$setElementOrder` does not list some merged items, they go after the listed
ones (apimachinery's comparator leaves their place unspecified).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from meshrepro.errors import InputError
from meshrepro.manifests.validate import KubeVersion, Schema, definition_name, definitions, resolve_ref
from meshrepro.manifests.values import clone

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEFAULT_VERSION: KubeVersion = (1, 29)

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


class PatchError(InputError):
    """A patch the API server (or kubectl) would refuse."""


class KindLike(Protocol):
    @property
    def api_version(self) -> str: ...
    @property
    def kind(self) -> str: ...


# ---------------------------------------------------------------- patch metadata from OpenAPI


class _Meta:
    """Patch strategies and merge keys along one object's schema (`LookupPatchMeta`)."""

    def __init__(self, schema: Schema | None, defs: dict[str, Schema]) -> None:
        self.schema = resolve_ref(schema, defs)[0] if schema else None
        self.defs = defs

    def field(self, key: str) -> tuple[_Meta, set[str], str]:
        """Sub-schema (list items for lists), strategies and merge key of `key`."""
        if self.schema is None:
            return self, set(), ""
        prop = (self.schema.get("properties") or {}).get(key)
        if prop is None:
            extra = self.schema.get("additionalProperties")
            return _Meta(extra if isinstance(extra, dict) else None, self.defs), set(), ""
        strategies = set(filter(None, str(prop.get("x-kubernetes-patch-strategy", "")).split(",")))
        merge_key = str(prop.get("x-kubernetes-patch-merge-key", ""))
        target = resolve_ref(prop, self.defs)[0]
        if "items" in target:
            target = target["items"]
        return _Meta(target, self.defs), strategies, merge_key


def _meta_for(kind_info: KindLike, kube_version: KubeVersion) -> _Meta | None:
    if getattr(kind_info, "custom", False):
        return None
    name = definition_name(kind_info.api_version, kind_info.kind, kube_version)
    if name is None:
        return None
    defs = definitions(kube_version)
    return _Meta(defs[name], defs)


# ---------------------------------------------------------------- applying a strategic merge patch


@dataclass(frozen=True)
class _Options:
    parallel_lists: bool  # apply `$setElementOrder`/`$deleteFromPrimitiveList` instead of keeping them
    ignore_unmatched_nulls: bool


_APPLY = _Options(parallel_lists=True, ignore_unmatched_nulls=True)
_COMBINE = _Options(parallel_lists=False, ignore_unmatched_nulls=False)


def strategic_merge(original: Obj, patch: Obj, kind_info: KindLike,
                    kube_version: KubeVersion = DEFAULT_VERSION) -> Obj:
    """`original` with a strategic merge patch applied, as the API server does for PATCH."""
    meta = _meta_for(kind_info, kube_version)
    if meta is None:
        raise PatchError("the body of the request was in an unknown format - accepted media types include: "
                         "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
    return _merge_map(clone(original), clone(patch), meta, _APPLY)


def _merge_map(original: Obj, patch: Obj, meta: _Meta, options: _Options) -> Obj:
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == "replace":
            return patch
        if directive == "delete":
            return {}
        raise PatchError(f"unknown patch type: {directive} in map: {_go_map(patch)}")
    _retain_keys(original, patch, options)
    _set_element_orders(original, patch, meta, options)
    for key, value in list(patch.items()):
        if key.startswith(_DELETE_PRIMITIVES):
            if options.parallel_lists:
                target = key[len(_DELETE_PRIMITIVES):]
                if isinstance(original.get(target), list):
                    original[target] = [v for v in original[target] if v not in value]
            else:
                original[key] = value
            continue
        if value is None:
            original.pop(key, None)
            if options.ignore_unmatched_nulls:
                continue
        if key not in original or type(original[key]) is not type(value) or original[key] is None:
            original[key] = _without_nulls(value) if options.ignore_unmatched_nulls else value
            continue
        sub, strategies, merge_key = meta.field(key)
        if isinstance(value, dict):
            original[key] = value if "replace" in strategies else _merge_map(original[key], value, sub, options)
        elif isinstance(value, list) and "merge" in strategies:
            original[key] = _merge_list(original[key], value, sub, merge_key, options)
        else:
            original[key] = value
    return original


def _retain_keys(original: Obj, patch: Obj, options: _Options) -> None:
    keys = patch.get(_RETAIN_KEYS)
    if keys is None:
        return
    if options.parallel_lists:
        del patch[_RETAIN_KEYS]
        for key in [k for k in original if k not in keys]:
            del original[key]
    else:
        original[_RETAIN_KEYS] = sorted(set(original.get(_RETAIN_KEYS) or []) | set(keys))
        del patch[_RETAIN_KEYS]


def _set_element_orders(original: Obj, patch: Obj, meta: _Meta, options: _Options) -> None:
    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(key)
        if not options.parallel_lists:
            original[key] = order
            continue
        field = key[len(_SET_ORDER):]
        sub, strategies, merge_key = meta.field(field)
        current, incoming = original.get(field), patch.pop(field, None)
        merged: Any
        if isinstance(current, list) and isinstance(incoming, list):
            merged = _merge_list(current, incoming, sub, merge_key, options) if "merge" in strategies else incoming
        else:
            merged = incoming if isinstance(incoming, list) else current
        if isinstance(merged, list):
            original[field] = _sort_by(merged, order, merge_key)


def _merge_list(original: list[Any], patch: list[Any], meta: _Meta, merge_key: str, options: _Options) -> list[Any]:
    if not original and not patch:
        return original
    if not any(isinstance(item, dict) for item in original + patch):
        merged = _dedup(original + patch)
        present = [v for v in merged if v in patch]
        server_only = [v for v in merged if v not in patch]
        return _interleave(server_only, _sort_by(present, patch, ""), original, "")
    if not merge_key:
        raise PatchError("cannot merge lists without merge key")
    original, patch = _special_elements(original, patch, merge_key)
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise PatchError(f"map: {_go_map(item)} does not contain declared merge key: {merge_key}")
        index = _index(merged, item, merge_key)
        if index >= 0:
            merged[index] = _merge_map(merged[index], item, meta, options)
        else:
            merged.append(_without_nulls(item) if options.ignore_unmatched_nulls else item)
    present = [m for m in merged if _index(patch, m, merge_key) >= 0]
    server_only = [m for m in merged if _index(patch, m, merge_key) < 0]
    return _interleave(server_only, _sort_by(present, patch, merge_key), original, merge_key)


def _special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Items with `$patch: delete` remove their match; `$patch: replace` makes the rest the list."""
    rest, replace = [], False
    for item in patch:
        directive = item.get(_DIRECTIVE) if isinstance(item, dict) else None
        if directive is None:
            rest.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise PatchError(f"map: {_go_map(item)} does not contain declared merge key: {merge_key}")
            original = [o for o in original if not (isinstance(o, dict) and o.get(merge_key) == item[merge_key])]
        elif directive == "replace":
            replace = True
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {_go_map(item)}")
    return (rest, []) if replace else (original, rest)


def _index(items: list[Any], item: Any, merge_key: str) -> int:
    for i, candidate in enumerate(items):
        if merge_key:
            if isinstance(candidate, dict) and isinstance(item, dict) and candidate.get(merge_key) == item.get(merge_key):
                return i
        elif candidate == item:
            return i
    return -1


def _sort_by(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    """Items listed in `order` in that order; unlisted ones after them, in their own order."""
    listed = [i for i in items if _index(order, i, merge_key) >= 0]
    listed.sort(key=lambda i: _index(order, i, merge_key))
    return listed + [i for i in items if _index(order, i, merge_key) < 0]


def _interleave(left: list[Any], right: list[Any], server_order: list[Any], merge_key: str) -> list[Any]:
    """apimachinery's mergeSortedSlice: server-only items (left) go between patch items (right)
    where the live list had them."""
    result, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            result.append(right[j])
            j += 1
        elif j >= len(right):
            result.append(left[i])
            i += 1
        else:
            li, ri = _index(server_order, left[i], merge_key), _index(server_order, right[j], merge_key)
            if li >= 0 and ri >= 0 and li < ri:
                result.append(left[i])
                i += 1
            else:
                result.append(right[j])
                j += 1
    return result


def _dedup(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _without_nulls(value: Any) -> Any:
    """discardNullValuesFromPatch: a null in a new value has nothing to delete."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _go_map(value: Obj) -> str:
    """fmt's %v of a map: `map[k:v k2:v2]` with sorted keys."""
    return "map[" + " ".join(f"{k}:{value[k]}" for k in sorted(value)) + "]"


# ---------------------------------------------------------------- RFC 7386 and RFC 6902


def json_merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def merge_patch_diff(original: Obj, modified: Obj) -> Obj:
    """The JSON merge patch that turns `original` into `modified` (jsonpatch.CreateMergePatch)."""
    patch: Obj = {}
    for key, value in modified.items():
        if key not in original:
            patch[key] = clone(value)
        elif isinstance(value, dict) and isinstance(original[key], dict):
            sub = merge_patch_diff(original[key], value)
            if sub:
                patch[key] = sub
        elif original[key] != value or type(original[key]) is not type(value):
            patch[key] = clone(value)
    for key in original:
        if key not in modified:
            patch[key] = None
    return patch


def json_patch(original: Any, operations: list[Obj]) -> Any:
    """RFC 6902 operations applied in order to a copy of `original`."""
    document = clone(original)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: Obj) -> Any:
    op, path = operation.get("op"), operation.get("path")
    if not isinstance(path, str):
        raise PatchError(f"{op} operation does not apply: path is missing")
    if op == "add":
        return _add(document, path, clone(operation.get("value")), "add")
    if op == "remove":
        return _remove(document, path)
    if op == "replace":
        parent, key = _locate(document, path, "replace")
        if not _exists(parent, key):
            raise PatchError(f"replace operation does not apply: doc is missing key: {path}: missing value")
        if parent is None:
            return clone(operation.get("value"))
        parent[_key(parent, key, path, "replace")] = clone(operation.get("value"))
        return document
    if op in ("move", "copy"):
        source = operation.get("from")
        value = _get(document, source, op) if isinstance(source, str) else None
        if not isinstance(source, str) or value is _MISSING:
            raise PatchError(f"{op} operation does not apply: doc is missing from path: {source}: missing value")
        if op == "move":
            document = _remove(document, source)
        return _add(document, path, clone(value), op)
    if op == "test":
        if _get(document, path, "test") != operation.get("value"):
            raise PatchError(f"testing value {path} failed: test failed")
        return document
    raise PatchError(f"Unexpected kind: {op}")


_MISSING = object()


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'JSON pointer must be empty or start with a "/": {path}')
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _locate(document: Any, path: str, op: str) -> tuple[Any, str]:
    """The container holding the last token of `path`, and that token (None parent: the root)."""
    tokens = _tokens(path)
    if not tokens:
        return None, ""
    node = document
    for token in tokens[:-1]:
        node = _child(node, token)
        if node is _MISSING:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return node, tokens[-1]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token, _MISSING)
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return _MISSING


def _exists(parent: Any, key: str) -> bool:
    return parent is None or _child(parent, key) is not _MISSING


def _get(document: Any, path: str, op: str) -> Any:
    parent, key = _locate(document, path, op)
    return document if parent is None else _child(parent, key)


def _key(parent: Any, key: str, path: str, op: str) -> Any:
    if isinstance(parent, list):
        if not key.isdigit() or int(key) >= len(parent):
            raise PatchError(f"{op} operation does not apply: index out of bounds: {path}")
        return int(key)
    if not isinstance(parent, dict):
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return key


def _add(document: Any, path: str, value: Any, op: str) -> Any:
    parent, key = _locate(document, path, op)
    if parent is None:
        return value
    if isinstance(parent, list):
        index = len(parent) if key == "-" else (int(key) if key.isdigit() else -1)
        if not 0 <= index <= len(parent):
            raise PatchError(f"{op} operation does not apply: index out of bounds: {path}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[key] = value
    else:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return document


def _remove(document: Any, path: str) -> Any:
    parent, key = _locate(document, path, "remove")
    if parent is None or not _exists(parent, key):
        raise PatchError(f"Unable to remove nonexistent key: {key}: missing value")
    del parent[_key(parent, key, path, "remove")]
    return document


# ---------------------------------------------------------------- kubectl apply (client side)


def last_applied_configuration(obj: Obj) -> str:
    """The annotation kubectl apply writes: the object without that annotation (but with
    `annotations: {}` when it had no others), as Go's json.Encoder writes it: compact, keys
    sorted, `<>&` escaped, newline at the end."""
    config = clone(obj)
    metadata = config.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    metadata["annotations"] = annotations
    return go_json(config) + "\n"


def with_last_applied(obj: Obj) -> Obj:
    """The `modified` object of kubectl apply: the config carrying its own last-applied annotation."""
    config = clone(obj)
    annotation = last_applied_configuration(obj)
    metadata = config.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), LAST_APPLIED: annotation}
    return config


def go_json(value: Any) -> str:
    """encoding/json's compact form of a map-based value (sorted keys, HTML-safe escapes)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def three_way_merge(original: Obj | None, modified: Obj, current: Obj, kind_info: KindLike,
                    kube_version: KubeVersion = DEFAULT_VERSION) -> Obj:
    """kubectl apply's patch from last-applied (`original`), the new config (`modified`, see
    `with_last_applied`) and the live object (`current`). `{}` means "unchanged"."""
    original = original or {}
    meta = _meta_for(kind_info, kube_version)
    if meta is None:
        additions = _keep_nulls(merge_patch_diff(current, modified), keep=False)
        deletions = _keep_nulls(merge_patch_diff(original, modified), keep=True)
        return json_merge_patch(deletions, additions) if deletions else additions
    delta = _diff_maps(current, modified, meta, _Diff(ignore_deletions=True))
    deletions = _diff_maps(original, modified, meta, _Diff(ignore_changes=True))
    return _merge_map(deletions, delta, meta, _COMBINE)


def _keep_nulls(patch: Obj, keep: bool) -> Obj:
    """keepOrDeleteNullInObj: only the deletions (keep) or only the changes (not keep)."""
    result: Obj = {}
    for key, value in patch.items():
        if isinstance(value, dict):
            sub = _keep_nulls(value, keep)
            if sub or (not keep and not value):
                result[key] = sub
        elif (value is None) == keep:
            result[key] = value
    return result


@dataclass(frozen=True)
class _Diff:
    ignore_deletions: bool = False
    ignore_changes: bool = False  # IgnoreChangesAndAdditions
    retain_keys: bool = False  # BuildRetainKeysDirective


def _diff_maps(original: Obj, modified: Obj, meta: _Meta, options: _Diff) -> Obj:
    patch: Obj = {}
    for key, new in modified.items():
        if key not in original:
            if not options.ignore_changes:
                patch[key] = new
            continue
        old = original[key]
        if type(old) is not type(new):
            if not options.ignore_changes:
                patch[key] = new
        elif isinstance(new, dict):
            _diff_map_field(key, old, new, patch, meta, options)
        elif isinstance(new, list):
            _diff_list_field(key, old, new, patch, meta, options)
        elif old != new and not options.ignore_changes:
            patch[key] = new
    if not options.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    retain = [key for key, value in modified.items() if value is not None]
    if options.retain_keys and retain and (patch or any(v is not None and k not in modified
                                                        for k, v in original.items())):
        patch[_RETAIN_KEYS] = sorted(retain)
    return patch


def _diff_map_field(key: str, old: Obj, new: Obj, patch: Obj, meta: _Meta, options: _Diff) -> None:
    sub, strategies, _ = meta.field(key)
    if "replace" in strategies:
        if not options.ignore_changes:
            patch[key] = new
        return
    child = _diff_maps(old, new, sub, _Diff(options.ignore_deletions, options.ignore_changes,
                                            "retainKeys" in strategies))
    if child:
        patch[key] = child


def _diff_list_field(key: str, old: list[Any], new: list[Any], patch: Obj, meta: _Meta, options: _Diff) -> None:
    sub, strategies, merge_key = meta.field(key)
    if "merge" not in strategies:
        if old != new and not options.ignore_changes:
            patch[key] = new
        return
    item_options = _Diff(options.ignore_deletions, options.ignore_changes, "retainKeys" in strategies)
    if any(isinstance(item, dict) for item in old + new):
        changes, order = _diff_lists_of_maps(old, new, sub, merge_key, item_options)
        deletions: list[Any] = []
    else:
        changes, deletions, order = _diff_lists_of_scalars(old, new, options)
    if changes:
        patch[key] = changes
    if deletions:
        patch[_DELETE_PRIMITIVES + key] = deletions
    if order is not None:
        patch[_SET_ORDER + key] = order


def _merge_key_text(item: Obj, merge_key: str) -> str:
    if merge_key not in item:
        raise PatchError(f"map: {_go_map(item)} does not contain declared merge key: {merge_key}")
    value = item[merge_key]
    return value if isinstance(value, str) else json.dumps(value)


def _diff_lists_of_maps(old: list[Obj], new: list[Obj], meta: _Meta, merge_key: str,
                        options: _Diff) -> tuple[list[Any], list[Any] | None]:
    old_sorted = sorted(old, key=lambda i: _merge_key_text(i, merge_key))
    new_sorted = sorted(new, key=lambda i: _merge_key_text(i, merge_key))
    changes: list[Any] = []
    deletions: list[Any] = []
    i = j = 0
    while i < len(old_sorted) or j < len(new_sorted):
        old_key = _merge_key_text(old_sorted[i], merge_key) if i < len(old_sorted) else None
        new_key = _merge_key_text(new_sorted[j], merge_key) if j < len(new_sorted) else None
        if old_key is not None and old_key == new_key:
            child = _diff_maps(old_sorted[i], new_sorted[j], meta, options)
            if child:
                child[merge_key] = new_sorted[j][merge_key]
                changes.append(child)
            i, j = i + 1, j + 1
        elif old_key is None or (new_key is not None and old_key > new_key):
            if not options.ignore_changes:
                changes.append(new_sorted[j])
            j += 1
        else:
            if not options.ignore_deletions:
                deletions.append({_DIRECTIVE: "delete", merge_key: old_sorted[i][merge_key]})
            i += 1
    changes = _sort_by(changes, new, merge_key) + deletions
    same_order = [i.get(merge_key) for i in old] == [i.get(merge_key) for i in new]
    wanted = (not options.ignore_changes and (changes or not same_order)) or \
             (not options.ignore_deletions and changes)
    order = [{merge_key: item[merge_key]} for item in new] if wanted else None
    return changes, order


def _diff_lists_of_scalars(old: list[Any], new: list[Any], options: _Diff) -> tuple[list[Any], list[Any], list[Any] | None]:
    additions = [] if options.ignore_changes else _dedup([v for v in new if v not in old])
    deletions = [] if options.ignore_deletions else sorted(_dedup([v for v in old if v not in new]), key=str)
    wanted = (not options.ignore_deletions and deletions) or (not options.ignore_changes and old != new)
    return additions, deletions, (list(new) if wanted else None)
