"""The Istio kinds: their CustomResourceDefinitions per release and how a manifest of one is rejected.

Names, groups, served versions, scopes, short names, categories and printer columns are those of the base
chart's CRDs (manifests/charts/base/crds/crd-all.gen.yaml, files/crd-all.gen.yaml from 1.24; crd-operator.yaml
for IstioOperator) at each release. The installed CRDs carry the schemas of the kinds modelled here and keep
unknown fields elsewhere (`x-kubernetes-preserve-unknown-fields`).

A manifest is rejected in three places, and `validate` reports what each would say:
- the API server's structural schema (unknown fields, wrong types, enums) and, from 1.23, the CRDs'
  CEL rules (`crd_cel_validation`), in the apiextensions wording (`spec: Invalid value: "object": ...`);
- istiod's validating webhook (pkg/config/validation ValidatePeerAuthentication,
  ValidateAuthorizationPolicy), as `admission webhook "validation.istio.io" denied the request: ...`.
Field schemas are modelled for PeerAuthentication and AuthorizationPolicy; the other kinds are checked for
their apiVersion only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.manifests.kinds import KindInfo
from meshrepro.manifests.load import FieldPath, Manifest
from meshrepro.manifests.validate import FieldProblem, ProblemKind, field_path, no_matches_message
from meshrepro.manifests.validate import validate as validate_structure

Schema = dict[str, Any]
KubeVersion = tuple[int, int]

_AGE = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
        "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
        "It is represented in RFC3339 form and is in UTC. Populated by the system. Read-only. Null for lists. More "
        "info: https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata")
WEBHOOK_DENIED = 'admission webhook "validation.istio.io" denied the request: configuration is invalid: '


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    json_path: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"description": self.description, "jsonPath": self.json_path, "name": self.name, "type": self.type}


AGE = Column("Age", "date", ".metadata.creationTimestamp", _AGE)


@dataclass(frozen=True)
class IstioKind:
    group: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def versions(self, version: IstioVersion) -> list[tuple[str, bool]]:
        """(served version, is storage) in the CRD's order for that release."""
        f = flags(version)
        group = self.group.split(".")[0]
        if group == "networking" and self.kind not in ("EnvoyFilter", "ProxyConfig"):
            storage = "v1" if f.crd_networking_v1_storage else ("v1beta1" if f.crd_v1_apis else "v1alpha3")
            names = ["v1", "v1alpha3", "v1beta1"] if f.crd_v1_apis else ["v1alpha3", "v1beta1"]
            return [(name, name == storage) for name in names]
        if self.kind in ("AuthorizationPolicy", "RequestAuthentication") or (
                f.crd_v1_apis and self.kind in ("PeerAuthentication", "Telemetry")):
            beta = "v1alpha1" if self.kind == "Telemetry" else "v1beta1"
            return [("v1", False), (beta, True)]
        single = {"EnvoyFilter": "v1alpha3", "ProxyConfig": "v1beta1", "PeerAuthentication": "v1beta1",
                  "Telemetry": "v1alpha1", "WasmPlugin": "v1alpha1", "IstioOperator": "v1alpha1"}
        return [(single[self.kind], True)]

    def short_names_in(self, version: IstioVersion) -> tuple[str, ...]:
        if self.kind == "AuthorizationPolicy" and flags(version).crd_v1_apis:
            return ("ap",)
        return self.short_names

    def columns_in(self, version: IstioVersion) -> tuple[Column, ...]:
        if self.kind == "AuthorizationPolicy" and flags(version).crd_v1_apis:
            return (Column("Action", "string", ".spec.action", "The operation to take."), AGE)
        return self.columns

    def categories(self) -> tuple[str, ...]:
        if self.kind == "IstioOperator":
            return ()
        return ("istio-io", f"{self.group.split('.')[0]}-istio-io")


def _col(name: str, path: str, description: str) -> Column:
    return Column(name, "string", path, description)


