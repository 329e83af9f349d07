"""Label and field selectors, as the API server parses and matches them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # = != in notin exists !
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator == "=":
            return present and value == self.values[0]
        if self.operator == "!=":
            return value != self.values[0]
        if self.operator == "in":
            return present and value in self.values
        return value not in self.values  # notin


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def parse_label_selector(text: str) -> list[Requirement]:
    requirements = []
    for part in _split_top(text or ""):
        match = _REQ.match(part)
        if not match:
            raise ValueError(f"unable to parse requirement: {part.strip()}")
        negated, key, op, value, set_op, set_values = match.groups()
        if negated:
            requirements.append(Requirement(key, "!"))
        elif op:
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
        elif set_op:
            requirements.append(Requirement(key, set_op, tuple(v.strip() for v in set_values.split(",") if v.strip())))
        else:
            requirements.append(Requirement(key, "exists"))
    return requirements


def selector_from_match_labels(selector: dict[str, Any] | None) -> list[Requirement]:
    """A LabelSelector object (matchLabels + matchExpressions) as requirements."""
    if not selector:
        return []
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def matches_labels(requirements: list[Requirement], obj: dict[str, Any]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


def parse_field_selector(text: str) -> list[tuple[str, str, str]]:
    fields = []
    for part in _split_top(text or ""):
        if "!=" in part:
            key, value = part.split("!=", 1)
            fields.append((key.strip(), "!=", value.strip()))
        else:
            key, value = part.replace("==", "=").split("=", 1)
            fields.append((key.strip(), "=", value.strip()))
    return fields


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return "" if value is None else str(value)


def matches_fields(fields: list[tuple[str, str, str]], obj: dict[str, Any]) -> bool:
    for key, op, value in fields:
        actual = _field_value(obj, key)
        if (actual == value) != (op == "="):
            return False
    return True
