"""`kubectl get`: server-side Tables for people, JSON/YAML/name/jsonpath for scripts.

[KC 1.29.0 pkg/cmd/get/get.go]. Human output asks for a meta.k8s.io Table and prints the cells the
server computed (STATUS, AGE ...); `-o json|yaml|name|jsonpath` asks for plain JSON. Lists are paged
with `limit=500` (`--chunk-size`). Errors for single names are collected and printed after the output.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.runtime.tabwriter import print_table

from . import jsonpath
from .discovery import Resource
from .errors import AggregateError, GoError, StatusError, UsageError
from .flags import Flag
from .printers import to_json, to_yaml
from .session import TABLE_ACCEPT, Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (
    Flag("output", "o", default=""), Flag("selector", "l", default=""), Flag("field-selector", default=""),
    Flag("all-namespaces", "A", kind="bool", default=False), Flag("show-labels", kind="bool", default=False),
    Flag("no-headers", kind="bool", default=False), Flag("show-kind", kind="bool", default=False),
    Flag("ignore-not-found", kind="bool", default=False), Flag("chunk-size", kind="int", default=500),
    Flag("watch", "w", kind="bool", default=False), Flag("filename", "f", kind="array", default=[]),
    Flag("label-columns", "L", kind="array", default=[]), Flag("sort-by", default=""),
)

ALLOWED_FORMATS = ("custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
                   "jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml")


def output_kind(output: str) -> str:
    """'' | wide | json | yaml | name | jsonpath; anything else is kubectl's printer error."""
    base = output.split("=", 1)[0]
    if base in ("", "wide", "json", "yaml", "name") and "=" not in output:
        return base
    if base in ("jsonpath", "jsonpath-as-json") and "=" in output:
        return "jsonpath"
    raise GoError(f'unable to match a printer suitable for the output format "{output}", '
                  f"allowed formats are: {ALLOWED_FORMATS}")


def parse_targets(args: list[str]) -> list[tuple[str, list[str]]]:
    """`pods a b`, `pods,svc`, `pod/a deploy/b` -> [(type, [names])] in kubectl's grouping."""
    if any("/" in a for a in args):
        targets: list[tuple[str, list[str]]] = []
        for arg in args:
            kind, _, name = arg.partition("/")
            if not name:
                raise GoError("there is no need to specify a resource type as a separate argument when passing "
                              "arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' "
                              "instead of 'kubectl get resource resource/<resource_name>'")
            targets.append((kind, [name]))
        return targets
    return [(kind, list(args[1:])) for kind in args[0].split(",") if kind]


def run(s: Session, args: list[str]) -> Wait:
    f = s.flags
    if f["watch"]:
        raise GoError("meshrepro: kubectl get --watch is not supported by the simulation")
    if f["filename"] or f["sort-by"] or f["label-columns"]:
        raise GoError("meshrepro: kubectl get -f/--sort-by/-L are not supported by the simulation")
    if not args:
        s.err('You must specify the type of resource to get. Use "kubectl api-resources" for a complete '
              "list of supported resources.\n\n")
        raise UsageError("Required resource not specified.\nUse \"kubectl explain <resource>\" for a detailed "
                         "description of that resource (e.g. kubectl explain pods).\n"
                         "See 'kubectl get -h' for help and examples")
    kind = output_kind(f["output"])
    all_ns = bool(f["all-namespaces"])
    namespace = s.namespace()
    targets = parse_targets(args)
    expanded: list[tuple[str, list[str]]] = []
    for type_arg, names in targets:
        if any("/" in a for a in args):  # TYPE/NAME arguments skip the builder's alias expansion
            expanded.append((type_arg, names))
            continue
        for alias in (yield from s.mapper.expand_categories(type_arg)):
            expanded.append((alias, names))
    mapped: list[tuple[Resource, list[str]]] = []
    for type_arg, names in expanded:
        resource = yield from s.resource(type_arg)
        mapped.append((resource, names))
    errors: list[GoError] = []
    human = kind in ("", "wide")
    accept = TABLE_ACCEPT if human else "application/json"
    collected: list[tuple[Resource, dict[str, Any]]] = []
    for resource, names in mapped:
        ns = None if (all_ns and not names) else namespace
        if names:
            for name in names:
                try:
                    result = yield from s.request("GET", resource.path(ns, name), accept=accept)
                    collected.append((resource, _as_list(result.into(), human)))
                except StatusError as err:
                    if not (f["ignore-not-found"] and err.reason == "NotFound"):
                        errors.append(err)
        else:
            query = [("limit", str(f["chunk-size"]))]
            if f["selector"]:
                query.append(("labelSelector", f["selector"]))
            if f["field-selector"]:
                query.append(("fieldSelector", f["field-selector"]))
            listing = yield from _list(s, resource.path(ns), query, accept, f["chunk-size"])
            collected.append((resource, listing))
    if human:
        _print_tables(s, collected, kind == "wide", all_ns, len(mapped) > 1 or f["show-kind"])
    else:
        _print_objects(s, collected, kind, f["output"], single=len(mapped) == 1 and len(mapped[0][1]) == 1)
    if not errors and not f["ignore-not-found"] and not _any_rows(collected, human) and (human or kind == "name"):
        if all(r.namespaced for r, _ in mapped) and not all_ns:
            s.err(f"No resources found in {namespace} namespace.\n")
        else:
            s.err("No resources found\n")
    if errors:
        raise AggregateError(errors)
    return 0


