"""What `istioctl install` creates for a release and a configuration: the IstioOperator inputs merged
(profile < -f files < --set flags), then the objects of every enabled component (`charts`), owner-labelled.

Sources (istio/istio at each release tag): manifests/profiles/*.yaml and, from 1.21, the charts'
files/profile-*.yaml; operator/pkg/manifest/shared.go (<=1.23) and operator/pkg/render/manifest.go (1.24+) for
the merge and its errors; operator/pkg/helmreconciler (<=1.23) and operator/pkg/install (1.24+) for the owner
labels. IstioOperator values are not schema-checked: a misspelt value is carried along, not rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from meshrepro.istio import charts
from meshrepro.istio.charts import NAMESPACE, overlay
from meshrepro.istio.versions import IstioVersion, flags

Obj = dict[str, Any]
HUB = "docker.io/istio"
# operator.istio.io/component -> what istioctl calls it [name.go / component.go userFacingComponentNames]
USER_FACING = {"Base": "Istio core", "Pilot": "Istiod", "Cni": "CNI", "Ztunnel": "Ztunnel",
               "IngressGateways": "Ingress gateways", "EgressGateways": "Egress gateways"}
ICONS = {"Base": "⛵️", "Pilot": "🧠", "Cni": "🪢", "Ztunnel": "🔒", "IngressGateways": "🛬",
         "EgressGateways": "🛫"}  # [1.23.0 operator/pkg/name/name.go IstioComponentIcons]
MODELLED_PROFILES = ("ambient", "default", "demo", "minimal")
_ALWAYS_STRING = ("tag", "values.global.tag", "meshConfig.defaultConfig.proxyMetadata.", "compatibilityVersion",
                  "values.compatibilityVersion")  # [1.20.0 operator/pkg/manifest/shared.go alwaysString]


class RenderError(Exception):
    """istioctl's error for bad input; `str()` is what follows `Error: `."""


class NotModelled(Exception):
    """A real istioctl input meshrepro does not render."""


@dataclass(frozen=True)
class ComponentManifest:
    name: str  # Base | Pilot | Cni | Ztunnel | IngressGateways | EgressGateways
    objects: list[Obj]

    @property
    def user_facing(self) -> str:
        return USER_FACING[self.name]


@dataclass
class Installation:
    version: IstioVersion
    profile: str
    namespace: str
    spec: Obj  # the merged IstioOperator spec
    components: list[ComponentManifest] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return ".".join(str(part) for part in self.version)

    def component(self, name: str) -> ComponentManifest | None:
        return next((c for c in self.components if c.name == name), None)


# ---------------------------------------------------------------- inputs


def profile_names(version: IstioVersion) -> list[str]:
    """manifests/profiles of the release; meshrepro renders MODELLED_PROFILES."""
    f = flags(version)
    shipped = [*MODELLED_PROFILES, "empty", "openshift", "preview", "remote"]
    shipped += [name for name, held in (("external", f.profile_external), ("stable", f.profile_stable),
                                        ("openshift-ambient", f.profile_openshift_ambient)) if held]
    return sorted(shipped)


def merge_inputs(version: IstioVersion, files: list[tuple[str, str]], sets: list[str]) -> Obj:
    """The IstioOperator spec: profile < files (in order) < --set flags (in order). `files` are (name, text)."""
    f = flags(version)
    if not f.istioctl_installer_rewrite:
        for flag in sets:  # validateSetFlags [1.20.0 operator/pkg/manifest/shared.go]
            if len(flag.split("=")) != 2:
                raise RenderError(f"generate config: set flag {flag} has incorrect format, must be path=value")
    user: Obj = {}
    for name, text in files:
        try:
            documents = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as err:
            raise RenderError(f"generate config: could not parse {name}: {err}") from None
        operators = [d for d in documents if isinstance(d, dict) and d.get("kind") == "IstioOperator"]
        if len(operators) > 1:
            raise RenderError(f"generate config: input file {name} contains multiple IstioOperator CRs, only one "
                              "per file is supported")
        if not operators:
            raise NotModelled(f"{name} is not an IstioOperator")
        overlay(user, operators[0].get("spec") or {})
    for flag in sets:
        path, _, value = flag.partition("=")
        set_path(user, path, value if _always_string(path) else parse_value(value))
    profile = str(user.get("profile") or "default")
    if profile not in MODELLED_PROFILES:
        if profile in profile_names(version):
            raise NotModelled(f"the {profile!r} profile")
        if f.istioctl_installer_rewrite:  # [1.24.0 operator/pkg/render/manifest.go readProfileInternal]
            raise RenderError(f'generate config: merge inputs: profile "{profile}" not found: open '
                              f"profiles/{profile}.yaml: file does not exist")
        # [1.20.0 operator/pkg/helm/helm.go ReadProfileYAML]
        raise RenderError(f"generate config: failed to read profile {profile} from : open profiles/{profile}.yaml: "
                          "file does not exist")
    for unsupported in ("revision", "namespace"):
        if user.get(unsupported):
            raise NotModelled(f"--set {unsupported}")
    spec = _profile_spec(version, profile)
    overlay(spec, user)
    spec["profile"] = profile
    return spec


