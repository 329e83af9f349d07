"""`kubectl label` and `kubectl annotate` [KC 1.29.0 pkg/cmd/label/label.go, annotate/annotate.go]:
GET the object, change metadata.labels/annotations, PATCH the JSON merge patch of the change."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import simpy

from meshrepro.manifests.patch import go_json

from .errors import AggregateError, GoError, UsageError
from .flags import Flag
from .objects import infos
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (Flag("overwrite", kind="bool", default=False), Flag("all", kind="bool", default=False),
         Flag("selector", "l", default=""), Flag("filename", "f", kind="array", default=[]),
         Flag("output", "o", default=""), Flag("resource-version", default=""),
         Flag("all-namespaces", "A", kind="bool", default=False))


def flags_for(_: str) -> tuple[Flag, ...]:
    return FLAGS


def runner_for(name: str) -> Callable[[Session, list[str]], Wait]:
    def run(s: Session, args: list[str]) -> Wait:
        return (yield from _run(s, args, "labels" if name == "label" else "annotations", name))
    return run


def _split(args: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    resources: list[str] = []
    changes: dict[str, str] = {}
    removals: list[str] = []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            changes[key] = value
        elif arg.endswith("-") and len(arg) > 1:
            removals.append(arg[:-1])
        else:
            resources.append(arg)
    return resources, changes, removals


def _run(s: Session, args: list[str], field: str, verb: str) -> Wait:
    resources, changes, removals = _split(args)
    noun = "label" if verb == "label" else "annotation"
    if not changes and not removals:
        raise UsageError(f"at least one {noun} update is required\nSee 'kubectl {verb} -h' for help and examples")
    if not resources and not s.flags["filename"]:
        raise UsageError(f"one or more resources must be specified as <resource> <name> or <resource>/<name>\n"
                         f"See 'kubectl {verb} -h' for help and examples")
    targets: list[tuple[str, str]] = []  # (path, printed name)
    errors: list[GoError] = []
    if s.flags["filename"]:
        found, errors = yield from infos(s, s.flags["filename"])
        targets = [(i.path, f"{i.resource.group_kind_lower}/{i.name}") for i in found]
    else:
        namespace = s.namespace()
        pairs = ([(a.partition("/")[0], a.partition("/")[2]) for a in resources] if any("/" in a for a in resources)
                 else [(resources[0], n) for n in resources[1:]])
        for type_arg, name in pairs:
            resource = yield from s.resource(type_arg)
            ns = namespace if resource.namespaced else None
            targets.append((resource.path(ns, name), f"{resource.group_kind_lower}/{name}"))
        if not pairs:
            raise GoError("meshrepro: label/annotate by selector or --all is not supported; name the objects")
    for path, shown in targets:
        obj = yield from s.get_json(path)
        current: dict[str, str] = dict((obj.get("metadata") or {}).get(field) or {})
        if not s.flags["overwrite"]:
            for key, value in changes.items():
                if key in current and current[key] != value:
                    raise GoError(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
        updated = {k: v for k, v in current.items() if k not in removals}
        updated.update(changes)
        patch: dict[str, Any] = {}
        delta: dict[str, Any] = {k: None for k in current if k not in updated}
        delta.update({k: v for k, v in updated.items() if current.get(k) != v})
        if delta:
            patch = {"metadata": {field: delta}}
        result = yield from s.request("PATCH", path, query=[("fieldManager", f"kubectl-{verb}")],
                                      body=go_json(patch).encode(), content_type="application/merge-patch+json")
        failure = result.error()
        if failure is not None:
            errors.append(failure)
            continue
        if verb == "annotate":
            message = "annotated"
        elif current == updated:
            message = "not labeled"
        elif not s.flags["overwrite"] and len(json.dumps(updated)) < len(json.dumps(current)):
            message = "unlabeled"
        else:
            message = "labeled"
        s.out(f"{shown} {message}\n")
    if errors:
        raise AggregateError(errors)
    return 0
