"""The objects each Istio chart renders for a merged IstioOperator spec: manifests/charts/{base,
istio-control/istio-discovery,istio-cni,ztunnel,gateways}/templates at each release, as `istioctl install` applies
them.

Rendered objects carry the fields the simulation and `kubectl get` use (images, env, ports, probes, volumes,
selectors, labels); RBAC rules are abbreviated, the sidecar injector's template is a placeholder, the mesh config
holds the profile's settings over a few defaults, and the <=1.20 telemetry EnvoyFilters and the istio-cni
ResourceQuota are not rendered.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from meshrepro.istio.kinds import custom_resource_definitions
from meshrepro.istio.versions import IstioVersion, flags

Obj = dict[str, Any]
NAMESPACE = "istio-system"


def overlay(base: Obj, top: Obj) -> None:
    """Overlay `top` on `base` in place; gateway lists merge by name, as the IstioOperator overlay does."""
    for key, value in top.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            overlay(current, value)
        elif key in ("ingressGateways", "egressGateways") and isinstance(current, list) and isinstance(value, list):
            for item in value:
                match = next((c for c in current if c.get("name") == item.get("name")), None)
                if match is None:
                    current.append(copy.deepcopy(item))
                else:
                    overlay(match, item)
        else:
            base[key] = copy.deepcopy(value)


def _meta(name: str, labels: dict[str, str] | None = None, namespaced: bool = True) -> Obj:
    meta: Obj = {"name": name, "labels": dict(labels or {})}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def _image(spec: Obj, name: str, component_values: str) -> str:
    values = spec["values"]
    variant = (values.get(component_values) or {}).get("variant") or values["global"].get("variant") or ""
    hub = (values.get(component_values) or {}).get("hub") or values["global"]["hub"]
    tag = (values.get(component_values) or {}).get("tag") or values["global"]["tag"]
    return f"{hub}/{name}:{tag}" + (f"-{variant}" if variant else "")


def _field_env(name: str, path: str, api_version: bool = False) -> Obj:
    ref: Obj = {"apiVersion": "v1", "fieldPath": path} if api_version else {"fieldPath": path}
    return {"name": name, "valueFrom": {"fieldRef": ref}}


def _resource_env(name: str, resource: str) -> Obj:
    return {"name": name, "valueFrom": {"resourceFieldRef": {"resource": resource}}}


def _opt_out(version: IstioVersion, labels: dict[str, str], annotations: dict[str, str]) -> None:
    """Istio's own pods stay out of the ambient mesh: a label from 1.22, an annotation before."""
    if flags(version).ambient_pod_label_enrollment:
        labels["istio.io/dataplane-mode"] = "none"
    else:
        annotations["ambient.istio.io/redirection"] = "disabled"


def _cluster_role(name: str, rules: list[Obj], labels: dict[str, str]) -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": _meta(name, labels, namespaced=False), "rules": rules}


def _binding(kind: str, name: str, role: str, account: str, labels: dict[str, str]) -> Obj:
    namespaced = kind == "RoleBinding"
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": _meta(name, labels, namespaced=namespaced),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role" if namespaced else "ClusterRole",
                        "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]}


def _service_account(name: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, labels)}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_READ = ["get", "list", "watch"]


def base_objects(version: IstioVersion, spec: Obj) -> list[Obj]:
    """manifests/charts/base: the CRDs and istio-reader-service-account."""
    labels = {"app": "istio-reader", "release": "istio"}
    return [*custom_resource_definitions(version), _service_account("istio-reader-service-account", labels)]


