"""statefulset-controller: pods `<name>-0` .. `<name>-N-1` with stable identities.

A reduced port of pkg/controller/statefulset (stateful_set_control.go updateStatefulSet,
stateful_set_utils.go newStatefulSetPod, stateful_pod_control.go recordPodEvent): OrderedReady
creates pod i only once pods 0..i-1 are Running and Ready and removes the highest ordinal first;
Parallel does both at once. Pods get hostname = pod name, subdomain = serviceName and the
`statefulset.kubernetes.io/pod-name` label. Not modelled: volumeClaimTemplates and rolling updates.
"""

from __future__ import annotations

from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key, controller_of, owner_reference
from meshrepro.kube.controllers.deployment import compute_hash
from meshrepro.kube.controllers.util import (
    PODS,
    STATEFUL_SETS,
    RateLimitedQueue,
    error_message,
    is_pod_available,
    is_pod_ready,
    owned_by,
    pod_from_template,
    without_zeros,
)
from meshrepro.kube.store import Obj, WatchEvent
from meshrepro.kube.versions import flags

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def _ordinal(set_name: str, pod: Obj) -> int | None:
    prefix, _, index = pod["metadata"]["name"].rpartition("-")
    return int(index) if prefix == set_name and index.isdigit() else None


def _running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


class StatefulSetController(Controller):
    name = "statefulset-controller"
    primary = STATEFUL_SETS
    secondary = (PODS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        self.recorder = ctx.recorder(self.name)
        self.flags = flags(ctx.version)

    def keys_for(self, event: WatchEvent) -> list[Key]:
        owner = controller_of(event.object)
        if owner is None or owner.get("kind") != "StatefulSet":
            return []
        return [(event.object["metadata"]["namespace"], owner["name"])]

    def reconcile(self, namespace: str, name: str) -> None:
        sts = self.ctx.store.get(STATEFUL_SETS, namespace, name)
        if sts is None:
            return
        revision = f"{name}-{compute_hash(sts['spec']['template'])}"
        pods = {i: p for p in self.ctx.store.iter(PODS, namespace)
                if owned_by(p, sts) and (i := _ordinal(name, p)) is not None}
        error = "" if "deletionTimestamp" in sts["metadata"] else self._manage(sts, pods, revision)
        self._update_status(sts, list(pods.values()), revision)
        if error:
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    def _manage(self, sts: Obj, pods: dict[int, Obj], revision: str) -> str:
        replicas = sts["spec"].get("replicas", 1)
        ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for i in range(replicas):
            pod = pods.get(i)
            if pod is None:
                error = self._create(sts, i, revision)
                if error or ordered:
                    return error
                continue
            if ordered and ("deletionTimestamp" in pod["metadata"] or not _running_and_ready(pod)):
                return ""  # wait for this ordinal before touching the next
        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        if ordered and any(not _running_and_ready(pods[i]) for i in pods if i < replicas):
            return ""
        for i in condemned[:1] if ordered else condemned:
            if "deletionTimestamp" in pods[i]["metadata"]:
                return ""
            error = self._pod_event(sts, "delete", pods[i]["metadata"]["name"],
                                    self.ctx.client.delete("v1", "pods", sts["metadata"]["namespace"],
                                                           pods[i]["metadata"]["name"]))
            if error:
                return error
        return ""

    def _create(self, sts: Obj, ordinal: int, revision: str) -> str:
        name = f"{sts['metadata']['name']}-{ordinal}"
        pod = pod_from_template(sts["spec"]["template"], owner_reference(sts))
        pod["metadata"] = {"name": name, **pod["metadata"]}
        labels = {**(pod["metadata"].get("labels") or {}), REVISION_LABEL: revision, POD_NAME_LABEL: name}
        if self.flags.statefulset_pod_index_label:
            labels[POD_INDEX_LABEL] = str(ordinal)
        pod["metadata"]["labels"] = labels
        pod["spec"]["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        result = self.ctx.client.create("v1", "pods", sts["metadata"]["namespace"], pod)
        return self._pod_event(sts, "create", name, result)

    def _pod_event(self, sts: Obj, verb: str, pod_name: str, result: Any) -> str:
        """recordPodEvent: `create Pod web-0 in StatefulSet web successful` or `... failed error: <err>`."""
        set_name = sts["metadata"]["name"]
        reason = "Successful" + verb.capitalize()
        if result.ok:
            self.recorder.record(sts, "Normal", reason, f"{verb} Pod {pod_name} in StatefulSet {set_name} successful")
            return ""
        message = error_message(result)
        self.recorder.record(sts, "Warning", "Failed" + verb.capitalize(),
                             f"{verb} Pod {pod_name} in StatefulSet {set_name} failed error: {message}")
        return message

    def _update_status(self, sts: Obj, pods: list[Obj], revision: str) -> None:
        now = self.ctx.clock.wall()
        min_ready = sts["spec"].get("minReadySeconds", 0)
        live = [p for p in pods if "deletionTimestamp" not in p["metadata"]]
        old = sts.get("status") or {}
        status = without_zeros({
            "observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(live),
            "readyReplicas": sum(1 for p in live if is_pod_ready(p)), "currentReplicas": len(live),
            "updatedReplicas": len(live), "currentRevision": revision, "updateRevision": revision,
            "collisionCount": old.get("collisionCount", 0),
            "availableReplicas": sum(1 for p in live if is_pod_available(p, min_ready, now))},
            keep=("replicas", "collisionCount", "availableReplicas"))
        if status != old:
            sts["status"] = status
            self.ctx.client.update_status("apps/v1", "statefulsets", sts)
