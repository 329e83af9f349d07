"""The sidecar injector per release: which pods it injects, the container order (classic, istio-cni, native,
holdApplicationUntilProxyStarts), istio-init's args from annotations, the status annotation, the denial of a bad
annotation, and the API server's answer when istiod is down."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from sidecar_harness import Harness

from meshrepro.istio.injector import (
    InjectorContext,
    Rejection,
    inject_pod,
    make_injection_hook,
    multierror,
    native_sidecar,
    validate_annotations,
)
from meshrepro.istio.install import merge_inputs, render
from meshrepro.istio.versions import SUPPORTED, flags
from meshrepro.kube.admission import AdmissionRequest
from meshrepro.kube.rbac import User
from meshrepro.kube.store import ResourceKey, Store
from meshrepro.manifests.kinds import KindInfo

Version = tuple[int, int, int]
KEYS = {"ConfigMap": ResourceKey("", "configmaps"), "Service": ResourceKey("", "services"),
        "MutatingWebhookConfiguration": ResourceKey("admissionregistration.k8s.io", "mutatingwebhookconfigurations")}
NAMESPACES = ResourceKey("", "namespaces")
NODES = ResourceKey("", "nodes")
POD_KIND = KindInfo("", "v1", "Pod", "pods", True)


def installed(version: Version, *sets: str) -> Store:
    """The objects `istioctl install --set ...` creates that the injector reads."""
    store = Store()
    for component in render(version, merge_inputs(version, [], list(sets))).components:
        for obj in component.objects:
            if obj["kind"] in KEYS:
                store.put(KEYS[obj["kind"]], copy.deepcopy(obj))
    for name, labels in (("default", {"istio-injection": "enabled"}), ("plain", {}), ("kube-system", {}),
                         ("tagged", {"istio.io/rev": "default"})):
        store.put(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}})
    return store


def pod(name: str = "web", *, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
        init: bool = True, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "containers": [{"name": "app", "image": "nginx:1.25.3", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
        **spec}
    if init:
        body["initContainers"] = [{"name": "setup", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": name},
                         "annotations": annotations or {}}, "spec": body}


def inject(version: Version, the_pod: dict[str, Any] | None = None, *sets: str, namespace: str = "default",
           env: dict[str, str] | None = None, store: Store | None = None) -> Any:
    store = store or installed(version, *sets)
    return inject_pod(store, InjectorContext(version, env or {}), the_pod or pod(), namespace)


def names(containers: list[dict[str, Any]] | None) -> list[str]:
    return [c["name"] for c in containers or []]


def container(p: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in [*p["spec"].get("initContainers", []), *p["spec"]["containers"]] if c["name"] == name)


# -- container order ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED)
def test_classic_order_every_release(version: Version) -> None:
    env = {"ENABLE_NATIVE_SIDECARS": "false"}  # 1.27's default is `auto`
    injected = inject(version, None, env=env)
    assert names(injected["spec"]["initContainers"]) == ["setup", "istio-init"]
    assert names(injected["spec"]["containers"]) == ["app", "istio-proxy"]
    assert "restartPolicy" not in container(injected, "istio-proxy")
    assert container(injected, "istio-init")["image"] == f"docker.io/istio/proxyv2:{'.'.join(map(str, version))}"


@pytest.mark.parametrize("version, sets, expected", [
    ((1, 20, 2), ["components.cni.enabled=true"], True),  # istioctl writes istio_cni.enabled
    ((1, 23, 0), ["components.cni.enabled=true"], True),
    ((1, 23, 0), ["values.pilot.cni.enabled=true"], True),  # 1.22-1.23 read pilot.cni.enabled too
    ((1, 21, 0), ["values.pilot.cni.enabled=true"], False),  # not before 1.22
    ((1, 24, 0), ["components.cni.enabled=true"], True),  # 1.24: istioctl writes pilot.cni.enabled
    ((1, 24, 0), [], False),
])
def test_istio_cni_turns_istio_init_into_istio_validation(version: Version, sets: list[str], expected: bool) -> None:
    injected = inject(version, None, *sets)
    if not expected:
        assert names(injected["spec"]["initContainers"]) == ["setup", "istio-init"]
        return
    assert names(injected["spec"]["initContainers"]) == ["istio-validation", "setup"]
    validation = container(injected, "istio-validation")
    assert validation["args"][-2:] == ["--run-validation", "--skip-rule-apply"]
    assert validation["securityContext"] == {
        "allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsUser": 1337, "runAsNonRoot": True}
    annotations = injected["metadata"]["annotations"]
    assert annotations["traffic.sidecar.istio.io/excludeInboundPorts"] == "15020"
    assert annotations["sidecar.istio.io/interceptionMode"] == "REDIRECT"
    assert annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"] == "*"


@pytest.mark.parametrize("version, env, annotation, native", [
    ((1, 18, 0), "true", None, False),  # no native sidecar support yet
    ((1, 19, 0), "true", None, True),
    ((1, 22, 0), "false", None, False),
    ((1, 23, 0), "true", "false", True),  # the annotation only counts from 1.24
    ((1, 24, 0), "true", "false", False),
    ((1, 24, 0), "false", "true", True),
    ((1, 26, 0), None, None, False),  # default false before 1.27
    ((1, 27, 0), "false", "true", True),
])
def test_native_sidecar_switches(version: Version, env: str | None, annotation: str | None, native: bool) -> None:
    annotations = {"sidecar.istio.io/nativeSidecar": annotation} if annotation else {}
    injected = inject(version, pod(annotations=annotations),
                      env={"ENABLE_NATIVE_SIDECARS": env} if env is not None else {})
    if native:
        assert names(injected["spec"]["initContainers"]) == ["istio-init", "istio-proxy", "setup"]
        assert names(injected["spec"]["containers"]) == ["app"]
        assert container(injected, "istio-proxy")["restartPolicy"] == "Always"
        assert "startupProbe" in container(injected, "istio-proxy")
    else:
        assert names(injected["spec"]["containers"]) == ["app", "istio-proxy"]


@pytest.mark.parametrize("kubelets, native", [(["v1.33.1"], True), (["v1.32.0"], False),
                                              (["v1.33.1", "v1.29.2"], False)])
def test_1_27_auto_native_sidecars_follow_the_nodes_kubelets(kubelets: list[str], native: bool) -> None:
    store = installed((1, 27, 0))
    for index, kubelet in enumerate(kubelets):
        store.put(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{index}"},
                          "status": {"nodeInfo": {"kubeletVersion": kubelet}}})
    ctx = InjectorContext((1, 27, 0), {})
    assert native_sidecar(store, ctx, pod())[0] is native
    scheduled = pod(nodeName="node-0")
    assert native_sidecar(store, ctx, scheduled)[0] is (kubelets[0] == "v1.33.1")


def test_native_sidecar_with_cni_puts_validation_first() -> None:
    injected = inject((1, 24, 0), None, "components.cni.enabled=true", env={"ENABLE_NATIVE_SIDECARS": "true"})
    assert names(injected["spec"]["initContainers"]) == ["istio-validation", "istio-proxy", "setup"]


HOLD = {"proxy.istio.io/config": '{ "holdApplicationUntilProxyStarts": true }'}


@pytest.mark.parametrize("version", [(1, 18, 0), (1, 20, 2), (1, 24, 0), (1, 27, 0)])
def test_hold_application_until_proxy_starts(version: Version) -> None:
    injected = inject(version, pod(annotations=HOLD), env={"ENABLE_NATIVE_SIDECARS": "false"})
    assert names(injected["spec"]["containers"]) == ["istio-proxy", "app"]
    assert names(injected["spec"]["initContainers"]) == ["setup", "istio-init"]  # does not help init containers
    assert container(injected, "istio-proxy")["lifecycle"] == {
        "postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    env = {e["name"]: e.get("value") for e in container(injected, "istio-proxy")["env"]}
    assert env["PROXY_CONFIG"] == '{"holdApplicationUntilProxyStarts":true}\n'


def test_hold_from_the_mesh_config() -> None:
    injected = inject((1, 22, 0), None, "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true")
    assert names(injected["spec"]["containers"]) == ["istio-proxy", "app"]


@pytest.mark.parametrize("version, lifecycle", [
    ((1, 20, 2), {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}),
    ((1, 21, 0), {"preStop": {"exec": {"command": ["pilot-agent", "request", "--debug-port=15020", "POST",
                                                   "drain"]}}}),
])
def test_hold_with_native_sidecar(version: Version, lifecycle: dict[str, Any]) -> None:
    injected = inject(version, pod(annotations=HOLD), env={"ENABLE_NATIVE_SIDECARS": "true"})
    assert names(injected["spec"]["initContainers"]) == ["istio-init", "istio-proxy", "setup"]
    assert container(injected, "istio-proxy")["lifecycle"] == lifecycle


# -- istio-proxy's probes and env per release ------------------------------------------------------------------------


@pytest.mark.parametrize("version, native, startup, readiness", [
    ((1, 18, 0), False, None, (1, 2, 30)),
    ((1, 19, 0), True, (1, 2, 30), None),  # 1.19's native sidecar: a startupProbe instead of the readinessProbe
    ((1, 20, 2), False, (0, 1, 600), (0, 15, 4)),
    ((1, 24, 0), True, (0, 1, 600), (0, 15, 4)),
])
def test_proxy_probes(version: Version, native: bool, startup: tuple[int, int, int] | None,
                      readiness: tuple[int, int, int] | None) -> None:
    injected = inject(version, None, env={"ENABLE_NATIVE_SIDECARS": "true" if native else "false"})
    proxy = container(injected, "istio-proxy")
    for kind, expected in (("startupProbe", startup), ("readinessProbe", readiness)):
        probe = proxy.get(kind)
        if expected is None:
            assert probe is None
            continue
        assert probe["httpGet"] == {"path": "/healthz/ready", "port": 15021}
        assert (probe["initialDelaySeconds"], probe["periodSeconds"], probe["failureThreshold"]) == expected


@pytest.mark.parametrize("version", SUPPORTED)
def test_proxy_env_per_release(version: Version) -> None:
    f = flags(version)
    injected = inject(version, pod(), env={"ENABLE_NATIVE_SIDECARS": "false"})
    env = [e["name"] for e in container(injected, "istio-proxy")["env"]]
    assert ("JWT_POLICY" in env) is f.sidecar_jwt_policy_env
    assert ("GOMEMLIMIT" in env) is f.injector_go_runtime_env
    assert env[env.index("ISTIO_META_CLUSTER_ID"):] == [
        "ISTIO_META_CLUSTER_ID", "ISTIO_META_NODE_NAME", "ISTIO_META_INTERCEPTION_MODE", "ISTIO_META_WORKLOAD_NAME",
        "ISTIO_META_OWNER", "ISTIO_META_MESH_ID", "TRUST_DOMAIN"]
    values = {e["name"]: e.get("value") for e in container(injected, "istio-proxy")["env"]}
    assert values["ISTIO_META_OWNER"] == "kubernetes://apis/v1/namespaces/default/pods/web"
    assert values["ISTIO_META_POD_PORTS"] == '[\n    {"containerPort":80,"protocol":"TCP"}\n]'
    mounts = [m["name"] for m in container(injected, "istio-proxy")["volumeMounts"]]
    assert ("istio-ca-crl" in mounts) is f.injector_ca_crl_volume


def test_dns_capture_metadata_reaches_istio_init_and_proxy() -> None:
    injected = inject((1, 22, 0), None, "meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE=true")
    assert container(injected, "istio-init")["env"] == [{"name": "ISTIO_META_DNS_CAPTURE", "value": "true"}]
    assert {"name": "ISTIO_META_DNS_CAPTURE", "value": "true"} in container(injected, "istio-proxy")["env"]


def test_deployment_pod_metadata_from_its_replica_set() -> None:
    the_pod = pod(labels={"app": "web", "pod-template-hash": "5d8f7c9b6"})
    the_pod["metadata"] = {**the_pod["metadata"], "name": "", "generateName": "web-5d8f7c9b6-",
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b6",
                                                "controller": True, "uid": "u"}]}
    injected = inject((1, 22, 0), the_pod)
    env = {e["name"]: e.get("value") for e in container(injected, "istio-proxy")["env"]}
    assert env["ISTIO_META_WORKLOAD_NAME"] == "web"
    assert env["ISTIO_META_OWNER"] == "kubernetes://apis/apps/v1/namespaces/default/deployments/web"
    assert injected["metadata"]["labels"]["service.istio.io/canonical-name"] == "web"


# -- istio-init args --------------------------------------------------------------------------------------------------


def test_default_istio_init_args() -> None:
    injected = inject((1, 20, 2))
    assert container(injected, "istio-init")["args"] == [
        "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*",
        "-d", "15090,15021,15020", "--log_output_level=default:info"]
    assert container(injected, "istio-init")["securityContext"] == {
        "allowPrivilegeEscalation": False, "privileged": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}, "readOnlyRootFilesystem": False,
        "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0}


def test_istio_init_args_from_annotations() -> None:
    annotations = {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32",
                   "traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8",
                   "traffic.sidecar.istio.io/excludeInboundPorts": "8080",
                   "traffic.sidecar.istio.io/includeInboundPorts": "80,8080",
                   "traffic.sidecar.istio.io/excludeOutboundPorts": "443",
                   "traffic.sidecar.istio.io/includeOutboundPorts": "9000",
                   "traffic.sidecar.istio.io/excludeInterfaces": "eth1",
                   "sidecar.istio.io/agentLogLevel": "default:debug"}
    args = container(inject((1, 22, 0), pod(annotations=annotations)), "istio-init")["args"]
    assert args == ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                    "-i", "10.0.0.0/8", "-x", "10.96.0.1/32", "-b", "80,8080", "-d", "15090,15021,8080,15020",
                    "-q", "9000", "-o", "443", "-c", "eth1", "--log_output_level=default:debug"]


def test_status_port_zero_drops_it_from_the_exclusions_and_the_probes() -> None:
    injected = inject((1, 22, 0), pod(annotations={"status.sidecar.istio.io/port": "0"}))
    assert container(injected, "istio-init")["args"][15:17] == ["-d", "15090,15021"]
    assert "readinessProbe" not in container(injected, "istio-proxy")


# -- metadata -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version, env, status", [
    ((1, 20, 2), {}, {"initContainers": ["istio-init"], "containers": ["istio-proxy"]}),
    ((1, 22, 0), {"ENABLE_NATIVE_SIDECARS": "true"}, {"initContainers": ["istio-init", "istio-proxy"],
                                                      "containers": None}),
])
def test_status_annotation(version: Version, env: dict[str, str], status: dict[str, Any]) -> None:
    injected = inject(version, None, env=env)
    text = injected["metadata"]["annotations"]["sidecar.istio.io/status"]
    volumes = ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data", "istio-podinfo",
               "istio-token", "istiod-ca-cert"]
    assert text == json.dumps({**status, "volumes": volumes, "imagePullSecrets": None, "revision": "default"},
                              separators=(",", ":"))
    assert injected["metadata"]["labels"] == {"app": "web", "security.istio.io/tlsMode": "istio",
                                              "service.istio.io/canonical-name": "web",
                                              "service.istio.io/canonical-revision": "latest"}
    annotations = injected["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/default-container"] == "app"
    assert annotations["prometheus.io/port"] == "15020"
    assert names(injected["spec"]["volumes"]) == volumes


def test_ambient_profile_proxy_metadata_adds_the_tunnel_label() -> None:
    injected = inject((1, 20, 2), None, "profile=ambient")
    assert injected["metadata"]["labels"]["networking.istio.io/tunnel"] == "http"


def test_reinjection_replaces_the_previous_sidecar() -> None:
    once = inject((1, 22, 0))
    twice = inject((1, 22, 0), once)
    assert names(twice["spec"]["containers"]) == ["app", "istio-proxy"]
    assert names(twice["spec"]["initContainers"]) == ["setup", "istio-init"]


def test_probe_rewrite_sends_app_probes_to_the_agent() -> None:
    the_pod = pod()
    the_pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                                          "timeoutSeconds": 1}
    the_pod["spec"]["containers"][0]["livenessProbe"] = {"tcpSocket": {"port": 80}, "timeoutSeconds": 1}
    injected = inject((1, 22, 0), the_pod)
    app = container(injected, "app")
    assert app["readinessProbe"]["httpGet"] == {"path": "/app-health/app/readyz", "port": 15020, "scheme": "HTTP"}
    assert app["livenessProbe"] == {"httpGet": {"port": 15020, "path": "/app-health/app/livez"}, "timeoutSeconds": 1}
    env = {e["name"]: e.get("value") for e in container(injected, "istio-proxy")["env"]}
    assert json.loads(env["ISTIO_KUBE_APP_PROBERS"]) == {
        "/app-health/app/livez": {"tcpSocket": {"port": 80}, "timeoutSeconds": 1},
        "/app-health/app/readyz": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1}}
    off = inject((1, 22, 0), pod(annotations={"sidecar.istio.io/rewriteAppHTTPProbers": "false"}))
    assert "ISTIO_KUBE_APP_PROBERS" not in {e["name"] for e in container(off, "istio-proxy")["env"]}


# -- skipped pods --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("the_pod, namespace", [
    (pod(hostNetwork=True), "default"),
    (pod(annotations={"sidecar.istio.io/inject": "false"}), "default"),
    (pod(labels={"sidecar.istio.io/inject": "false"}, annotations={"sidecar.istio.io/inject": "true"}), "default"),
    (pod(annotations={"sidecar.istio.io/inject": "nope"}), "default"),
    (pod(), "kube-system"),
])
def test_pods_the_injector_leaves_alone(the_pod: dict[str, Any], namespace: str) -> None:
    assert inject((1, 22, 0), the_pod, namespace=namespace) is None


def request(the_pod: dict[str, Any], namespace: str) -> AdmissionRequest:
    return AdmissionRequest("CREATE", User("admin", ("system:masters",)), POD_KIND, namespace,
                            the_pod["metadata"]["name"], the_pod, None, {})


@pytest.mark.parametrize("namespace, labels, injected", [
    ("default", {}, True),  # istio-injection=enabled: namespace.sidecar-injector.istio.io
    ("default", {"sidecar.istio.io/inject": "false"}, False),  # the object selector excludes it
    ("plain", {}, False),
    ("plain", {"sidecar.istio.io/inject": "true"}, True),  # object.sidecar-injector.istio.io
    ("tagged", {}, True),  # istio.io/rev=default: rev.namespace.sidecar-injector.istio.io
    ("plain", {"istio.io/rev": "default"}, True),  # rev.object.sidecar-injector.istio.io
])
def test_webhook_selectors(namespace: str, labels: dict[str, str], injected: bool) -> None:
    store = installed((1, 22, 0))
    hook = make_injection_hook(store, lambda: InjectorContext((1, 22, 0), {}))
    the_pod = pod(labels={"app": "web", **labels})
    the_pod["metadata"]["namespace"] = namespace
    result = hook(request(the_pod, namespace))
    assert (result is not None) is injected
    if result is not None:
        assert names(result["spec"]["containers"]) == ["app", "istio-proxy"]  # once, through one webhook


def test_the_deactivated_default_webhook_never_matches() -> None:
    store = installed((1, 20, 2))
    hooks = {c["metadata"]["name"]: c["webhooks"] for c in store.iter(KEYS["MutatingWebhookConfiguration"])}
    assert sorted(hooks) == ["istio-revision-tag-default", "istio-sidecar-injector"]
    assert all(w["namespaceSelector"]["matchExpressions"][0]["key"] == "istio.io/deactivated"
               for w in hooks["istio-sidecar-injector"])


# -- a bad annotation --------------------------------------------------------------------------------------------------

CIDR_ERROR = ("invalid value '10.0.0.300/24' for annotation 'traffic.sidecar.istio.io/excludeOutboundIPRanges': "
              "excludeIPRanges invalid: failed parsing cidr '10.0.0.300/24': netip.ParsePrefix(\"10.0.0.300/24\"): "
              "ParseAddr(\"10.0.0.300\"): IPv4 field has value >255")


@pytest.mark.parametrize("version", [(1, 18, 0), (1, 22, 0), (1, 27, 0)])
def test_invalid_annotation_is_denied(version: Version) -> None:
    bad = pod(annotations={"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.300/24"})
    result = inject(version, bad)
    assert isinstance(result, Rejection)
    assert result.message == f"failed to run injection template: 1 error occurred:\n\t* {CIDR_ERROR}\n\n"
    store = installed(version)
    denial = make_injection_hook(store, lambda: InjectorContext(version, {}))(request(bad, "default"))
    assert isinstance(denial, tuple)
    assert denial == (400, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": 'admission webhook "namespace.sidecar-injector.istio.io" denied the request: '
                                       + result.message, "code": 400})


def test_several_bad_annotations() -> None:
    errors = validate_annotations({"traffic.sidecar.istio.io/excludeOutboundPorts": "443,x",
                                   "sidecar.istio.io/interceptionMode": "BOGUS",
                                   "readiness.status.sidecar.istio.io/periodSeconds": "-1"}, (1, 22, 0))
    assert errors == [
        ("invalid value '-1' for annotation 'readiness.status.sidecar.istio.io/periodSeconds': strconv.ParseUint: "
         "parsing \"-1\": invalid syntax"),
        ("invalid value 'BOGUS' for annotation 'sidecar.istio.io/interceptionMode': interceptionMode invalid, use "
         "REDIRECT,TPROXY,NONE: BOGUS"),
        ("invalid value '443,x' for annotation 'traffic.sidecar.istio.io/excludeOutboundPorts': excludeOutboundPorts "
         "invalid: failed parsing port 'x': failed parsing port 'x': strconv.ParseUint: parsing \"x\": invalid syntax")]
    assert multierror(errors[:2]).startswith("2 errors occurred:\n\t* invalid value '-1'")


@pytest.mark.parametrize("version, denied", [((1, 24, 0), True), ((1, 25, 0), False)])
def test_core_dump_annotation_checked_until_1_25(version: Version, denied: bool) -> None:
    result = inject(version, pod(annotations={"sidecar.istio.io/enableCoreDump": "maybe"}))
    assert isinstance(result, Rejection) is denied


# -- through the API server ---------------------------------------------------------------------------------------------

def events(h: Harness) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in h.cluster.store.iter(ResourceKey("", "events"))]


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: nginx:1.25.3
"""
SIMPLE = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx:1.25.3
"""
POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.300/24"
spec:
  containers:
  - name: nginx
    image: nginx:1.25.3
"""


