"""daemonset-controller: one pod per node the DaemonSet's pods may run on.

A reduced port of pkg/controller/daemon/daemon_controller.go: nodeShouldRunDaemonPod (nodeSelector,
taints against the template's tolerations plus the ones the controller adds), pods pinned with
required node affinity on `metadata.name` (util.ReplaceDaemonSetPodNodeNameNodeAffinity), extra pods
deleted, and the status counters. Rolling updates replace one out-of-date pod at a time.
"""

from __future__ import annotations

import copy
from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key, controller_of, owner_reference
from meshrepro.kube.controllers.deployment import compute_hash
from meshrepro.kube.controllers.util import (
    DAEMON_SETS,
    NODES,
    PODS,
    RateLimitedQueue,
    create_pod,
    delete_pods,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    owned_by,
    pod_from_template,
    without_zeros,
)
from meshrepro.kube.scheduler import tolerates
from meshrepro.kube.store import Obj, WatchEvent

REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"


def daemon_tolerations(spec: Obj) -> list[dict[str, Any]]:
    """util.AddOrUpdateDaemonPodTolerations: what every daemon pod tolerates."""
    wanted = [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
              ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
              ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule")]
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    tolerations = list(spec.get("tolerations") or [])
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": effect})
    return tolerations


def _node_affinity(node: str) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}}


def _pod_node(pod: Obj) -> str:
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    terms = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


class DaemonSetController(Controller):
    name = "daemonset-controller"
    primary = DAEMON_SETS
    secondary = (PODS, NODES)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        self.recorder = ctx.recorder(self.name)

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.key == NODES:
            return [(ds["metadata"]["namespace"], ds["metadata"]["name"]) for ds in self.ctx.store.iter(DAEMON_SETS)]
        owner = controller_of(event.object)
        if owner is None or owner.get("kind") != "DaemonSet":
            return []
        return [(event.object["metadata"]["namespace"], owner["name"])]

    def _should_run(self, ds: Obj, node: Obj) -> bool:
        spec = ds["spec"]["template"]["spec"]
        labels = node["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return False
        probe = {"spec": {"tolerations": daemon_tolerations(spec)}}
        return all(tolerates(probe, t) for t in node["spec"].get("taints") or []
                   if t.get("effect") in ("NoSchedule", "NoExecute"))

    def reconcile(self, namespace: str, name: str) -> None:
        ds = self.ctx.store.get(DAEMON_SETS, namespace, name)
        if ds is None:
            return
        revision = compute_hash(ds["spec"]["template"], (ds.get("status") or {}).get("collisionCount"))
        pods = [p for p in self.ctx.store.iter(PODS, namespace) if owned_by(p, ds) and is_pod_active(p)]
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            by_node.setdefault(_pod_node(pod), []).append(pod)
        error = ""
        desired, misscheduled = 0, 0
        if "deletionTimestamp" not in ds["metadata"]:
            for node in self.ctx.store.iter(NODES):
                node_name = node["metadata"]["name"]
                running = sorted(by_node.get(node_name, []), key=lambda p: p["metadata"].get("creationTimestamp", ""))
                if self._should_run(ds, node):
                    desired += 1
                    if not running:
                        error = error or self._create(ds, node_name, revision)
                    elif len(running) > 1:
                        error = error or self._delete(ds, running[1:])
                elif running:
                    misscheduled += 1
                    error = error or self._delete(ds, running)
            error = error or self._rolling_update(ds, pods, revision)
        self._update_status(ds, pods, desired, misscheduled, revision)
        if error:
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    def _create(self, ds: Obj, node: str, revision: str) -> str:
        template = copy.deepcopy(ds["spec"]["template"])
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({REVISION_LABEL: revision, GENERATION_LABEL: str(ds["metadata"].get("generation", 1))})
        pod = pod_from_template(template, owner_reference(ds), generate_name=f"{ds['metadata']['name']}-")
        pod["spec"]["affinity"] = {**(pod["spec"].get("affinity") or {}), **_node_affinity(node)}
        pod["spec"]["tolerations"] = daemon_tolerations(pod["spec"])
        return create_pod(self.ctx, self.recorder, ds, pod)

    def _delete(self, ds: Obj, pods: list[Obj]) -> str:
        return delete_pods(self.ctx, self.recorder, ds, pods)

    def _rolling_update(self, ds: Obj, pods: list[Obj], revision: str) -> str:
        """maxUnavailable 1: an out-of-date pod is replaced only while every other pod is available."""
        if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
            return ""
        now = self.ctx.clock.wall()
        min_ready = ds["spec"].get("minReadySeconds", 0)
        old = [p for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision]
        if not old or any(not is_pod_available(p, min_ready, now) for p in pods if p not in old):
            return ""
        unavailable = [p for p in old if not is_pod_available(p, min_ready, now)]
        return self._delete(ds, (unavailable or old)[:1])

    def _update_status(self, ds: Obj, pods: list[Obj], desired: int, misscheduled: int, revision: str) -> None:
        now = self.ctx.clock.wall()
        min_ready = ds["spec"].get("minReadySeconds", 0)
        scheduled = [p for p in pods if _pod_node(p)]
        available = sum(1 for p in scheduled if is_pod_available(p, min_ready, now))
        old = ds.get("status") or {}
        status = without_zeros({
            "currentNumberScheduled": len(scheduled) - misscheduled, "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired, "numberReady": sum(1 for p in scheduled if is_pod_ready(p)),
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": sum(1 for p in scheduled
                                          if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == revision),
            "numberAvailable": available, "numberUnavailable": max(0, desired - available),
            "collisionCount": old.get("collisionCount"), "conditions": old.get("conditions")},
            keep=("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))
        if status != old:
            ds["status"] = status
            self.ctx.client.update_status("apps/v1", "daemonsets", ds)
