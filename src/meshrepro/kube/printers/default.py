"""Tables for kinds without a printers.go handler, and for custom resources.

- Built-in kinds without a handler (Role, ClusterRole, ...) use the apiserver's default convertor
  (k8s.io/apiserver pkg/registry/rest/table.go): NAME and CREATED AT, the creation time verbatim.
- Custom resources use apiextensions-apiserver's tableconvertor: NAME plus the version's
  additionalPrinterColumns, or a single AGE column when it declares none (serveDefaultColumnsIfEmpty).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from meshrepro.kube.duration import since
from meshrepro.kube.printers._table import Cell, Obj, column, meta, name_column

DEFAULT_COLUMNS = [name_column(), column("Created At", "date", doc="ObjectMeta.creationTimestamp")]

_AGE_COLUMN: Obj = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": column("Age", doc="ObjectMeta.creationTimestamp")["description"]}


def default_row(obj: Obj) -> list[Cell]:
    # Go formats the zero time when creationTimestamp is unset.
    return [meta(obj).get("name", ""), meta(obj).get("creationTimestamp") or "0001-01-01T00:00:00Z"]


def crd_columns(crd: Obj, version: str | None) -> tuple[list[Obj], list[Obj]]:
    """(TableColumnDefinitions, printer columns) for a CRD version (the storage one by default)."""
    versions = (crd.get("spec") or {}).get("versions") or []
    chosen = next((v for v in versions if v.get("name") == version or
                   (version is None and v.get("storage"))), versions[0] if versions else {})
    printer_columns = chosen.get("additionalPrinterColumns") or [_AGE_COLUMN]
    definitions = [name_column()] + [_crd_column_definition(c) for c in printer_columns]
    return definitions, printer_columns


def _crd_column_definition(col: Obj) -> Obj:
    return {"name": col.get("name", ""), "type": col.get("type", ""), "format": col.get("format", ""),
            "description": col.get("description") or
            f"Custom resource definition column (in JSONPath format): {col.get('jsonPath', '')}",
            "priority": col.get("priority", 0)}


def crd_row(obj: Obj, printer_columns: list[Obj], now: datetime) -> list[Cell]:
    cells: list[Cell] = [meta(obj).get("name", "")]
    for col in printer_columns:
        found, value = _lookup(obj, col.get("jsonPath", ""))
        cells.append(_cell(col.get("type", ""), value, now) if found and value is not None else None)
    return cells


def _lookup(obj: Any, path: str) -> tuple[bool, Any]:
    """The simple `.a.b.c` JSONPath the CRD columns use; missing keys are allowed (no cell)."""
    value = obj
    for key in [part for part in path.strip().lstrip("{").rstrip("}").split(".") if part]:
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _cell(type_: str, value: Any, now: datetime) -> Cell:
    if type_ == "string":
        return _jsonpath_text(value)
    if type_ == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if type_ == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        try:
            return since(value, now)
        except ValueError:
            return "<invalid>"
    return None


def _jsonpath_text(value: Any) -> str:
    """client-go jsonpath PrintResults: strings verbatim, maps and lists as JSON, scalars as Go prints."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)
