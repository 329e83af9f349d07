"""Check manifests as the API server decodes them with `fieldValidation=Strict` (kubectl's default
since 1.25): unknown fields, wrong JSON types, missing required fields, unknown kinds.

The schemas are kubernetes-validate's strict OpenAPI definitions for the requested minor release
(the newest one not after it). They are walked here rather than handed to jsonschema so that every
problem comes out at once, in the order the API server meets them (kubectl sends JSON with sorted
keys), with the Go type names the API server's messages use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from meshrepro.manifests.kinds import SUBRESOURCE_KINDS, KindRegistry
from meshrepro.manifests.load import FieldPath, Manifest

KubeVersion = tuple[int, int]
Schema = dict[str, Any]
ProblemKind = Literal["missing", "unknown kind", "unknown field", "wrong type", "required"]

_SCHEMA_ROOT = "kubernetes-json-schema"
_DEFS = "#/$defs/"
_JSON_KIND = {str: "string", int: "number", float: "number", bool: "bool", list: "array", dict: "object"}


@dataclass(frozen=True)
class FieldProblem:
    source: str
    line: int
    subject: str  # `Deployment "nginx"`
    kind: ProblemKind
    path: str  # `spec.template.spec.containers[0].imagePullPolice`, "" for the whole object
    message: str  # the API server's (or kubectl's) wording of this one problem

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.subject}: {self.message}"


# ---------------------------------------------------------------- schemas


def _schema_dirs() -> dict[KubeVersion, str]:
    root = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT)
    found = {}
    for entry in root.iterdir():
        name = entry.name  # v1.29.0-local-strict
        if name.startswith("v") and name.endswith("-local-strict"):
            major, minor = name[1:].split(".")[:2]
            found[(int(major), int(minor))] = name
    return found


@cache
def definitions(kube_version: KubeVersion) -> dict[str, Schema]:
    """The strict OpenAPI definitions for a release (the newest schema set not after it)."""
    dirs = _schema_dirs()
    usable = [v for v in dirs if v <= kube_version]
    if not usable:
        oldest = min(dirs)
        raise ValueError(f"no schemas for Kubernetes {kube_version[0]}.{kube_version[1]} "
                         f"(oldest available: {oldest[0]}.{oldest[1]})")
    path = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT, dirs[max(usable)], "_definitions.json")
    return dict(json.loads(path.read_text(encoding="utf-8"))["$defs"])


@cache
def _by_gvk(kube_version: KubeVersion) -> dict[tuple[str, str], str]:
    index: dict[tuple[str, str], str] = {}
    for name, schema in definitions(kube_version).items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            index.setdefault((api_version, gvk["kind"]), name)
    return index


def definition_name(api_version: str, kind: str, kube_version: KubeVersion) -> str | None:
    """`io.k8s.api.apps.v1.Deployment` for ("apps/v1", "Deployment"), None if the release lacks it."""
    return _by_gvk(kube_version).get((api_version, kind))


def resolve_ref(schema: Schema, defs: dict[str, Schema]) -> tuple[Schema, str | None]:
    """Follow a `$ref` to its definition; returns the schema and the definition's name."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        name = ref[len(_DEFS):]
        return defs[name], name
    return schema, None


# ---------------------------------------------------------------- validation


def validate(manifest: Manifest, kube_version: KubeVersion, *, registry: KindRegistry | None = None,
             extra_schemas: dict[tuple[str, str], Schema] | None = None) -> list[FieldProblem]:
    """Every problem the API server (or kubectl before it) would report for this object."""
    report = _Report(manifest)
    api_version, kind = manifest.obj.get("apiVersion"), manifest.obj.get("kind")
    if not api_version or not kind:
        # kubectl's client-side check: `error validating data: [apiVersion not set, kind not set]`.
        for field, value in (("apiVersion", api_version), ("kind", kind)):
            if not value:
                report.add("missing", (), f"{field} not set")
        return report.problems
    extra = (extra_schemas or {}).get((api_version, kind))
    if extra is not None:
        _Walker(report, extra.get("$defs") or extra.get("definitions") or {}, go_types=False).value(
            extra, manifest.obj, (), None, "")
        return report.problems
    known = (registry or KindRegistry()).by_kind(api_version, kind) or (api_version, kind) in SUBRESOURCE_KINDS
    name = definition_name(api_version, kind, kube_version)
    if not known or name is None:
        if not known:
            report.add("unknown kind", (), no_matches_message(kind, api_version))
        return report.problems  # a custom resource without a schema: nothing to check its fields against
    defs = definitions(kube_version)
    _Walker(report, defs, go_types=True).value({"$ref": _DEFS + name}, manifest.obj, (), None, "")
    return report.problems


