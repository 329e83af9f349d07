"""`kubectl wait` [KC 1.29.0 pkg/cmd/wait/wait.go].

Simplification: the object is polled with a GET once a second instead of watched; what is printed
and when it times out are kubectl's.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from . import jsonpath
from .discovery import Resource
from .errors import AggregateError, GoError, StatusError, UsageError
from .flags import Flag
from .objects import infos
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (Flag("for", default=""), Flag("timeout", kind="duration", default=30.0), Flag("selector", "l", default=""),
         Flag("all", kind="bool", default=False), Flag("filename", "f", kind="array", default=[]),
         Flag("all-namespaces", "A", kind="bool", default=False), Flag("output", "o", default=""))


def run(s: Session, args: list[str]) -> Wait:
    condition = s.flags["for"]
    if not condition:
        raise GoError("--for must be set")
    check = _condition(condition)
    targets = yield from _targets(s, args)
    if not targets:
        raise GoError("no matching resources found")
    deadline = s.proc.clock.now + s.flags["timeout"]
    errors: list[GoError] = []
    for resource, path, name in targets:
        while True:
            result = yield from s.request("GET", path)
            failure = result.error()
            gone = isinstance(failure, StatusError) and failure.reason == "NotFound"
            if failure is not None and not gone:
                raise failure
            if check(None if gone else result.into()):
                s.out(f"{resource.group_kind_lower}/{name} condition met\n")
                break
            if gone and condition != "delete":
                raise failure  # type: ignore[misc]
            if s.proc.clock.now >= deadline:
                errors.append(GoError(f"timed out waiting for the condition on {resource.group_resource}/{name}"))
                break
            yield s.proc.sleep(min(1.0, deadline - s.proc.clock.now))
    if errors:
        raise AggregateError(errors)
    return 0


def _condition(text: str) -> Any:
    lowered = text.lower()
    if lowered == "delete":
        return lambda obj: obj is None
    if lowered.startswith("condition="):
        spec = text[len("condition="):]
        kind, _, wanted = spec.partition("=")
        wanted = wanted or "True"
        def has(obj: dict[str, Any] | None) -> bool:
            for c in ((obj or {}).get("status") or {}).get("conditions") or []:
                if str(c.get("type", "")).lower() == kind.lower():
                    return str(c.get("status", "")).lower() == wanted.lower()
            return False
        return has
    if lowered.startswith("jsonpath="):
        spec = text[len("jsonpath="):]
        expression, _, wanted = spec.rpartition("=") if "}=" in spec or not spec.startswith("{") else (spec, "", "")
        expression = expression.strip("'\"")
        if expression.startswith("{") and expression.endswith("}"):
            expression = expression[1:-1]
        def matches(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            try:
                values = jsonpath.query(expression, obj)
            except GoError:
                return False
            if not wanted:
                return bool(values)
            return any(jsonpath.evaluate("{.}", v) == wanted for v in values)
        return matches
    raise GoError(f"unrecognized condition: {text!r}")


def _targets(s: Session, args: list[str]) -> Wait:
    out: list[tuple[Resource, str, str]] = []
    if s.flags["filename"]:
        found, errors = yield from infos(s, s.flags["filename"])
        if errors:
            raise AggregateError(errors)
        return [(i.resource, i.path, i.name) for i in found]
    if not args:
        raise UsageError("You must provide one or more resources by argument or filename.\nExample resource "
                         "specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   "
                         "'<resource> <name>'\n   '<resource>'")
    namespace = s.namespace()
    pairs = ([(a.partition("/")[0], a.partition("/")[2]) for a in args] if any("/" in a for a in args)
             else [(args[0], n) for n in args[1:]])
    if not pairs:
        resource = yield from s.resource(args[0])
        ns = namespace if resource.namespaced else None
        query = [("labelSelector", s.flags["selector"])] if s.flags["selector"] else []
        listing = yield from s.get_json(resource.path(ns), query)
        for item in listing.get("items") or []:
            name = (item.get("metadata") or {}).get("name", "")
            out.append((resource, resource.path(ns, name), name))
        return out
    for type_arg, name in pairs:
        resource = yield from s.resource(type_arg)
        out.append((resource, resource.path(namespace if resource.namespaced else None, name), name))
    return out
