"""`kubectl auth can-i` [KC 1.29.0 pkg/cmd/auth/cani.go]: a SelfSubjectAccessReview (or, with
--list, a SelfSubjectRulesReview) POSTed as the current user; impersonation rides on the headers."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.runtime.tabwriter import format_table

from .errors import ErrExit, GoError, UsageError
from .flags import Flag
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

CAN_I_FLAGS = (Flag("all-namespaces", "A", kind="bool", default=False), Flag("quiet", "q", kind="bool", default=False),
               Flag("list", kind="bool", default=False), Flag("no-headers", kind="bool", default=False),
               Flag("subresource", default=""))


def can_i(s: Session, args: list[str]) -> Wait:
    f = s.flags
    if f["list"]:
        return (yield from _list(s))
    if len(args) not in (2, 3):
        raise UsageError("you must specify two or three arguments: verb resource or verb resource/resourceName "
                         "[resourceName]\nSee 'kubectl auth can-i -h' for help and examples" if len(args) < 2
                         else f"Unexpected args: {args}\nSee 'kubectl auth can-i -h' for help and examples")
    verb, target = args[0], args[1]
    namespace = "" if f["all-namespaces"] else s.namespace()
    spec: dict[str, Any]
    if target.startswith("/"):
        spec = {"nonResourceAttributes": {"path": target, "verb": verb}}
    else:
        resource_arg, _, name = target.partition("/")
        if len(args) == 3:
            name = args[2]
        group, plural = "", resource_arg
        try:
            resource = yield from s.resource(resource_arg)
            group, plural = resource.group, resource.name
        except GoError as err:
            if "doesn't have a resource type" not in str(err):
                raise
            s.err(f"Warning: the server doesn't have a resource type '{resource_arg}'\n\n")
        attrs = {"namespace": namespace, "verb": verb, "group": group, "resource": plural}
        if f["subresource"]:
            attrs["subresource"] = f["subresource"]
        if name:
            attrs["name"] = name
        spec = {"resourceAttributes": attrs}
    review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
              "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"allowed": False}}
    result = yield from s.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                  body=json.dumps(review).encode(), content_type="application/json")
    status = (result.into().get("status") or {})
    allowed = bool(status.get("allowed"))
    if not f["quiet"]:
        if allowed:
            s.out("yes\n")
        elif status.get("reason"):
            s.out(f"no - {status['reason']}\n")
        else:
            s.out("no\n")
    if not allowed:
        raise ErrExit()
    return 0


def _list(s: Session) -> Wait:
    namespace = "" if s.flags["all-namespaces"] else s.namespace()
    review = {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
              "metadata": {"creationTimestamp": None}, "spec": {"namespace": namespace}, "status": {
                  "resourceRules": None, "nonResourceRules": None, "incomplete": False}}
    result = yield from s.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                                  body=json.dumps(review).encode(), content_type="application/json")
    status = result.into().get("status") or {}
    rows = [] if s.flags["no-headers"] else [["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]]
    entries = []
    for rule in status.get("resourceRules") or []:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or []:
                shown = f"{resource}.{group}" if group else resource
                entries.append([shown, "[]", _brackets(rule.get("resourceNames")), _brackets(rule.get("verbs"))])
    for rule in status.get("nonResourceRules") or []:
        entries.append(["", _brackets(rule.get("nonResourceURLs")), "[]", _brackets(rule.get("verbs"))])
    rows.extend(sorted(entries, key=lambda r: (r[0] == "", r[0], r[1])))
    s.out(format_table(rows))
    return 0


def _brackets(values: list[str] | None) -> str:
    return "[" + " ".join(values or []) + "]"


SUBCOMMANDS = {"can-i": (can_i, CAN_I_FLAGS)}
