"""Read manifest files the way kubectl does, keeping the file and line of every field.

kubectl turns YAML into JSON with sigs.k8s.io/yaml, which decodes with its fork of go-yaml v2
(YAML 1.1 flavoured). PyYAML is YAML 1.1 too, but resolves plain scalars differently, so plain
scalars are resolved here by go-yaml v2's rules (`resolve.go`), not PyYAML's:

- booleans: `y Y yes Yes YES true True TRUE on On ON` and `n N no No NO false False FALSE off
  Off OFF` (PyYAML does not treat `y`/`n` as booleans);
- integers: Go's `strconv.ParseInt(s, 0, 64)` after removing `_`: `0x1F`, `0o17`, `0b101` and
  the YAML 1.1 octal `0777`; no base-60 (`1:30` stays a string, PyYAML would give 90);
- floats: `1e3`, `1.`, `.5`, `.inf`, `.nan` (PyYAML needs a dot: `1e3` would be a string);
- timestamps stay strings (go-yaml keeps them as strings when decoding into interface{});
- unknown tags such as `!Ref x` keep the value (PyYAML would fail).

Then JSON conversion: non-string keys become strings (`80:` -> "80", `yes:` -> "true"), a null
key is an error, and a float with an integral value becomes an int (the JSON round trip turns
1.0 into 1). Duplicate keys: the last one wins, as in go-yaml v2's non-strict Unmarshal.

Input that starts with `{` is read as a stream of JSON objects, as kubectl's YAMLOrJSONDecoder
does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from meshrepro.errors import InputError

FieldPath = tuple[str | int, ...]

_PLAIN = "!meshrepro/plain"  # marker tag for untagged plain scalars, resolved by go-yaml's rules
_TAG = "tag:yaml.org,2002:"
_BOOLS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT64 = (-(2**63), 2**64 - 1)  # ParseInt, then ParseUint


@dataclass
class Manifest:
    """One object read from a file: where it came from, and the object as kubectl would send it."""

    source: str
    line: int  # 1-based line of the object's first field
    obj: dict[str, Any]
    _lines: dict[FieldPath, int] = field(default_factory=dict, repr=False, compare=False)
    _prefix: FieldPath = field(default=(), repr=False, compare=False)  # path of this item in a List

    def line_of(self, path: FieldPath) -> int:
        """Line of the field at `path`, or of its nearest ancestor that is in the file."""
        for end in range(len(path), -1, -1):
            found = self._lines.get(self._prefix + tuple(path[:end]))
            if found is not None:
                return found
        return self.line

    def where(self, path: FieldPath = ()) -> str:
        """`file:line` of a field, the form errors use."""
        return f"{self.source}:{self.line_of(path)}"

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")


class _Loader(yaml.SafeLoader):
    """Composes nodes only; scalars are resolved by `_scalar` with go-yaml v2's rules."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:  # type: ignore[override]
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def load_file(path: str | Path) -> list[Manifest]:
    """Every object in a YAML or JSON file; `source` is the path as given."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a file: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
    return load_documents(text, str(path))


def load_documents(text: str, source: str) -> list[Manifest]:
    """Every object in `text`; empty documents skipped, `List` kinds flattened into their items."""
    if text.lstrip().startswith("{"):
        documents = _json_documents(text, source)
    else:
        documents = _yaml_documents(text, source)
    manifests: list[Manifest] = []
    for obj, lines, line in documents:
        manifests.extend(_flatten(Manifest(source, line, obj, lines), source))
    return manifests


def _yaml_documents(text: str, source: str) -> Iterator[tuple[dict[str, Any], dict[FieldPath, int], int]]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[FieldPath, int] = {}
            value = _Converter(source, lines).value(node, ())
            if value is None:
                continue  # a document with only comments, or `null`
            yield _as_object(value, source, node.start_mark.line + 1), lines, node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(exc.problem or str(exc), path=source, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:  # e.g. a reader error for a control character
        raise InputError(str(exc).splitlines()[0], path=source) from None
    finally:
        loader.dispose()


def _json_documents(text: str, source: str) -> Iterator[tuple[dict[str, Any], dict[FieldPath, int], int]]:
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise InputError(exc.msg, path=source, line=exc.lineno) from None
        line = text.count("\n", 0, index) + 1
        yield _as_object(_normalise(value), source, line), _json_lines(text, index, end, line), line
        index = end


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"invalid character {name[0]!r} looking for beginning of value", name, 0)


def _json_lines(text: str, start: int, end: int, line: int) -> dict[FieldPath, int]:
    """Field lines of one JSON object, by composing it as YAML (JSON forbids raw tabs in strings,
    so turning tabs into spaces keeps every position)."""
    lines: dict[FieldPath, int] = {}
    chunk = "\n" * (line - 1) + text[start:end].replace("\t", " ")
    try:
        node = yaml.compose(chunk, Loader=_Loader)
    except yaml.YAMLError:
        return lines  # valid JSON that PyYAML cannot compose: fall back to the object's line
    if node is not None:
        _Converter("", lines).value(node, ())
    return lines


def _as_object(value: Any, source: str, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        got = "a list" if isinstance(value, list) else f"the scalar {json.dumps(value)}"
        raise InputError(f"expected an object with apiVersion and kind, got {got}", path=source, line=line)
    return value


def _flatten(manifest: Manifest, source: str) -> Iterator[Manifest]:
    """`kind: List` and typed lists (`PodList`) hold objects in `items`; kubectl applies each one."""
    obj = manifest.obj
    items = obj.get("items")
    if not (manifest.kind.endswith("List") and isinstance(items, list)):
        yield manifest
        return
    for index, item in enumerate(items):
        path = ("items", index)
        line = manifest.line_of(path)
        item = _as_object(item, source, line)
        if not item.get("kind") and not item.get("apiVersion"):
            # Typed lists leave kind and apiVersion off their items (UnstructuredList does this too).
            item = {"apiVersion": obj.get("apiVersion"), "kind": manifest.kind[: -len("List")], **item}
        child = Manifest(source, line, item, manifest._lines, manifest._prefix + path)
        yield from _flatten(child, source)


class _Converter:
    """YAML node -> JSON-like value, recording the line of every field on the way."""

    def __init__(self, source: str, lines: dict[FieldPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.active: set[int] = set()  # nodes being converted, to catch recursive aliases

    def value(self, node: yaml.Node, path: FieldPath) -> Any:
        if id(node) in self.active:
            raise InputError("recursive alias", path=self.source or None, line=node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, self.source)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._item(child, path + (i,)) for i, child in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _item(self, node: yaml.Node, path: FieldPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        return self.value(node, path)

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if _is_merge(key_node):
                self._merge(value_node, path, result)
                continue
            key = _json_key(key_node, self.source)
            self.lines[path + (key,)] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, path + (key,))
        return result

    def _merge(self, node: yaml.Node, path: FieldPath, into: dict[str, Any]) -> None:
        """`<<: *anchor` or `<<: [*a, *b]`; go-yaml v2 merges in place, so later keys win and the
        first map of a list wins over the next ones."""
        sources = list(reversed(node.value)) if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise InputError("map merge requires map or sequence of maps as the value",
                                 path=self.source or None, line=source.start_mark.line + 1)
            into.update(self.value(source, path))


def _is_merge(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == "<<" and node.tag in (_PLAIN, _TAG + "merge")


def _json_key(node: yaml.Node, source: str) -> str:
    """sigs.k8s.io/yaml's conversion of a YAML map key to a JSON object key."""
    key = _scalar(node, source) if isinstance(node, yaml.ScalarNode) else node
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float(key)
    kind = "<nil>" if key is None else "a collection"
    raise InputError(f"Unsupported map key of type: {kind}", path=source or None, line=node.start_mark.line + 1)


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, ...) with go-yaml's spellings of the special values."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:  # shortest 'g' switches to %e from 1e+06
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        shown = f"{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    elif point <= 0:
        shown = "0." + "0" * -point + text
    elif point >= len(text):
        shown = text + "0" * (point - len(text))
    else:
        shown = text[:point] + "." + text[point:]
    return ("-" if sign else "") + shown


