"""kube-apiserver: one request handler (authentication → RBAC → admission → storage) for every client.

The HTTPS listener (kubectl in pods and on the host), the in-process clients of controllers and
kubelets, and the later HTTP front all end in `APIServer.dispatch`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshrepro.kube import status as api_status
from meshrepro.kube.admission import Admission, AdmissionRequest
from meshrepro.kube.authn import Authenticator
from meshrepro.kube.discovery import Discovery
from meshrepro.kube.printers import custom_resource_table, to_table
from meshrepro.kube.rbac import Decision, User, authorize
from meshrepro.kube.requestinfo import RequestInfo, RequestInfoError, parse_request_info
from meshrepro.kube.selectors import (
    matches_fields,
    matches_labels,
    parse_field_selector,
    parse_label_selector,
)
from meshrepro.kube.services import ServiceAllocator
from meshrepro.kube.store import Obj, ResourceKey, Store
from meshrepro.kube.versions import KubeVersion
from meshrepro.manifests.kinds import KindInfo, KindRegistry
from meshrepro.manifests.patch import PatchError, json_merge_patch, json_patch, strategic_merge
from meshrepro.manifests.values import clone
from meshrepro.net.http import Request, Response
from meshrepro.net.server import Peer
from meshrepro.sim.clock import Clock, rfc3339
from meshrepro.sim.trace import Trace

REQUEST_SECONDS = 0.0012  # a small request's time inside kube-apiserver on a kind node
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String: no vowels, no confusable digits

# A subresource served by a component outside the store: (user, info, query, body) -> (status, body or text)
SubresourceHandler = Callable[[User, RequestInfo, dict[str, list[str]], bytes],
                              Generator[simpy.Event, Any, tuple[int, Any]]]


@dataclass
class Result:
    status: int
    body: Any  # an object dict, a Status dict, a list dict, or text for logs

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class APIServerConfig:
    version: KubeVersion
    git_version: str  # "v1.29.2"
    node_name: str
    advertise_address: str  # node IP:6443


@dataclass
class APIServer:
    clock: Clock
    store: Store
    trace: Trace
    kinds: KindRegistry
    authn: Authenticator
    admission: Admission
    config: APIServerConfig
    discovery: Discovery = field(init=False)
    subresources: dict[tuple[str, str], SubresourceHandler] = field(default_factory=dict)
    services: ServiceAllocator | None = None

    def __post_init__(self) -> None:
        self.discovery = Discovery(self.kinds, self.config.version, self.config.advertise_address)

    # -- HTTP front ---------------------------------------------------------------------

    def serve(self, peer: Peer, request: Request) -> Generator[simpy.Event, Any, Response]:
        """The listener's handler: authenticate, then dispatch."""
        yield self.clock.timeout(REQUEST_SECONDS)
        user = self.authn.authenticate(peer, request, self.store)
        if user is None:
            return _json_response(*api_status.unauthorized())
        impersonated = self._impersonate(user, request)
        if isinstance(impersonated, Result):
            return _json_response(impersonated.status, impersonated.body)
        try:
            info = parse_request_info(request.method, request.path, request.query)
        except RequestInfoError as err:
            return _json_response(*api_status.bad_request(str(err)))
        if not info.is_resource_request:
            return self._non_resource(impersonated, info, request)
        body: Any = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError as err:
                return _json_response(*api_status.bad_request(f"error decoding body: {err}"))
        query = request.query
        if request.method == "PATCH":  # the patch type travels in the Content-Type header
            query = {**query, "_patchType": [request.header("Content-Type").split(";")[0].strip()]}
        result = yield from self.dispatch_async(impersonated, info, query, body, request)
        if isinstance(result.body, str):
            return Response(result.status, {"Content-Type": "text/plain"}, result.body.encode())
        if result.ok and "as=Table" in request.header("Accept") and info.verb in ("get", "list"):
            return _json_response(result.status, self._table(info, result.body, request))
        return _json_response(result.status, result.body)

    def _impersonate(self, user: User, request: Request) -> User | Result:
        target = request.header("Impersonate-User")
        if not target:
            return user
        groups = [v for k, v in request.headers.items() if k.lower() == "impersonate-group"]
        sa_parts = target.split(":")
        if len(sa_parts) == 4 and target.startswith("system:serviceaccount:"):
            info = RequestInfo(is_resource_request=True, path="", verb="impersonate", api_group="",
                               namespace=sa_parts[2], resource="serviceaccounts", name=sa_parts[3])
        else:
            info = RequestInfo(is_resource_request=True, path="", verb="impersonate", api_group="",
                               resource="users", name=target)
        decision = self.authorize(user, info)
        if not decision.allowed:
            return Result(*api_status.forbidden(info, user, decision.reason))
        return User.impersonated(target, groups)

    def _non_resource(self, user: User, info: RequestInfo, request: Request) -> Response:
        decision = self.authorize(user, info)
        if not decision.allowed:
            return _json_response(*api_status.forbidden(info, user, decision.reason))
        served = self.discovery.serve(info.path, request.header("Accept"), self.config.git_version)
        if served is None:
            return _json_response(*api_status.not_found_path())
        content_type, body = served
        return Response(200, {"Content-Type": content_type}, body)

    def _table(self, info: RequestInfo, body: Obj, request: Request) -> Obj:
        kind = self._kind(info)
        items = body["items"] if info.verb == "list" else [body]
        include = "Metadata"
        for part in request.query.get("includeObject", []):
            include = part
        crd = self.store.peek(_CRDS, "", f"{kind.plural}.{kind.group}") if kind is not None and kind.custom else None
        if crd is not None and kind is not None:
            return custom_resource_table(crd, items, self.clock.wall(), include_object=include,
                                         resource_version=str(self.store.revision), version=kind.version)
        return to_table(kind.kind if kind else "", items, self.clock.wall(), self.config.version,
                        include_object=include, resource_version=str(self.store.revision))

    # -- the one request path ---------------------------------------------------------------

    @property
    def policy(self) -> _StorePolicy:
        return _StorePolicy(self.store)

    def authorize(self, user: User, info: RequestInfo) -> Decision:
        """The authorizer chain: system:masters is allowed before RBAC is asked, as the real apiserver does."""
        if "system:masters" in user.groups:
            return Decision(True, "")
        return authorize(user, info, self.policy)

    def dispatch_async(self, user: User, info: RequestInfo, query: dict[str, list[str]], body: Any,
                       request: Request | None = None) -> Generator[simpy.Event, Any, Result]:
        """Dispatch, letting subresources served by other components (logs, exec) take simulated time."""
        decision = self.authorize(user, info)
        if not decision.allowed:
            self.trace.add(self.clock.now, "kube-apiserver", f"{info.verb} {info.path or info.resource}",
                           "forbidden", decision.reason or "no RBAC rule allows it", user=user.name)
            return Result(*api_status.forbidden(info, user, decision.reason))
        handler = self.subresources.get((info.resource, info.subresource)) if info.subresource else None
        if handler is not None:
            raw = request.body if request is not None else b""
            status, payload = yield from handler(user, info, query, raw)
            return Result(status, payload)
        return self._dispatch_authorized(user, info, query, body)

    def dispatch(self, user: User, info: RequestInfo, query: dict[str, list[str]] | None = None,
                 body: Any = None) -> Result:
        """Synchronous dispatch for in-process clients (no long-running subresources)."""
        decision = self.authorize(user, info)
        if not decision.allowed:
            return Result(*api_status.forbidden(info, user, decision.reason))
        return self._dispatch_authorized(user, info, query or {}, body)

    def _dispatch_authorized(self, user: User, info: RequestInfo, query: dict[str, list[str]], body: Any) -> Result:
        kind = self._kind(info)
        if kind is None:
            return Result(*api_status.not_found_path())
        if info.namespace and not kind.namespaced and info.resource != "namespaces":
            return Result(*api_status.not_found_path())
        key = ResourceKey(kind.group, kind.plural)
        ns = info.namespace if kind.namespaced else ""
        verb = info.verb
        if kind.group == "authorization.k8s.io" and verb == "create":
            return self._access_review(user, kind, ns, body)
        if info.subresource in ("", "status") or (kind.plural, info.subresource) in _STORED_SUBRESOURCES:
            if verb == "get":
                return self._get(kind, key, ns, info.name)
            if verb == "list":
                return self._list(kind, key, ns, query)
            if verb == "create":
                return self._create(user, kind, key, ns, body, query)
            if verb == "update":
                return self._update(user, kind, key, ns, info.name, body, info.subresource)
            if verb == "patch":
                return self._patch(user, kind, key, ns, info.name, body, query, info.subresource)
            if verb == "delete":
                return self._delete(kind, key, ns, info.name)
        return Result(*api_status.method_not_supported(kind.group, kind.plural, verb))

    def _kind(self, info: RequestInfo) -> KindInfo | None:
        for kind in self.kinds:
            if kind.group == info.api_group and kind.version == info.api_version and kind.plural == info.resource:
                return kind
        return None

    # -- verbs ---------------------------------------------------------------------------

    def _get(self, kind: KindInfo, key: ResourceKey, ns: str, name: str) -> Result:
        obj = self.store.get(key, ns, name)
        if obj is None:
            return Result(*api_status.not_found(kind.group, kind.plural, name))
        return Result(200, obj)

    def _list(self, kind: KindInfo, key: ResourceKey, ns: str, query: dict[str, list[str]]) -> Result:
        labels = parse_label_selector(_first(query, "labelSelector"))
        fields = parse_field_selector(_first(query, "fieldSelector"))
        items = [o for o in self.store.iter(key, ns or None)
                 if matches_labels(labels, o) and matches_fields(fields, o)]
        return Result(200, {
            "kind": f"{kind.kind}List", "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(self.store.revision)}, "items": items,
        })

    def _create(self, user: User, kind: KindInfo, key: ResourceKey, ns: str, body: Any,
                query: dict[str, list[str]]) -> Result:
        if not isinstance(body, dict):
            return Result(*api_status.bad_request("the body of the request was in an unknown format"))
        obj = clone(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != ns:
                return Result(*api_status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"))
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and not meta.get("generateName"):
            return Result(*api_status.invalid(kind, "", [api_status.required("metadata.name",
                                                                          "name or generateName is required")]))
        # Admission sees the generateName prefix: the name is generated when the object is stored.
        review = AdmissionRequest("CREATE", user, kind, ns, meta.get("name") or meta["generateName"], obj, None, query)
        admitted = self.admission.admit(review)
        if isinstance(admitted, tuple):
            return Result(*admitted)
        obj = admitted
        meta = obj["metadata"]
        if not meta.get("name"):
            meta["name"] = meta["generateName"] + self.random_suffix(5)
        if self.store.peek(key, ns, meta["name"]) is not None:
            return Result(*api_status.already_exists(kind.group, kind.plural, meta["name"]))
        if kind.kind == "Service" and kind.group == "" and self.services is not None:
            denial = self.services.allocate(obj)
            if denial is not None:
                return Result(*denial)
        _reset_status(kind, obj)
        meta["uid"] = self.new_uid()
        if kind.kind == "Job" and kind.group == "batch":
            _job_selector(obj)
        meta["creationTimestamp"] = rfc3339(self.clock.wall())
        if _has_generation(kind):
            meta["generation"] = 1
        if _is_crd(kind):
            obj["status"] = _crd_status(obj)
        stored = self.store.put(key, obj)
        if _is_crd(kind):
            self.kinds.add_custom(stored)  # apiextensions-apiserver starts serving the new kinds
        self.trace.add(self.clock.now, "kube-apiserver", _ref(kind, ns, meta["name"]), "created", user=user.name)
        return Result(201, stored)

    def _update(self, user: User, kind: KindInfo, key: ResourceKey, ns: str, name: str, body: Any,
                subresource: str) -> Result:
        current = self.store.peek(key, ns, name)  # read only: updates build a new object
        if current is None:
            return Result(*api_status.not_found(kind.group, kind.plural, name))
        if not isinstance(body, dict):
            return Result(*api_status.bad_request("the body of the request was in an unknown format"))
        wanted_rv = body.get("metadata", {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            return Result(*api_status.conflict(kind.group, kind.plural, name))
        return self._store_update(user, kind, key, ns, current, clone(body), subresource)

    def _patch(self, user: User, kind: KindInfo, key: ResourceKey, ns: str, name: str, body: Any,
               query: dict[str, list[str]], subresource: str) -> Result:
        current = self.store.get(key, ns, name)
        if current is None:
            return Result(*api_status.not_found(kind.group, kind.plural, name))
        patch_type = _first(query, "_patchType") or "application/strategic-merge-patch+json"
        try:
            if patch_type == "application/json-patch+json":
                patched = json_patch(current, body)
            elif patch_type == "application/merge-patch+json":
                patched = json_merge_patch(current, body)
            elif patch_type == "application/strategic-merge-patch+json":
                patched = strategic_merge(current, body, kind, self.config.version)
            else:
                return Result(*api_status.unsupported_media_type())
        except PatchError:  # a strategic merge patch for a custom resource
            return Result(*api_status.unsupported_media_type())
        except ValueError as err:
            return Result(*api_status.bad_request(str(err)))
        return self._store_update(user, kind, key, ns, current, patched, subresource)

    def _store_update(self, user: User, kind: KindInfo, key: ResourceKey, ns: str, current: Obj, new: Obj,
                      subresource: str) -> Result:
        meta = new.setdefault("metadata", {})
        for immutable in ("uid", "creationTimestamp", "namespace", "name", "generation", "deletionTimestamp"):
            if immutable in current["metadata"]:
                meta[immutable] = current["metadata"][immutable]
        if subresource == "status":
            # The status subresource only writes status; the main resource never writes status.
            # Shallow is enough: stored objects are never edited in place, only replaced.
            new = {**current, "status": new.get("status", {}), "metadata": dict(current["metadata"])}
        elif "status" in current:
            new["status"] = current["status"]
        if subresource != "status":
            review = AdmissionRequest("UPDATE", user, kind, ns, current["metadata"]["name"], new, current, {})
            admitted = self.admission.admit(review)
            if isinstance(admitted, tuple):
                return Result(*admitted)
            new = admitted
            if kind.kind == "Service" and kind.group == "" and self.services is not None:
                denial = self.services.update(current, new)
                if denial is not None:
                    return Result(*denial)
            if _has_generation(kind) and new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if _without_rv(new) == _without_rv(current):
            return Result(200, current)  # no-op writes keep the resource version, as the real registry does
        return Result(200, self.store.put(key, new))

    def _delete(self, kind: KindInfo, key: ResourceKey, ns: str, name: str) -> Result:
        current = self.store.get(key, ns, name)
        if current is None:
            return Result(*api_status.not_found(kind.group, kind.plural, name))
        meta = current["metadata"]
        if kind.plural == "pods" and "nodeName" in current.get("spec", {}):
            # Graceful deletion: the kubelet stops the containers, then removes the object.
            if "deletionTimestamp" not in meta:
                grace = current["spec"].get("terminationGracePeriodSeconds", 30)
                meta["deletionTimestamp"] = rfc3339(self.clock.wall(self.clock.now + grace))
                meta["deletionGracePeriodSeconds"] = grace
                return Result(200, self.store.put(key, current))
            return Result(200, current)
        if meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", rfc3339(self.clock.wall()))
            return Result(200, self.store.put(key, current))
        self.store.delete(key, ns, name)
        if kind.kind == "Service" and kind.group == "" and self.services is not None:
            self.services.release(current)
        if _is_crd(kind):
            self._forget_custom_resources(current)
        return Result(200, current)

    def _forget_custom_resources(self, crd: Obj) -> None:
        """A deleted CRD takes its kinds and every object of them along (the CRD finalizer's cleanup)."""
        spec = crd.get("spec") or {}
        group, plural = str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", ""))
        self.kinds.remove_custom(group, plural)
        key = ResourceKey(group, plural)
        for obj in list(self.store.iter(key)):
            self.store.delete(key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _access_review(self, user: User, kind: KindInfo, ns: str, body: Any) -> Result:
        """SelfSubjectAccessReview / SubjectAccessReview: ask the authorizer, store nothing."""
        review = clone(body) if isinstance(body, dict) else {}
        spec = review.setdefault("spec", {})
        subject = user
        if kind.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
            subject = User.authenticated(spec.get("user", ""), list(spec.get("groups") or []))
        if kind.kind == "SelfSubjectRulesReview":
            return Result(*api_status.method_not_supported(kind.group, kind.plural, "create"))
        attrs = spec.get("resourceAttributes")
        if attrs is not None:
            target = RequestInfo(is_resource_request=True, path="", verb=attrs.get("verb", ""),
                                 api_group=attrs.get("group", ""), api_version=attrs.get("version", ""),
                                 namespace=attrs.get("namespace", ns), resource=attrs.get("resource", ""),
                                 subresource=attrs.get("subresource", ""), name=attrs.get("name", ""))
        else:
            non_resource = spec.get("nonResourceAttributes") or {}
            target = RequestInfo(is_resource_request=False, path=non_resource.get("path", ""),
                                 verb=non_resource.get("verb", ""))
        decision = self.authorize(subject, target)
        review["status"] = {"allowed": decision.allowed}
        if decision.reason:
            review["status"]["reason"] = decision.reason
        review.setdefault("metadata", {})["creationTimestamp"] = None
        return Result(201, review)

    # -- identifiers -----------------------------------------------------------------------

    def random_suffix(self, length: int) -> str:
        return "".join(self.clock.rng.choice(NAME_ALPHABET) for _ in range(length))

    def new_uid(self) -> str:
        h = f"{self.clock.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


# Subresources stored in the main object rather than served by another component.
_STORED_SUBRESOURCES = {("deployments", "scale"), ("replicasets", "scale"), ("statefulsets", "scale")}


class _StorePolicy:
    """RBAC's view of the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def cluster_roles(self) -> dict[str, Obj]:
        return {o["metadata"]["name"]: o for o in self.store.iter(ResourceKey("rbac.authorization.k8s.io", "clusterroles"))}

    def cluster_role_bindings(self) -> list[Obj]:
        return list(self.store.iter(ResourceKey("rbac.authorization.k8s.io", "clusterrolebindings")))

    def roles(self, namespace: str) -> dict[str, Obj]:
        return {o["metadata"]["name"]: o
                for o in self.store.iter(ResourceKey("rbac.authorization.k8s.io", "roles"), namespace)}

    def role_bindings(self, namespace: str) -> list[Obj]:
        return list(self.store.iter(ResourceKey("rbac.authorization.k8s.io", "rolebindings"), namespace))


# Kinds whose registry strategy bumps metadata.generation on spec changes (pods did not before 1.33).
_GENERATION_KINDS = {"Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob", "NetworkPolicy",
                     "PodDisruptionBudget", "Ingress", "CustomResourceDefinition"}


_CRDS = ResourceKey("apiextensions.k8s.io", "customresourcedefinitions")


def _is_crd(kind: KindInfo) -> bool:
    return kind.group == _CRDS.group and kind.plural == _CRDS.resource


def _crd_status(crd: Obj) -> Obj:
    """What the CRD controllers write soon after creation: names accepted, established (immediate here)."""
    now = crd["metadata"]["creationTimestamp"]
    spec = crd.get("spec") or {}
    stored = [v.get("name", "") for v in spec.get("versions") or [] if v.get("storage")]
    conditions = [{"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}
                  for kind, reason, message in (
                      ("NamesAccepted", "NoConflicts", "no conflicts found"),
                      ("Established", "InitialNamesAccepted", "the initial names have been accepted"))]
    return {"conditions": conditions, "acceptedNames": dict(spec.get("names") or {}), "storedVersions": stored}


def _job_selector(job: Obj) -> None:
    """The Job strategy's generateSelector: a selector and pod labels keyed on the Job's uid."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
    labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                   "controller-uid": uid, "job-name": name})
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def _reset_status(kind: KindInfo, obj: Obj) -> None:
    """Registry strategies' PrepareForCreate: clients cannot create status, except where a strategy allows it."""
    if kind.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
    elif kind.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif kind.kind == "Service":
        obj["status"] = {"loadBalancer": {}}
    elif kind.kind in _GENERATION_KINDS and kind.kind != "CustomResourceDefinition":
        obj["status"] = {}


def _qos_class(pod: Obj) -> str:
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"].get("containers", [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(r.get("limits", {}).get(k) and r.get("requests", r.get("limits", {})).get(k) ==
                     r["limits"][k] for r in resources for k in ("cpu", "memory"))
    return "Guaranteed" if guaranteed else "Burstable"


def _has_generation(kind: KindInfo) -> bool:
    return kind.custom or kind.kind in _GENERATION_KINDS


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _without_rv(obj: Obj) -> Obj:
    stripped = dict(obj)
    stripped["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return stripped


def _ref(kind: KindInfo, ns: str, name: str) -> str:
    return f"{kind.kind} {ns}/{name}" if ns else f"{kind.kind} {name}"


def _json_response(status: int, body: Any) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