# In the order of crd-all.gen.yaml, then crd-operator.yaml.
KINDS: tuple[IstioKind, ...] = (
    IstioKind("extensions.istio.io", "WasmPlugin", "wasmplugins", columns=(AGE,)),
    IstioKind("networking.istio.io", "DestinationRule", "destinationrules", ("dr",),
              (_col("Host", ".spec.host", "The name of a service from the service registry"), AGE)),
    IstioKind("networking.istio.io", "EnvoyFilter", "envoyfilters"),
    IstioKind("networking.istio.io", "Gateway", "gateways", ("gw",)),
    IstioKind("networking.istio.io", "ProxyConfig", "proxyconfigs"),
    IstioKind("networking.istio.io", "ServiceEntry", "serviceentries", ("se",), (
        _col("Hosts", ".spec.hosts", "The hosts associated with the ServiceEntry"),
        _col("Location", ".spec.location",
             "Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)"),
        _col("Resolution", ".spec.resolution", "Service resolution mode for the hosts (NONE, STATIC, or DNS)"),
        AGE)),
    IstioKind("networking.istio.io", "Sidecar", "sidecars"),
    IstioKind("networking.istio.io", "VirtualService", "virtualservices", ("vs",), (
        _col("Gateways", ".spec.gateways", "The names of gateways and sidecars that should apply these routes"),
        _col("Hosts", ".spec.hosts", "The destination hosts to which traffic is being sent"), AGE)),
    IstioKind("networking.istio.io", "WorkloadEntry", "workloadentries", ("we",),
              (AGE, _col("Address", ".spec.address", "Address associated with the network endpoint."))),
    IstioKind("networking.istio.io", "WorkloadGroup", "workloadgroups", ("wg",), (AGE,)),
    IstioKind("security.istio.io", "AuthorizationPolicy", "authorizationpolicies"),
    IstioKind("security.istio.io", "PeerAuthentication", "peerauthentications", ("pa",),
              (_col("Mode", ".spec.mtls.mode", "Defines the mTLS mode used for peer authentication."), AGE)),
    IstioKind("security.istio.io", "RequestAuthentication", "requestauthentications", ("ra",)),
    IstioKind("telemetry.istio.io", "Telemetry", "telemetries", ("telemetry",), (AGE,)),
    IstioKind("install.istio.io", "IstioOperator", "istiooperators", ("iop", "io"), (
        _col("Revision", ".spec.revision", "Istio control plane revision"),
        _col("Status", ".status.status", "IOP current state"), AGE)),
)


def kinds_in(version: IstioVersion) -> list[IstioKind]:
    """The kinds whose CRDs `istioctl install` creates for that release (base chart)."""
    dropped = flags(version).install_state_dropped
    return [k for k in KINDS if not (dropped and k.kind == "IstioOperator")]


def find(api_version: str, kind: str, version: IstioVersion) -> IstioKind | None:
    """The Istio kind an object names, if that release serves its apiVersion."""
    group, _, served = api_version.rpartition("/")
    for candidate in kinds_in(version):
        if candidate.group == group and candidate.kind == kind:
            return candidate if served in dict(candidate.versions(version)) else None
    return None


def is_istio_group(api_version: str) -> bool:
    return api_version.rpartition("/")[0].endswith(".istio.io")


def kind_infos(version: IstioVersion) -> list[KindInfo]:
    """What the API server serves once the release's CRDs exist (as `KindRegistry.add_custom` registers them)."""
    return [KindInfo(k.group, name, k.kind, k.plural, True, k.short_names_in(version), k.categories(), custom=True)
            for k in kinds_in(version) for name, _ in k.versions(version)]


# ---------------------------------------------------------------- CRDs


def custom_resource_definitions(version: IstioVersion) -> list[dict[str, Any]]:
    return [_crd(kind, version) for kind in kinds_in(version)]