def pilot_objects(version: IstioVersion, spec: Obj) -> list[Obj]:
    """manifests/charts/istio-control/istio-discovery/templates."""
    values = spec["values"]
    labels = {"app": "istiod", "release": "istio"}
    suffix = f"-{NAMESPACE}"
    istiod_rules = [_rule(["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations",
                                                             "validatingwebhookconfigurations"], ["get", "list",
                                                                                                  "watch", "update",
                                                                                                  "patch"]),
                    _rule(["*.istio.io"], ["*"], _READ), _rule([""], ["pods", "nodes", "services", "namespaces",
                                                                      "endpoints"], _READ),
                    _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
                    _rule([""], ["configmaps"], ["create", "get", "list", "watch", "update"]),
                    _rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["update", "create", "get",
                                                                                    "delete", "watch"]),
                    _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
                    _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"])]
    objects = [
        _service_account("istiod", labels),
        _cluster_role(f"istiod-clusterrole{suffix}", istiod_rules, labels),
        _cluster_role(f"istiod-gateway-controller{suffix}",
                      [_rule(["apps"], ["deployments"], ["get", "watch", "list", "update", "patch", "create",
                                                         "delete"]),
                       _rule([""], ["services", "serviceaccounts"], ["get", "watch", "list", "update", "patch",
                                                                     "create", "delete"])], labels),
        _cluster_role(f"istio-reader-clusterrole{suffix}",
                      [_rule(["*.istio.io"], ["*"], _READ), _rule([""], ["endpoints", "pods", "services", "nodes",
                                                                         "replicationcontrollers", "namespaces",
                                                                         "secrets"], _READ)],
                      {"app": "istio-reader", "release": "istio"}),
        _binding("ClusterRoleBinding", f"istiod-clusterrole{suffix}", f"istiod-clusterrole{suffix}", "istiod",
                 labels),
        _binding("ClusterRoleBinding", f"istiod-gateway-controller{suffix}", f"istiod-gateway-controller{suffix}",
                 "istiod", labels),
        _binding("ClusterRoleBinding", f"istio-reader-clusterrole{suffix}", f"istio-reader-clusterrole{suffix}",
                 "istio-reader-service-account", {"app": "istio-reader", "release": "istio"}),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta("istiod", labels),
         "rules": [_rule(["networking.istio.io"], ["gateways"], ["create"]),
                   _rule([""], ["secrets"], ["create", "get", "watch", "list", "update", "delete"]),
                   _rule([""], ["configmaps"], ["delete"])]},
        _binding("RoleBinding", "istiod", "istiod", "istiod", labels),
        _mesh_config_map(version, spec),
        _injector_config_map(version, spec),
        _istiod_deployment(version, spec),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": _meta("istiod", {"istio.io/rev": "default", "app": "istiod", "istio": "pilot",
                                      "release": "istio"}),
         "spec": {"ports": [{"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
                            {"port": 15012, "name": "https-dns", "protocol": "TCP"},
                            {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
                            {"port": 15014, "name": "http-monitoring", "protocol": "TCP"}],
                  "selector": {"app": "istiod", "istio": "pilot"}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": _meta("istiod", {"app": "istiod", "istio.io/rev": "default", "istio": "pilot",
                                      "release": "istio"}),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "istiod", "istio": "pilot"}}}},
        _webhook("MutatingWebhookConfiguration", "istio-sidecar-injector", "/inject",
                 ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
                  "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"],
                 {"app": "sidecar-injector", "istio.io/rev": "default"}),
        _webhook("ValidatingWebhookConfiguration", f"istio-validator{suffix}", "/validate",
                 ["rev.validation.istio.io"], {"app": "istiod", "istio": "istiod", "istio.io/rev": "default"}),
        _webhook("MutatingWebhookConfiguration", "istio-revision-tag-default", "/inject",
                 ["rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
                  "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"],
                 {"app": "sidecar-injector", "istio.io/rev": "default", "istio.io/tag": "default"}),
        _webhook("ValidatingWebhookConfiguration", "istiod-default-validator", "/validate",
                 ["validation.istio.io"], {"app": "istiod", "istio": "istiod", "istio.io/rev": "default",
                                           "istio.io/tag": "default"}),
    ]
    if values["pilot"].get("autoscaleEnabled"):
        objects.append(_autoscaler("istiod", {"app": "istiod", "istio.io/rev": "default", "release": "istio"},
                                   values["pilot"]))
    return objects


