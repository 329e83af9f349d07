"""What the apiserver answers to `kubectl get` (Accept: as=Table;g=meta.k8s.io;v=v1).

`to_table` is the server side of every `kubectl get`: the cells are computed by the apiserver of
the cluster's release (pkg/printers/internalversion/printers.go), always with every wide column
(the registry renders with Wide set); kubectl only hides priority>0 columns and aligns the text
(runtime/tabwriter.print_table). Rows keep the order of `objects` (the store's key order).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meshrepro.kube.printers import core, network, pods, workloads
from meshrepro.kube.printers._table import Cell, Context, Obj, Printer
from meshrepro.kube.printers.default import DEFAULT_COLUMNS, crd_columns, crd_row, default_row
from meshrepro.kube.versions import KubeVersion, flags

__all__ = ["custom_resource_table", "pod_status", "to_table"]

PRINTERS: dict[str, Printer] = {
    "Pod": Printer(pods.pod_columns, pods.pod_row, pods.pod_row_conditions),
    "Deployment": Printer(workloads.deployment_columns, workloads.deployment_row),
    "ReplicaSet": Printer(workloads.replicaset_columns, workloads.replicaset_row),
    "DaemonSet": Printer(workloads.daemonset_columns, workloads.daemonset_row),
    "StatefulSet": Printer(workloads.statefulset_columns, workloads.statefulset_row),
    "Job": Printer(workloads.job_columns, workloads.job_row),
    "Service": Printer(network.service_columns, network.service_row),
    "Endpoints": Printer(network.endpoints_columns, network.endpoints_row),
    "EndpointSlice": Printer(network.endpointslice_columns, network.endpointslice_row),
    "Namespace": Printer(core.namespace_columns, core.namespace_row),
    "Node": Printer(core.node_columns, core.node_row),
    "Event": Printer(core.event_columns, core.event_row),
    "ConfigMap": Printer(core.configmap_columns, core.configmap_row),
    "Secret": Printer(core.secret_columns, core.secret_row),
    "ServiceAccount": Printer(core.serviceaccount_columns, core.serviceaccount_row),
    "RoleBinding": Printer(core.rolebinding_columns, core.binding_row),
    "ClusterRoleBinding": Printer(core.clusterrolebinding_columns, core.binding_row),
}


def to_table(kind: str, objects: list[Obj], now: datetime, version: KubeVersion,
             include_object: str = "Metadata", resource_version: str = "") -> Obj:
    """The meta.k8s.io/v1 Table for a list of `kind` objects (v1 JSON dicts as stored)."""
    printer = PRINTERS.get(kind)
    if printer is None:
        # The default convertor starts from a nil slice: an empty list encodes as null.
        rows = [_row(obj, default_row(obj), [], include_object) for obj in objects] or None
        return _table(DEFAULT_COLUMNS, rows, resource_version)
    ctx = Context(now, flags(version))
    rows = [_row(obj, printer.row(obj, ctx), printer.conditions(obj), include_object) for obj in objects]
    return _table(printer.columns(ctx.flags), rows, resource_version)


def custom_resource_table(crd: Obj, objects: list[Obj], now: datetime, include_object: str = "Metadata",
                          resource_version: str = "", version: str | None = None) -> Obj:
    """The Table for custom resources of `crd` (served `version`, default: the storage version)."""
    definitions, printer_columns = crd_columns(crd, version)
    rows = [_row(obj, crd_row(obj, printer_columns, now), [], include_object) for obj in objects]
    return _table(definitions, rows, resource_version)


def pod_status(pod: Obj, now: datetime, version: KubeVersion) -> str:
    """The STATUS cell of `kubectl get pods` for one pod (e.g. `Init:0/1`, `CrashLoopBackOff`)."""
    return pods.pod_status(pod, Context(now, flags(version)))


def _table(columns: list[Obj], rows: list[Obj] | None, resource_version: str) -> Obj:
    metadata = {"resourceVersion": resource_version} if resource_version else {}
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": columns, "rows": rows}


def _row(obj: Obj, cells: list[Cell], conditions: list[Obj], include_object: str) -> Obj:
    row: dict[str, Any] = {"cells": cells}
    if conditions:  # omitempty
        row["conditions"] = conditions
    row["object"] = _row_object(obj, include_object)
    return row


def _row_object(obj: Obj, include_object: str) -> Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    if include_object == "Metadata":
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {}}
    raise ValueError(f'unrecognized includeObject value: "{include_object}"')