class _Report:
    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.subject = f'{manifest.kind or "object"} "{manifest.name}"'
        self.problems: list[FieldProblem] = []

    def add(self, kind: ProblemKind, path: FieldPath, message: str) -> None:
        self.problems.append(FieldProblem(self.manifest.source, self.manifest.line_of(path), self.subject,
                                          kind, field_path(path), message))


class _Walker:
    """Walks an object along its schema. `go_types`: built-in kinds report type errors the way Go's
    JSON decoder does; custom resources the way the CRD structural-schema validation does."""

    def __init__(self, report: _Report, defs: dict[str, Schema], go_types: bool) -> None:
        self.report = report
        self.defs = defs
        self.go_types = go_types

    def value(self, schema: Schema, value: Any, path: FieldPath, struct: str | None, go_field: str) -> None:
        schema, name = self._resolve(schema)
        if value is None:
            return  # every field is nullable: JSON null leaves the Go zero value
        if "oneOf" in schema:  # IntOrString, Quantity: a string or a number
            self._either(schema, name, value, path)
            return
        expected = _types(schema)
        if expected and _json_type(value) not in expected:
            self._wrong_type(schema, name, value, path, struct, go_field)
            return
        if isinstance(value, dict):
            self._object(schema, name, value, path, struct, go_field)
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.value(schema["items"], item, path + (index,), struct, go_field)

    def _resolve(self, schema: Schema) -> tuple[Schema, str | None]:
        schema, name = resolve_ref(schema, self.defs)
        if name is None and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"].rsplit("/", 1)[-1]  # `#/definitions/x` in an extra schema
            return self.defs.get(ref, {}), ref
        return schema, name

    def _object(self, schema: Schema, name: str | None, value: dict[str, Any], path: FieldPath,
                struct: str | None, go_field: str) -> None:
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in sorted(value):  # kubectl sends JSON with sorted keys; errors come in that order
            child_path = path + (key,)
            child_field = f"{go_field}.{key}" if go_field else key
            if properties is not None and key in properties:
                self.value(properties[key], value[key], child_path, _short(name) or struct, child_field)
            elif isinstance(extra, dict):
                self.value(extra, value[key], child_path, struct, go_field)
            elif properties is not None or extra is False:
                self.report.add("unknown field", child_path, f'unknown field "{field_path(child_path)}"')
        for key in schema.get("required") or ():
            if value.get(key) in (None, "", [], {}):  # the API server's validation treats empty as missing
                self.report.add("required", path + (key,), f"{field_path(path + (key,))}: Required value")

    def _either(self, schema: Schema, name: str | None, value: Any, path: FieldPath) -> None:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return
        got = _JSON_KIND[type(value)]
        if name and name.endswith("api.resource.Quantity"):
            message = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        else:
            message = f"json: cannot unmarshal {got} into Go value of type int32"  # IntOrString.UnmarshalJSON
        self.report.add("wrong type", path, message)

    def _wrong_type(self, schema: Schema, name: str | None, value: Any, path: FieldPath,
                    struct: str | None, go_field: str) -> None:
        got = _JSON_KIND[type(value)]
        if not self.go_types:
            wanted = next(iter(sorted(_types(schema))))
            dotted = field_path(path)
            self.report.add("wrong type", path,
                            f'{dotted}: Invalid value: "{_json_type(value)}": {dotted} in body must be of type '
                            f'{wanted}: "{_json_type(value)}"')
            return
        go_type = self._go_type(schema, name)
        if struct and go_field:
            message = f"json: cannot unmarshal {got} into Go struct field {struct}.{go_field} of type {go_type}"
        else:
            message = f"json: cannot unmarshal {got} into Go value of type {go_type}"
        self.report.add("wrong type", path, message)

    def _go_type(self, schema: Schema, name: str | None) -> str:
        if name:
            return _go_name(name)
        types = _types(schema)
        if "array" in types:
            item, item_name = self._resolve(schema.get("items") or {})
            return "[]" + self._go_type(item, item_name)
        if "object" in types:
            value, value_name = self._resolve(schema.get("additionalProperties") or {})
            return "map[string]" + (self._go_type(value, value_name) if value else "interface {}")
        if "integer" in types:
            return schema.get("format") or "int64"
        return {"string": "string", "boolean": "bool", "number": "float64"}.get(next(iter(types), ""), "interface {}")


