"""Istio's sidecar injector: istiod's `/inject` webhook as the API server calls it when a pod is created.

The API server side (k8s.io/apiserver pkg/admission/plugin/webhook/mutating/dispatcher.go): every
MutatingWebhookConfiguration in the store, in name order, every webhook whose rules, namespaceSelector and
objectSelector match the pod is called; one that points at istiod is answered here. With no istiod to answer, a
webhook with failurePolicy Fail rejects the pod with the API server's InternalError.

The injector side, per release (istio/istio at each tag, pkg/kube/inject): webhook.go `inject` (injectRequired,
injectPod, postProcessPod, reorderPod), inject.go (RunTemplate, stripPod, GetDeployMetaFromPod), validate.go
(annotation checks, the pod is denied on a bad value), app_probe.go (probe rewrite), template.go (template functions),
and manifests/charts/istio-control/istio-discovery/files/injection-template.yaml, whose effect is written out in
Python below (`_template`), with `versions.py` flags where the template changed.

Not modelled (documented simplifications): custom templates and `inject.istio.io/templates`, neverInjectSelector /
alwaysInjectSelector, ProxyConfig custom resources, revisions other than the default, TPROXY / NONE interception
beyond what the template writes, `sidecar.istio.io/userVolume(Mount)` and bootstrap overrides, the enable-core-dump
init container (<= 1.23), the `sidecar.istio.io/overrides` annotation and `auto` images of user-supplied proxy
containers (a user's istio-proxy simply overrides the template field by field), PROXY_CONFIG beyond the settings the
charts write (fields at their default values are left out, as cleanProxyConfig does), the OpenShift UID range.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from meshrepro.istio.iptables import exclude_inbound_port, validate_cidr_list
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.kube import status as api_status
from meshrepro.kube.admission import AdmissionRequest, Denial, MutatingHook
from meshrepro.kube.selectors import matches_labels, selector_from_match_labels
from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.sim.trace import Trace

NAMESPACES = ResourceKey("", "namespaces")
SERVICES = ResourceKey("", "services")
NODES = ResourceKey("", "nodes")
CONFIGMAPS = ResourceKey("", "configmaps")
WEBHOOK_CONFIGURATIONS = ResourceKey("admissionregistration.k8s.io", "mutatingwebhookconfigurations")

PROXY = "istio-proxy"
INIT = "istio-init"
VALIDATION = "istio-validation"
STATUS = "sidecar.istio.io/status"
INJECT = "sidecar.istio.io/inject"
PROXY_CONFIG = "proxy.istio.io/config"
NATIVE_SIDECAR = "sidecar.istio.io/nativeSidecar"
# pkg/kube/inject/initializer.go IgnoredNamespaces (kube-system, kube-public, kube-node-lease, local-path-storage)
IGNORED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")


@dataclass(frozen=True)
class InjectorContext:
    """What the running istiod brings to an injection: its release (the pilot image's tag), its container's
    environment (ENABLE_NATIVE_SIDECARS, REVISION), the namespace whose ConfigMaps `istio-sidecar-injector` (values)
    and `istio` (mesh config) it injects with, and optionally where to record its decisions."""

    version: IstioVersion
    env: Mapping[str, str] = field(default_factory=dict)
    namespace: str = "istio-system"
    trace: Trace | None = None
    now: Callable[[], float] | None = None

    @property
    def revision(self) -> str:
        return self.env.get("REVISION") or "default"

    def record(self, subject: str, action: str, reason: str = "", **data: Any) -> None:
        if self.trace is not None:
            self.trace.add(self.now() if self.now else 0.0, "istiod", subject, action, reason, **data)


@dataclass(frozen=True)
class Rejection:
    """The injector refused the pod: the AdmissionResponse's Result message (toAdmissionResponse)."""

    message: str


def make_injection_hook(store: Store, context: Callable[[], InjectorContext | None]) -> MutatingHook:
    """The mutating admission hook that stands for every injection webhook of the store's
    MutatingWebhookConfigurations. `context()` is None while no istiod serves `/inject`."""

    def hook(request: AdmissionRequest) -> Obj | Denial | None:
        if request.kind.group or request.kind.kind != "Pod" or request.operation != "CREATE":
            return None
        namespace = store.peek(NAMESPACES, "", request.namespace) or {"metadata": {"name": request.namespace}}
        pod = request.object
        changed = False
        for configuration in list(store.iter(WEBHOOK_CONFIGURATIONS)):  # name order, as the API server sorts them
            for webhook in configuration.get("webhooks") or []:
                if not _calls_injector(webhook) or not _webhook_matches(webhook, namespace, pod):
                    continue
                ctx = context()
                if ctx is None:
                    if webhook.get("failurePolicy", "Fail") == "Ignore":
                        continue  # failing open
                    return webhook_call_failed(store, webhook)
                result = inject_pod(store, ctx, pod, request.namespace, request.name)
                if isinstance(result, Rejection):
                    return webhook_denied(str(webhook.get("name", "")), result.message)
                if result is not None:
                    pod, changed = result, True
        return pod if changed else None

    return hook


# -- the API server's side -------------------------------------------------------------------------------------------


def _calls_injector(webhook: Obj) -> bool:
    """A webhook served by istiod's injector: a service `istiod[-<rev>]` and the path `/inject[...]`."""
    service = (webhook.get("clientConfig") or {}).get("service") or {}
    name, path = str(service.get("name", "")), str(service.get("path", ""))
    return (name == "istiod" or name.startswith("istiod-")) and path.startswith("/inject")


def _webhook_matches(webhook: Obj, namespace: Obj, pod: Obj) -> bool:
    """rules (CREATE of core/v1 pods), then namespaceSelector on the namespace's labels and objectSelector on the
    pod's (generic/webhook.go ShouldCallHook)."""
    def rule_matches(rule: Obj) -> bool:
        def has(key: str, value: str) -> bool:
            values = rule.get(key) or []
            return value in values or "*" in values
        return (has("operations", "CREATE") and has("apiGroups", "") and has("apiVersions", "v1")
                and has("resources", "pods"))

    if not any(rule_matches(rule) for rule in webhook.get("rules") or []):
        return False
    if not matches_labels(selector_from_match_labels(webhook.get("namespaceSelector")), namespace):
        return False
    return matches_labels(selector_from_match_labels(webhook.get("objectSelector")), pod)


def webhook_call_failed(store: Store, webhook: Obj) -> Denial:
    """dispatcher.go: an ErrCallingWebhook with failurePolicy Fail becomes apierrors.NewInternalError:
    `failed calling webhook "<name>": failed to call webhook: Post "https://<svc>.<ns>.svc:<port><path>?timeout=<n>s":
    <dial error>`. kube-apiserver resolves the service to its ClusterIP (ClusterIPServiceResolver); with no ready
    istiod behind it, kube-proxy's REJECT rule refuses the connection."""
    service = (webhook.get("clientConfig") or {}).get("service") or {}
    name, namespace = str(service.get("name", "")), str(service.get("namespace", ""))
    port, path = int(service.get("port") or 443), str(service.get("path") or "")
    url = f"https://{name}.{namespace}.svc:{port}{path}?timeout={int(webhook.get('timeoutSeconds') or 10)}s"
    svc = store.peek(SERVICES, namespace, name)
    if svc is None:
        cause = f'service "{name}" not found'
    else:
        cause = f"dial tcp {(svc.get('spec') or {}).get('clusterIP', '')}:{port}: connect: connection refused"
    error = f'failed calling webhook "{webhook.get("name", "")}": failed to call webhook: Post "{url}": {cause}'
    return api_status.internal_error(error)


def webhook_denied(webhook_name: str, message: str) -> Denial:
    """webhookerrors.ToStatusErr: code 400, status Failure, no reason, `admission webhook "<name>" denied the request:
    <message>` (kubectl prints `Error from server: ...`)."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f'admission webhook "{webhook_name}" denied the request: {message}', "code": 400}
    return 400, body


# -- configuration ---------------------------------------------------------------------------------------------------


def default_values(version: IstioVersion) -> Obj:
    """The injector-relevant defaults of manifests/charts/istio-control/istio-discovery/values.yaml."""
    f = flags(version)
    startup = f.injector_startup_probe
    proxy = {
        "image": "proxyv2", "clusterDomain": "cluster.local", "componentLogLevel": "misc:error", "logLevel": "warning",
        "privileged": False, "statusPort": 15020, "autoInject": "enabled", "lifecycle": {},
        "includeIPRanges": "*", "excludeIPRanges": "", "includeInboundPorts": "*", "excludeInboundPorts": "",
        "includeOutboundPorts": "", "excludeOutboundPorts": "", "holdApplicationUntilProxyStarts": False,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2000m", "memory": "1024Mi"}},
        "readinessInitialDelaySeconds": 0 if startup else 1, "readinessPeriodSeconds": 15 if startup else 2,
        "readinessFailureThreshold": 4 if startup else 30,
        "startupProbe": {"enabled": startup, "failureThreshold": 600},
    }
    version_text = ".".join(str(part) for part in version)
    return {
        "global": {"hub": "docker.io/istio", "tag": version_text, "variant": "", "proxy": proxy,
                   "proxy_init": {"image": "proxyv2", "forceApplyIptables": False},
                   "logging": {"level": "default:info"}, "logAsJson": False, "imagePullPolicy": "",
                   "imagePullSecrets": [], "jwtPolicy": "third-party-jwt", "pilotCertProvider": "istiod",
                   "caAddress": "", "istioNamespace": "istio-system", "meshID": "", "network": "",
                   "multiCluster": {"clusterName": ""}, "sds": {"token": {"aud": "istio-ca"}},
                   "sts": {"servicePort": 0}, "trustDomain": ""},
        "revision": "",
        "sidecarInjectorWebhook": {"rewriteAppHTTPProbe": True},
        "istio_cni": {"enabled": False},
        "pilot": {"cni": {"enabled": False}},
    }


def _overlay(base: Obj, top: Obj) -> Obj:
    for key, value in top.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _overlay(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def injector_values(store: Store, ctx: InjectorContext) -> Obj:
    """The chart defaults under the `values` of ConfigMap istio-sidecar-injector, as istiod reads it."""
    values = default_values(ctx.version)
    cm = store.peek(CONFIGMAPS, ctx.namespace, "istio-sidecar-injector")
    text = ((cm or {}).get("data") or {}).get("values") or ""
    try:
        loaded = json.loads(text) if text else {}
    except ValueError:
        loaded = {}
    return _overlay(values, loaded if isinstance(loaded, dict) else {})


def mesh_config(store: Store, ctx: InjectorContext) -> Obj:
    """ConfigMap `istio`'s `mesh` over mesh.DefaultMeshConfig's few fields that injection reads."""
    mesh: Obj = {"defaultConfig": {"discoveryAddress": f"istiod.{ctx.namespace}.svc:15012", "statusPort": 15020,
                                   "interceptionMode": "REDIRECT"},
                 "trustDomain": "cluster.local", "enablePrometheusMerge": True}
    cm = store.peek(CONFIGMAPS, ctx.namespace, "istio")
    try:
        loaded = yaml.safe_load(((cm or {}).get("data") or {}).get("mesh") or "") or {}
    except yaml.YAMLError:
        loaded = {}
    return _overlay(mesh, loaded if isinstance(loaded, dict) else {})


def _proxy_config(mesh: Obj, annotations: Mapping[str, str]) -> Obj:
    """The pod's ProxyConfig: the mesh's defaultConfig, the `proxy.istio.io/config` annotation over it."""
    config = copy.deepcopy(mesh.get("defaultConfig") or {})
    text = annotations.get(PROXY_CONFIG)
    if text:
        loaded = yaml.safe_load(text)
        if isinstance(loaded, dict):
            _overlay(config, loaded)
    return config


# -- injectRequired --------------------------------------------------------------------------------------------------


def inject_required(spec: Obj, meta: Obj, namespace: str, policy: str) -> tuple[bool, str]:
    """inject.go injectRequired: (inject?, why)."""
    if spec.get("hostNetwork"):
        return False, "hostNetwork pods are never injected"
    if namespace in IGNORED_NAMESPACES:
        return False, f"namespace {namespace} is ignored by the injector"
    annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
    selector = labels.get(INJECT, annotations.get(INJECT, ""))  # the label wins over the annotation
    value = str(selector).lower()
    if value in ("y", "yes", "true", "on"):
        return True, f"{INJECT}={selector}"
    if value:
        return False, f"{INJECT}={selector}"
    if policy == "enabled":
        return True, "injection policy enabled"
    return False, f"injection policy {policy}"


# -- validate.go -----------------------------------------------------------------------------------------------------


def _go_parse_uint(text: str, bits: int) -> str | None:
    """strconv.ParseUint(text, 10, bits): None or Go's error."""
    if not text or not text.isascii() or not text.isdigit():
        return f'strconv.ParseUint: parsing "{text}": invalid syntax'
    if int(text) >= 1 << bits:
        return f'strconv.ParseUint: parsing "{text}": value out of range'
    return None


def _go_parse_bool(text: str) -> str | None:
    if text in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
        return None
    return f'strconv.ParseBool: parsing "{text}": invalid syntax'


def _port(text: str) -> str | None:
    """parsePort: `failed parsing port '<p>': <ParseUint error>`."""
    problem = _go_parse_uint(text.strip(), 16)
    return None if problem is None else f"failed parsing port '{text}': {problem}"


def _port_list(name: str, ports: str) -> str | None:
    """validatePortList -> parsePorts: each error is wrapped twice, as the Go code does."""
    trimmed = ports.strip()
    if not trimmed:
        return None
    for port in trimmed.split(","):
        problem = _port(port)
        if problem is not None:
            return f"{name} invalid: failed parsing port '{port}': {problem}"
    return None


def _cidrs(name: str, value: str, wildcard: bool) -> str | None:
    if wildcard and value == "*":
        return None
    try:
        validate_cidr_list(value, name)
    except ValueError as err:
        return str(err)
    return None


def _proxy_config_problem(value: str) -> str | None:
    """validateProxyConfig: protomarshal.ApplyYAML onto the default ProxyConfig (only the YAML is checked here)."""
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError as err:
        return f"failed to convert to apply proxy config: {str(err).splitlines()[0]}"
    if loaded is not None and not isinstance(loaded, dict):
        return "failed to convert to apply proxy config: cannot unmarshal into ProxyConfig"
    return None


def validate_annotations(annotations: Mapping[str, str], version: IstioVersion) -> list[str]:
    """validate.go AnnotationValidation: `invalid value '<v>' for annotation '<name>': <err>` per bad annotation.
    Go ranges over a map, so several errors come in random order; here in annotation-name order."""
    f = flags(version)
    checks: dict[str, Callable[[str], str | None]] = {
        "sidecar.istio.io/interceptionMode": lambda v: None if v in ("REDIRECT", "TPROXY", "NONE") else
        f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {v}",
        "status.sidecar.istio.io/port": lambda v: None if _port(v) is None else f"excludeInboundPorts invalid: {_port(v)}",
        "readiness.status.sidecar.istio.io/initialDelaySeconds": lambda v: _go_parse_uint(v, 32),
        "readiness.status.sidecar.istio.io/periodSeconds": lambda v: _go_parse_uint(v, 32),
        "readiness.status.sidecar.istio.io/failureThreshold": lambda v: _go_parse_uint(v, 32),
        "traffic.sidecar.istio.io/includeOutboundIPRanges": lambda v: _cidrs("includeIPRanges", v, True),
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": lambda v: _cidrs("excludeIPRanges", v, False),
        "traffic.sidecar.istio.io/includeInboundPorts": lambda v: None if v == "*" else
        _port_list("includeInboundPorts", v),
        "traffic.sidecar.istio.io/excludeInboundPorts": lambda v: _port_list("excludeInboundPorts", v),
        "traffic.sidecar.istio.io/excludeOutboundPorts": lambda v: _port_list("excludeOutboundPorts", v),
        "prometheus.istio.io/merge-metrics": _go_parse_bool,
        PROXY_CONFIG: _proxy_config_problem,
    }
    if f.injector_validates_core_dump_annotation:
        checks["sidecar.istio.io/enableCoreDump"] = _go_parse_bool
    errors = []
    for name in sorted(annotations):
        check = checks.get(name)
        problem = check(str(annotations[name])) if check is not None else None
        if problem is not None:
            errors.append(f"invalid value '{annotations[name]}' for annotation '{name}': {problem}")
    return errors


def multierror(errors: list[str]) -> str:
    """hashicorp/go-multierror ListFormatFunc."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


# -- native sidecars -------------------------------------------------------------------------------------------------


def native_sidecar(store: Store, ctx: InjectorContext, pod: Obj) -> tuple[bool, str]:
    """Whether istio-proxy goes in as a native sidecar: ENABLE_NATIVE_SIDECARS (1.19+), the pod annotation (1.24+),
    and from 1.27 the `auto` default: kubelet >= 1.33 on the pod's node, or on every node when it is not scheduled
    yet (webhook.go DetectNativeSidecar)."""
    f = flags(ctx.version)
    if not f.native_sidecars_supported:
        return False, f"Istio {_text(ctx.version)} has no native sidecar support"
    annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(NATIVE_SIDECAR)
    env = ctx.env.get("ENABLE_NATIVE_SIDECARS")
    if f.native_sidecars_default_auto:
        mode = env if env in ("true", "false", "auto") else ("auto" if env is None else "false")
        if mode == "auto":
            detected, why = _detect_native_sidecar(store, (pod.get("spec") or {}).get("nodeName") or "")
        else:
            detected, why = mode == "true", f"ENABLE_NATIVE_SIDECARS={env}"
        if annotation:
            return annotation != "false", f"{NATIVE_SIDECAR}={annotation}"
        return detected, why
    if annotation is not None and f.native_sidecar_pod_annotation:
        return annotation == "true", f"{NATIVE_SIDECAR}={annotation}"
    return (env or "false") == "true", f"ENABLE_NATIVE_SIDECARS={env or 'false'}"


def _detect_native_sidecar(store: Store, node_name: str) -> tuple[bool, str]:
    def minor(node: Obj) -> int:
        text = str(((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""))
        match = re.match(r"v?\d+\.(\d+)", text)
        return int(match.group(1)) if match else 0

    if node_name:
        node = store.peek(NODES, "", node_name)
        if node is not None:
            return minor(node) >= 33, f"auto: kubelet 1.{minor(node)} on node {node_name}"
    old = [n["metadata"]["name"] for n in store.iter(NODES) if minor(n) < 33]
    if old:
        return False, f"auto: node {old[0]} runs a kubelet older than 1.33"
    return True, "auto: every node runs kubelet >= 1.33"


# -- the injection ---------------------------------------------------------------------------------------------------


def inject_pod(store: Store, ctx: InjectorContext, pod: Obj, namespace: str, name: str = "") -> Obj | Rejection | None:
    """webhook.go inject for one pod: the injected pod, a Rejection, or None when the pod is left alone."""
    f = flags(ctx.version)
    values = injector_values(store, ctx)
    mesh = mesh_config(store, ctx)
    pod = copy.deepcopy(pod)
    meta, spec = pod.setdefault("metadata", {}), pod.setdefault("spec", {})
    subject = f"Pod {namespace}/{meta.get('name') or (meta.get('generateName', '') + '*****') or name}"
    required, why = inject_required(spec, meta, namespace, str(values["global"]["proxy"].get("autoInject", "enabled")))
    if not required:
        ctx.record(subject, "sidecar injection skipped", why)
        return None
    annotations = dict(meta.get("annotations") or {})
    errors = validate_annotations(annotations, ctx.version)
    if errors:
        message = "failed to run injection template: " + multierror(errors)
        ctx.record(subject, "sidecar injection refused", message.strip())
        return Rejection(message)
    _strip_previous(pod)
    annotations = dict(meta.get("annotations") or {})
    proxy_config = _proxy_config(mesh, annotations)
    native, native_why = native_sidecar(store, ctx, pod)
    cni = bool((f.injector_istio_cni_value and values["istio_cni"].get("enabled"))
               or (f.injector_pilot_cni_value and values["pilot"]["cni"].get("enabled")))
    template = _template(ctx, values, mesh, proxy_config, pod, namespace, native=native, cni=cni)
    _merge(pod, template)
    _prometheus_merge(pod, mesh)
    _rewrite_probes(pod, values, mesh)
    meta = pod["metadata"]
    meta.setdefault("annotations", {})[STATUS] = _status(template, ctx.revision)
    _reorder(pod, mesh, values, annotations)
    first = "istio-validation" if cni else "istio-init"
    ctx.record(subject, "sidecar injected",
               f"{why}; {'native sidecar' if native else 'classic sidecar'} ({native_why}); "
               f"{first if proxy_config.get('interceptionMode', 'REDIRECT') != 'NONE' else 'no init container'}"
               f"{' (istio-cni installs the rules)' if cni else ''}",
               flag="native_sidecars_supported")
    return pod


def _text(version: IstioVersion) -> str:
    return ".".join(str(part) for part in version)


def _strip_previous(pod: Obj) -> None:
    """stripPod: a pod that carries a status annotation (re-injection) loses the containers it names first."""
    meta, spec = pod["metadata"], pod["spec"]
    text = (meta.get("annotations") or {}).get(STATUS)
    if not text:
        return
    try:
        previous = json.loads(text)
    except ValueError:
        return
    for key, status_key in (("containers", "containers"), ("initContainers", "initContainers")):
        names = set(previous.get(status_key) or [])
        if spec.get(key):
            spec[key] = [c for c in spec[key] if c.get("name") not in names]
    meta["annotations"].pop(STATUS, None)


def _deploy_meta(pod: Obj) -> tuple[str, str, str]:
    """kube.GetDeployMetaFromPod: (workload name, apiVersion, kind) of the pod's controller."""
    meta = pod["metadata"]
    name, api_version, kind = str(meta.get("name") or ""), "v1", "Pod"
    labels = meta.get("labels") or {}
    if meta.get("generateName"):
        ref = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
        if ref is not None:
            api_version, kind, name = str(ref.get("apiVersion", "")), str(ref.get("kind", "")), str(ref.get("name", ""))
            template_hash = labels.get("pod-template-hash", "")
            if kind == "ReplicaSet" and template_hash and name.endswith(template_hash):
                name, kind = name.removesuffix("-" + template_hash), "Deployment"
            elif kind == "Job":
                match = re.fullmatch(r"(.+)-\d{8,10}", name)
                if match:
                    name, kind, api_version = match.group(1), "CronJob", "batch/v1beta1"
    return name or str(meta.get("name") or ""), api_version, kind


def _annotation(annotations: Mapping[str, str], name: str, default: Any) -> str:
    """template.go getAnnotation: the annotation, else fmt.Sprint(default)."""
    if name in annotations:
        return str(annotations[name])
    if isinstance(default, bool):
        return "true" if default else "false"
    return "" if default is None else str(default)


def _image(values: Obj, proxy_config: Obj, annotations: Mapping[str, str], key: str) -> str:
    """The template's image: `sidecar.istio.io/proxyImage` when it names a registry, else inject.ProxyImage:
    <hub>/<global.proxy.image>:<tag>[-<type>] with the type from `sidecar.istio.io/proxyImageType`, ProxyConfig's
    image.imageType, or the chart's variant (configmap.yaml writes it into the mesh config)."""
    g = values["global"]
    override = annotations.get("sidecar.istio.io/proxyImage", g[key]["image"] if key in g else "proxyv2")
    if "/" in override:
        return override
    image_type = str(((proxy_config.get("image") or {}).get("imageType")) or g["proxy"].get("variant")
                     or g.get("variant") or "")
    image_type = annotations.get("sidecar.istio.io/proxyImageType", image_type)
    tag = str(g.get("tag", ""))
    for known in ("distroless", "debug"):
        tag = tag.removesuffix("-" + known) if image_type else tag
    suffix = "" if image_type in ("", "default") else "-" + image_type
    return f"{g['hub']}/{g['proxy'].get('image', 'proxyv2')}:{tag}{suffix}"


def _resources(values: Obj, annotations: Mapping[str, str]) -> Obj:
    """The template's `resources` block: the proxyCPU/proxyMemory(-Limit) annotations, else global.proxy.resources."""
    keys = {"sidecar.istio.io/proxyCPU": ("requests", "cpu"), "sidecar.istio.io/proxyMemory": ("requests", "memory"),
            "sidecar.istio.io/proxyCPULimit": ("limits", "cpu"),
            "sidecar.istio.io/proxyMemoryLimit": ("limits", "memory")}
    if any(k in annotations for k in keys):
        out: Obj = {}
        for key, (section, resource) in keys.items():
            if key in annotations:
                out.setdefault(section, {})[resource] = annotations[key]
        return out
    return copy.deepcopy(values["global"]["proxy"].get("resources") or {})


def _cni_annotations(annotations: Mapping[str, str], g: Obj, mode: str, status_port: str) -> dict[str, str]:
    """The annotations the template adds with istio-cni, which the CNI plugin reads instead of istio-init's args."""
    proxy = g["proxy"]
    out = {"sidecar.istio.io/interceptionMode": mode}
    for name, default in (("includeOutboundIPRanges", proxy["includeIPRanges"]),
                          ("excludeOutboundIPRanges", proxy["excludeIPRanges"]),
                          ("includeInboundPorts", proxy["includeInboundPorts"])):
        value = _annotation(annotations, f"traffic.sidecar.istio.io/{name}", default)
        if value:  # `with`: an empty value writes nothing
            out[f"traffic.sidecar.istio.io/{name}"] = value
    out["traffic.sidecar.istio.io/excludeInboundPorts"] = exclude_inbound_port(
        status_port, _annotation(annotations, "traffic.sidecar.istio.io/excludeInboundPorts",
                                 proxy["excludeInboundPorts"]))
    for name, default in (("includeOutboundPorts", proxy["includeOutboundPorts"]),
                          ("excludeOutboundPorts", proxy["excludeOutboundPorts"])):
        key = f"traffic.sidecar.istio.io/{name}"
        if key in annotations or default:
            out[key] = _annotation(annotations, key, default)
    for name in ("kubevirtInterfaces", "excludeInterfaces"):
        key = f"traffic.sidecar.istio.io/{name}"
        if annotations.get(key):
            out[key] = annotations[key]
    return out


def _template(ctx: InjectorContext, values: Obj, mesh: Obj, proxy_config: Obj, pod: Obj, namespace: str, *,
              native: bool, cni: bool) -> Obj:
    """The `sidecar` template rendered for this pod (injection-template.yaml), as a pod overlay."""
    f = flags(ctx.version)
    g = values["global"]
    proxy_values = g["proxy"]
    meta, spec = pod["metadata"], pod["spec"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    metadata = proxy_config.get("proxyMetadata") or {}
    deploy_name, api_version, kind = _deploy_meta(pod)
    containers = [c["name"] for c in spec.get("containers") or [] if c.get("name") != PROXY]
    mode = _annotation(annotations, "sidecar.istio.io/interceptionMode", proxy_config.get("interceptionMode",
                                                                                           "REDIRECT"))
    status_port = _annotation(annotations, "status.sidecar.istio.io/port", proxy_values["statusPort"])
    hold = bool(proxy_config.get("holdApplicationUntilProxyStarts")
                or proxy_values.get("holdApplicationUntilProxyStarts"))
    if native and f.injector_native_sidecar_drain_prestop:
        hold = False

    # metadata
    out_labels = {"security.istio.io/tlsMode": labels.get("security.istio.io/tlsMode") or "istio"}
    if str(metadata.get("ISTIO_META_ENABLE_HBONE", "")) == "true":
        out_labels["networking.istio.io/tunnel"] = labels.get("networking.istio.io/tunnel") or "http"
    canonical = (labels.get("service.istio.io/canonical-name") or labels.get("app.kubernetes.io/name")
                 or labels.get("app") or deploy_name)
    if f.injector_canonical_name_truncated:
        canonical = canonical[:63].removesuffix("-")
    out_labels["service.istio.io/canonical-name"] = canonical
    out_labels["service.istio.io/canonical-revision"] = (
        labels.get("service.istio.io/canonical-revision") or labels.get("app.kubernetes.io/version")
        or labels.get("version") or "latest")
    out_annotations = {"istio.io/rev": ctx.revision}
    if containers:
        for key in ("kubectl.kubernetes.io/default-logs-container", "kubectl.kubernetes.io/default-container"):
            if key not in annotations:
                out_annotations[key] = containers[0]
    if cni:
        out_annotations.update(_cni_annotations(annotations, g, mode, status_port))

    init_containers: list[Obj] = []
    resources = _resources(values, annotations)
    image = _image(values, proxy_config, annotations, "proxy_init")
    log_level = _annotation(annotations, "sidecar.istio.io/agentLogLevel", g["logging"]["level"])
    if mode != "NONE":
        init_containers.append(_init_container(ctx, values, annotations, metadata, image, resources, mode, status_port,
                                               log_level, cni))

    proxy: Obj = {"name": PROXY, "image": _image(values, proxy_config, annotations, "proxy")}
    if native:
        proxy["restartPolicy"] = "Always"
    proxy["ports"] = [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}]
    args = ["proxy", "sidecar", "--domain", f"$(POD_NAMESPACE).svc.{proxy_values['clusterDomain']}",
            f"--proxyLogLevel={_annotation(annotations, 'sidecar.istio.io/logLevel', proxy_values['logLevel'])}",
            "--proxyComponentLogLevel="
            + _annotation(annotations, "sidecar.istio.io/componentLogLevel", proxy_values["componentLogLevel"]),
            f"--log_output_level={log_level}"]
    if g["sts"].get("servicePort"):
        args.append(f"--stsPort={g['sts']['servicePort']}")
    if g.get("logAsJson"):
        args.append("--log_as_json")
    proxy["args"] = args
    if proxy_values.get("lifecycle"):
        proxy["lifecycle"] = copy.deepcopy(proxy_values["lifecycle"])
    elif hold:
        proxy["lifecycle"] = {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    elif native and f.injector_native_sidecar_drain_prestop:
        proxy["lifecycle"] = {"preStop": {"exec": {"command": [
            "pilot-agent", "request", f"--debug-port={status_port}", "POST", "drain"]}}}
    proxy["env"] = _proxy_env(ctx, values, mesh, proxy_config, pod, namespace, containers, mode,
                              (deploy_name, api_version, kind))
    if g.get("imagePullPolicy"):
        proxy["imagePullPolicy"] = g["imagePullPolicy"]
    if status_port != "0":
        proxy.update(_proxy_probes(f, proxy_values, annotations, native))
    proxy["securityContext"] = {
        "allowPrivilegeEscalation": bool(proxy_values.get("privileged")), "capabilities": {"drop": ["ALL"]},
        "privileged": bool(proxy_values.get("privileged")), "readOnlyRootFilesystem": True, "runAsGroup": 1337,
        "runAsNonRoot": True, "runAsUser": 1337}
    proxy["resources"] = copy.deepcopy(resources)
    proxy["volumeMounts"] = _volume_mounts(f)

    template_spec: Obj = {}
    if native:
        template_spec["initContainers"] = [*init_containers, proxy]
    else:
        template_spec["initContainers"] = init_containers
        template_spec["containers"] = [proxy]
    template_spec["volumes"] = _volumes(f, g)
    if g.get("imagePullSecrets"):
        template_spec["imagePullSecrets"] = [{"name": name} for name in g["imagePullSecrets"]]
    return {"metadata": {"labels": out_labels, "annotations": out_annotations}, "spec": template_spec}


def _init_container(ctx: InjectorContext, values: Obj, annotations: Mapping[str, str], metadata: Mapping[str, Any],
                    image: str, resources: Obj, mode: str, status_port: str, log_level: str, cni: bool) -> Obj:
    """istio-init (istio-iptables applies the rules) or, with istio-cni, istio-validation (checks them)."""
    f = flags(ctx.version)
    g = values["global"]
    proxy = g["proxy"]
    excluded = exclude_inbound_port(status_port, _annotation(annotations, "traffic.sidecar.istio.io/excludeInboundPorts",
                                                             proxy["excludeInboundPorts"]))
    args = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", mode,
            "-i", _annotation(annotations, "traffic.sidecar.istio.io/includeOutboundIPRanges", proxy["includeIPRanges"]),
            "-x", _annotation(annotations, "traffic.sidecar.istio.io/excludeOutboundIPRanges", proxy["excludeIPRanges"]),
            "-b", _annotation(annotations, "traffic.sidecar.istio.io/includeInboundPorts",
                              proxy["includeInboundPorts"]),
            "-d", f"15090,15021,{excluded}" if excluded else "15090,15021"]
    for flag, name, default in (("-q", "includeOutboundPorts", proxy["includeOutboundPorts"]),
                                ("-o", "excludeOutboundPorts", proxy["excludeOutboundPorts"])):
        key = f"traffic.sidecar.istio.io/{name}"
        if key in annotations or default:
            args += [flag, _annotation(annotations, key, default)]
    if "traffic.sidecar.istio.io/kubevirtInterfaces" in annotations:
        args += ["-k", annotations["traffic.sidecar.istio.io/kubevirtInterfaces"]]
    if "traffic.sidecar.istio.io/excludeInterfaces" in annotations:
        args += ["-c", annotations["traffic.sidecar.istio.io/excludeInterfaces"]]
    args.append(f"--log_output_level={log_level}")
    if g.get("logAsJson"):
        args.append("--log_as_json")
    if cni:
        args += ["--run-validation", "--skip-rule-apply"]
    elif f.istio_iptables_idempotent_apply and g["proxy_init"].get("forceApplyIptables"):
        args.append("--force-apply")
    container: Obj = {"name": VALIDATION if cni else INIT, "image": image, "args": args}
    if g.get("imagePullPolicy"):
        container["imagePullPolicy"] = g["imagePullPolicy"]
    if metadata:
        container["env"] = [{"name": k, "value": str(metadata[k])} for k in sorted(metadata)]
    container["resources"] = copy.deepcopy(resources)
    privileged = bool(proxy.get("privileged"))
    if cni:
        container["securityContext"] = {
            "allowPrivilegeEscalation": privileged, "privileged": privileged, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsUser": 1337, "runAsNonRoot": True}
    else:
        container["securityContext"] = {
            "allowPrivilegeEscalation": privileged, "privileged": privileged,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
            "readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0}
    return container


def _field(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _resource(name: str, resource: str) -> Obj:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"resource": resource}}}


def _pod_ports(pod: Obj) -> str:
    """ISTIO_META_POD_PORTS: each container port as encoding/json writes a ContainerPort, one per line."""
    items = []
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            ordered = {k: port[k] for k in ("name", "hostPort", "containerPort", "protocol", "hostIP") if port.get(k)}
            items.append(json.dumps(ordered, separators=(",", ":")))
    if not items:
        return "[\n]"
    return "[\n    " + "\n    ,".join(items) + "\n]"


def _clean_proxy_config(proxy_config: Obj, namespace: str) -> str:
    """template.go protoToJSON(cleanProxyConfig(...)): the fields that differ from mesh.DefaultProxyConfig."""
    defaults = {"discoveryAddress": f"istiod.{namespace}.svc:15012", "statusPort": 15020, "proxyAdminPort": 15000,
                "interceptionMode": "REDIRECT", "tracing": None, "drainDuration": "45s",
                "terminationDrainDuration": "5s", "statNameLength": 189, "configPath": "./etc/istio/proxy",
                "binaryPath": "/usr/local/bin/envoy", "serviceCluster": "istio-proxy",
                "controlPlaneAuthPolicy": "MUTUAL_TLS"}
    out = {}
    for key, value in proxy_config.items():
        if key == "tracing" or (key in defaults and defaults[key] == value) or value in (None, {}, []):
            continue  # tracing: the charts' zipkin default equals DefaultProxyConfig's (UNCONFIRMED after 1.21)
        out[key] = value
    order = ["proxyMetadata", "holdApplicationUntilProxyStarts"]  # proto field order of the common ones
    keys = sorted(out, key=lambda k: (order.index(k) if k in order else -1, list(out).index(k)))
    return json.dumps({k: out[k] for k in keys}, separators=(",", ":"))


def _proxy_env(ctx: InjectorContext, values: Obj, mesh: Obj, proxy_config: Obj, pod: Obj, namespace: str,
               containers: list[str], mode: str, deploy: tuple[str, str, str]) -> list[Obj]:
    f = flags(ctx.version)
    g = values["global"]
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    deploy_name, api_version, kind = deploy
    env: list[Obj] = []
    if f.sidecar_jwt_policy_env:
        env.append({"name": "JWT_POLICY", "value": g["jwtPolicy"]})
    env.append({"name": "PILOT_CERT_PROVIDER", "value": g["pilotCertProvider"]})
    revision = values.get("revision") or ""
    env.append({"name": "CA_ADDR", "value": g.get("caAddress") or
                f"istiod{'-' + revision if revision else ''}.{g['istioNamespace']}.svc:15012"})
    env += [_field("POD_NAME", "metadata.name"), _field("POD_NAMESPACE", "metadata.namespace"),
            _field("INSTANCE_IP", "status.podIP"), _field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
            _field("HOST_IP", "status.hostIP"), _resource("ISTIO_CPU_LIMIT", "limits.cpu"),
            {"name": "PROXY_CONFIG", "value": _clean_proxy_config(proxy_config, ctx.namespace) + "\n"},
            {"name": "ISTIO_META_POD_PORTS", "value": _pod_ports(pod)},
            {"name": "ISTIO_META_APP_CONTAINERS", "value": ",".join(containers)}]
    if f.injector_go_runtime_env:
        env += [_resource("GOMEMLIMIT", "limits.memory"), _resource("GOMAXPROCS", "limits.cpu")]
    env += [{"name": "ISTIO_META_CLUSTER_ID", "value": (g.get("multiCluster") or {}).get("clusterName") or "Kubernetes"},
            _field("ISTIO_META_NODE_NAME", "spec.nodeName"),
            {"name": "ISTIO_META_INTERCEPTION_MODE", "value": mode}]
    if g.get("network"):
        env.append({"name": "ISTIO_META_NETWORK", "value": g["network"]})
    workload = deploy_name
    if f.injector_workload_name_label:
        workload = labels.get("service.istio.io/workload-name") or deploy_name
    if workload:
        env.append({"name": "ISTIO_META_WORKLOAD_NAME", "value": workload})
    if api_version and deploy_name:
        env.append({"name": "ISTIO_META_OWNER", "value": f"kubernetes://apis/{api_version}/namespaces/"
                                                        f"{namespace or 'default'}/{kind.lower()}s/{deploy_name}"})
    trust_domain = mesh.get("trustDomain") or g.get("trustDomain") or ""
    if g.get("meshID"):
        env.append({"name": "ISTIO_META_MESH_ID", "value": g["meshID"]})
    elif trust_domain:
        env.append({"name": "ISTIO_META_MESH_ID", "value": trust_domain})
    if trust_domain:
        env.append({"name": "TRUST_DOMAIN", "value": trust_domain})
    metadata = proxy_config.get("proxyMetadata") or {}
    env += [{"name": k, "value": str(metadata[k])} for k in sorted(metadata)]
    return env


def _proxy_probes(f: Any, proxy: Obj, annotations: Mapping[str, str], native: bool) -> Obj:
    """The readiness (and startup) probe on pilot-agent's /healthz/ready (15021)."""
    get = {"path": "/healthz/ready", "port": 15021}

    def number(key: str, default: Any) -> int:
        return int(_annotation(annotations, f"readiness.status.sidecar.istio.io/{key}", default))

    readiness = {"httpGet": dict(get), "initialDelaySeconds": number("initialDelaySeconds",
                                                                      proxy["readinessInitialDelaySeconds"]),
                 "periodSeconds": number("periodSeconds", proxy["readinessPeriodSeconds"]), "timeoutSeconds": 3,
                 "failureThreshold": number("failureThreshold", proxy["readinessFailureThreshold"])}
    if f.injector_startup_probe:
        out: Obj = {}
        if (proxy.get("startupProbe") or {}).get("enabled"):
            out["startupProbe"] = {"httpGet": dict(get), "initialDelaySeconds": 0, "periodSeconds": 1,
                                   "timeoutSeconds": 3, "failureThreshold": int(proxy["startupProbe"].get(
                                       "failureThreshold", 600))}
        out["readinessProbe"] = readiness
        return out
    # 1.18; 1.19 gives a native sidecar the same probe as its startupProbe instead
    return {"startupProbe": readiness} if native else {"readinessProbe": readiness}


def _volume_mounts(f: Any) -> list[Obj]:
    mounts = [{"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
              {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
              {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"},
              {"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"}]
    if f.injector_ca_crl_volume:
        mounts.append({"mountPath": "/var/run/secrets/istio/crl", "name": "istio-ca-crl"})
    mounts += [{"mountPath": "/var/lib/istio/data", "name": "istio-data"},
               {"mountPath": "/etc/istio/proxy", "name": "istio-envoy"},
               {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"},
               {"name": "istio-podinfo", "mountPath": "/etc/istio/pod"}]
    return mounts


def _volumes(f: Any, g: Obj) -> list[Obj]:
    volumes: list[Obj] = [
        {"emptyDir": {}, "name": "workload-socket"}, {"emptyDir": {}, "name": "credential-socket"},
        {"emptyDir": {}, "name": "workload-certs"}, {"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "istio-token", "expirationSeconds": 43200, "audience": g["sds"]["token"]["aud"]}}]}},
        {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}]
    if f.injector_ca_crl_volume:
        volumes.append({"name": "istio-ca-crl", "configMap": {"name": "istio-ca-crl", "optional": True}})
    return volumes


# -- merging, post-processing ----------------------------------------------------------------------------------------


def _merge_container(original: Obj | None, patch: Obj) -> Obj:
    """The template container over a same-named one of the pod (strategic merge), then the pod's own fields over
    the result again (reapplyOverwrittenContainers): the user's settings win, env entries merge by name."""
    if original is None:
        return copy.deepcopy(patch)
    merged = copy.deepcopy(patch)
    for key, value in original.items():
        if key == "env" and isinstance(value, list):
            names = {e.get("name") for e in value}
            merged["env"] = [e for e in merged.get("env") or [] if e.get("name") not in names] + copy.deepcopy(value)
        elif key == "image" and value == "auto":
            continue
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(original: list[Obj], patch: list[Obj], merge: Callable[[Obj | None, Obj], Obj]) -> list[Obj]:
    """Strategic merge of a list keyed by name (strategicpatch mergeSortedSlice): the patch's items in patch order,
    each merged with the pod's item of the same name; the pod's other items keep their place relative to those."""
    order = [item.get("name") for item in original]
    by_name = {item.get("name"): item for item in original}
    patched = [merge(by_name.get(item.get("name")), item) for item in patch]
    names = {item.get("name") for item in patch}
    result = list(patched)

    def index(item: Obj) -> int:
        name = item.get("name")
        return order.index(name) if name in order else -1

    position = 0
    for item in (i for i in original if i.get("name") not in names):
        at = index(item)
        while position < len(result) and index(result[position]) <= at:
            position += 1
        result.insert(position, copy.deepcopy(item))
        position += 1
    return result


def _merge(pod: Obj, template: Obj) -> None:
    meta, spec = pod["metadata"], pod["spec"]
    meta.setdefault("labels", {}).update(template["metadata"]["labels"])
    meta.setdefault("annotations", {}).update(template["metadata"]["annotations"])
    tspec = template["spec"]
    native_proxy = any(c["name"] == PROXY for c in tspec.get("initContainers") or [])
    if native_proxy and any(c.get("name") == PROXY for c in spec.get("containers") or []):
        # RunTemplate: a customized istio-proxy under containers follows the template into initContainers
        moved = next(c for c in spec["containers"] if c.get("name") == PROXY)
        spec["containers"] = [c for c in spec["containers"] if c.get("name") != PROXY]
        spec.setdefault("initContainers", []).append(moved)
    for key in ("initContainers", "containers"):
        if key in tspec:
            merged = _merge_list(spec.get(key) or [], tspec[key], _merge_container)
            if merged:
                spec[key] = merged
    spec["volumes"] = _merge_list(spec.get("volumes") or [], tspec["volumes"],
                                  lambda orig, new: copy.deepcopy(new) if orig is None else _overlay(copy.deepcopy(orig),
                                                                                                      new))
    if tspec.get("imagePullSecrets"):
        spec["imagePullSecrets"] = _merge_list(spec.get("imagePullSecrets") or [], tspec["imagePullSecrets"],
                                               lambda orig, new: copy.deepcopy(new))


def _status(template: Obj, revision: str) -> str:
    """getInjectionStatus: the names the template added (encoding/json of SidecarInjectionStatus)."""
    spec = template["spec"]

    def names(key: str) -> list[str] | None:
        items = [item["name"] for item in spec.get(key) or []]
        return items or None

    return json.dumps({"initContainers": names("initContainers"), "containers": names("containers"),
                       "volumes": names("volumes"), "imagePullSecrets": names("imagePullSecrets"),
                       "revision": revision or "default"}, separators=(",", ":"))


def _find_proxy(pod: Obj) -> Obj | None:
    spec = pod["spec"]
    return next((c for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
                 if c.get("name") == PROXY), None)


def _prometheus_merge(pod: Obj, mesh: Obj) -> None:
    """webhook.go applyPrometheusMerge: scrape annotations point at the agent's merged metrics on the status port,
    the app's own go to the proxy as ISTIO_PROMETHEUS_ANNOTATIONS."""
    annotations = pod["metadata"].setdefault("annotations", {})

    def sanitized(key: str) -> str:
        return re.sub(r"[^a-zA-Z0-9_]", "_", key)

    scrape = next((v for k, v in annotations.items() if sanitized(k) == "prometheus_io_scrape"), None)
    if scrape is not None and _go_parse_bool(scrape) is None and scrape.lower() in ("0", "f", "false"):
        return
    merge = mesh.get("enablePrometheusMerge", True)
    override = annotations.get("prometheus.istio.io/merge-metrics")
    if override is not None and _go_parse_bool(override) is None:
        merge = override.lower() in ("1", "t", "true")
    if not merge:
        return
    target = str((mesh.get("defaultConfig") or {}).get("statusPort", 15020))
    current = {sanitized(k): v for k, v in annotations.items()}
    if current.get("prometheus_io_port") == target:
        return
    config = {"scrape": current.get("prometheus_io_scrape", ""), "path": current.get("prometheus_io_path", ""),
              "port": current.get("prometheus_io_port", "")}
    proxy = _find_proxy(pod)
    if proxy is not None and any(config.values()):
        proxy.setdefault("env", []).append({"name": "ISTIO_PROMETHEUS_ANNOTATIONS",
                                            "value": json.dumps(config, separators=(",", ":"))})
    for key in [k for k in annotations if sanitized(k) in ("prometheus_io_scrape", "prometheus_io_port",
                                                          "prometheus_io_path")]:
        del annotations[key]
    annotations.update({"prometheus.io/port": target, "prometheus.io/path": "/stats/prometheus",
                        "prometheus.io/scrape": "true"})


def _rewrite_probes(pod: Obj, values: Obj, mesh: Obj) -> None:
    """app_probe.go: with rewriteAppHTTPProbe (chart default true; annotation sidecar.istio.io/rewriteAppHTTPProbers
    overrides) the apps' HTTP, TCP and gRPC probes go to the agent's /app-health/<container>/{readyz,livez,startupz}
    on the status port, and the originals to the proxy as ISTIO_KUBE_APP_PROBERS."""
    proxy = _find_proxy(pod)
    if proxy is None:
        return
    annotations = pod["metadata"].get("annotations") or {}
    rewrite = bool(values["sidecarInjectorWebhook"].get("rewriteAppHTTPProbe", True))
    override = annotations.get("sidecar.istio.io/rewriteAppHTTPProbers")
    if override is not None and _go_parse_bool(override) is None:
        rewrite = override.lower() in ("1", "t", "true")
    if not rewrite:
        return
    target = int((mesh.get("defaultConfig") or {}).get("statusPort", 15020))
    status_port = target
    if "status.sidecar.istio.io/port" in annotations:
        try:
            status_port = int(annotations["status.sidecar.istio.io/port"])
        except ValueError:
            status_port = 0
    probers: dict[str, Obj] = {}
    spec = pod["spec"]
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        name = container.get("name", "")
        if name == PROXY:
            continue
        named = {p["name"]: p["containerPort"] for p in container.get("ports") or [] if p.get("name")}
        for kind, suffix in (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz")):
            probe = container.get(kind)
            if not isinstance(probe, dict):
                continue
            url = f"/app-health/{name}/{suffix}"
            prober = _internal_prober(probe, named, target)
            if prober is not None:
                probers[url] = prober
            converted = _convert_probe(probe, url, status_port)
            if converted is not None:
                container[kind] = converted
    if probers:
        text = json.dumps({k: probers[k] for k in sorted(probers)}, separators=(",", ":"))
        proxy.setdefault("env", []).append({"name": "ISTIO_KUBE_APP_PROBERS", "value": text})


def _internal_prober(probe: Obj, named: Mapping[str, int], target: int) -> Obj | None:
    """kubeProbeToInternalProber + updateNamedPort (ports resolved, already-rewritten probes skipped)."""
    for kind in ("httpGet", "tcpSocket", "grpc"):
        action = probe.get(kind)
        if not isinstance(action, dict):
            continue
        action = copy.deepcopy(action)
        if kind != "grpc":
            port = action.get("port")
            if isinstance(port, str) and not port.isdigit():
                if port not in named:
                    return None
                action["port"] = named[port]
            elif int(port or 0) == target:
                return None
        if kind == "httpGet":
            action = {k: action[k] for k in ("path", "port", "host", "scheme", "httpHeaders") if action.get(k)}
        prober: Obj = {kind: action}
        if probe.get("timeoutSeconds"):
            prober["timeoutSeconds"] = probe["timeoutSeconds"]
        return prober
    return None


def _convert_probe(probe: Obj, url: str, status_port: int) -> Obj | None:
    converted = copy.deepcopy(probe)
    if isinstance(probe.get("httpGet"), dict):
        converted["httpGet"]["port"] = status_port
        converted["httpGet"]["path"] = url
        if converted["httpGet"].get("scheme") == "HTTPS":
            converted["httpGet"]["scheme"] = "HTTP"
        return converted
    for kind in ("tcpSocket", "grpc"):
        if isinstance(probe.get(kind), dict):
            converted.pop(kind)
            converted["httpGet"] = {"port": status_port, "path": url}
            return converted
    return None


def _move(containers: list[Obj], name: str, first: bool) -> list[Obj]:
    """modifyContainers MoveFirst / MoveLast."""
    found = [c for c in containers if c.get("name") == name]
    if not found:
        return containers
    rest = [c for c in containers if c.get("name") != name]
    return [*found, *rest] if first else [*rest, *found]


def _reorder(pod: Obj, mesh: Obj, values: Obj, annotations: Mapping[str, str]) -> None:
    """webhook.go reorderPod: istio-proxy last among containers (first when holdApplicationUntilProxyStarts);
    native sidecar: istio-init/istio-validation, istio-proxy, then the app's init containers; classic:
    istio-validation first, istio-init last among init containers."""
    spec = pod["spec"]
    hold = bool(_proxy_config(mesh, annotations).get("holdApplicationUntilProxyStarts")
                or values["global"]["proxy"].get("holdApplicationUntilProxyStarts"))
    if spec.get("containers"):
        spec["containers"] = _move(spec["containers"], PROXY, first=hold)
    inits = spec.get("initContainers") or []
    if any(c.get("name") == PROXY for c in inits):
        for name in ("enable-core-dump", PROXY, VALIDATION, INIT):
            inits = _move(inits, name, first=True)
    else:
        inits = _move(inits, VALIDATION, first=True)
        inits = _move(inits, INIT, first=False)
        inits = _move(inits, "enable-core-dump", first=False)
    if inits:
        spec["initContainers"] = inits
