"""deployment-controller: one ReplicaSet per pod template, rolled out by strategy.

Port of pkg/controller/deployment/{deployment_controller,sync,rolling,recreate,progress}.go and
util/deployment_util.go. Statuses are computed from the ReplicaSets' statuses only, so what the
Deployment reports follows what the replicaset-controller and the kubelet made happen.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key, controller_of, owner_reference
from meshrepro.kube.controllers.util import (
    DEPLOYMENTS,
    PODS,
    REPLICA_SETS,
    RateLimitedQueue,
    condition,
    error_message,
    namespace_terminating,
    owned_by,
    remove_condition,
    set_condition,
    without_zeros,
)
from meshrepro.kube.status import go_quote
from meshrepro.kube.store import Obj, WatchEvent
from meshrepro.kube.versions import flags
from meshrepro.manifests.values import clone
from meshrepro.sim.clock import parse_rfc3339, rfc3339

HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# util.annotationsToSkip: never copied from the Deployment to its ReplicaSets.
_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                     DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery rand.alphanums

# Condition reasons (util/deployment_util.go)
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
RS_UPDATED_REASON = "ReplicaSetUpdated"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"


class SyncError(Exception):
    """An API call failed: the key is retried with back-off."""


# -- pod-template-hash ------------------------------------------------------------------------


def fnv32a(data: bytes, h: int = 0x811C9DC5) -> int:
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each byte mapped through the 27-character alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def compute_hash(template: Obj, collision_count: int | None = None) -> str:
    """controller.ComputeHash: FNV-32a of the template (canonical JSON here; spew in Go) plus the
    collision count as 4 little-endian bytes, printed in decimal and safe-encoded."""
    h = fnv32a(json.dumps(template, sort_keys=True, separators=(",", ":")).encode())
    if collision_count is not None:
        h = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF), h)
    return safe_encode(str(h))


# -- pure helpers over Deployments and ReplicaSets ---------------------------------------------


def _replicas(obj: Obj) -> int:
    return int(obj["spec"].get("replicas", 1))


def _st(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0))


def _scaled(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    percent = int(str(value).rstrip("%"))
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def is_rolling(d: Obj) -> bool:
    return (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Obj) -> tuple[int, int]:
    """ResolveFenceposts: (maxSurge, maxUnavailable); both zero means one may be unavailable."""
    rolling = (d["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    replicas = _replicas(d)
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or _replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], _replicas(d))


def _by_creation(rss: list[Obj]) -> list[Obj]:
    return sorted(rss, key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]))


def _active(rss: list[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and _replicas(rs) > 0]


def _annotation_int(rs: Obj, key: str) -> int | None:
    value = (rs["metadata"].get("annotations") or {}).get(key)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _without_hash(template: Obj) -> Obj:
    t = clone(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return _without_hash(a) == _without_hash(b)


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash label)."""
    return next((rs for rs in _by_creation(rss) if equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"])),
                None)


def deployment_complete(d: Obj, status: dict[str, Any]) -> bool:
    replicas = _replicas(d)
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def _progress_deadline(d: Obj) -> int | None:
    deadline = d["spec"].get("progressDeadlineSeconds", 600)
    return None if deadline is None or deadline == 2147483647 else int(deadline)  # MaxInt32 = no deadline


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason,
            "message": message}