def _mesh_config_map(version: IstioVersion, spec: Obj) -> Obj:
    """configmap.yaml: `mesh` is the merged mesh config (abbreviated defaults), `meshNetworks` empty."""
    mesh: Obj = {"defaultConfig": {"discoveryAddress": f"istiod.{NAMESPACE}.svc:15012"},
                 "rootNamespace": NAMESPACE, "trustDomain": "cluster.local"}
    overlay(mesh, spec.get("meshConfig") or {})
    if not mesh["defaultConfig"].get("proxyMetadata"):
        mesh["defaultConfig"].pop("proxyMetadata", None)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta("istio", {"istio.io/rev": "default", "release": "istio"}),
            "data": {"mesh": yaml.safe_dump(mesh, sort_keys=True).rstrip("\n"), "meshNetworks": "networks: {}"}}


def _injector_config_map(version: IstioVersion, spec: Obj) -> Obj:
    """istiod-injector-configmap.yaml: the values istiod injects with (`pick .Values "global" "istio_cni"
    "sidecarInjectorWebhook" "revision"`, plus `pilot.cni` from 1.22); the templates themselves are modelled in
    `istio.injector`. CNI enablement as istioctl writes it: `istio_cni.enabled` from components.cni.enabled before 1.24
    (operator/pkg/translate/translate.go), `pilot.cni.enabled` from 1.24 (operator/pkg/render/manifest.go)."""
    f = flags(version)
    cni_enabled = bool(((spec.get("components") or {}).get("cni") or {}).get("enabled"))
    webhook = {"defaultTemplates": [], "enableNamespacesByDefault": False, "rewriteAppHTTPProbe": True}
    overlay(webhook, spec["values"].get("sidecarInjectorWebhook") or {})
    values: Obj = {"global": spec["values"]["global"], "revision": "", "sidecarInjectorWebhook": webhook}
    if f.injector_istio_cni_value:
        values["istio_cni"] = {"enabled": cni_enabled, "chained": True}
    if f.injector_pilot_cni_value:
        pilot_cni: Obj = {"enabled": bool(cni_enabled and not f.injector_istio_cni_value), "provider": "default"}
        overlay(pilot_cni, (spec["values"].get("pilot") or {}).get("cni") or {})  # user values win
        values["pilot"] = {"cni": pilot_cni}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta("istio-sidecar-injector", {"istio.io/rev": "default", "release": "istio"}),
            "data": {"values": json.dumps(values, indent=2, sort_keys=True),
                     "config": "# meshrepro: the injection templates are modelled in meshrepro.istio.injector\n"}}


