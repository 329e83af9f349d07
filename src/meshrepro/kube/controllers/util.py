"""Helpers shared by the kube-controller-manager controllers.

Ports of pkg/controller/controller_utils.go (GetPodFromTemplate, ActivePods ordering, FilterActivePods),
pkg/api/v1/pod/util.go (IsPodReady, IsPodAvailable) and client-go's workqueue.DefaultControllerRateLimiter.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import simpy

from meshrepro.kube.selectors import matches_labels, selector_from_match_labels
from meshrepro.kube.store import Obj, ResourceKey
from meshrepro.manifests.values import clone
from meshrepro.sim.clock import parse_rfc3339

if TYPE_CHECKING:
    from meshrepro.kube.controllers.base import Controller, ControllerContext, Key
    from meshrepro.kube.events import EventRecorder

PODS = ResourceKey("", "pods")
NAMESPACES = ResourceKey("", "namespaces")
NODES = ResourceKey("", "nodes")
SERVICES = ResourceKey("", "services")
SERVICE_ACCOUNTS = ResourceKey("", "serviceaccounts")
CONFIG_MAPS = ResourceKey("", "configmaps")
ENDPOINTS = ResourceKey("", "endpoints")
ENDPOINT_SLICES = ResourceKey("discovery.k8s.io", "endpointslices")
REPLICA_SETS = ResourceKey("apps", "replicasets")
DEPLOYMENTS = ResourceKey("apps", "deployments")
DAEMON_SETS = ResourceKey("apps", "daemonsets")
STATEFUL_SETS = ResourceKey("apps", "statefulsets")
CONTROLLER_REVISIONS = ResourceKey("apps", "controllerrevisions")
JOBS = ResourceKey("batch", "jobs")
CLUSTER_ROLES = ResourceKey("rbac.authorization.k8s.io", "clusterroles")


class RateLimitedQueue:
    """The delaying, rate-limited side of client-go's workqueue for one controller.

    `add_rate_limited` waits workqueue.DefaultControllerRateLimiter's per-item delay: 5 ms doubling with
    every failure, capped at 1000 s (its 10 qps bucket never binds for one simulated key). Like the
    delaying queue, a key waits once: a later wake-up for a key already waiting is dropped.
    """

    base = 0.005
    cap = 1000.0

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._failures: dict[Key, int] = {}
        self._ready_at: dict[Key, float] = {}

    def add_rate_limited(self, key: Key) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.base * 2 ** failures, self.cap))

    def add_after(self, key: Key, delay: float) -> None:
        clock = self.controller.ctx.clock
        at = clock.now + delay
        if key in self._ready_at and self._ready_at[key] <= at:
            return
        self._ready_at[key] = at

        def wake() -> Generator[simpy.Event, Any, None]:
            yield clock.timeout(delay)
            if self._ready_at.get(key) == at:
                del self._ready_at[key]
                self.controller.enqueue(key)
        clock.process(wake())

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    def requeues(self, key: Key) -> int:
        return self._failures.get(key, 0)


def error_message(result: Any) -> str:
    """err.Error() of a failed API call: the Status message."""
    body = result.body
    if isinstance(body, dict):
        return str(body.get("message", ""))
    return str(body)


def namespace_terminating(result: Any) -> bool:
    """errors.HasStatusCause(err, NamespaceTerminatingCause): controllers stay silent on these."""
    body = result.body if isinstance(result.body, dict) else {}
    causes = (body.get("details") or {}).get("causes") or []
    if any(c.get("reason") == "NamespaceTerminating" for c in causes):
        return True
    return "because it is being terminated" in str(body.get("message", ""))


def owned_by(obj: Obj, owner: Obj) -> bool:
    """metav1.IsControlledBy: the controller reference points at `owner`'s uid."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == owner["metadata"].get("uid"):
            return True
    return False


