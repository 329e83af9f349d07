"""Namespace, Node, Event, ConfigMap, Secret, ServiceAccount and (Cluster)RoleBinding rows."""

from __future__ import annotations

from meshrepro.kube.duration import since
from meshrepro.kube.printers._table import (
    Cell,
    Context,
    Obj,
    age,
    age_column,
    column,
    meta,
    name_column,
    spec,
    status,
)
from meshrepro.kube.versions import Flags

_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"


def namespace_columns(_: Flags) -> list[Obj]:
    return [name_column(), column("Status", text="The status of the namespace"), age_column()]


def namespace_row(obj: Obj, ctx: Context) -> list[Cell]:
    return [meta(obj).get("name", ""), status(obj).get("phase", ""), age(obj, ctx)]


def node_columns(_: Flags) -> list[Obj]:
    return [name_column(),
            column("Status", text="The status of the node"),
            column("Roles", text="The roles of the node"),
            age_column(),
            column("Version", doc="NodeSystemInfo.kubeletVersion"),
            column("Internal-IP", doc="NodeStatus.addresses", priority=1),
            column("External-IP", doc="NodeStatus.addresses", priority=1),
            column("OS-Image", doc="NodeSystemInfo.osImage", priority=1),
            column("Kernel-Version", doc="NodeSystemInfo.kernelVersion", priority=1),
            column("Container-Runtime", doc="NodeSystemInfo.containerRuntimeVersion", priority=1)]


def node_row(obj: Obj, ctx: Context) -> list[Cell]:
    info = status(obj).get("nodeInfo") or {}
    return [meta(obj).get("name", ""), _node_status(obj), ",".join(_node_roles(obj)) or "<none>",
            age(obj, ctx), info.get("kubeletVersion", ""),
            _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _node_status(obj: Obj) -> str:
    # Only the Ready condition counts; a later duplicate wins, as in the Go map.
    ready = {c.get("type"): c for c in status(obj).get("conditions") or []}.get("Ready")
    parts = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if spec(obj).get("unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_roles(obj: Obj) -> list[str]:
    roles = set()
    for key, value in (meta(obj).get("labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX):]:
            roles.add(key[len(_NODE_ROLE_PREFIX):])
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _node_address(obj: Obj, type_: str) -> str:
    return next((a.get("address", "") for a in status(obj).get("addresses") or []
                 if a.get("type") == type_), "<none>")


def event_columns(_: Flags) -> list[Obj]:
    return [column("Last Seen", doc="Event.lastTimestamp"),
            column("Type", doc="Event.type"),
            column("Reason", doc="Event.reason"),
            column("Object", doc="Event.involvedObject"),
            column("Subobject", doc="ObjectReference.fieldPath", priority=1),
            column("Source", doc="Event.source", priority=1),
            column("Message", doc="Event.message"),
            column("First Seen", doc="Event.firstTimestamp", priority=1),
            column("Count", doc="Event.count", priority=1),
            column("Name", doc="ObjectMeta.name", priority=1, format_="name")]


def event_row(obj: Obj, ctx: Context) -> list[Cell]:
    first = (since(obj["firstTimestamp"], ctx.now) if obj.get("firstTimestamp")
             else since(obj.get("eventTime"), ctx.now))
    last = since(obj["lastTimestamp"], ctx.now) if obj.get("lastTimestamp") else first
    count = obj.get("count", 0)
    if obj.get("series") is not None:
        last = since(obj["series"].get("lastObservedTime"), ctx.now)
        count = obj["series"].get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = obj.get("involvedObject") or {}
    target = involved.get("kind", "").lower()
    if involved.get("name"):
        target += "/" + involved["name"]
    return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""),
            _event_source(obj), obj.get("message", "").strip(), first, count, meta(obj).get("name", "")]


def _event_source(obj: Obj) -> str:
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def configmap_columns(_: Flags) -> list[Obj]:
    return [name_column(), column("Data", doc="ConfigMap.data"), age_column()]


def configmap_row(obj: Obj, ctx: Context) -> list[Cell]:
    data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [meta(obj).get("name", ""), data, age(obj, ctx)]


def secret_columns(_: Flags) -> list[Obj]:
    return [name_column(), column("Type", doc="Secret.type"), column("Data", doc="Secret.data"), age_column()]


def secret_row(obj: Obj, ctx: Context) -> list[Cell]:
    return [meta(obj).get("name", ""), obj.get("type", ""), len(obj.get("data") or {}), age(obj, ctx)]


def serviceaccount_columns(flags: Flags) -> list[Obj]:
    if flags.printer_serviceaccount_no_secrets_column:
        return [name_column(), age_column()]
    return [name_column(), column("Secrets", doc="ServiceAccount.secrets"), age_column()]


def serviceaccount_row(obj: Obj, ctx: Context) -> list[Cell]:
    if ctx.flags.printer_serviceaccount_no_secrets_column:
        return [meta(obj).get("name", ""), age(obj, ctx)]
    return [meta(obj).get("name", ""), len(obj.get("secrets") or []), age(obj, ctx)]


def rolebinding_columns(_: Flags) -> list[Obj]:
    return _binding_columns("RoleBinding", "roleBinding")


def clusterrolebinding_columns(_: Flags) -> list[Obj]:
    return _binding_columns("ClusterRoleBinding", "clusterRoleBinding")


def _binding_columns(kind: str, noun: str) -> list[Obj]:
    return [name_column(),
            column("Role", doc=f"{kind}.roleRef"),
            age_column(),
            column("Users", text=f"Users in the {noun}", priority=1),
            column("Groups", text=f"Groups in the {noun}", priority=1),
            column("ServiceAccounts", text=f"ServiceAccounts in the {noun}", priority=1)]


def binding_row(obj: Obj, ctx: Context) -> list[Cell]:
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []
    users = [s.get("name", "") for s in subjects if s.get("kind") == "User"]
    groups = [s.get("name", "") for s in subjects if s.get("kind") == "Group"]
    accounts = [f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects
                if s.get("kind") == "ServiceAccount"]
    return [meta(obj).get("name", ""), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(obj, ctx),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)]