def _istiod_deployment(version: IstioVersion, spec: Obj) -> Obj:
    values = spec["values"]
    f = flags(version)
    pilot = values["pilot"]
    labels = {"app": "istiod", "istio.io/rev": "default", "istio": "pilot", "release": "istio",
              "operator.istio.io/component": "Pilot"}
    pod_labels = {"app": "istiod", "istio.io/rev": "default", "sidecar.istio.io/inject": "false",
                  "operator.istio.io/component": "Pilot", "istio": "pilot"}
    annotations = {"prometheus.io/port": "15014", "prometheus.io/scrape": "true", "sidecar.istio.io/inject": "false"}
    _opt_out(version, pod_labels, annotations)
    env: list[Obj] = [{"name": "REVISION", "value": "default"}]
    if f.istiod_jwt_policy_env:
        env.append({"name": "JWT_POLICY", "value": "third-party-jwt"})
    env += [{"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
            _field_env("POD_NAME", "metadata.name", True), _field_env("POD_NAMESPACE", "metadata.namespace", True),
            _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName", True),
            {"name": "KUBECONFIG", "value": "/var/run/secrets/remote/config"}]
    user_env = {str(k): _go_text(v) for k, v in (pilot.get("env") or {}).items()}
    if f.istiod_ca_trusted_node_accounts_default and "CA_TRUSTED_NODE_ACCOUNTS" not in user_env:
        env.append({"name": "CA_TRUSTED_NODE_ACCOUNTS", "value": f"{NAMESPACE}/ztunnel"})
    env += [{"name": key, "value": user_env[key]} for key in sorted(user_env)]
    if pilot.get("traceSampling"):
        env.append({"name": "PILOT_TRACE_SAMPLING", "value": _go_text(pilot["traceSampling"])})
    env += [{"name": "PILOT_ENABLE_ANALYSIS", "value": "false"}, {"name": "CLUSTER_ID", "value": "Kubernetes"},
            _resource_env("GOMEMLIMIT", "limits.memory"), _resource_env("GOMAXPROCS", "limits.cpu"),
            {"name": "PLATFORM", "value": ""}]
    if f.istiod_named_container_ports:
        ports = [{"containerPort": port, "protocol": "TCP", "name": name} for port, name in (
            (8080, "http-debug"), (15010, "grpc-xds"), (15012, "tls-xds"), (15017, "https-webhooks"),
            (15014, "http-monitoring"))]
    else:
        ports = [{"containerPort": port, "protocol": "TCP"} for port in (8080, 15010, 15017)]
    container = {
        "name": "discovery", "image": _image(spec, "pilot", "pilot"),
        "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info", "--domain",
                 "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"],
        "ports": ports,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 1,
                           "periodSeconds": 3, "timeoutSeconds": 5},
        "env": env,
        "resources": {"requests": {"cpu": "500m", "memory": "2048Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "istio-token", "mountPath": "/var/run/secrets/tokens", "readOnly": True},
                         {"name": "local-certs", "mountPath": "/var/run/secrets/istio-dns"},
                         {"name": "cacerts", "mountPath": "/etc/cacerts", "readOnly": True},
                         {"name": "istio-kubeconfig", "mountPath": "/var/run/secrets/remote", "readOnly": True},
                         {"name": "istio-csr-dns-cert", "mountPath": "/var/run/secrets/istiod/tls", "readOnly": True},
                         {"name": "istio-csr-ca-configmap", "mountPath": "/var/run/secrets/istiod/ca",
                          "readOnly": True}],
    }
    spec: Obj = {
        "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
        "selector": {"matchLabels": {"istio": "pilot"}},
        "template": {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": {
            "serviceAccountName": "istiod", "containers": [container],
            "volumes": [
                {"name": "local-certs", "emptyDir": {"medium": "Memory"}},
                {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
                    "audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
                {"name": "cacerts", "secret": {"secretName": "cacerts", "optional": True}},
                {"name": "istio-kubeconfig", "secret": {"secretName": "istio-kubeconfig", "optional": True}},
                {"name": "istio-csr-dns-cert", "secret": {"secretName": "istiod-tls", "optional": True}},
                {"name": "istio-csr-ca-configmap", "configMap": {"name": "istio-ca-root-cert", "defaultMode": 420,
                                                                 "optional": True}}]}},
    }
    if not pilot.get("autoscaleEnabled") and pilot.get("replicaCount"):
        spec = {"replicas": pilot["replicaCount"], **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("istiod", labels), "spec": spec}


