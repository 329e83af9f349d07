"""Deployment, ReplicaSet, DaemonSet, StatefulSet and Job rows (printers.go print<Kind>)."""

from __future__ import annotations

from meshrepro.kube.duration import duration_between, since
from meshrepro.kube.printers._table import (
    Cell,
    Context,
    Obj,
    age,
    age_column,
    column,
    container_columns,
    format_label_selector,
    format_labels,
    layout_containers,
    meta,
    name_column,
    selector_string,
    spec,
    status,
    template_containers,
)
from meshrepro.kube.versions import Flags


def deployment_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Ready", text="Number of the pod with ready state"),
            column("Up-to-date", doc="DeploymentStatus.updatedReplicas"),
            column("Available", doc="DeploymentStatus.availableReplicas"),
            age_column(),
            *container_columns("DeploymentSpec.selector")]


def deployment_row(obj: Obj, ctx: Context) -> list[Cell]:
    st = status(obj)
    # The selector cell is selector.String() here, not FormatLabelSelector: no `<none>`.
    return [meta(obj).get("name", ""), f"{st.get('readyReplicas', 0)}/{spec(obj).get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(obj, ctx),
            *layout_containers(template_containers(obj)), selector_string(spec(obj).get("selector"))]


def replicaset_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Desired", "integer", doc="ReplicaSetSpec.replicas"),
            column("Current", "integer", doc="ReplicaSetStatus.replicas"),
            column("Ready", "integer", doc="ReplicaSetStatus.readyReplicas"),
            age_column(),
            *container_columns("ReplicaSetSpec.selector")]


def replicaset_row(obj: Obj, ctx: Context) -> list[Cell]:
    st = status(obj)
    return [meta(obj).get("name", ""), spec(obj).get("replicas", 1), st.get("replicas", 0),
            st.get("readyReplicas", 0), age(obj, ctx), *layout_containers(template_containers(obj)),
            format_label_selector(spec(obj).get("selector"))]


def daemonset_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Desired", "integer", doc="DaemonSetStatus.desiredNumberScheduled"),
            column("Current", "integer", doc="DaemonSetStatus.currentNumberScheduled"),
            column("Ready", "integer", doc="DaemonSetStatus.numberReady"),
            column("Up-to-date", "integer", doc="DaemonSetStatus.updatedNumberScheduled"),
            column("Available", "integer", doc="DaemonSetStatus.numberAvailable"),
            column("Node Selector", doc="PodSpec.nodeSelector"),
            age_column(),
            *container_columns("DaemonSetSpec.selector")]


def daemonset_row(obj: Obj, ctx: Context) -> list[Cell]:
    st = status(obj)
    pod_spec = spec(spec(obj).get("template") or {})
    return [meta(obj).get("name", ""), st.get("desiredNumberScheduled", 0),
            st.get("currentNumberScheduled", 0), st.get("numberReady", 0),
            st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            format_labels(pod_spec.get("nodeSelector")), age(obj, ctx),
            *layout_containers(template_containers(obj)), format_label_selector(spec(obj).get("selector"))]


def statefulset_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Ready", text="Number of the pod with ready state"),
            age_column(),
            *container_columns(None)]


def statefulset_row(obj: Obj, ctx: Context) -> list[Cell]:
    ready = f"{status(obj).get('readyReplicas', 0)}/{spec(obj).get('replicas', 1)}"
    return [meta(obj).get("name", ""), ready, age(obj, ctx), *layout_containers(template_containers(obj))]


def job_columns(flags: Flags) -> list[Obj]:
    status_column = [column("Status", text="Status of the job.")] if flags.printer_job_status_column else []
    return [name_column(),
            *status_column,
            column("Completions", doc="JobStatus.succeeded"),
            column("Duration", text="Time required to complete the job."),
            age_column(),
            *container_columns("JobSpec.selector")]


def job_row(obj: Obj, ctx: Context) -> list[Cell]:
    status_cell = [_job_status(obj)] if ctx.flags.printer_job_status_column else []
    return [meta(obj).get("name", ""), *status_cell, _completions(obj), _job_duration(obj, ctx),
            age(obj, ctx), *layout_containers(template_containers(obj)),
            format_label_selector(spec(obj).get("selector"))]


def _completions(obj: Obj) -> str:
    succeeded = status(obj).get("succeeded", 0)
    completions = spec(obj).get("completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = spec(obj).get("parallelism") or 0
    # A work-queue job (no completions) is done after one success, whatever its parallelism.
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(obj: Obj, ctx: Context) -> str:
    start, end = status(obj).get("startTime"), status(obj).get("completionTime")
    if not start:
        return ""
    return duration_between(start, end) if end else since(start, ctx.now)


def _job_status(obj: Obj) -> str:
    if _job_condition(obj, "Complete"):
        return "Complete"
    if _job_condition(obj, "Failed"):
        return "Failed"
    if meta(obj).get("deletionTimestamp"):
        return "Terminating"
    if _job_condition(obj, "Suspended"):
        return "Suspended"
    if _job_condition(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_condition(obj: Obj, type_: str) -> bool:
    # hasJobCondition: the first condition of that type decides.
    for condition in status(obj).get("conditions") or []:
        if condition.get("type") == type_:
            return condition.get("status") == "True"
    return False