def _crd(kind: IstioKind, version: IstioVersion) -> dict[str, Any]:
    names: dict[str, Any] = {"kind": kind.kind, "listKind": f"{kind.kind}List", "plural": kind.plural,
                             "singular": kind.kind.lower()}
    if kind.categories():
        names["categories"] = list(kind.categories())
    if kind.short_names_in(version):
        names["shortNames"] = list(kind.short_names_in(version))
    schema = _SCHEMAS.get(kind.kind)
    versions = []
    for name, storage in kind.versions(version):
        spec_schema = schema(version) if schema else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        entry: dict[str, Any] = {
            "name": name, "served": True, "storage": storage, "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": spec_schema, "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}
        if kind.columns_in(version):
            entry["additionalPrinterColumns"] = [c.to_dict() for c in kind.columns_in(version)]
        versions.append(entry)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": kind.crd_name, "labels": {"app": "istio-pilot", "chart": "istio",
                                                             "heritage": "Tiller", "release": "istio"}},
            "spec": {"group": kind.group, "names": names, "scope": "Namespaced", "versions": versions}}


# ---------------------------------------------------------------- schemas (the CRDs' spec, structure only)


def _obj(**properties: Schema) -> Schema:
    return {"type": "object", "properties": properties}


def _string(enum: tuple[str, ...] = ()) -> Schema:
    return {"type": "string", "enum": list(enum)} if enum else {"type": "string"}


def _strings() -> Schema:
    return {"type": "array", "items": {"type": "string"}}


def _map(value: Schema) -> Schema:
    return {"type": "object", "additionalProperties": value}


MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")


def _selector() -> Schema:
    return _obj(matchLabels=_map(_string()))


def _peer_authentication(version: IstioVersion) -> Schema:
    mtls = _obj(mode=_string(MTLS_MODES))
    return _obj(mtls=mtls, portLevelMtls=_map(mtls), selector=_selector())


def _authorization_policy(version: IstioVersion) -> Schema:
    f = flags(version)
    source_fields = ("principals", "requestPrincipals", "namespaces", "ipBlocks", "remoteIpBlocks", "notPrincipals",
                     "notRequestPrincipals", "notNamespaces", "notIpBlocks", "notRemoteIpBlocks")
    operation_fields = ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")
    rule = _obj(
        **{"from": {"type": "array", "items": _obj(source=_obj(**{n: _strings() for n in source_fields}))}},
        to={"type": "array", "items": _obj(operation=_obj(**{n: _strings() for n in operation_fields}))},
        when={"type": "array", "items": _obj(key=_string(), values=_strings(), notValues=_strings())})
    spec = _obj(action=_string(ACTIONS), provider=_obj(name=_string()), rules={"type": "array", "items": rule},
                selector=_selector())
    target = _obj(group=_string(), kind=_string(), name=_string(), namespace=_string())
    if f.crd_v1_apis:
        spec["properties"]["targetRefs"] = {"type": "array", "items": target}
    if f.authorizationpolicy_target_ref:
        spec["properties"]["targetRef"] = target
    return spec


_SCHEMAS: dict[str, Callable[[IstioVersion], Schema]] = {
    "PeerAuthentication": _peer_authentication, "AuthorizationPolicy": _authorization_policy}


# ---------------------------------------------------------------- validation


def validate(manifest: Manifest, version: IstioVersion, kube_version: KubeVersion) -> list[FieldProblem]:
    """Every problem the API server, then istiod's webhook, would report for this Istio object."""
    kind = find(manifest.api_version, manifest.kind, version)
    if kind is None:
        return [_problem(manifest, "unknown kind", (), no_matches_message(manifest.kind, manifest.api_version))]
    schema = _SCHEMAS.get(kind.kind)
    if schema is None:
        return []
    full = {"type": "object", "properties": {
        "apiVersion": _string(), "kind": _string(), "metadata": {"type": "object"}, "spec": schema(version),
        "status": {"type": "object"}}}
    problems = validate_structure(manifest, kube_version, extra_schemas={(manifest.api_version, kind.kind): full})
    problems += list(_enums(manifest, full, manifest.obj, ()))
    if problems:
        return problems
    spec = manifest.obj.get("spec") or {}
    if flags(version).crd_cel_validation:
        problems += _CEL[kind.kind](manifest, spec, version)
    if not problems:
        problems += [_problem(manifest, "required", path, WEBHOOK_DENIED + message)
                     for path, message in _WEBHOOK[kind.kind](spec, manifest)]
    return problems