def _webhook(kind: str, name: str, path: str, hooks: list[str],
             labels: dict[str, str]) -> Obj:
    """mutatingwebhook.yaml / validatingwebhookconfiguration.yaml and the default revision tag's copies
    (rules abbreviated; the CA bundle is filled in by istiod)."""
    entries = []
    for hook in hooks:
        entry: Obj = {"name": hook, "clientConfig": {"service": {"name": "istiod", "namespace": NAMESPACE,
                                                                 "path": path, "port": 443}},
                      "admissionReviewVersions": ["v1", "v1beta1"] if kind.startswith("Mutating") else ["v1"],
                      "sideEffects": "None", "failurePolicy": "Fail" if kind.startswith("Mutating") else "Ignore"}
        if kind.startswith("Mutating"):
            entry["rules"] = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                               "resources": ["pods"]}]
            entry["reinvocationPolicy"] = "Never"
            entry.update(_injector_selectors(hook, active=name != "istio-sidecar-injector"))
        else:
            entry["rules"] = [{"apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                             "extensions.istio.io"], "apiVersions": ["*"],
                               "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]
        entries.append(entry)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": _meta(name, labels, namespaced=False), "webhooks": entries}


# istioctl/pkg/util/common.go NeverMatch: what `istioctl install` leaves on istio-sidecar-injector once it has made
# the default revision tag (istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook, run by revtag.Generate).
NEVER_MATCH: Obj = {"matchExpressions": [{"key": "istio.io/deactivated", "operator": "In", "values": ["never-match"]}]}


def _injector_selectors(hook: str, *, active: bool) -> Obj:
    """namespaceSelector / objectSelector of each injection webhook (templates/mutatingwebhook.yaml and
    revision-tags.yaml, the same in 1.18-1.27 for the default revision and the `default` tag)."""
    if not active:
        return {"namespaceSelector": copy.deepcopy(NEVER_MATCH), "objectSelector": copy.deepcopy(NEVER_MATCH)}

    def expr(key: str, operator: str, *values: str) -> Obj:
        return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}

    not_disabled = expr("sidecar.istio.io/inject", "NotIn", "false")
    selectors = {
        "rev.namespace.sidecar-injector.istio.io": (
            [expr("istio.io/rev", "In", "default"), expr("istio-injection", "DoesNotExist")], [not_disabled]),
        "rev.object.sidecar-injector.istio.io": (
            [expr("istio.io/rev", "DoesNotExist"), expr("istio-injection", "DoesNotExist")],
            [not_disabled, expr("istio.io/rev", "In", "default")]),
        "namespace.sidecar-injector.istio.io": ([expr("istio-injection", "In", "enabled")], [not_disabled]),
        "object.sidecar-injector.istio.io": (
            [expr("istio-injection", "DoesNotExist"), expr("istio.io/rev", "DoesNotExist")],
            [expr("sidecar.istio.io/inject", "In", "true"), expr("istio.io/rev", "DoesNotExist")]),
    }
    namespace, obj = selectors[hook]
    return {"namespaceSelector": {"matchExpressions": namespace}, "objectSelector": {"matchExpressions": obj}}


def _autoscaler(name: str, labels: dict[str, str], values: Obj) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(name, labels),
            "spec": {"maxReplicas": values.get("autoscaleMax", 5), "minReplicas": values.get("autoscaleMin", 1),
                     "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 80}}}]}}


def cni_objects(version: IstioVersion, spec: Obj) -> list[Obj]:
    """manifests/charts/istio-cni/templates."""
    cni = spec["values"]["cni"]
    ambient = bool((cni.get("ambient") or {}).get("enabled"))
    labels = {"app": "istio-cni", "release": "istio", "istio.io/rev": "default"}
    rules = [_rule([""], ["pods", "nodes", "namespaces"], _READ)]
    objects = [
        _service_account("istio-cni", labels),
        _cluster_role("istio-cni", rules, labels),
        _cluster_role("istio-cni-repair-role", [_rule([""], ["pods"], ["watch", "get", "list"])], labels),
        _binding("ClusterRoleBinding", "istio-cni", "istio-cni", "istio-cni", labels),
        _binding("ClusterRoleBinding", "istio-cni-repair-rolebinding", "istio-cni-repair-role", "istio-cni", labels),
    ]
    if ambient:
        objects += [_cluster_role("istio-cni-ambient", [_rule([""], ["pods/status"], ["patch", "update"])], labels),
                    _binding("ClusterRoleBinding", "istio-cni-ambient", "istio-cni-ambient", "istio-cni", labels)]
    network_config = {"cniVersion": "0.3.1", "name": "istio-cni", "type": "istio-cni",
                      "log_level": cni.get("logLevel", "info"), "log_uds_address": "__LOG_UDS_ADDRESS__"}
    if ambient:
        network_config["ambient_enabled"] = True
    network_config["kubernetes"] = {"kubeconfig": "__KUBECONFIG_FILEPATH__", "cni_bin_dir": "/opt/cni/bin",
                                    "exclude_namespaces": list(cni.get("excludeNamespaces") or [])}
    objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("istio-cni-config", labels),
                    "data": {"cni_network_config": json.dumps(network_config, indent=2)}})
    objects.append(_cni_daemonset(version, spec, ambient))
    return objects