def _scalar(node: yaml.ScalarNode, source: str) -> Any:
    tag, text = node.tag, node.value
    if tag == _PLAIN:
        return _json_number(_go_resolve(text), node, source)
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "binary":
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode("utf-8", "replace")
        except binascii.Error:
            raise InputError("!!binary value contains invalid base64 data",
                             path=source or None, line=node.start_mark.line + 1) from None
    if tag in (_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"):
        return _explicit(tag, text, node, source)
    return text  # go-yaml keeps the value of a tag it does not know (`!Ref x`, `!!timestamp`)


def _explicit(tag: str, text: str, node: yaml.ScalarNode, source: str) -> Any:
    value = _go_resolve(text)
    wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}[tag[len(_TAG):]]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not wanted:
        got = {str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}[type(value)]
        raise InputError(f"cannot decode !!{got} `{text}` as a !!{tag[len(_TAG):]}",
                         path=source or None, line=node.start_mark.line + 1)
    return _json_number(value, node, source)


def _go_resolve(text: str) -> Any:
    """go-yaml v2's `resolve` for an untagged plain scalar."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if not text or text[0] not in "+-0123456789.":
        return text
    plain = text.replace("_", "") if text[0] != "." else text
    if _GO_INT.fullmatch(plain):
        number = _parse_go_int(plain)
        if _INT64[0] <= number <= _INT64[1]:
            return number
    if _GO_FLOAT.fullmatch(plain):
        return float(plain)
    return text


def _parse_go_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1] in "0123456789":
        return sign * int(digits, 8)  # YAML 1.1 octal `0777`
    return sign * int(digits, 0) if digits != "0" else 0


def _json_number(value: Any, node: yaml.ScalarNode, source: str) -> Any:
    """What the YAML -> JSON -> object round trip leaves of a number: integral floats become ints,
    and JSON has no NaN or infinity."""
    if not isinstance(value, float):
        return value
    if math.isnan(value) or math.isinf(value):
        shown = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise InputError(f"json: unsupported value: {shown}", path=source or None, line=node.start_mark.line + 1)
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def _normalise(value: Any) -> Any:
    """JSON input: integral floats become ints, as for YAML."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value
