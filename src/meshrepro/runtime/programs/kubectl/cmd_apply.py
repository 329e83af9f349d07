"""`kubectl apply|create|delete` [KC 1.29.0 pkg/cmd/apply/apply.go, create/create.go, delete/delete.go].

apply is client-side apply: GET the live object; absent -> POST the config carrying its
last-applied annotation; present -> PATCH with the three-way merge of last-applied, config and live
object (strategic merge for built-in kinds, JSON merge patch for custom ones); an empty patch
prints `unchanged`. Errors are collected per object and printed at the end, as kubectl does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.manifests.kinds import BUILTIN
from meshrepro.manifests.patch import LAST_APPLIED, go_json, three_way_merge, with_last_applied

from .errors import AggregateError, GoError, StatusError, UsageError
from .flags import Flag
from .objects import Info, infos, with_source
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

_FILE_FLAGS = (Flag("filename", "f", kind="array", default=[]), Flag("recursive", "R", kind="bool", default=False),
               Flag("output", "o", default=""))
APPLY_FLAGS = (*_FILE_FLAGS, Flag("server-side", kind="bool", default=False), Flag("prune", kind="bool", default=False),
               Flag("force", kind="bool", default=False), Flag("dry-run", default="none"),
               Flag("validate", default="strict"))
CREATE_FLAGS = (*_FILE_FLAGS, Flag("dry-run", default="none"), Flag("validate", default="strict"))
DELETE_FLAGS = (*_FILE_FLAGS, Flag("selector", "l", default=""), Flag("all", kind="bool", default=False),
                Flag("ignore-not-found", kind="bool", default=False), Flag("wait", kind="bool", default=True),
                Flag("grace-period", kind="int", default=-1), Flag("force", kind="bool", default=False),
                Flag("now", kind="bool", default=False), Flag("timeout", kind="duration", default=0.0),
                Flag("all-namespaces", "A", kind="bool", default=False))


@dataclass(frozen=True)
class _Kind:
    api_version: str
    kind: str


def flags_for(name: str) -> tuple[Flag, ...]:
    return {"apply": APPLY_FLAGS, "create": CREATE_FLAGS, "delete": DELETE_FLAGS}[name]


def runner_for(name: str) -> Callable[[Session, list[str]], Wait]:
    return {"apply": apply, "create": create, "delete": delete}[name]


def _strategic(info: Info) -> bool:
    return any(k.api_version == info.resource.group_version and k.kind == info.resource.kind and not k.custom
               for k in BUILTIN)


def _query(manager: str) -> list[tuple[str, str]]:
    return [("fieldManager", manager), ("fieldValidation", "Strict")]


def _done(s: Session, info: Info, operation: str) -> None:
    s.out(f"{info.resource.group_kind_lower}/{info.name} {operation}\n")


def _unsupported(s: Session, names: tuple[str, ...]) -> None:
    for name in names:
        if name in s.flags.changed and s.flags[name] not in (False, "none", "strict"):
            raise GoError(f"meshrepro: kubectl {s.command.split()[1]} --{name} is not supported by the simulation")


def apply(s: Session, args: list[str]) -> Wait:
    if args:
        raise UsageError(f"Unexpected args: {args}\nSee 'kubectl apply -h' for help and examples")
    if not s.flags["filename"]:
        raise GoError("must specify one of -f and -k")
    _unsupported(s, ("server-side", "prune", "force", "dry-run", "output"))
    found, errors = yield from infos(s, s.flags["filename"], s.flags["recursive"])
    for info in found:
        try:
            yield from _apply_one(s, info)
        except GoError as err:
            errors.append(err)
    if errors:
        raise AggregateError(errors)
    return 0


def _apply_one(s: Session, info: Info) -> Wait:
    modified = with_last_applied(info.obj)
    result = yield from s.request("GET", info.path)
    err = result.error()
    if isinstance(err, StatusError) and err.reason == "NotFound":
        body = json.dumps(modified).encode()
        created = yield from s.request("POST", info.collection, query=_query("kubectl-client-side-apply"),
                                       body=body, content_type="application/json")
        if (failure := created.error()) is not None:
            raise with_source("creating", info.source, failure)
        _done(s, info, "created")
        return
    if err is not None:
        raise with_source(f"retrieving current configuration of:\n{info.describe()}\nfrom server for:",
                          info.source, err)
    current = result.into()
    original_text = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED, "")
    original = json.loads(original_text) if original_text else None
    kind = _Kind(info.resource.group_version, info.resource.kind)
    patch = three_way_merge(original, modified, current, kind)
    if not patch:
        _done(s, info, "unchanged")
        return
    content_type = ("application/strategic-merge-patch+json" if _strategic(info)
                    else "application/merge-patch+json")
    patched = yield from s.request("PATCH", info.path, query=_query("kubectl-client-side-apply"),
                                   body=go_json(patch).encode(), content_type=content_type)
    if (failure := patched.error()) is not None:
        raise with_source(f"applying patch:\n{go_json(patch)}\nto:\n{info.describe()}\nfor:", info.source, failure)
    _done(s, info, "configured")


def create(s: Session, args: list[str]) -> Wait:
    if args[:1] in (["namespace"], ["ns"]) and len(args) == 2:
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args[1]}}
        result = yield from s.request("POST", "/api/v1/namespaces", query=_query("kubectl-create"),
                                      body=json.dumps(obj).encode(), content_type="application/json")
        if (failure := result.error()) is not None:
            raise failure
        s.out(f"namespace/{args[1]} created\n")
        return 0
    if args:
        raise GoError(f"meshrepro: kubectl create {' '.join(args)} is not supported; use -f or create namespace")
    if not s.flags["filename"]:
        raise UsageError("must specify one of -f and -k\nSee 'kubectl create -h' for help and examples")
    _unsupported(s, ("dry-run", "output"))
    found, errors = yield from infos(s, s.flags["filename"], s.flags["recursive"])
    for info in found:
        result = yield from s.request("POST", info.collection, query=_query("kubectl-create"),
                                      body=json.dumps(info.obj).encode(), content_type="application/json")
        if (failure := result.error()) is not None:
            errors.append(with_source("creating", info.source, failure))
            continue
        _done(s, info, "created")
    if errors:
        raise AggregateError(errors)
    return 0


_DELETE_BODY = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}).encode()


def delete(s: Session, args: list[str]) -> Wait:
    f = s.flags
    if f["filename"] and args:
        raise UsageError("there is no need to specify a resource type as a separate argument when passing "
                         "arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of "
                         "'kubectl get resource resource/<resource_name>'")
    targets: list[tuple[Info, str]] = []
    errors: list[GoError] = []
    if f["filename"]:
        found, errors = yield from infos(s, f["filename"], f["recursive"])
        targets = [(info, info.source) for info in found]
    elif args:
        targets = yield from _named_targets(s, args)
    else:
        raise UsageError("You must provide one or more resources by argument or filename.\nExample resource "
                         "specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   "
                         "'<resource> <name>'\n   '<resource>'")
    if not targets and not errors:
        s.out("No resources found\n")
        return 0
    deleted: list[Info] = []
    for info, source in targets:
        result = yield from s.request("DELETE", info.path, body=_DELETE_BODY, content_type="application/json")
        failure = result.error()
        if isinstance(failure, StatusError) and failure.reason == "NotFound" and f["ignore-not-found"]:
            continue
        if failure is not None:
            errors.append(with_source("deleting", source if f["filename"] else "", failure))
            continue
        s.out(f'{info.resource.group_kind_lower} "{info.name}" deleted\n')
        deleted.append(info)
    if f["wait"]:
        yield from _wait_gone(s, deleted)
    if errors:
        raise AggregateError(errors)
    return 0


def _named_targets(s: Session, args: list[str]) -> Wait:
    namespace = s.namespace()
    pairs: list[tuple[str, str]] = []
    if any("/" in a for a in args):
        pairs = [(a.partition("/")[0], a.partition("/")[2]) for a in args]
    else:
        pairs = [(args[0], name) for name in args[1:]]
    targets: list[tuple[Info, str]] = []
    if not pairs and (s.flags["selector"] or s.flags["all"]):
        resource = yield from s.resource(args[0])
        query = [("labelSelector", s.flags["selector"])] if s.flags["selector"] else []
        listing = yield from s.get_json(resource.path(namespace if resource.namespaced else None), query)
        for item in listing.get("items") or []:
            targets.append((Info(item, "", resource, namespace if resource.namespaced else ""), ""))
        return targets
    if not pairs:
        raise UsageError("resource(s) were provided, but no name was specified\nSee 'kubectl delete -h' for "
                         "help and examples")
    for type_arg, name in pairs:
        resource = yield from s.resource(type_arg)
        obj = {"metadata": {"name": name}}
        targets.append((Info(obj, "", resource, namespace if resource.namespaced else ""), ""))
    return targets


def _wait_gone(s: Session, deleted: list[Info]) -> Wait:
    """--wait: poll each deleted object once a second until the server says NotFound (a documented
    simplification of kubectl's watch); `--timeout` 0 means wait as long as it takes."""
    timeout = s.flags["timeout"] or 0.0
    start = s.proc.clock.now
    for info in deleted:
        while True:
            result = yield from s.request("GET", info.path)
            failure = result.error()
            if isinstance(failure, StatusError) and failure.reason == "NotFound":
                break
            if timeout and s.proc.clock.now - start >= timeout:
                raise GoError(f"timed out waiting for the condition on {info.resource.name}/{info.name}")
            yield s.proc.sleep(1.0)