def _cni_daemonset(version: IstioVersion, spec: Obj, ambient: bool) -> Obj:
    cni = spec["values"]["cni"]
    pod_labels = {"k8s-app": "istio-cni-node", "sidecar.istio.io/inject": "false"}
    annotations = {"sidecar.istio.io/inject": "false", "prometheus.io/scrape": "true", "prometheus.io/port": "15014",
                   "prometheus.io/path": "/metrics"}
    _opt_out(version, pod_labels, annotations)
    env: list[Obj] = [
        {"name": "CNI_NETWORK_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "istio-cni-config",
                                                                         "key": "cni_network_config"}}},
        {"name": "CNI_NET_DIR", "value": "/etc/cni/net.d"}, {"name": "CHAINED_CNI_PLUGIN", "value": "true"},
        {"name": "REPAIR_ENABLED", "value": "true"}, _field_env("REPAIR_NODE_NAME", "spec.nodeName"),
        _field_env("NODE_NAME", "spec.nodeName", True), {"name": "LOG_LEVEL", "value": str(cni.get("logLevel"))}]
    if ambient:
        env.append({"name": "AMBIENT_ENABLED", "value": "true"})
    env += [_resource_env("GOMEMLIMIT", "limits.memory"), _resource_env("GOMAXPROCS", "limits.cpu")]
    mounts = [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
              {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"},
              {"mountPath": "/var/run/istio-cni", "name": "cni-log-dir"}]
    volumes = [{"name": "cni-bin-dir", "hostPath": {"path": "/opt/cni/bin"}},
               {"name": "cni-net-dir", "hostPath": {"path": "/etc/cni/net.d"}},
               {"name": "cni-log-dir", "hostPath": {"path": "/var/run/istio-cni"}}]
    if ambient:
        mounts.append({"mountPath": "/var/run/netns", "mountPropagation": "HostToContainer", "name": "cni-netns-dir"})
        volumes.append({"name": "cni-netns-dir", "hostPath": {"path": "/var/run/netns", "type": "Directory"}})
    pod_spec: Obj = {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"effect": "NoSchedule", "operator": "Exists"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"effect": "NoExecute", "operator": "Exists"}],
        "priorityClassName": "system-node-critical", "serviceAccountName": "istio-cni",
        "terminationGracePeriodSeconds": 5,
        "containers": [{
            "name": "install-cni", "image": _image(spec, "install-cni", "cni"), "command": ["install-cni"],
            "args": ["--log_output_level=default:info"],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8000}},
            "securityContext": {"runAsGroup": 0, "runAsUser": 0, "runAsNonRoot": False,
                                "privileged": bool(cni.get("privileged"))},
            "env": env, "volumeMounts": mounts,
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}],
        "volumes": volumes,
    }
    if ambient:
        pod_spec = {"hostNetwork": True, **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": _meta("istio-cni-node", {"k8s-app": "istio-cni-node", "release": "istio",
                                                 "istio.io/rev": "default", "operator.istio.io/component": "Cni"}),
            "spec": {"selector": {"matchLabels": {"k8s-app": "istio-cni-node"}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                     "template": {"metadata": {"labels": pod_labels, "annotations": annotations},
                                  "spec": pod_spec}}}