def _types(schema: Schema) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set()
    return ({declared} if isinstance(declared, str) else set(declared)) - {"null"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else ("array" if isinstance(value, list) else "object")


def _short(name: str | None) -> str | None:
    """Go struct name of a definition: `io.k8s.api.apps.v1.DeploymentSpec` -> `DeploymentSpec`."""
    return name.rsplit(".", 1)[-1] if name else None


def _go_name(name: str) -> str:
    """Go type of a definition: `io.k8s.api.core.v1.PodSpec` -> `v1.PodSpec`."""
    package, _, type_name = name.rpartition(".")
    return f"{package.rpartition('.')[2]}.{type_name}"


def field_path(path: FieldPath) -> str:
    """`("spec", "containers", 0, "image")` -> `spec.containers[0].image`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---------------------------------------------------------------- the messages people read


def strict_decoding_message(manifest: Manifest, problems: list[FieldProblem]) -> str:
    """The API server's BadRequest message when a strict decode fails; a type error stops the
    decode, so it is reported alone.  kubectl prints it as
    `Error from server (BadRequest): error when creating "nginx.yaml": <this>`."""
    kind, version = manifest.kind, manifest.api_version.rpartition("/")[2]
    prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: '
    type_errors = [p for p in problems if p.kind == "wrong type"]
    if type_errors:
        return prefix + type_errors[0].message
    unknown = [p.message for p in problems if p.kind == "unknown field"]
    return prefix + "strict decoding error: " + ", ".join(unknown)


def invalid_message(manifest: Manifest, problems: list[FieldProblem]) -> str:
    """kubectl's rendering of a 422 Invalid status: `The Deployment "x" is invalid: ...`, one
    cause inline, several as a `* ` list (kubectl's MultilineError)."""
    causes = [p.message for p in problems if p.kind == "required"]
    head = f'The {manifest.kind} "{manifest.name}" is invalid: '
    if len(causes) == 1:
        return head + causes[0]
    return head + "\n" + "\n".join(f"* {cause}" for cause in causes)


def no_matches_message(kind: str, api_version: str) -> str:
    return f'no matches for kind "{kind}" in version "{api_version}"'


def resource_mapping_error(manifest: Manifest) -> str:
    """What kubectl apply prints for a kind the server does not serve (two lines)."""
    return (f'error: resource mapping not found for name: "{manifest.name}" namespace: "{manifest.namespace}" '
            f'from "{manifest.source}": {no_matches_message(manifest.kind, manifest.api_version)}\n'
            "ensure CRDs are installed first")


def client_validation_error(manifest: Manifest, problems: list[FieldProblem]) -> str:
    """kubectl's own check for apiVersion/kind before anything reaches the server."""
    missing = ", ".join(p.message for p in problems if p.kind == "missing")
    return (f'error: error validating "{manifest.source}": error validating data: [{missing}]; '
            "if you choose to ignore these errors, turn validation off with --validate=false")
