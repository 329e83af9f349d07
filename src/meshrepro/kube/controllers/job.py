"""job-controller: pods run to completion, counted; the backoff limit fails the Job.

A reduced port of pkg/controller/job/job_controller.go for NonIndexed Jobs: wanted active pods =
min(parallelism, completions - succeeded), pod failures (restartPolicy Never) or container restarts
(OnFailure) counted against backoffLimit, new pods after a failure delayed 10 s doubling to 6 min,
the Complete / Failed conditions (preceded by SuccessCriteriaMet / FailureTarget where the release
has them) and the `Completed` / `BackoffLimitExceeded` events. The Job's selector and pod labels
(`batch.kubernetes.io/job-name`, `controller-uid`, ...) are the API server's doing (generateSelector).
"""

from __future__ import annotations

from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key, controller_of, owner_reference
from meshrepro.kube.controllers.util import (
    JOBS,
    PODS,
    RateLimitedQueue,
    create_pod,
    delete_pods,
    error_message,
    is_pod_ready,
    owned_by,
    pod_from_template,
)
from meshrepro.kube.store import Obj, WatchEvent
from meshrepro.kube.versions import flags
from meshrepro.sim.clock import rfc3339

BACKOFF_BASE = 10.0  # DefaultJobPodFailureBackOff
BACKOFF_MAX = 360.0  # MaxJobPodFailureBackOff
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
COMPLETED_MESSAGE = "Reached expected number of succeeded pods"


class JobController(Controller):
    name = "job-controller"
    primary = JOBS
    secondary = (PODS,)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)
        self.recorder = ctx.recorder(self.name)
        self.flags = flags(ctx.version)
        self.counted: dict[str, set[str]] = {}  # job uid -> uids of terminal pods already in status
        self.last_failure: dict[str, float] = {}  # job uid -> when a new pod failure was seen

    def keys_for(self, event: WatchEvent) -> list[Key]:
        owner = controller_of(event.object)
        if owner is None or owner.get("kind") != "Job":
            return []
        return [(event.object["metadata"]["namespace"], owner["name"])]

    def reconcile(self, namespace: str, name: str) -> None:
        job = self.ctx.store.get(JOBS, namespace, name)
        if job is None or self._finished(job):
            return
        error = self._sync(job)
        if error:
            self.retries.add_rate_limited((namespace, name))
        else:
            self.retries.forget((namespace, name))

    @staticmethod
    def _finished(job: Obj) -> bool:
        return any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
                   for c in (job.get("status") or {}).get("conditions") or [])

    def _sync(self, job: Obj) -> str:
        uid = job["metadata"]["uid"]
        spec, old = job["spec"], job.get("status") or {}
        now = rfc3339(self.ctx.clock.wall())
        pods = [p for p in self.ctx.store.iter(PODS, job["metadata"]["namespace"]) if owned_by(p, job)]
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                  and "deletionTimestamp" not in p["metadata"]]
        counted = self.counted.setdefault(uid, set())
        succeeded, failed = old.get("succeeded", 0), old.get("failed", 0)
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed") and pod["metadata"]["uid"] not in counted:
                counted.add(pod["metadata"]["uid"])
                if phase == "Succeeded":
                    succeeded += 1
                else:
                    failed += 1
                    self.last_failure[uid] = self.ctx.clock.now
        restarts = sum(c.get("restartCount", 0) for p in active
                       for c in (p.get("status") or {}).get("containerStatuses") or [])
        on_failure = spec["template"]["spec"].get("restartPolicy") == "OnFailure"
        completions, parallelism = spec.get("completions"), spec.get("parallelism", 1)
        conditions = list(old.get("conditions") or [])
        error = ""
        if failed + (restarts if on_failure else 0) > spec.get("backoffLimit", 6):
            error = self._delete_all(job, active)
            active = []
            conditions = self._terminal(conditions, "FailureTarget", "Failed", "BackoffLimitExceeded",
                                        BACKOFF_LIMIT_MESSAGE, now)
            self.recorder.record(job, "Warning", "BackoffLimitExceeded", BACKOFF_LIMIT_MESSAGE)
        elif (completions is not None and succeeded >= completions) or (completions is None and succeeded > 0
                                                                         and not active):
            conditions = self._terminal(conditions, "SuccessCriteriaMet", "Complete", "CompletionsReached",
                                        COMPLETED_MESSAGE, now)
        else:
            wanted = parallelism if completions is None else min(parallelism, completions - succeeded)
            if completions is None and succeeded > 0:
                wanted = 0
            error = self._manage(job, active, wanted, failed)
        status: dict[str, Any] = {"conditions": conditions} if conditions else {}
        status["startTime"] = old.get("startTime", now)
        if any(c["type"] == "Complete" for c in conditions):
            status["completionTime"] = now
        status.update({"active": len(active), "succeeded": succeeded, "failed": failed})
        status = {k: v for k, v in status.items() if v not in (0, None)}
        status["uncountedTerminatedPods"] = {}
        status["ready"] = sum(1 for p in active if is_pod_ready(p))
        if status != old:
            job["status"] = status
            result = self.ctx.client.update_status("batch/v1", "jobs", job)
            if not result.ok:
                return error_message(result)
            if "completionTime" in status and "completionTime" not in old:
                self.recorder.record(job, "Normal", "Completed", "Job completed")
        return error

    def _terminal(self, conditions: list[dict[str, Any]], interim: str, final: str, reason: str, message: str,
                  now: str) -> list[dict[str, Any]]:
        """Append the interim condition (1.31+: SuccessCriteriaMet/FailureTarget) and the final one."""
        kinds = ([interim] if self.flags.job_interim_terminal_conditions else []) + [final]
        if not self.flags.job_interim_terminal_conditions and final == "Complete":
            reason, message = "", ""  # before 1.31 Complete carried neither reason nor message
        for kind in kinds:
            if not any(c["type"] == kind for c in conditions):
                cond = {"type": kind, "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
                if reason:
                    cond.update({"reason": reason, "message": message})
                conditions.append(cond)
        return conditions

    def _manage(self, job: Obj, active: list[Obj], wanted: int, failures: int) -> str:
        diff = wanted - len(active)
        namespace, uid = job["metadata"]["namespace"], job["metadata"]["uid"]
        if diff < 0:
            victims = sorted(active, key=lambda p: p["metadata"]["name"])[:-diff]
            return self._delete_all(job, victims)
        if diff == 0:
            return ""
        if uid in self.last_failure and failures:
            delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)
            remaining = self.last_failure[uid] + delay - self.ctx.clock.now
            if remaining > 0:
                self.retries.add_after((namespace, job["metadata"]["name"]), remaining)
                return ""
        for _ in range(diff):
            pod = pod_from_template(job["spec"]["template"], owner_reference(job),
                                    generate_name=f"{job['metadata']['name']}-")
            error = create_pod(self.ctx, self.recorder, job, pod)
            if error:
                return error
        return ""

    def _delete_all(self, job: Obj, pods: list[Obj]) -> str:
        return delete_pods(self.ctx, self.recorder, job, pods)
