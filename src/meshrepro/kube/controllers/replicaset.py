"""replicaset-controller: as many active pods as `spec.replicas`, created from the template.

Port of pkg/controller/replicaset/replica_set.go (syncReplicaSet, manageReplicas, slowStartBatch,
getPodsToDelete) and replica_set_utils.go (calculateStatus). Writes go through the API server, so an
admission denial (e.g. a missing ServiceAccount) becomes a `FailedCreate` event and a ReplicaFailure
condition, and the key is retried with the work queue's exponential back-off; the controller does not
watch ServiceAccounts.
"""

from __future__ import annotations

from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key, controller_of, owner_reference
from meshrepro.kube.controllers.podindex import Counts, OwnedPods
from meshrepro.kube.controllers.util import (
    PODS,
    REPLICA_SETS,
    RateLimitedQueue,
    create_pod,
    deletion_rank,
    error_message,
    pod_from_template,
    remove_condition,
    set_condition,
    without_zeros,
)
from meshrepro.kube.store import Obj, WatchEvent
from meshrepro.sim.clock import rfc3339

BURST_REPLICAS = 500  # replicaset.BurstReplicas: most pods created or deleted in one sync
SLOW_START_INITIAL_BATCH = 1  # controller.SlowStartInitialBatchSize


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    primary = REPLICA_SETS
    secondary = (PODS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        self.recorder = ctx.recorder(self.name)
        # The pod informer's index by controller uid (the real controller indexes by owner too).
        self.pods_by_owner: dict[str, OwnedPods] = {}
        self._owner_of: dict[Key, str] = {}  # pod -> the uid it is indexed under

    def start(self) -> None:
        super().start()
        for pod in list(self.ctx.store.iter(PODS)):
            self.keys_for(WatchEvent("ADDED", PODS, pod))

    def keys_for(self, event: WatchEvent) -> list[Key]:
        owner = controller_of(event.object)
        meta = event.object["metadata"]
        pod_key = (meta["namespace"], meta["name"])
        previous = self._owner_of.pop(pod_key, None)
        if previous is not None:
            self.pods_by_owner[previous].remove(pod_key)
        if owner is None or owner.get("kind") != "ReplicaSet":
            return []
        if event.type != "DELETED":
            uid = owner.get("uid", "")
            self.pods_by_owner.setdefault(uid, OwnedPods()).put(pod_key, event.object)
            self._owner_of[pod_key] = uid
        return [(meta["namespace"], owner["name"])]

    def reconcile(self, namespace: str, name: str) -> None:
        rs = self.ctx.store.get(REPLICA_SETS, namespace, name)
        if rs is None:
            self.retries.forget((namespace, name))
            return
        owned = self.pods_by_owner.get(rs["metadata"]["uid"]) or OwnedPods()
        # calculateStatus counts the pods seen before this sync's writes, as the real controller does.
        template_labels = (rs["spec"]["template"].get("metadata") or {}).get("labels") or {}
        counts = owned.counts(template_labels, rs["spec"].get("minReadySeconds", 0), self.ctx.clock.wall())
        error = ""
        diff = counts.active - rs["spec"].get("replicas", 1)
        if "deletionTimestamp" not in rs["metadata"]:
            error = self._manage(rs, owned, diff)
        self._update_status(rs, counts, error, diff)
        if error:
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    # -- manageReplicas ---------------------------------------------------------------------

    def _manage(self, rs: Obj, owned: OwnedPods, diff: int) -> str:
        """Create or delete pods; returns the first error's message ('' when all calls succeeded)."""
        if diff < 0:
            return self._create(rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            victims = sorted(owned.active(), key=deletion_rank)[:min(diff, BURST_REPLICAS)]
            return self._delete(rs, victims)
        return ""

    def _create(self, rs: Obj, count: int) -> str:
        """slowStartBatch: batches of 1, 2, 4, ... stopping after the first batch with an error."""
        template = rs["spec"]["template"]
        owner = owner_reference(rs)
        remaining, batch = count, SLOW_START_INITIAL_BATCH
        while remaining > 0:
            size = min(batch, remaining)
            errors = [e for e in (self._create_one(rs, template, owner) for _ in range(size)) if e]
            if errors:
                return errors[0]
            remaining -= size
            batch *= 2
        return ""

    def _create_one(self, rs: Obj, template: Obj, owner: dict[str, Any]) -> str:
        pod = pod_from_template(template, owner, generate_name=f"{rs['metadata']['name']}-")
        return create_pod(self.ctx, self.recorder, rs, pod)

    def _delete(self, rs: Obj, victims: list[Obj]) -> str:
        first_error = ""
        for pod in victims:
            pod_name = pod["metadata"]["name"]
            result = self.ctx.client.delete("v1", "pods", pod["metadata"]["namespace"], pod_name)
            if result.ok:
                self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}")
            elif result.status != 404:
                message = error_message(result)
                self.recorder.record(rs, "Warning", "FailedDelete", f"Error deleting: {message}")
                first_error = first_error or message
        return first_error

    # -- status -----------------------------------------------------------------------------

    def _update_status(self, rs: Obj, counts: Counts, error: str, diff: int) -> None:
        now = self.ctx.clock.wall()
        min_ready = rs["spec"].get("minReadySeconds", 0)
        ready, available = counts.ready, counts.available
        old = rs.get("status") or {}
        conditions = list(old.get("conditions") or [])
        if error and not any(c["type"] == "ReplicaFailure" for c in conditions):
            conditions = set_condition(conditions, {
                "type": "ReplicaFailure", "status": "True", "lastTransitionTime": rfc3339(now),
                "reason": "FailedCreate" if diff < 0 else "FailedDelete", "message": error})
        elif not error:
            conditions = remove_condition(conditions, "ReplicaFailure")
        status = without_zeros({
            "replicas": counts.active, "fullyLabeledReplicas": counts.fully_labeled, "readyReplicas": ready,
            "availableReplicas": available, "observedGeneration": rs["metadata"].get("generation", 1),
            "conditions": conditions}, keep=("replicas",))
        if status != old:
            rs["status"] = status
            self.ctx.client.update_status("apps/v1", "replicasets", rs)
        replicas = rs["spec"].get("replicas", 1)
        if not error and min_ready > 0 and ready == replicas and available != replicas:
            # Pods turn available minReadySeconds after turning ready: look again then.
            self.retries.add_after((rs["metadata"]["namespace"], rs["metadata"]["name"]), min_ready)