def test_kubectl_apply_of_a_pod_with_a_bad_annotation() -> None:
    h = Harness((1, 22, 0)).create_cluster().install()
    h.run("kubectl label namespace default istio-injection=enabled")
    code, out, err = h.apply(POD)
    assert (code, out) == (1, "")
    assert err == ('Error from server: error when creating "/tmp/m.yaml": admission webhook '
                   '"namespace.sidecar-injector.istio.io" denied the request: failed to run injection template: '
                   f"1 error occurred:\n\t* {CIDR_ERROR}\n\n")  # kubectl adds no newline to one ending in one


def test_webhook_down_denies_pods_and_deployments_fail_to_create_them() -> None:
    h = Harness((1, 20, 2)).create_cluster().install()
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.run("kubectl delete deployment istiod -n istio-system")[0] == 0
    h.sleep(40)
    assert not h.istiods
    ip = h.run("kubectl get svc istiod -n istio-system -o jsonpath={.spec.clusterIP}")[1]
    assert re.fullmatch(r"10\.96\.\d+\.\d+", ip)
    code, _, err = h.apply(SIMPLE)
    assert code == 1
    assert err == ('Error from server (InternalError): error when creating "/tmp/m.yaml": Internal error occurred: '
                   'failed calling webhook '
                   '"namespace.sidecar-injector.istio.io": failed to call webhook: Post '
                   f'"https://istiod.istio-system.svc:443/inject?timeout=10s": dial tcp {ip}:443: connect: '
                   "connection refused\n")
    assert h.apply(DEPLOYMENT)[0] == 0
    h.sleep(5)
    failed = [m for reason, m in events(h) if reason == "FailedCreate"]
    assert failed and failed[0] == ('Error creating: Internal error occurred: failed calling webhook '
                                    '"namespace.sidecar-injector.istio.io": failed to call webhook: Post '
                                    f'"https://istiod.istio-system.svc:443/inject?timeout=10s": dial tcp {ip}:443: '
                                    "connect: connection refused")
    # outside the injection-enabled namespace nothing calls the webhook
    h.run("kubectl create namespace other")
    assert h.apply(SIMPLE.replace("name: web\n", "name: web\n  namespace: other\n", 1))[0] == 0


