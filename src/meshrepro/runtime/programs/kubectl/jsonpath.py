"""The subset of kubectl's JSONPath templates used in scripts: `{.a.b[0].c}`, `[*]`, `['x.y']`, text.

[client-go util/jsonpath]: each `{...}` is evaluated against the object; several results are joined
by a space; strings print as is, other values as JSON; text outside braces is copied.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import GoError

_STEP = re.compile(r"\.([A-Za-z0-9_\-/]+)|\['([^']*)'\]|\[(\*|-?\d+)\]|\.\*")


def evaluate(template: str, obj: Any) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start == -1:
            out.append(template[pos:])
            break
        end = template.find("}", start)
        if end == -1:
            raise GoError(f"error parsing jsonpath {template}, unclosed action")
        out.append(template[pos:start])
        values = query(template[start + 1:end].strip(), obj)
        out.append(" ".join(_text(v) for v in values))
        pos = end + 1
    return "".join(out).replace("\\n", "\n").replace("\\t", "\t")


def query(expression: str, obj: Any) -> list[Any]:
    """The values `expression` (`.a.b[*].c`) selects; a missing key is an error, as kubectl reports."""
    if expression in ("", "."):
        return [obj]
    expression = expression.removeprefix("$")
    current = [obj]
    pos = 0
    while pos < len(expression):
        match = _STEP.match(expression, pos)
        if match is None:
            raise GoError(f"error parsing jsonpath {{{expression}}}, unrecognized character in action: "
                          f"U+{ord(expression[pos]):04X} {json.dumps(expression[pos])}")
        key = match.group(1) or match.group(2)
        index = match.group(3)
        following: list[Any] = []
        for value in current:
            if match.group(0) == ".*" or index == "*":
                following.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list)
                                 else [])
            elif index is not None:
                if isinstance(value, list) and -len(value) <= int(index) < len(value):
                    following.append(value[int(index)])
                else:
                    raise GoError("array index out of bounds: index " + index)
            elif isinstance(value, dict):
                if key not in value:
                    raise GoError(f"{key} is not found")
                following.append(value[key])
        current = following
        pos = match.end()
    return current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