def create_pod(ctx: ControllerContext, recorder: EventRecorder, owner: Obj, pod: Obj) -> str:
    """controller.RealPodControl.CreatePods: create, then a SuccessfulCreate or FailedCreate event on the
    owner (none while its namespace terminates); returns the error message, '' on success."""
    result = ctx.client.create("v1", "pods", owner["metadata"]["namespace"], pod)
    if not result.ok:
        message = error_message(result)
        if not namespace_terminating(result):
            recorder.record(owner, "Warning", "FailedCreate", f"Error creating: {message}")
        return message
    recorder.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {result.body['metadata']['name']}")
    return ""


def delete_pods(ctx: ControllerContext, recorder: EventRecorder, owner: Obj, pods: list[Obj]) -> str:
    """Delete pods with a SuccessfulDelete event each; stops at the first error (a pod already gone is fine)."""
    for pod in pods:
        result = ctx.client.delete("v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        if result.ok:
            recorder.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        elif result.status != 404:
            return error_message(result)
    return ""


def selector_matches(selector: dict[str, Any] | None, obj: Obj) -> bool:
    """A LabelSelector object against an object's labels; a nil selector matches nothing."""
    if selector is None:
        return False
    return matches_labels(selector_from_match_labels(selector), obj)


def pod_from_template(template: Obj, owner_ref: dict[str, Any], generate_name: str = "") -> Obj:
    """controller.GetPodFromTemplate: only labels, annotations and finalizers of the template's metadata."""
    template_meta = template.get("metadata") or {}
    meta: dict[str, Any] = {}
    if generate_name:
        meta["generateName"] = generate_name
    for field in ("labels", "annotations"):
        if template_meta.get(field):
            meta[field] = dict(template_meta[field])
    if template_meta.get("finalizers"):
        meta["finalizers"] = list(template_meta["finalizers"])
    meta["ownerReferences"] = [owner_ref]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": clone(template.get("spec") or {})}


def condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    status = obj.get("status")
    for cond in (status.get("conditions") if status else None) or ():
        if cond["type"] == kind:
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """podutil.IsPodAvailable: Ready for at least minReadySeconds (by the condition's lastTransitionTime)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    cond = condition(pod, "Ready") or {}
    since = cond.get("lastTransitionTime")
    if not since:
        return False
    return (now - parse_rfc3339(since)).total_seconds() >= min_ready_seconds


def is_pod_active(pod: Obj) -> bool:
    """controller.IsPodActive: not terminal and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and "deletionTimestamp" not in pod["metadata"]


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _restarts(pod: Obj) -> int:
    return max([c.get("restartCount", 0) for c in (pod.get("status") or {}).get("containerStatuses") or []] or [0])


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """controller.ActivePods Less: the pods to delete first sort first.

    Unassigned < assigned; Pending < Unknown < Running; not ready < ready; ready for less time first;
    more restarts first; newer first. (ActivePodsWithRanks' co-location rank is equal on one node.)
    """
    status = pod.get("status") or {}
    ready = is_pod_ready(pod)
    ready_since = (condition(pod, "Ready") or {}).get("lastTransitionTime", "") if ready else ""
    created = pod["metadata"].get("creationTimestamp", "")
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        ready,
        _Desc(ready_since),  # later readiness = ready for less time = deleted first
        -_restarts(pod),
        _Desc(created),  # newer first
    )


class _Desc:
    """Reverse ordering of an RFC 3339 string inside a sort key."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value


def set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """SetDeploymentCondition/SetReplicaSetCondition: same status+reason is a no-op; a same status keeps
    lastTransitionTime; the condition moves to the end."""
    current = next((c for c in conditions if c["type"] == new["type"]), None)
    if current is not None and current["status"] == new["status"] and current.get("reason") == new.get("reason"):
        return conditions
    if current is not None and current["status"] == new["status"]:
        new = {**new, "lastTransitionTime": current["lastTransitionTime"]}
    return [c for c in conditions if c["type"] != new["type"]] + [new]


def remove_condition(conditions: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c["type"] != kind]


def without_zeros(status: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's `omitempty` on int32 status fields: zeros vanish from the JSON."""
    return {k: v for k, v in status.items() if k in keep or v not in (0, None, [], {})}