def _problem(manifest: Manifest, kind: ProblemKind, path: FieldPath, message: str) -> FieldProblem:
    return FieldProblem(manifest.source, manifest.line_of(path), f'{manifest.kind} "{manifest.name}"', kind,
                        field_path(path), message)


def _enums(manifest: Manifest, schema: Schema, value: Any, path: FieldPath) -> Iterator[FieldProblem]:
    """apiextensions' enum check: `spec.mtls.mode: Unsupported value: "X": supported values: ...`."""
    if "enum" in schema and isinstance(value, str) and value not in schema["enum"]:
        supported = ", ".join(f'"{v}"' for v in schema["enum"])
        yield _problem(manifest, "wrong type", path,
                       f'{field_path(path)}: Unsupported value: "{value}": supported values: {supported}')
    if isinstance(value, dict):
        for key in sorted(value):
            child = (schema.get("properties") or {}).get(key) or schema.get("additionalProperties")
            if isinstance(child, dict):
                yield from _enums(manifest, child, value[key], path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _enums(manifest, schema["items"], item, path + (index,))


def _cel(manifest: Manifest, path: FieldPath, value_type: str, message: str) -> FieldProblem:
    return _problem(manifest, "required", path, f'{field_path(path)}: Invalid value: "{value_type}": {message}')


def _selector_cel(manifest: Manifest, spec: dict[str, Any]) -> list[FieldProblem]:
    labels = (spec.get("selector") or {}).get("matchLabels")
    if not isinstance(labels, dict):
        return []
    path: FieldPath = ("spec", "selector", "matchLabels")
    problems = []
    if any("*" in key for key in labels):
        problems.append(_cel(manifest, path, "object", "wildcard not allowed in label key match"))
    if any(key == "" for key in labels):
        problems.append(_cel(manifest, path, "object", "key must not be empty"))
    for key in sorted(labels):
        if "*" in str(labels[key]):
            problems.append(_cel(manifest, path + (key,), "string", "wildcard not allowed in label value match"))
    return problems


def _peer_authentication_cel(manifest: Manifest, spec: dict[str, Any], version: IstioVersion) -> list[FieldProblem]:
    problems = []
    ports = spec.get("portLevelMtls")
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if ports is not None and not labels:
        problems.append(_cel(manifest, ("spec",), "object", "portLevelMtls requires selector"))
    if isinstance(ports, dict):
        if not ports:
            problems.append(_problem(manifest, "required", ("spec", "portLevelMtls"),
                                     "spec.portLevelMtls: Invalid value: 0: spec.portLevelMtls in body should have "
                                     "at least 1 properties"))
        elif not all(key.isdigit() and 0 < int(key) <= 65535 for key in ports):
            problems.append(_cel(manifest, ("spec", "portLevelMtls"), "object", "port must be between 1-65535"))
    return problems + _selector_cel(manifest, spec)


def _authorization_policy_cel(manifest: Manifest, spec: dict[str, Any],
                              version: IstioVersion) -> list[FieldProblem]:
    problems = []
    if flags(version).authorizationpolicy_one_target_kind and sum(1 for k in ("selector", "targetRef", "targetRefs") if k in spec) > 1:
        problems.append(_cel(manifest, ("spec",), "object", "only one of targetRefs or selector can be set"))
    return problems + _selector_cel(manifest, spec)


_CEL: dict[str, Callable[[Manifest, dict[str, Any], IstioVersion], list[FieldProblem]]] = {
    "PeerAuthentication": _peer_authentication_cel, "AuthorizationPolicy": _authorization_policy_cel}


def _workload_selector(spec: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """validateWorkloadSelector [1.20.0 pkg/config/validation/validation.go]."""
    out: list[tuple[FieldPath, str]] = []
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    for key in sorted(labels):
        pair = f"{key}={labels[key]}"
        if key == "":
            out.append((("spec", "selector"), f'empty key is not supported in selector: "{pair}"'))
        if "*" in key or "*" in str(labels[key]):
            out.append((("spec", "selector"), f'wildcard is not supported in selector: "{pair}"'))
    return out


def _peer_authentication_webhook(spec: dict[str, Any], manifest: Manifest) -> list[tuple[FieldPath, str]]:
    """ValidatePeerAuthentication [1.20.0 pkg/config/validation/validation.go]."""
    out: list[tuple[FieldPath, str]] = []
    ports = spec.get("portLevelMtls")
    if not ((spec.get("selector") or {}).get("matchLabels")) and ports:
        out.append((("spec", "portLevelMtls"), "mesh/namespace peer authentication cannot have port level mTLS"))
    if ports is not None and len(ports) == 0:
        out.append((("spec", "portLevelMtls"), "port level mTLS, if defined, must have at least one element"))
    for key in ports or {}:
        if key.isdigit() and int(key) == 0:
            out.append((("spec", "portLevelMtls", key), "port cannot be 0"))
    return out + _workload_selector(spec)


def _authorization_policy_webhook(spec: dict[str, Any], manifest: Manifest) -> list[tuple[FieldPath, str]]:
    """ValidateAuthorizationPolicy [1.20.0 pkg/config/validation/validation.go], its rule-shape checks; every
    error is prefixed `invalid policy <name>.<namespace>:` (multierror.Prefix)."""
    prefix = f"invalid policy {manifest.name}.{manifest.namespace or 'default'}: "
    return [(path, prefix + message) for path, message in _authorization_policy_errors(spec)]


def _authorization_policy_errors(spec: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    out: list[tuple[FieldPath, str]] = []
    if "selector" in spec and "targetRef" in spec:
        out.append((("spec",), "only one of targetRef or workloadSelector can be set"))
    out += _workload_selector(spec)
    action, rules, provider = spec.get("action", "ALLOW"), spec.get("rules"), spec.get("provider")
    never = "without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it " \
            "be triggered for every request"
    if action == "CUSTOM":
        if rules is None:
            out.append((("spec",), f"CUSTOM action {never}"))
        elif not (provider or {}).get("name"):
            out.append((("spec", "provider"), "`provider.name` must not be empty"))
    if provider is not None and action != "CUSTOM":
        out.append((("spec", "provider"), f"`provider` must not be with non CUSTOM action, found {action}"))
    if action == "DENY" and rules is None:
        out.append((("spec",), f"DENY action {never}"))
    for index, rule in enumerate(rules or []):
        where: FieldPath = ("spec", "rules", index)
        if rule is None:
            out.append((where, f"`rule` must not be nil, found at rule {index}"))
            continue
        for field in ("from", "to"):
            if field in rule and not rule[field]:
                out.append((where + (field,), f"`{field}` must not be empty, found at rule {index}"))
        for entry in rule.get("from") or []:
            source = (entry or {}).get("source")
            if source is None:
                out.append((where + ("from",), f"`from.source` must not be nil, found at rule {index}"))
            elif not any(source.get(k) for k in source):
                out.append((where + ("from",), f"`from.source` must not be empty, found at rule {index}"))
        for entry in rule.get("to") or []:
            operation = (entry or {}).get("operation")
            if operation is None:
                out.append((where + ("to",), f"`to.operation` must not be nil, found at rule {index}"))
            elif not any(operation.get(k) for k in operation):
                out.append((where + ("to",), f"`to.operation` must not be empty, found at rule {index}"))
        for condition in rule.get("when") or []:
            key = (condition or {}).get("key", "")
            if not key:
                out.append((where + ("when",), "`key` must not be empty"))
            elif not (condition.get("values") or condition.get("notValues")):
                out.append((where + ("when",), f"at least one of `values` or `notValues` must be set for key {key}"))
    return out


_WEBHOOK: dict[str, Callable[[dict[str, Any], Manifest], list[tuple[FieldPath, str]]]] = {
    "PeerAuthentication": _peer_authentication_webhook, "AuthorizationPolicy": _authorization_policy_webhook}
