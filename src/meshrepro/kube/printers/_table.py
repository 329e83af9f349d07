"""Shared pieces of the apiserver's table printers (pkg/printers/internalversion/printers.go)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meshrepro.kube.duration import since
from meshrepro.kube.printers.descriptions import DESCRIPTIONS
from meshrepro.kube.versions import Flags

Obj = dict[str, Any]
Cell = str | int | bool | float | None


@dataclass(frozen=True)
class Context:
    now: datetime
    flags: Flags


def no_conditions(_: Obj) -> list[Obj]:
    return []


@dataclass(frozen=True)
class Printer:
    columns: Callable[[Flags], list[Obj]]
    row: Callable[[Obj, Context], list[Cell]]
    conditions: Callable[[Obj], list[Obj]] = no_conditions  # TableRow.conditions


def column(name: str, type_: str = "string", *, doc: str = "", text: str = "", priority: int = 0,
           format_: str = "") -> Obj:
    """A TableColumnDefinition in its JSON field order; `doc` names a swagger doc, `text` is literal."""
    return {"name": name, "type": type_, "format": format_,
            "description": DESCRIPTIONS[doc] if doc else text, "priority": priority}


def name_column() -> Obj:
    return column("Name", doc="ObjectMeta.name", format_="name")


def age_column() -> Obj:
    return column("Age", doc="ObjectMeta.creationTimestamp")


def container_columns(selector_doc: str | None) -> list[Obj]:
    cols = [column("Containers", text="Names of each container in the template.", priority=1),
            column("Images", text="Images referenced by each container in the template.", priority=1)]
    if selector_doc:
        cols.append(column("Selector", doc=selector_doc, priority=1))
    return cols


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def age(obj: Obj, ctx: Context) -> str:
    return since(meta(obj).get("creationTimestamp"), ctx.now)


def layout_containers(containers: list[Obj] | None) -> tuple[str, str]:
    """Wide CONTAINERS and IMAGES cells: comma-joined names and images."""
    containers = containers or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def template_containers(obj: Obj) -> list[Obj]:
    return spec(spec(obj).get("template") or {}).get("containers") or []


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, `<none>` when empty."""
    text = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return text or "<none>"


def selector_string(selector: Obj | None) -> str:
    """LabelSelectorAsSelector(...).String(): requirements sorted by key, values sorted."""
    if not selector:
        return ""
    requirements = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        requirements.append((expr["key"], _expression(expr)))
    return ",".join(text for _, text in sorted(requirements, key=lambda r: r[0]))


def _expression(expr: Obj) -> str:
    key, values = expr["key"], ",".join(sorted(expr.get("values") or []))
    return {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
            "Exists": key, "DoesNotExist": f"!{key}"}[expr["operator"]]


def format_label_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector: like selector_string but `<none>` when it selects everything."""
    return selector_string(selector) or "<none>"
