"""kubectl's -o json and -o yaml printers.

JSON [cli-runtime pkg/printers/json.go]: Go's json.MarshalIndent with 4 spaces of an unstructured
object, i.e. map keys sorted, HTML characters escaped as Go's encoder does, newline at the end.
YAML [cli-runtime pkg/printers/yaml.go, sigs.k8s.io/yaml JSONToYAML, go-yaml v2 encoder]: keys
sorted, 2-space indent, sequences at their key's indent, strings plain unless they would read back
as another type (then double-quoted) or the emitter cannot write them plain (then single-quoted),
multi-line strings as literal blocks, plain and single-quoted scalars folded past column 80.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BEST_WIDTH = 80  # go-yaml v2 emitter best_width


def to_json(obj: Any) -> str:
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text + "\n"


def to_yaml(obj: Any) -> str:
    lines: list[str] = []
    _node(obj, 0, lines, prefix="")
    return "\n".join(lines) + "\n"


def _node(value: Any, indent: int, lines: list[str], prefix: str) -> None:
    """Emit `value` whose first line starts with `prefix` (e.g. `key:` or `- `) at `indent` spaces."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        first = True
        for key in sorted(value, key=_natural_key):
            child = value[key]
            head = f"{_scalar(str(key), 0)}:"
            if first and prefix.endswith("- "):
                lead, first = prefix, False
            else:
                lead = pad
            _entry(child, indent, lines, lead + head)
        return
    if isinstance(value, list) and value:
        for item in value:
            _list_item(item, indent, lines)
        return
    lines.append(prefix + _scalar(value, len(prefix)))


def _entry(child: Any, indent: int, lines: list[str], head: str) -> None:
    if isinstance(child, dict) and child:
        lines.append(head)
        _node(child, indent + 2, lines, prefix="")
    elif isinstance(child, list) and child:
        lines.append(head)
        for item in child:
            _list_item(item, indent, lines)  # go-yaml v2: `- ` at the key's own indent
    elif isinstance(child, str) and "\n" in child:
        lines.append(head + " " + _literal_header(child))
        lines.extend(((" " * (indent + 2)) + line) if line else "" for line in _literal_lines(child))
    else:
        lines.append(head + " " + _scalar(child, len(head) + 1, indent + 2))


def _list_item(item: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(item, dict) and item:
        _node(item, indent + 2, lines, prefix=pad + "- ")
    elif isinstance(item, list) and item:
        # a sequence in a sequence: go-yaml writes `- - x`
        inner: list[str] = []
        for sub in item:
            _list_item(sub, indent + 2, inner)
        inner[0] = pad + "- " + inner[0].lstrip()
        lines.extend(inner)
    elif isinstance(item, str) and "\n" in item:
        lines.append(pad + "- " + _literal_header(item))
        lines.extend(((" " * (indent + 2)) + line) if line else "" for line in _literal_lines(item))
    else:
        lines.append(pad + "- " + _scalar(item, indent + 2, indent + 2))


def _literal_header(text: str) -> str:
    indicator = "2" if text[:1] == " " else ""
    if not text.endswith("\n"):
        return f"|{indicator}-"
    if text.endswith("\n\n"):
        return f"|{indicator}+"
    return f"|{indicator}"


def _literal_lines(text: str) -> list[str]:
    body = text.removesuffix("\n")
    return body.split("\n")


def _natural_key(key: Any) -> tuple[Any, ...]:
    """go-yaml v2 keyList.Less: runs of digits compare by value, letters before other characters."""
    parts = re.findall(r"\d+|\D", str(key))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


_BOOL_WORDS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
               "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"}
_NULL_WORDS = {"", "~", "null", "Null", "NULL"}
_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?0[xX][0-9a-fA-F_]+|"
                     r"[-+]?0[bB][01_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:(?:[Tt]|[ \t]+)\d{1,2}:\d{2}:\d{2}(?:\.\d*)?"
                        r"(?:[ \t]*(?:Z|[-+]\d{1,2}(?::\d{2})?))?)?")


def _resolves_to_other(text: str) -> bool:
    """go-yaml v2 resolve(): would this plain text read back as bool/null/number/timestamp?"""
    return (text in _BOOL_WORDS or text in _NULL_WORDS or bool(_NUMBER.fullmatch(text))
            or bool(_BASE60.fullmatch(text)) or bool(_TIMESTAMP.fullmatch(text)) or text == "<<")


def _plain_allowed(text: str) -> bool:
    """yaml_emitter_analyze_scalar for block context."""
    if not text or text.startswith(("---", "...")) or text[0] in " \t" or text[-1] in " \t":
        return False
    if text[0] in "#,[]{}&*!|>'\"%@`":
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] in " \t"):
        return False
    if ": " in text or ":\t" in text or text.endswith(":") or " #" in text or "\t#" in text:
        return False
    return all(ch == "\t" or (ch.isprintable() and ch not in "\ufeff") for ch in text)


def _scalar(value: Any, column: int, indent: int = 0) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _resolves_to_other(text):
        return json.dumps(text, ensure_ascii=False)
    if _plain_allowed(text):
        return _fold(text, column, indent)
    return "'" + _fold(text.replace("'", "''"), column + 1, indent) + "'"


def _fold(text: str, column: int, indent: int) -> str:
    """Break at a single space once the line is past column 80, as the emitter does."""
    if not indent or len(text) + column <= _BEST_WIDTH:
        return text
    out: list[str] = []
    col = column
    for i, ch in enumerate(text):
        prev_space = i > 0 and text[i - 1] == " "
        next_space = i + 1 < len(text) and text[i + 1] == " "
        if ch == " " and not prev_space and col > _BEST_WIDTH and not next_space and i + 1 < len(text):
            out.append("\n" + " " * indent)
            col = indent
            continue
        out.append(ch)
        col += 1
    return "".join(out)


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{exp[0] if exp[0] in '+-' else '+'}{exp.lstrip('+-').zfill(2)}"
    return text.removesuffix(".0") if "e" not in text else text