def test_injected_pod_through_kubectl_and_the_kubelet() -> None:
    h = Harness((1, 24, 0)).create_cluster().install()
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply(SIMPLE)[0] == 0
    h.sleep(30)
    assert re.search(r"^web\s+2/2\s+Running\s+0", h.run("kubectl get pods")[1], re.MULTILINE)
    yaml_text = h.run("kubectl get pod web -o yaml")[1]
    assert "    sidecar.istio.io/status: '{\"initContainers\":[\"istio-init\"]" in yaml_text
    assert "  - args:\n    - istio-iptables\n" in yaml_text
    # the ServiceAccount plugin ran again after the webhook: the injected containers mount the token too
    proxy = container(h.pod("web"), "istio-proxy")
    assert proxy["volumeMounts"][-1]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    decisions = [t for t in h.trace.records if t.component == "istiod" and t.action == "sidecar injected"]
    assert decisions and "classic sidecar" in decisions[0].reason


def test_native_sidecar_pod_starts_the_proxy_before_app_init_containers() -> None:
    h = Harness((1, 22, 0), proxy_delay=3).create_cluster().install(
        "values.pilot.env.ENABLE_NATIVE_SIDECARS=true")
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply("""apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - name: setup
    image: busybox:1.36
    command: [sh, -c, "echo setup"]
  containers:
  - name: nginx
    image: nginx:1.25.3
""")[0] == 0
    h.sleep(40)
    assert re.search(r"^web\s+2/2\s+Running\s+0", h.run("kubectl get pods")[1], re.MULTILINE)
    order = [t.action.removeprefix("started container ") for t in h.trace.records
             if t.subject == "Pod default/web" and t.action.startswith("started container")]
    assert order == ["istio-init", "istio-proxy", "setup", "nginx"]
    ready = next(t.time for t in h.trace.records if t.subject == "Pod default/web" and t.action == "started container setup")
    proxy = next(t.time for t in h.trace.records if t.subject == "Pod default/web"
                 and t.action == "started container istio-proxy")
    assert ready - proxy >= 3  # setup waited for istio-proxy's startup probe


def test_hold_application_runs_pilot_agent_wait_before_the_app_starts() -> None:
    h = Harness((1, 22, 0)).create_cluster().install(
        "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true")
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply(SIMPLE)[0] == 0
    h.sleep(30)
    assert re.search(r"^web\s+2/2\s+Running\s+0", h.run("kubectl get pods")[1], re.MULTILINE)
    actions = [t.action for t in h.trace.records if t.subject == "Pod default/web"]
    assert actions.index("postStart hook of istio-proxy returned") < actions.index("started container web")


def test_failing_pilot_agent_wait_kills_the_proxy() -> None:
    h = Harness((1, 22, 0), wait_exit=255).create_cluster().install(
        "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true")
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply(SIMPLE)[0] == 0
    h.sleep(20)
    seen = events(h)
    assert ("FailedPostStartHook", "PostStartHook failed") in seen
    assert ("Killing", "FailedPostStartHook") in seen
    assert re.search(r"^web\s+1/2\s+CrashLoopBackOff\s+2", h.run("kubectl get pods")[1], re.MULTILINE)