def _list(s: Session, path: str, query: list[tuple[str, str]], accept: str, chunk: int) -> Wait:
    """Follow `continue` tokens until the list is complete."""
    merged: dict[str, Any] | None = None
    token = ""
    while True:
        page_query = [*query, ("continue", token)] if token else query
        result = yield from s.request("GET", path, query=page_query, accept=accept)
        page = result.into()
        if merged is None:
            merged = page
        else:
            key = "rows" if page.get("kind") == "Table" else "items"
            merged.setdefault(key, []).extend(page.get(key) or [])
        token = (page.get("metadata") or {}).get("continue", "")
        if not token or chunk <= 0:
            return merged


def _as_list(obj: dict[str, Any], human: bool) -> dict[str, Any]:
    if human or obj.get("kind", "").endswith("List"):
        return obj
    return {"items": [obj], "single": True}


def _any_rows(collected: list[tuple[Resource, dict[str, Any]]], human: bool) -> bool:
    return any((obj.get("rows") if human else obj.get("items")) for _, obj in collected)


def _print_tables(s: Session, collected: list[tuple[Resource, dict[str, Any]]], wide: bool, all_ns: bool,
                  show_kind: bool) -> None:
    merged: list[tuple[Resource, dict[str, Any]]] = []
    for resource, table in collected:
        if merged and merged[-1][0] == resource:
            merged[-1][1]["rows"] = [*(merged[-1][1].get("rows") or []), *(table.get("rows") or [])]
        else:
            merged.append((resource, dict(table)))
    written = False
    for resource, table in merged:
        if s.flags["show-labels"]:
            table = _with_labels(table)
        text = print_table(table, wide=wide, no_headers=s.flags["no-headers"],
                           show_namespace=all_ns and resource.namespaced,
                           show_kind=_kind_prefix(resource) if show_kind else None)
        if text and written and not s.flags["no-headers"]:
            s.out("\n")  # get.go's separatorWriter between kinds
        s.out(text)
        written = written or bool(text)


def _kind_prefix(resource: Resource) -> str:
    return f"{resource.kind}.{resource.group}" if resource.group else resource.kind


def _with_labels(table: dict[str, Any]) -> dict[str, Any]:
    table = dict(table)
    table["columnDefinitions"] = [*(table.get("columnDefinitions") or []), {"name": "Labels", "type": "string"}]
    rows = []
    for row in table.get("rows") or []:
        labels = ((row.get("object") or {}).get("metadata") or {}).get("labels") or {}
        text = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"
        rows.append({**row, "cells": [*(row.get("cells") or []), text]})
    table["rows"] = rows
    return table


def _print_objects(s: Session, collected: list[tuple[Resource, dict[str, Any]]], kind: str, output: str,
                   single: bool) -> None:
    items: list[dict[str, Any]] = []
    for resource, listing in collected:
        for item in listing.get("items") or []:
            # the unstructured list decoder gives every item its apiVersion and kind
            items.append({"apiVersion": resource.group_version, "kind": resource.kind, **item})
    if kind == "name":
        for (resource, listing) in collected:
            for item in listing.get("items") or []:
                s.out(f"{resource.group_kind_lower}/{(item.get('metadata') or {}).get('name', '')}\n")
        return
    obj: Any = items[0] if single and len(items) == 1 else {
        "apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    if kind == "json":
        s.out(to_json(obj))
    elif kind == "yaml":
        s.out(to_yaml(obj))
    else:
        s.out(jsonpath.evaluate(output.split("=", 1)[1], obj))