def ztunnel_objects(version: IstioVersion, spec: Obj) -> list[Obj]:
    """manifests/charts/ztunnel/templates: rbac.yaml's ServiceAccount and daemonset.yaml."""
    mesh_metadata = ((spec.get("meshConfig") or {}).get("defaultConfig") or {}).get("proxyMetadata") or {}
    pod_labels = {"sidecar.istio.io/inject": "false", "app": "ztunnel"}
    annotations = {"cni.projectcalico.org/allowedSourcePrefixes": '["0.0.0.0/0"]', "sidecar.istio.io/inject": "false"}
    _opt_out(version, pod_labels, annotations)
    istiod = f"istiod.{NAMESPACE}.svc:15012"
    env: list[Obj] = [{"name": "CA_ADDRESS", "value": istiod}, {"name": "XDS_ADDRESS", "value": istiod},
                      {"name": "CLUSTER_ID", "value": "Kubernetes"},
                      _field_env("POD_NAME", "metadata.name"), _field_env("POD_NAMESPACE", "metadata.namespace"),
                      _field_env("NODE_NAME", "spec.nodeName"), _field_env("INSTANCE_IP", "status.podIP"),
                      _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName")]
    env += [{"name": key, "value": str(mesh_metadata[key])} for key in sorted(mesh_metadata)]
    daemonset = {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta("ztunnel", {}),
        "spec": {
            "updateStrategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "selector": {"matchLabels": {"app": "ztunnel"}},
            "template": {"metadata": {"labels": pod_labels, "annotations": annotations}, "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"}, "serviceAccountName": "ztunnel",
                "tolerations": [{"effect": "NoSchedule", "operator": "Exists"},
                                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"effect": "NoExecute", "operator": "Exists"}],
                "containers": [{
                    "name": "istio-proxy", "image": _image(spec, "ztunnel", "ztunnel"),
                    "ports": [{"containerPort": 15020, "name": "ztunnel-stats", "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "500m", "memory": "2048Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                                        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
                                        "readOnlyRootFilesystem": True, "runAsGroup": 1337, "runAsNonRoot": False,
                                        "runAsUser": 0},
                    "readinessProbe": {"httpGet": {"port": 15021, "path": "/healthz/ready"}},
                    "args": ["proxy", "ztunnel"], "env": env,
                    "volumeMounts": [{"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"},
                                     {"mountPath": "/var/run/secrets/tokens", "name": "istio-token"}]}],
                "terminationGracePeriodSeconds": 30,
                "volumes": [{"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
                                "path": "istio-token", "expirationSeconds": 43200, "audience": "istio-ca"}}]}},
                            {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}}]}}},
    }
    return [_service_account("ztunnel", {}), daemonset]


