"""The API server's defaulting (`SetDefaults_*` in pkg/apis/*/v1/defaults.go and the `+default`
tags), plus the empty structs Go's JSON encoding always writes, so that a defaulted object looks
like `kubectl get -o yaml` (kubectl sorts keys, so order does not matter).

Not here, because other parts of the API server do them: `serviceAccountName`, `priority`,
`preemptionPolicy`, default tolerations (admission plugins), generated
selectors and labels of Jobs (registry strategy, needs the UID), clusterIP allocation, `status: {}`.
Service `ipFamilies`/`ipFamilyPolicy` and Namespace `spec.finalizers` also come from registry
strategies, but depend on nothing but the object on a single-stack IPv4 cluster (kind's default),
so they are applied here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshrepro.manifests.values import clone
from meshrepro.sim.versions import Flags

Obj = dict[str, Any]


def apply_defaults(obj: Obj, features: Flags) -> Obj:
    """A defaulted copy of `obj`, as the API server of that release stores it.

    `features` is the release's Kubernetes behaviour flags (`kube.versions.flags(version)`), handed in
    because this layer may not import `kube`.
    """
    result = clone(obj)
    group_kind = (str(result.get("apiVersion", "")).rpartition("/")[0], result.get("kind"))
    handler = _BY_KIND.get(group_kind)
    if handler is not None:
        handler(result, features)
    return result


def _sub(parent: Obj, key: str) -> Obj:
    """parent[key] as a dict, created if absent or null."""
    if not isinstance(parent.get(key), dict):
        parent[key] = {}
    return parent[key]


def _pod(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    _pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)  # SetDefaults_Pod only: templates do not get it
    for container in spec.get("containers") or []:
        _requests_from_limits(container)
    for container in spec.get("initContainers") or []:
        _requests_from_limits(container)
    if spec.get("hostNetwork"):
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for port in container.get("ports") or []:
                port.setdefault("hostPort", port.get("containerPort"))


def _requests_from_limits(container: Obj) -> None:
    limits = (container.get("resources") or {}).get("limits")
    if limits:
        requests = _sub(container["resources"], "requests")
        for name, value in limits.items():
            requests.setdefault(name, value)


def _template(template: Obj, features: Flags) -> None:
    metadata = _sub(template, "metadata")
    if not features.omit_null_creation_timestamp:
        metadata.setdefault("creationTimestamp", None)  # metav1.Time is a struct: encoded as null
    _pod_spec(_sub(template, "spec"))


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            _container(container)
    for volume in spec.get("volumes") or []:
        _volume(volume)


def _container(container: Obj) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if image_tag(str(container.get("image", ""))) == "latest" \
            else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})  # a struct, never omitted by encoding/json
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(probe), dict):
            _probe(container[probe])
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def image_tag(image: str) -> str:
    """The tag parsers.ParseImageName finds: `latest` when there is neither tag nor digest."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def _probe(probe: Obj) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("path", "/")
        probe["httpGet"].setdefault("scheme", "HTTP")


_VOLUME_SOURCES = ("secret", "configMap", "downwardAPI", "projected")


def _volume(volume: Obj) -> None:
    if not any(key != "name" for key in volume):
        volume["emptyDir"] = {}
    for key in _VOLUME_SOURCES:
        if isinstance(volume.get(key), dict):
            volume[key].setdefault("defaultMode", 420)
    for source in (volume.get("projected") or {}).get("sources") or []:
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            token.setdefault("expirationSeconds", 3600)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")


def _deployment(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _sub(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(_sub(spec, "template"), features)


def _replica_set(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(_sub(spec, "template"), features)


def _daemon_set(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    strategy = _sub(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(_sub(spec, "template"), features)


def _stateful_set(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _sub(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        _sub(strategy, "rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)
    if features.statefulset_pvc_retention_policy:
        policy = _sub(spec, "persistentVolumeClaimRetentionPolicy")
        policy.setdefault("whenDeleted", "Retain")
        policy.setdefault("whenScaled", "Retain")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(_sub(spec, "template"), features)
    for claim in spec.get("volumeClaimTemplates") or []:
        _sub(claim, "spec").setdefault("volumeMode", "Filesystem")


def _job(obj: Obj, features: Flags) -> None:
    _job_spec(_sub(obj, "spec"), features)
    labels = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels")
    if labels and not (obj.get("metadata") or {}).get("labels"):
        _sub(obj, "metadata")["labels"] = dict(labels)


def _job_spec(spec: Obj, features: Flags) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if features.job_pod_replacement_policy:
        spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    if features.job_manual_selector:
        spec.setdefault("manualSelector", False)
    _template(_sub(spec, "template"), features)


def _cron_job(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = _sub(spec, "jobTemplate")
    _job_spec(_sub(job_template, "spec"), features)
    if not features.omit_null_creation_timestamp:
        _sub(job_template, "metadata").setdefault("creationTimestamp", None)


def _service(obj: Obj, features: Flags) -> None:
    spec = _sub(obj, "spec")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = _sub(_sub(spec, "sessionAffinityConfig"), "clientIP")
        client_ip.setdefault("timeoutSeconds", 10800)
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    kind = spec["type"]
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if kind != "ExternalName":  # the service registry's choice on a single-stack IPv4 cluster
        headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        spec.setdefault("ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])


def _namespace(obj: Obj, features: Flags) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        _sub(_sub(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = name
    _sub(obj, "spec").setdefault("finalizers", ["kubernetes"])  # namespace strategy PrepareForCreate
    _sub(obj, "status").setdefault("phase", "Active")


def _secret(obj: Obj, features: Flags) -> None:
    obj.setdefault("type", "Opaque")


def _endpoints(obj: Obj, features: Flags) -> None:
    for subset in obj.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _pvc(obj: Obj, features: Flags) -> None:
    _sub(obj, "spec").setdefault("volumeMode", "Filesystem")
    _sub(obj, "status").setdefault("phase", "Pending")


_BY_KIND: dict[tuple[str, Any], Callable[[Obj, Flags], None]] = {
    ("", "Pod"): _pod,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("", "Secret"): _secret,
    ("", "Endpoints"): _endpoints,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "PodTemplate"): lambda obj, features: _template(_sub(obj, "template"), features),
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replica_set,
    ("apps", "DaemonSet"): _daemon_set,
    ("apps", "StatefulSet"): _stateful_set,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cron_job,
}
