"""printPod: the READY / STATUS / RESTARTS cells of `kubectl get pods`.

The walk mirrors printers.go: init container statuses first (stop at the first one not done),
then, unless still initializing, app container statuses from last to first so the first container's
state wins. Version differences are asked from kube/versions.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshrepro.kube.duration import since
from meshrepro.kube.printers._table import Cell, Context, Obj, age, age_column, column, meta, name_column
from meshrepro.kube.versions import Flags

_NODE_UNREACHABLE_REASON = "NodeLost"  # pkg/util/node NodeUnreachablePodReason
_ROW_CONDITIONS = {
    "Succeeded": {"type": "Completed", "status": "True", "reason": "Succeeded",
                  "message": "The pod has completed successfully."},
    "Failed": {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."},
}


def pod_columns(_: Flags) -> list[Obj]:
    return [
        name_column(),
        column("Ready", text="The aggregate readiness state of this pod for accepting traffic."),
        column("Status", text="The aggregate status of the containers in this pod."),
        column("Restarts", text="The number of times the containers in this pod have been restarted "
                                "and when the last container in this pod has restarted."),
        age_column(),
        column("IP", doc="PodStatus.podIP", priority=1),
        column("Node", doc="PodSpec.nodeName", priority=1),
        column("Nominated Node", doc="PodStatus.nominatedNodeName", priority=1),
        column("Readiness Gates", doc="PodSpec.readinessGates", priority=1),
    ]


@dataclass
class _Tally:
    """Running counts of the walk; restart times are RFC3339 strings, which sort chronologically."""

    ready: int = 0
    restarts: int = 0
    last_restart: str = ""
    sidecar_restarts: int = 0
    last_sidecar_restart: str = ""


def pod_row(pod: Obj, ctx: Context) -> list[Cell]:
    ready, total, reason, restarts = pod_summary(pod, ctx)
    cells: list[Cell] = [meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts, age(pod, ctx)]
    return cells + _wide_cells(pod)


def pod_row_conditions(pod: Obj) -> list[Obj]:
    """A finished pod's row is marked Completed (podSuccessConditions / podFailedConditions)."""
    condition = _ROW_CONDITIONS.get((pod.get("status") or {}).get("phase", ""))
    return [dict(condition)] if condition else []


def pod_status(pod: Obj, ctx: Context) -> str:
    """The STATUS cell alone (what reports call the kubectl status of a pod)."""
    return pod_summary(pod, ctx)[2]


def pod_summary(pod: Obj, ctx: Context) -> tuple[int, int, str, str]:
    """(ready containers, total containers, STATUS, RESTARTS) as printPod computes them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    sidecar_aware = ctx.flags.printer_pod_sidecar_aware
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or [])
    if sidecar_aware:
        total += sum(1 for c in init_specs.values() if _is_sidecar(c))
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in status.get("conditions") or []):
        reason = "SchedulingGated"

    tally = _Tally()
    init_reason = _walk_init(status.get("initContainerStatuses") or [], init_specs,
                             len(spec.get("initContainers") or []), tally, sidecar_aware)
    initializing = init_reason is not None
    if initializing:
        reason = init_reason
    if not initializing or (sidecar_aware and _condition_true(status, "Initialized")):
        reason = _walk_app(status, tally, reason, sidecar_aware)

    reason = _deletion_reason(pod, phase, reason, ctx.flags)
    restarts = str(tally.restarts)
    if tally.restarts != 0 and tally.last_restart:
        restarts = f"{tally.restarts} ({since(tally.last_restart, ctx.now)} ago)"
    return tally.ready, total, reason, restarts


def _walk_init(statuses: list[Obj], specs: dict[str, Obj], count: int, tally: _Tally,
               sidecar_aware: bool) -> str | None:
    """Init containers in order; returns the STATUS of the first one not done, None if all done."""
    for i, container in enumerate(statuses):
        sidecar = sidecar_aware and _is_sidecar(specs.get(container.get("name")))
        finished = _last_finished(container)
        tally.restarts += container.get("restartCount", 0)
        tally.last_restart = max(tally.last_restart, finished)
        if sidecar:
            tally.sidecar_restarts += container.get("restartCount", 0)
            tally.last_sidecar_restart = max(tally.last_sidecar_restart, finished)
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and container.get("started"):
            tally.ready += 1 if container.get("ready") else 0
            continue
        if terminated is not None:
            return "Init:" + _terminated_reason(terminated)
        if waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return "Init:" + waiting["reason"]
        return f"Init:{i}/{count}"
    return None


def _walk_app(status: Obj, tally: _Tally, reason: str, sidecar_aware: bool) -> str:
    """App containers from last to first; the earliest container's state ends up in STATUS."""
    if sidecar_aware:
        tally.restarts, tally.last_restart = tally.sidecar_restarts, tally.last_sidecar_restart
    else:
        tally.restarts = 0  # before 1.28 the init containers' last restart time was kept
    has_running = False
    for container in reversed(status.get("containerStatuses") or []):
        tally.restarts += container.get("restartCount", 0)
        tally.last_restart = max(tally.last_restart, _last_finished(container))
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting is not None and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None:
            reason = _terminated_reason(terminated)
        elif container.get("ready") and state.get("running") is not None:
            has_running = True
            tally.ready += 1
    # A finished container next to a running one does not make the pod "Completed".
    if reason == "Completed" and has_running:
        reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    return reason


def _terminated_reason(terminated: Obj) -> str:
    if terminated.get("reason"):
        return terminated["reason"]
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"


def _deletion_reason(pod: Obj, phase: str, reason: str, flags: Flags) -> str:
    if not meta(pod).get("deletionTimestamp"):
        return reason
    if (pod.get("status") or {}).get("reason") == _NODE_UNREACHABLE_REASON:
        return "Unknown"
    if flags.printer_pod_terminal_phase_not_terminating and phase in ("Succeeded", "Failed"):
        return reason
    return "Terminating"


def _wide_cells(pod: Obj) -> list[Cell]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    pod_ips = status.get("podIPs") or []
    pod_ip = pod_ips[0].get("ip", "") if pod_ips else ""
    gates = "<none>"
    if spec.get("readinessGates"):
        conditions = status.get("conditions") or []
        true_count = sum(1 for gate in spec["readinessGates"]
                         if _first_condition_status(conditions, gate.get("conditionType")) == "True")
        gates = f"{true_count}/{len(spec['readinessGates'])}"
    return [pod_ip or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates]


def _first_condition_status(conditions: list[Obj], type_: str | None) -> str | None:
    return next((c.get("status") for c in conditions if c.get("type") == type_), None)


def _condition_true(status: Obj, type_: str) -> bool:
    return _first_condition_status(status.get("conditions") or [], type_) == "True"


def _last_finished(container: Obj) -> str:
    terminated = (container.get("lastState") or {}).get("terminated") or {}
    return terminated.get("finishedAt") or ""


def _is_sidecar(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"