def gateway_objects(version: IstioVersion, spec: Obj, name: str, kind: str) -> list[Obj]:
    """manifests/charts/gateways/istio-{ingress,egress}/templates for one gateway."""
    values = spec["values"]["gateways"].get(name) or {}
    short = "ingressgateway" if kind == "ingress" else "egressgateway"
    labels = {"app": name, "istio": short, "release": "istio", "istio.io/rev": "default"}
    if kind == "ingress":
        service_ports = [(15021, 15021, "status-port"), (80, 8080, "http2"), (443, 8443, "https")]
        service_type = "LoadBalancer"
    else:
        service_ports = [(80, 8080, "http2"), (443, 8443, "https")]
        service_type = "ClusterIP"
    pod_labels = {"app": name, "istio": short, "sidecar.istio.io/inject": "false",
                  "service.istio.io/canonical-name": name, "service.istio.io/canonical-revision": "latest",
                  "istio.io/rev": "default"}
    env = [{"name": "PILOT_CERT_PROVIDER", "value": "istiod"},
           {"name": "CA_ADDR", "value": f"istiod.{NAMESPACE}.svc:15012"},
           _field_env("NODE_NAME", "spec.nodeName", True), _field_env("POD_NAME", "metadata.name", True),
           _field_env("POD_NAMESPACE", "metadata.namespace", True), _field_env("INSTANCE_IP", "status.podIP", True),
           _field_env("HOST_IP", "status.hostIP", True),
           _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
           {"name": "ISTIO_META_WORKLOAD_NAME", "value": name},
           {"name": "ISTIO_META_OWNER", "value": f"kubernetes://apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"},
           {"name": "ISTIO_META_MESH_ID", "value": "cluster.local"}, {"name": "TRUST_DOMAIN", "value": "cluster.local"},
           {"name": "ISTIO_META_UNPRIVILEGED_POD", "value": "true"},
           {"name": "ISTIO_META_CLUSTER_ID", "value": "Kubernetes"},
           _field_env("ISTIO_META_NODE_NAME", "spec.nodeName")]
    container_ports = [{"containerPort": target, "protocol": "TCP", "name": port_name}
                       for _, target, port_name in service_ports]
    container_ports.append({"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"})
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, labels),
        "spec": {"selector": {"matchLabels": {"app": name, "istio": short}},
                 "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
                 "template": {"metadata": {"labels": pod_labels, "annotations": {
                     "prometheus.io/port": "15020", "prometheus.io/scrape": "true",
                     "prometheus.io/path": "/stats/prometheus", "sidecar.istio.io/inject": "false"}},
                     "spec": {"securityContext": {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True,
                                                  "fsGroup": 1337},
                              "serviceAccountName": f"{name}-service-account",
                              "containers": [{
                                  "name": "istio-proxy", "image": _image(spec, "proxyv2", "proxy"),
                                  "ports": container_ports,
                                  "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                                           "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
                                           "--log_output_level=default:info"],
                                  "readinessProbe": {"failureThreshold": 30, "httpGet": {
                                      "path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
                                      "initialDelaySeconds": 1, "periodSeconds": 2, "successThreshold": 1,
                                      "timeoutSeconds": 1},
                                  "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                "limits": {"cpu": "2000m", "memory": "1024Mi"}},
                                  "env": env,
                                  "volumeMounts": [{"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
                                                   {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
                                                   {"name": "istio-token", "mountPath": "/var/run/secrets/tokens",
                                                    "readOnly": True}]}],
                              "volumes": [{"name": "istio-envoy", "emptyDir": {}},
                                          {"name": "istiod-ca-cert",
                                           "configMap": {"name": "istio-ca-root-cert"}},
                                          {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
                                              "audience": "istio-ca", "expirationSeconds": 43200,
                                              "path": "istio-token"}}]}}]}}}}
    if not values.get("autoscaleEnabled", True):
        deployment["spec"] = {"replicas": 1, **deployment["spec"]}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, labels),
               "spec": {"type": service_type, "selector": {"app": name, "istio": short},
                        "ports": [{"name": port_name, "port": port, "protocol": "TCP", "targetPort": target}
                                  for port, target, port_name in service_ports]}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(f"{name}-sds", labels),
            "rules": [_rule([""], ["secrets"], ["get", "watch", "list"])]}
    objects = [_service_account(f"{name}-service-account", labels), deployment, service, role,
               _binding("RoleBinding", f"{name}-sds", f"{name}-sds", f"{name}-service-account", labels),
               {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(name, labels),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name, "istio": short}}}}]
    if values.get("autoscaleEnabled", True):
        objects.append(_autoscaler(name, labels, values))
    return objects


def _go_text(value: Any) -> str:
    """Helm's `"{{ $val }}"` of a YAML value: 1.0 prints as 1, a bool as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
