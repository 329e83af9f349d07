"""The kinds meshrepro knows, and how kubectl resolves a resource name (`deploy`, `pods`,
`deployments.apps`, `Deployment`) to one of them.

Names, short names, scopes and categories are those of the API server's discovery documents.
Resolution follows kubectl's RESTMapper: exact plural, singular, short name or kind, case
insensitive, optionally qualified with `.group` or `.version.group`; when two groups serve the
same name, the earlier one in discovery order wins (the core group first, so `ev` and `events`
mean core/v1 Events, as with `kubectl get events`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KindInfo:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False  # served from a CustomResourceDefinition (no strategic merge patch)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified_plural(self) -> str:
        """`deployments.apps`, or `pods` for the core group (kubectl's `resource.group`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _k(api_version: str, kind: str, plural: str, namespaced: bool, *short: str,
       categories: tuple[str, ...] = ()) -> KindInfo:
    group, _, version = api_version.rpartition("/")
    return KindInfo(group, version, kind, plural, namespaced, tuple(short), categories)


_ALL = ("all",)

# Discovery order: core group first, then the aggregated groups in the order the API server lists them.
BUILTIN: tuple[KindInfo, ...] = (
    _k("v1", "Pod", "pods", True, "po", categories=_ALL),
    _k("v1", "Service", "services", True, "svc", categories=_ALL),
    _k("v1", "ServiceAccount", "serviceaccounts", True, "sa"),
    _k("v1", "Namespace", "namespaces", False, "ns"),
    _k("v1", "Node", "nodes", False, "no"),
    _k("v1", "ConfigMap", "configmaps", True, "cm"),
    _k("v1", "Secret", "secrets", True),
    _k("v1", "Event", "events", True, "ev"),
    _k("v1", "Endpoints", "endpoints", True, "ep"),
    _k("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc"),
    _k("v1", "PersistentVolume", "persistentvolumes", False, "pv"),
    _k("v1", "ReplicationController", "replicationcontrollers", True, "rc", categories=_ALL),
    _k("v1", "PodTemplate", "podtemplates", True),
    _k("v1", "LimitRange", "limitranges", True, "limits"),
    _k("v1", "ResourceQuota", "resourcequotas", True, "quota"),
    _k("apiregistration.k8s.io/v1", "APIService", "apiservices", False),
    _k("apps/v1", "Deployment", "deployments", True, "deploy", categories=_ALL),
    _k("apps/v1", "ReplicaSet", "replicasets", True, "rs", categories=_ALL),
    _k("apps/v1", "DaemonSet", "daemonsets", True, "ds", categories=_ALL),
    _k("apps/v1", "StatefulSet", "statefulsets", True, "sts", categories=_ALL),
    _k("apps/v1", "ControllerRevision", "controllerrevisions", True),
    _k("events.k8s.io/v1", "Event", "events", True, "ev"),
    _k("authentication.k8s.io/v1", "TokenReview", "tokenreviews", False),
    _k("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", False),
    _k("authorization.k8s.io/v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
    _k("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
    _k("authorization.k8s.io/v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
    _k("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", False),
    _k("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa", categories=_ALL),
    _k("batch/v1", "CronJob", "cronjobs", True, "cj", categories=_ALL),
    _k("batch/v1", "Job", "jobs", True, categories=_ALL),
    _k("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _k("networking.k8s.io/v1", "Ingress", "ingresses", True, "ing"),
    _k("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, "netpol"),
    _k("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb"),
    _k("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _k("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    _k("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    _k("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    _k("storage.k8s.io/v1", "StorageClass", "storageclasses", False, "sc"),
    _k("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
    _k("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
       "validatingwebhookconfigurations", False),
    _k("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False, "crd", "crds"),
    _k("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", False, "pc"),
    _k("coordination.k8s.io/v1", "Lease", "leases", True),
    _k("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
)

# Kinds that are only a request or response body of a subresource, never a resource of their own.
SUBRESOURCE_KINDS: dict[tuple[str, str], str] = {
    ("authentication.k8s.io/v1", "TokenRequest"): "serviceaccounts/token",
    ("policy/v1", "Eviction"): "pods/eviction",
}


class KindRegistry:
    """Built-in kinds plus the custom resources of one simulated cluster (no global state)."""

    def __init__(self, kinds: Iterable[KindInfo] = BUILTIN) -> None:
        self._kinds: list[KindInfo] = list(kinds)

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._kinds)

    def by_kind(self, api_version: str, kind: str) -> KindInfo | None:
        """The kind an object's `apiVersion` and `kind` name, as the API server matches them (exactly)."""
        for info in self._kinds:
            if info.api_version == api_version and info.kind == kind:
                return info
        return None

    def resolve(self, name: str) -> KindInfo | None:
        """What `kubectl get NAME` means: `po`, `pods`, `pod`, `Pod`, `deployments.apps`,
        `deployments.v1.apps`; None when the server has no such resource type."""
        lowered = name.lower()
        for resource, group, version in _splits(lowered):
            for info in self._kinds:
                if group is not None and info.group != group:
                    continue
                if version is not None and info.version != version:
                    continue
                if resource in (info.plural, info.singular) or resource in info.short_names:
                    return info
        return None

    def in_category(self, category: str) -> list[KindInfo]:
        """`kubectl get all`: the kinds of a category, in discovery order."""
        return [info for info in self._kinds if category in info.categories]

    def add_custom(self, crd: dict[str, Any]) -> list[KindInfo]:
        """Register the served versions of a CustomResourceDefinition object; returns them."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        added = []
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            info = KindInfo(
                group=str(spec.get("group", "")),
                version=str(version.get("name", "")),
                kind=str(names.get("kind", "")),
                plural=str(names.get("plural", "")),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                custom=True,
            )
            self._kinds = [k for k in self._kinds if (k.api_version, k.kind) != (info.api_version, info.kind)]
            self._kinds.append(info)
            added.append(info)
        return added

    def remove_custom(self, group: str, plural: str) -> None:
        """Forget a CustomResourceDefinition's kinds (the CRD was deleted)."""
        self._kinds = [k for k in self._kinds if not (k.custom and k.group == group and k.plural == plural)]


def _splits(name: str) -> Iterator[tuple[str, str | None, str | None]]:
    """`a.b.c` may be resource `a` of group `b.c`, resource `a` version `b` of group `c`, or a
    resource called `a.b.c`; kubectl tries resource.version.group first, then resource.group."""
    parts = name.split(".")
    if len(parts) >= 3:
        yield parts[0], ".".join(parts[2:]), parts[1]
    if len(parts) >= 2:
        yield parts[0], ".".join(parts[1:]), None
    yield name, None, None


def unknown_resource_message(name: str) -> str:
    """kubectl's error for `kubectl get NAME` when no resource type matches."""
    return f'error: the server doesn\'t have a resource type "{name}"'