class DeploymentController(Controller):
    name = "deployment-controller"
    primary = DEPLOYMENTS
    secondary = (REPLICA_SETS, PODS)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        self.recorder = ctx.recorder(self.name)
        self.flags = flags(ctx.version)

    def keys_for(self, event: WatchEvent) -> list[Key]:
        obj = event.object
        namespace = obj["metadata"].get("namespace", "")
        owner = controller_of(obj)
        if event.key == PODS:
            # Only deletions matter (Recreate waits for old pods to be gone).
            if event.type != "DELETED" or owner is None or owner.get("kind") != "ReplicaSet":
                return []
            rs = self.ctx.store.peek(REPLICA_SETS, namespace, owner["name"])
            owner = controller_of(rs) if rs is not None else None
        if owner is None or owner.get("kind") != "Deployment":
            return []
        return [(namespace, owner["name"])]

    def reconcile(self, namespace: str, name: str) -> None:
        d = self.ctx.store.get(DEPLOYMENTS, namespace, name)
        if d is None:
            self.retries.forget((namespace, name))
            return
        try:
            self._sync(d)
        except SyncError as err:
            self.ctx.trace.add(self.ctx.clock.now, self.name, f"Deployment {namespace}/{name}", "sync failed",
                               str(err))
            self.retries.add_rate_limited((namespace, name))
            return
        self.retries.forget((namespace, name))

    def _sync(self, d: Obj) -> None:
        namespace = d["metadata"]["namespace"]
        rss = [rs for rs in self.ctx.store.list(REPLICA_SETS, namespace) if owned_by(rs, d)]
        if "deletionTimestamp" in d["metadata"]:
            new_rs, old = self._get_all(d, rss, create=False)
            self._sync_status(d, old + ([new_rs] if new_rs else []), new_rs)
            return
        if d["spec"].get("paused") or self._is_scaling_event(d, rss):
            self._sync_scale(d, rss)
        elif is_rolling(d):
            self._rollout_rolling(d, rss)
        else:
            self._rollout_recreate(d, rss)

    # -- writes -------------------------------------------------------------------------------

    def _write_status(self, d: Obj) -> Obj:
        """UpdateStatus. The real status strategy also persists metadata changes (the revision
        annotation); here they go through a main-resource update first."""
        namespace, name = d["metadata"]["namespace"], d["metadata"]["name"]
        stored = self.ctx.store.peek(DEPLOYMENTS, namespace, name) or {"metadata": {}}
        status = d.get("status")
        if d["metadata"].get("annotations") != stored["metadata"].get("annotations"):
            result = self.ctx.client.update("apps/v1", "deployments", d)
            if not result.ok:
                raise SyncError(error_message(result))
            d = result.body
        d["status"] = status
        result = self.ctx.client.update_status("apps/v1", "deployments", d)
        if not result.ok:
            raise SyncError(error_message(result))
        return clone(result.body)

    def _update_rs(self, rs: Obj) -> Obj:
        result = self.ctx.client.update("apps/v1", "replicasets", rs)
        if not result.ok:
            raise SyncError(error_message(result))
        return result.body

    # -- new and old ReplicaSets (sync.go getAllReplicaSetsAndSyncRevision) ----------------------

    def _get_all(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj | None, list[Obj]]:
        existing = find_new_rs(d, rss)
        old = [rs for rs in rss if existing is None or rs["metadata"]["uid"] != existing["metadata"]["uid"]]
        return self._get_new_rs(d, existing, old, create), old

    def _get_new_rs(self, d: Obj, existing: Obj | None, old: list[Obj], create: bool) -> Obj | None:
        max_old = max([_annotation_int(rs, REVISION) or 0 for rs in old] or [0])
        new_revision = str(max_old + 1)
        now = rfc3339(self.ctx.clock.wall())
        if existing is not None:
            rs = clone(existing)
            annotations_updated = self._set_new_rs_annotations(d, rs, new_revision, exists=True)
            if annotations_updated or rs["spec"].get("minReadySeconds", 0) != d["spec"].get("minReadySeconds", 0):
                rs["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds", 0)
                return self._update_rs(rs)
            needs_update = self._set_deployment_revision(d, rs["metadata"]["annotations"].get(REVISION, ""))
            if _progress_deadline(d) is not None and condition(d, "Progressing") is None:
                self._set_conditions(d, set_condition(self._conditions(d), _condition(
                    "Progressing", "True", FOUND_NEW_RS_REASON, f"Found new replica set {go_quote(rs['metadata']['name'])}",
                    now)))
                needs_update = True
            if needs_update:
                d.update(self._write_status(d))
            return rs
        if not create:
            return None
        return self._create_new_rs(d, old, new_revision, now)

    def _create_new_rs(self, d: Obj, old: list[Obj], new_revision: str, now: str) -> Obj:
        namespace = d["metadata"]["namespace"]
        template = clone(d["spec"]["template"])
        collision_count = (d.get("status") or {}).get("collisionCount")
        pod_hash = compute_hash(template, collision_count)
        template.setdefault("metadata", {})["labels"] = {**(template["metadata"].get("labels") or {}),
                                                         HASH_LABEL: pod_hash}
        selector = clone(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        spec: dict[str, Any] = {"replicas": 0}
        if d["spec"].get("minReadySeconds"):
            spec["minReadySeconds"] = d["spec"]["minReadySeconds"]
        spec.update({"selector": selector, "template": template})
        new_rs: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                       "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": namespace,
                                    "labels": dict(template["metadata"]["labels"]),
                                    "ownerReferences": [owner_reference(d)]},
                       "spec": spec}
        new_replicas = self._new_rs_new_replicas(d, [*old, new_rs], new_rs)
        new_rs["spec"]["replicas"] = new_replicas
        self._set_new_rs_annotations(d, new_rs, new_revision, exists=False)
        result = self.ctx.client.create("apps/v1", "replicasets", namespace, new_rs)
        already_exists = False
        if result.status == 409:
            found = self.ctx.store.get(REPLICA_SETS, namespace, new_rs["metadata"]["name"])
            if found is not None and owned_by(found, d) and equal_ignore_hash(d["spec"]["template"],
                                                                               found["spec"]["template"]):
                created, already_exists = found, True
            else:
                # A hash collision: bump collisionCount so the next sync computes another name.
                d.setdefault("status", {})["collisionCount"] = (collision_count or 0) + 1
                d.update(self._write_status(d))
                raise SyncError(error_message(result))
        elif not result.ok:
            if namespace_terminating(result):
                raise SyncError(error_message(result))
            message = f"Failed to create new replica set {go_quote(new_rs['metadata']['name'])}: {error_message(result)}"
            if _progress_deadline(d) is not None:
                self._set_conditions(d, set_condition(self._conditions(d), _condition(
                    "Progressing", "False", FAILED_RS_CREATE_REASON, message, now)))
                self._write_status(d)
            self.recorder.record(d, "Warning", FAILED_RS_CREATE_REASON, message)
            raise SyncError(message)
        else:
            created = result.body
        if not already_exists and new_replicas > 0:
            self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                 self._scaling_message("up", created["metadata"]["name"], 0, new_replicas, True))
        needs_update = self._set_deployment_revision(d, new_revision)
        if not already_exists and _progress_deadline(d) is not None:
            self._set_conditions(d, set_condition(self._conditions(d), _condition(
                "Progressing", "True", NEW_RS_REASON, f"Created new replica set {go_quote(created['metadata']['name'])}",
                now)))
            needs_update = True
        if needs_update:
            d.update(self._write_status(d))
        return created

    def _set_new_rs_annotations(self, d: Obj, rs: Obj, new_revision: str, exists: bool) -> bool:
        """SetNewReplicaSetAnnotations."""
        annotations = rs["metadata"].setdefault("annotations", {})
        changed = False
        for key, value in sorted((d["metadata"].get("annotations") or {}).items()):
            if key not in _SKIP_ANNOTATIONS and annotations.get(key) != value:
                annotations[key] = value
                changed = True
        old_revision = annotations.get(REVISION)
        old_int = int(old_revision) if old_revision and old_revision.isdigit() else 0
        if old_int < int(new_revision):
            annotations[REVISION] = new_revision
            changed = True
            if old_revision:
                # Reusing an older ReplicaSet (a rollback): keep its past revisions.
                history = annotations.get(REVISION_HISTORY)
                annotations[REVISION_HISTORY] = f"{history},{old_revision}" if history else old_revision
        if not exists and self._set_replicas_annotations(rs, _replicas(d), _replicas(d) + max_surge(d)):
            changed = True
        return changed

    @staticmethod
    def _set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(maximum)}
        if all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        annotations.update(wanted)
        return True

    @staticmethod
    def _set_deployment_revision(d: Obj, revision: str) -> bool:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION) == revision:
            return False
        annotations[REVISION] = revision
        return True

    def _new_rs_new_replicas(self, d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
        """NewRSNewReplicas."""
        if not is_rolling(d):
            return _replicas(d)
        current = sum(_replicas(rs) for rs in all_rss)
        max_total = _replicas(d) + max_surge(d)
        if current >= max_total:
            return _replicas(new_rs)
        return _replicas(new_rs) + min(max_total - current, _replicas(d) - _replicas(new_rs))

    # -- scaling ---------------------------------------------------------------------------------

    def _scaling_message(self, operation: str, rs_name: str, old: int, new: int, created: bool = False) -> str:
        if self.flags.deployment_scaling_event_from_to:
            return f"Scaled {operation} replica set {rs_name} from {old} to {new}"
        if self.flags.deployment_scaling_event_from and not created:
            return f"Scaled {operation} replica set {rs_name} to {new} from {old}"
        return f"Scaled {operation} replica set {rs_name} to {new}"

    def _scale_rs_and_record(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
        if _replicas(rs) == new_scale:
            return False, rs
        return self._scale_rs(rs, new_scale, d, "up" if _replicas(rs) < new_scale else "down")

    def _scale_rs(self, rs: Obj, new_scale: int, d: Obj, operation: str) -> tuple[bool, Obj]:
        """scaleReplicaSet: replicas and the desired/max annotations in one update."""
        size_changed = _replicas(rs) != new_scale
        rs = clone(rs)
        old_scale = _replicas(rs)
        annotations_changed = self._set_replicas_annotations(rs, _replicas(d), _replicas(d) + max_surge(d))
        if not size_changed and not annotations_changed:
            return False, rs
        rs["spec"]["replicas"] = new_scale
        rs = self._update_rs(rs)
        if size_changed:
            self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                 self._scaling_message(operation, rs["metadata"]["name"], old_scale, new_scale))
        return size_changed, rs

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new_rs, old = self._get_all(d, rss, create=False)
        for rs in _active([*old, new_rs]):
            desired = _annotation_int(rs, DESIRED_REPLICAS)
            if desired is not None and desired != _replicas(d):
                return True
        return False

    def _sync_scale(self, d: Obj, rss: list[Obj]) -> None:
        """sync: proportional scaling for scaling events and paused Deployments."""
        new_rs, old = self._get_all(d, rss, create=False)
        self._scale(d, new_rs, old)
        if d["spec"].get("paused"):
            self._cleanup(d, old)
        new_rs, old = self._get_all(d, self._owned(d), create=False)
        self._sync_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)

    def _scale(self, d: Obj, new_rs: Obj | None, old: list[Obj]) -> None:
        replicas = _replicas(d)
        latest = self._active_or_latest(new_rs, old)
        if latest is not None:
            if _replicas(latest) != replicas:
                self._scale_rs_and_record(latest, replicas, d)
            return
        if new_rs is not None and _annotation_int(new_rs, DESIRED_REPLICAS) == replicas \
                and _replicas(new_rs) == replicas and _st(new_rs, "availableReplicas") == replicas:
            for rs in _active(old):
                self._scale_rs_and_record(rs, 0, d)
            return
        if not is_rolling(d):
            return
        all_rss = _active([*old, new_rs])
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - sum(_replicas(rs) for rs in all_rss)
        # Larger first; ties newer first when adding (ReplicaSetsBySizeNewer), older first when removing.
        all_rss = _by_creation(all_rss)
        if to_add > 0:
            all_rss.reverse()
        all_rss.sort(key=lambda rs: -_replicas(rs))
        sizes: dict[str, int] = {}
        added = 0
        for rs in all_rss:
            proportion = self._proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs["metadata"]["name"]] = _replicas(rs) + proportion
            added += proportion
        if all_rss and added != to_add:
            first = all_rss[0]["metadata"]["name"]
            sizes[first] = max(0, sizes[first] + to_add - added)
        for rs in all_rss:
            self._scale_rs(rs, sizes[rs["metadata"]["name"]], d, "up" if to_add > 0 else "down")

    @staticmethod
    def _active_or_latest(new_rs: Obj | None, old: list[Obj]) -> Obj | None:
        if new_rs is None and not old:
            return None
        newest_first = list(reversed(_by_creation(old)))
        active = _active([*newest_first, new_rs])
        if not active:
            return new_rs if new_rs is not None else newest_first[0]
        return active[0] if len(active) == 1 else None

    @staticmethod
    def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
        """GetProportion/getReplicaSetFraction: each ReplicaSet grows or shrinks by its share."""
        if _replicas(rs) == 0 or to_add == added:
            return 0
        if _replicas(d) == 0:
            fraction = -_replicas(rs)
        else:
            annotated = _annotation_int(rs, MAX_REPLICAS) or _st(d, "replicas")
            size = _replicas(rs) * (_replicas(d) + max_surge(d)) / annotated if annotated else 0
            fraction = math.floor(size + 0.5) - _replicas(rs)  # RoundToInt32: half away from zero
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # -- rollouts --------------------------------------------------------------------------------

    def _owned(self, d: Obj) -> list[Obj]:
        return [rs for rs in self.ctx.store.list(REPLICA_SETS, d["metadata"]["namespace"]) if owned_by(rs, d)]

    def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old = self._get_all(d, rss, create=True)
        assert new_rs is not None
        all_rss = [*old, new_rs]
        if self._reconcile_new_rs(d, all_rss, new_rs):
            return self._sync_rollout_status(d, self._owned(d))
        if self._reconcile_old_rss(d, all_rss, _active(old), new_rs):
            return self._sync_rollout_status(d, self._owned(d))
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, self._owned(d))

    def _reconcile_new_rs(self, d: Obj, all_rss: list[Obj], new_rs: Obj) -> bool:
        replicas = _replicas(d)
        if _replicas(new_rs) == replicas:
            return False
        if _replicas(new_rs) > replicas:
            return self._scale_rs_and_record(new_rs, replicas, d)[0]
        return self._scale_rs_and_record(new_rs, self._new_rs_new_replicas(d, all_rss, new_rs), d)[0]

    def _reconcile_old_rss(self, d: Obj, all_rss: list[Obj], old: list[Obj], new_rs: Obj) -> bool:
        if sum(_replicas(rs) for rs in old) == 0:
            return False
        min_available = _replicas(d) - max_unavailable(d)
        new_unavailable = _replicas(new_rs) - _st(new_rs, "availableReplicas")
        max_scaled_down = sum(_replicas(rs) for rs in all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old, cleaned = self._cleanup_unhealthy(d, old, max_scaled_down)
        scaled = self._scale_down_old_for_rolling(d, [*old, new_rs], old)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, d: Obj, old: list[Obj], max_cleanup: int) -> tuple[list[Obj], int]:
        """Scale down old ReplicaSets' unavailable pods first: they cost no availability."""
        total = 0
        result = []
        for rs in _by_creation(old):
            unhealthy = _replicas(rs) - _st(rs, "availableReplicas")
            if total < max_cleanup and _replicas(rs) > 0 and unhealthy > 0:
                scaled_down = min(max_cleanup - total, unhealthy)
                _, rs = self._scale_rs_and_record(rs, _replicas(rs) - scaled_down, d)
                total += scaled_down
            result.append(rs)
        return result, total

    def _scale_down_old_for_rolling(self, d: Obj, all_rss: list[Obj], old: list[Obj]) -> int:
        min_available = _replicas(d) - max_unavailable(d)
        available = sum(_st(rs, "availableReplicas") for rs in all_rss)
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in _by_creation(old):
            if total >= budget:
                break
            if _replicas(rs) == 0:
                continue
            step = min(_replicas(rs), budget - total)
            self._scale_rs_and_record(rs, _replicas(rs) - step, d)
            total += step
        return total

    def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> None:
        new_rs, old = self._get_all(d, rss, create=False)
        scaled_down = False
        for rs in _active(old):
            scaled_down = self._scale_rs_and_record(rs, 0, d)[0] or scaled_down
        if scaled_down or self._old_pods_running(d, new_rs, self._owned(d)):
            return self._sync_rollout_status(d, self._owned(d))
        if new_rs is None:
            new_rs, old = self._get_all(d, self._owned(d), create=True)
            assert new_rs is not None
        self._scale_rs_and_record(new_rs, _replicas(d), d)
        if deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, self._owned(d))

    def _old_pods_running(self, d: Obj, new_rs: Obj | None, rss: list[Obj]) -> bool:
        old = [rs for rs in rss if new_rs is None or rs["metadata"]["uid"] != new_rs["metadata"]["uid"]]
        if sum(_st(rs, "replicas") for rs in old) > 0:
            return True
        for pod in self.ctx.store.iter(PODS, d["metadata"]["namespace"]):
            if any(owned_by(pod, rs) for rs in old) and (pod.get("status") or {}).get("phase") not in (
                    "Failed", "Succeeded"):
                return True
        return False

    def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        """cleanupDeployment: keep revisionHistoryLimit old ReplicaSets that have no pods left."""
        limit = d["spec"].get("revisionHistoryLimit", 10)
        candidates = [rs for rs in old if "deletionTimestamp" not in rs["metadata"]]
        excess = len(candidates) - limit
        for rs in _by_creation(candidates):
            if excess <= 0:
                break
            if _st(rs, "replicas") != 0 or _replicas(rs) != 0 or _st(rs, "observedGeneration") < rs["metadata"].get(
                    "generation", 1):
                continue
            result = self.ctx.client.delete("apps/v1", "replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
            if not result.ok and result.status != 404:
                raise SyncError(error_message(result))
            excess -= 1

    # -- status ----------------------------------------------------------------------------------

    @staticmethod
    def _conditions(d: Obj) -> list[dict[str, Any]]:
        return list((d.get("status") or {}).get("conditions") or [])

    @staticmethod
    def _set_conditions(d: Obj, conditions: list[dict[str, Any]]) -> None:
        d.setdefault("status", {})["conditions"] = conditions

    def _calculate_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> dict[str, Any]:
        available = sum(_st(rs, "availableReplicas") for rs in all_rss)
        total = sum(_replicas(rs) for rs in all_rss)
        old_status = d.get("status") or {}
        conditions = self._conditions(d)
        now = rfc3339(self.ctx.clock.wall())
        if available >= _replicas(d) - max_unavailable(d):
            conditions = set_condition(conditions, _condition("Available", "True", MIN_AVAILABLE_REASON,
                                                              "Deployment has minimum availability.", now))
        else:
            conditions = set_condition(conditions, _condition("Available", "False", MIN_UNAVAILABLE_REASON,
                                                              "Deployment does not have minimum availability.", now))
        return {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_st(rs, "replicas") for rs in all_rss),
            "updatedReplicas": _st(new_rs, "replicas") if new_rs else 0,
            "readyReplicas": sum(_st(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": available,
            "unavailableReplicas": max(0, total - available),
            "conditions": conditions,
            "collisionCount": old_status.get("collisionCount"),
        }

    def _sync_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> None:
        status = without_zeros(self._calculate_status(d, all_rss, new_rs))
        if status != (d.get("status") or {}):
            d["status"] = status
            d.update(self._write_status(d))

    def _sync_rollout_status(self, d: Obj, rss: list[Obj]) -> None:
        """progress.go syncRolloutStatus: the Progressing condition and the stuck-rollout requeue."""
        new_rs = find_new_rs(d, rss)
        status = self._calculate_status(d, rss, new_rs)
        conditions = status["conditions"]
        deadline = _progress_deadline(d)
        now = rfc3339(self.ctx.clock.wall())
        current = condition(d, "Progressing")
        if deadline is None:
            conditions = remove_condition(conditions, "Progressing")
        complete = status["replicas"] == status["updatedReplicas"] and current is not None \
            and current.get("reason") == NEW_RS_AVAILABLE_REASON
        subject = (f"ReplicaSet {go_quote(new_rs['metadata']['name'])}" if new_rs
                   else f"Deployment {go_quote(d['metadata']['name'])}")
        if deadline is not None and not complete:
            if deployment_complete(d, status):
                conditions = set_condition(conditions, _condition(
                    "Progressing", "True", NEW_RS_AVAILABLE_REASON, f"{subject} has successfully progressed.", now))
            elif self._progressing(d, status):
                cond = _condition("Progressing", "True", RS_UPDATED_REASON, f"{subject} is progressing.", now)
                if current is not None:
                    if current["status"] == "True":
                        cond["lastTransitionTime"] = current["lastTransitionTime"]
                    conditions = remove_condition(conditions, "Progressing")
                conditions = set_condition(conditions, cond)
            elif self._timed_out(d, current, deadline):
                conditions = set_condition(conditions, _condition(
                    "Progressing", "False", TIMED_OUT_REASON, f"{subject} has timed out progressing.", now))
        failure = self._replica_failure(rss, new_rs)
        conditions = set_condition(conditions, failure) if failure else remove_condition(conditions, "ReplicaFailure")
        status["conditions"] = conditions
        status = without_zeros(status)
        if status == (d.get("status") or {}):
            self._requeue_stuck(d, status, current, deadline)
            return
        d["status"] = status
        d.update(self._write_status(d))

    @staticmethod
    def _progressing(d: Obj, new: dict[str, Any]) -> bool:
        old = d.get("status") or {}
        old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
        new_old = new["replicas"] - new["updatedReplicas"]
        return (new["updatedReplicas"] > old.get("updatedReplicas", 0) or new_old < old_old
                or new["readyReplicas"] > old.get("readyReplicas", 0)
                or new["availableReplicas"] > old.get("availableReplicas", 0))

    def _timed_out(self, d: Obj, current: dict[str, Any] | None, deadline: int) -> bool:
        if current is None or current.get("reason") == NEW_RS_AVAILABLE_REASON:
            return False
        if current.get("reason") == TIMED_OUT_REASON:
            return True
        since = parse_rfc3339(current["lastUpdateTime"])
        return (self.ctx.clock.wall() - since).total_seconds() > deadline

    @staticmethod
    def _replica_failure(rss: list[Obj], new_rs: Obj | None) -> dict[str, Any] | None:
        ordered = ([new_rs] if new_rs else []) + [rs for rs in rss if rs is not new_rs]
        for rs in ordered:
            cond = condition(rs, "ReplicaFailure")
            if cond is not None:
                return {"type": "ReplicaFailure", "status": cond["status"],
                        "lastUpdateTime": cond["lastTransitionTime"], "lastTransitionTime": cond["lastTransitionTime"],
                        "reason": cond["reason"], "message": cond["message"]}
        return None

    def _requeue_stuck(self, d: Obj, status: dict[str, Any], current: dict[str, Any] | None,
                       deadline: int | None) -> None:
        """Look again when the progress deadline passes (or right away, rate limited, if it is < 1 s off)."""
        if deadline is None or current is None or deployment_complete(d, status) \
                or current.get("reason") == TIMED_OUT_REASON:
            return
        key = (d["metadata"]["namespace"], d["metadata"]["name"])
        after = (parse_rfc3339(current["lastUpdateTime"]) - self.ctx.clock.wall()).total_seconds() + deadline
        if after < 1:
            self.retries.add_rate_limited(key)
        else:
            self.retries.add_after(key, after + 1)