def parse_value(text: str) -> Any:
    """parseValue [1.24.0 operator/pkg/values/map.go]: int, float, bool, else the string."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return text.replace("\\,", ",")


def _always_string(path: str) -> bool:
    return any(path == p or (p.endswith(".") and path.startswith(p)) for p in _ALWAYS_STRING)


def split_path(path: str) -> list[str]:
    """`a.b\\.c.[name:x]` -> ["a", "b.c", "[name:x]"] (splitPath with escaped dots)."""
    parts = re.split(r"(?<!\\)\.", path.strip("."))
    out: list[str] = []
    for part in parts:
        part = part.replace("\\.", ".")
        bracket = part.find("[")
        if bracket > 0:
            out += [part[:bracket], part[bracket:]]
        elif part:
            out.append(part)
    return out


def set_path(tree: Obj, path: str, value: Any) -> None:
    node: Any = tree
    parts = split_path(path)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, list):
            node = _list_item(node, part, path)
            continue
        if last:
            node[part] = value
            return
        wants_list = parts[index + 1].startswith("[")
        node = node.setdefault(part, [] if wants_list else {})
    raise RenderError(f"generate config: path {path} ends in a list element")


def _list_item(items: list[Any], selector: str, path: str) -> Any:
    """`[0]` or `[name:value]` in a list, appending `{name: value}` when no element matches."""
    inner = selector.strip("[]")
    if inner.isdigit():
        index = int(inner)
        if index >= len(items):
            raise RenderError(f"generate config: index {index} out of range in {path}")
        return items[index]
    key, _, wanted = inner.partition(":")
    for item in items:
        if isinstance(item, dict) and str(item.get(key)) == wanted:
            return item
    items.append({key: wanted})
    return items[-1]


# ---------------------------------------------------------------- profiles


def _profile_spec(version: IstioVersion, profile: str) -> Obj:
    """manifests/profiles/default.yaml's relevant values, overlaid with the profile (and, from 1.21, the
    charts' files/profile-<name>.yaml, written here as the values they set)."""
    tag = ".".join(str(part) for part in version)
    spec: Obj = {
        "hub": HUB, "tag": tag,
        "components": {"base": {"enabled": True}, "pilot": {"enabled": True}, "cni": {"enabled": False},
                       "ztunnel": {"enabled": False},
                       "ingressGateways": [{"name": "istio-ingressgateway", "enabled": True}],
                       "egressGateways": [{"name": "istio-egressgateway", "enabled": False}]},
        "meshConfig": {"defaultConfig": {"proxyMetadata": {}}, "enablePrometheusMerge": True},
        "values": {
            "global": {"hub": HUB, "tag": tag, "variant": "", "istioNamespace": NAMESPACE,
                       "proxy": {"clusterDomain": "cluster.local"}},
            "pilot": {"autoscaleEnabled": True, "autoscaleMin": 1, "autoscaleMax": 5, "replicaCount": 1,
                      "traceSampling": 1.0, "env": {}, "variant": ""},
            "cni": {"ambient": {"enabled": False}, "logLevel": "info", "privileged": False,
                    "excludeNamespaces": ["kube-system"] if flags(version).cni_excludes_only_kube_system
                    else ["istio-system", "kube-system"]},
            "ztunnel": {"variant": ""},
            "gateways": {"istio-ingressgateway": {"autoscaleEnabled": True},
                         "istio-egressgateway": {"autoscaleEnabled": True}},
        },
    }
    if profile == "minimal":
        spec["components"]["ingressGateways"][0]["enabled"] = False
    elif profile == "demo":
        spec["components"]["egressGateways"][0]["enabled"] = True
        spec["meshConfig"]["accessLogFile"] = "/dev/stdout"
        spec["values"]["pilot"]["autoscaleEnabled"] = False
        for gateway in ("istio-ingressgateway", "istio-egressgateway"):
            spec["values"]["gateways"][gateway]["autoscaleEnabled"] = False
    elif profile == "ambient":
        overlay(spec, _ambient(version))
    return spec


