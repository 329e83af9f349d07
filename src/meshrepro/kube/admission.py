"""Admission: the chain every create and update passes after authorization and before storage.

Order as in kube-apiserver's default plugin list for what is modelled here: NamespaceLifecycle,
ServiceAccount, defaulting, then mutating webhooks (the seam Istio's injector uses), then
validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshrepro.kube import status as api_status
from meshrepro.kube.podvalidation import validate_probes
from meshrepro.kube.rbac import User
from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.kube.versions import Flags, KubeVersion, flags
from meshrepro.manifests.defaults import apply_defaults
from meshrepro.manifests.kinds import KindInfo
from meshrepro.manifests.values import clone

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_VOLUME_PREFIX = "kube-api-access-"
NAMESPACES = ResourceKey("", "namespaces")
SERVICE_ACCOUNTS = ResourceKey("", "serviceaccounts")

Denial = tuple[int, dict[str, Any]]


@dataclass
class AdmissionRequest:
    operation: str  # CREATE | UPDATE
    user: User
    kind: KindInfo
    namespace: str
    name: str
    object: Obj
    old_object: Obj | None
    query: dict[str, list[str]]


# A mutating webhook: returns the mutated object, a denial, or None to leave it alone.
MutatingHook = Callable[[AdmissionRequest], "Obj | Denial | None"]


@dataclass
class Admission:
    store: Store
    version: KubeVersion
    random_suffix: Callable[[int], str]
    mutating_hooks: list[tuple[str, MutatingHook]] = field(default_factory=list)
    validators: list[Callable[[AdmissionRequest], Denial | None]] = field(default_factory=list)

    def admit(self, request: AdmissionRequest) -> Obj | Denial:
        denial = self._namespace_lifecycle(request)
        if denial is not None:
            return denial
        obj = apply_defaults(request.object, flags(self.version))
        _drop_disabled_fields(obj, flags(self.version))
        request = _with_object(request, obj)
        if request.kind.kind == "Pod" and request.operation == "CREATE":
            result = self._service_account(request)
            if isinstance(result, tuple):
                return result
            request = _with_object(request, _priority_and_tolerations(result))
        mutated = False
        for _, hook in self.mutating_hooks:
            result = hook(request)
            if isinstance(result, tuple):
                return result
            if result is not None:
                request = _with_object(request, result)
                mutated = True
        if mutated:
            # A webhook changed the object: the API server defaults the patched object, and its reinvoker runs the
            # in-tree mutating plugins again (admission.NewReinvocationHandler), so containers a webhook added get
            # the ServiceAccount token mount too.
            obj = apply_defaults(request.object, flags(self.version))
            _drop_disabled_fields(obj, flags(self.version))
            request = _with_object(request, obj)
            if request.kind.kind == "Pod" and request.operation == "CREATE":
                result = self._service_account(request)
                if isinstance(result, tuple):
                    return result
                request = _with_object(request, result)
        for validate in self.validators:
            denial = validate(request)
            if denial is not None:
                return denial
        return request.object

    def _namespace_lifecycle(self, request: AdmissionRequest) -> Denial | None:
        if not request.kind.namespaced or request.operation != "CREATE":
            return None
        namespace = self.store.peek(NAMESPACES, "", request.namespace)
        if namespace is None:
            return api_status.not_found("", "namespaces", request.namespace)
        if "deletionTimestamp" in namespace["metadata"]:
            return api_status.forbidden_message(
                request.kind.group, request.kind.plural, request.name,
                f"unable to create new content in namespace {request.namespace} because it is being terminated")
        return None

    def _service_account(self, request: AdmissionRequest) -> Obj | Denial:
        """plugin/pkg/admission/serviceaccount: default SA, its existence, and the projected token volume."""
        pod = clone(request.object)
        spec = pod.setdefault("spec", {})
        if pod.get("metadata", {}).get("annotations", {}).get("kubernetes.io/config.mirror"):
            return pod  # mirror pods of static pods are never touched
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = "default"
        sa_name = spec["serviceAccountName"]
        sa = self.store.peek(SERVICE_ACCOUNTS, request.namespace, sa_name)
        if sa is None:
            return api_status.forbidden_message(
                "", "pods", request.name,
                f"error looking up service account {request.namespace}/{sa_name}: "
                f'serviceaccount "{sa_name}" not found')
        spec["serviceAccount"] = sa_name  # the deprecated alias the registry still fills in
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = sa.get("automountServiceAccountToken", True)
        if not automount:
            return pod
        volumes = spec.setdefault("volumes", [])
        existing = next((v["name"] for v in volumes if v.get("name", "").startswith(SA_VOLUME_PREFIX)), None)
        volume_name = existing or SA_VOLUME_PREFIX + self.random_suffix(5)
        mounted = False
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            mounts = container.setdefault("volumeMounts", [])
            if any(m.get("mountPath") == SA_MOUNT_PATH for m in mounts):
                continue  # the container mounts its own volume at the token path
            mounts.append({"name": volume_name, "readOnly": True, "mountPath": SA_MOUNT_PATH})
            mounted = True
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            if not container.get("volumeMounts"):
                container.pop("volumeMounts", None)
        if mounted and existing is None:
            volumes.append(token_volume(volume_name))
        if not volumes:
            spec.pop("volumes", None)
        return pod


_TEMPLATE_KINDS = {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"}


def validate_pod_probes(request: AdmissionRequest, version: KubeVersion) -> Denial | None:
    """The probe checks of pod validation, for pods and the pod templates of workloads."""
    obj = request.object
    if request.kind.kind == "Pod":
        spec, path = obj.get("spec") or {}, "spec"
    elif request.kind.kind in _TEMPLATE_KINDS:
        spec, path = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}, "spec.template.spec"
    else:
        return None
    errors = validate_probes(spec, path, flags(version).sidecar_containers)
    return api_status.invalid(request.kind, request.name, errors) if errors else None


def _drop_disabled_fields(obj: Obj, features: Flags) -> None:
    """dropDisabledPodFields: a field whose feature gate is off is silently removed on write (1.28's sidecars)."""
    if features.sidecar_containers:
        return
    spec = obj.get("spec") or {}
    template = spec.get("template") if obj.get("kind") != "Pod" else None
    pod_spec = (template or {}).get("spec") if template is not None else spec
    for container in (pod_spec or {}).get("initContainers") or []:
        container.pop("restartPolicy", None)


def _priority_and_tolerations(pod: Obj) -> Obj:
    """The Priority and DefaultTolerationSeconds plugins: priority 0 and 300 s not-ready/unreachable tolerations."""
    spec = pod["spec"]
    priorities = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
    spec.setdefault("priority", priorities.get(spec.get("priorityClassName", ""), 0))
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key or (t.get("operator") == "Exists" and not t.get("key")) for t in tolerations):
            tolerations.append({"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300})
    return pod


def token_volume(name: str) -> Obj:
    """The projected volume the ServiceAccount admission plugin adds."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }


def _with_object(request: AdmissionRequest, obj: Obj) -> AdmissionRequest:
    return AdmissionRequest(request.operation, request.user, request.kind, request.namespace, request.name, obj,
                            request.old_object, request.query)