def _ambient(version: IstioVersion) -> Obj:
    f = flags(version)
    overlay: Obj = {
        "components": {"cni": {"enabled": True}, "ztunnel": {"enabled": True},
                       "ingressGateways": [{"name": "istio-ingressgateway", "enabled": False}]},
        "meshConfig": {"defaultConfig": {"proxyMetadata": {"ISTIO_META_ENABLE_HBONE": "true"}}},
        "values": {"cni": {"ambient": {"enabled": True}}, "pilot": {"env": {}}, "ztunnel": {}, "global": {}},
    }
    values = overlay["values"]
    if f.ambient_profile_single_enable_env:
        values["pilot"]["env"]["PILOT_ENABLE_AMBIENT"] = "true"
        if not f.istiod_ca_trusted_node_accounts_default:
            values["pilot"]["env"]["CA_TRUSTED_NODE_ACCOUNTS"] = "istio-system/ztunnel,kube-system/ztunnel"
    else:
        values["pilot"]["env"].update({
            "VERIFY_CERTIFICATE_AT_CLIENT": "true", "ENABLE_AUTO_SNI": "true", "PILOT_ENABLE_HBONE": "true",
            "CA_TRUSTED_NODE_ACCOUNTS": "istio-system/ztunnel,kube-system/ztunnel",
            "PILOT_ENABLE_AMBIENT_CONTROLLERS": "true"})
        values["cni"].update({"logLevel": "info", "privileged": True, "excludeNamespaces": ["kube-system"]})
    if f.ambient_profile_distroless_cni:
        values["global"]["variant"] = "distroless"
    elif f.ambient_profile_distroless:
        values["pilot"]["variant"] = "distroless"
        values["ztunnel"]["variant"] = "distroless"
    return overlay


# ---------------------------------------------------------------- rendering


def render(version: IstioVersion, spec: Obj) -> Installation:
    """The objects of every enabled component, in istioctl's component order."""
    install = Installation(version, str(spec.get("profile", "default")), NAMESPACE, spec)
    components = spec.get("components") or {}
    order = [("Base", "base", charts.base_objects), ("Pilot", "pilot", charts.pilot_objects),
             ("Cni", "cni", charts.cni_objects), ("Ztunnel", "ztunnel", charts.ztunnel_objects)]
    for name, key, build in order:
        if (components.get(key) or {}).get("enabled", False):
            install.components.append(ComponentManifest(name, _owned(build(version, spec), version, name)))
    for name, key, kind in (("IngressGateways", "ingressGateways", "ingress"),
                            ("EgressGateways", "egressGateways", "egress")):
        gateways = [g for g in components.get(key) or [] if g.get("enabled")]
        if gateways:
            objects = [o for g in gateways for o in charts.gateway_objects(version, spec, str(g.get("name")), kind)]
            install.components.append(ComponentManifest(name, _owned(objects, version, name)))
    return install


def owner_labels(version: IstioVersion, component: str) -> dict[str, str]:
    """getOwnerLabels [1.20.0 operator/pkg/helmreconciler/reconciler.go; 1.24.0 operator/pkg/install]."""
    tag = ".".join(str(part) for part in version)
    labels = {"operator.istio.io/managed": "Reconcile", "operator.istio.io/version": tag, "istio.io/rev": "default",
              "install.operator.istio.io/owning-resource-namespace": NAMESPACE,
              "operator.istio.io/component": component}
    if not flags(version).istioctl_installer_rewrite:
        labels["install.operator.istio.io/owning-resource"] = "installed-state"
    return labels


def _owned(objects: list[Obj], version: IstioVersion, component: str) -> list[Obj]:
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(owner_labels(version, component))
    return objects


