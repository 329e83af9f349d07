"""kube-scheduler: binds each unscheduled pod to a feasible node (taints, nodeSelector), least loaded first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.kube.client import Client
from meshrepro.kube.events import EventRecorder
from meshrepro.kube.store import Obj, ResourceKey, Store, WatchEvent
from meshrepro.sim.clock import Clock, rfc3339
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")
NODES = ResourceKey("", "nodes")


def tolerates(pod: Obj, taint: dict[str, Any]) -> bool:
    for toleration in pod["spec"].get("tolerations") or []:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint["key"]:
                return True
        elif toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


TOO_MANY_PODS = "Too many pods"


def feasible(pod: Obj, node: Obj, pods_on_node: int) -> str | None:
    """None when the pod fits the node, else the reason the scheduler gives."""
    # The default profile's filter order: TaintToleration, NodeAffinity, then NodeResourcesFit.
    if any(c.get("type") == "Ready" and c.get("status") != "True" for c in node.get("status", {}).get("conditions", [])):
        return "had untolerated taint {node.kubernetes.io/not-ready: }"
    for taint in node["spec"].get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod, taint):
            return f"had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    labels = node["metadata"].get("labels") or {}
    for key, value in (pod["spec"].get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return "didn't match Pod's node affinity/selector"
    required = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(_term_matches(term, node) for term in terms):
        return "didn't match Pod's node affinity/selector"
    allowed = int(node.get("status", {}).get("allocatable", {}).get("pods", "110"))
    if pods_on_node >= allowed:
        return TOO_MANY_PODS
    return None


def _term_matches(term: dict[str, Any], node: Obj) -> bool:
    """A NodeSelectorTerm: every matchExpression (labels) and matchField (metadata.name) must hold."""
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    for source, values in (("matchExpressions", labels), ("matchFields", fields)):
        for expr in term.get(source) or []:
            value = values.get(expr["key"])
            operator = expr["operator"]
            wanted = expr.get("values") or []
            ok = {"In": value in wanted, "NotIn": value not in wanted, "Exists": expr["key"] in values,
                  "DoesNotExist": expr["key"] not in values}.get(operator, False)
            if not ok:
                return False
    return True


class Scheduler:
    def __init__(self, clock: Clock, store: Store, client: Client, trace: Trace) -> None:
        self.clock = clock
        self.store = store
        self.client = client
        self.trace = trace
        self.events = EventRecorder(client, clock, "default-scheduler")
        # The active queue: an ordered set (O(1) membership and pop from the front, unlike a list).
        self.pending: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.bound: dict[tuple[str, str], str] = {}
        self.load: dict[str, int] = {}  # pods holding a slot, per node
        self._wakeup: simpy.Event | None = None

    def start(self) -> None:
        self.store.watch(self._on_pod, PODS)
        self.store.watch(lambda _event: self._retry_all(), NODES)
        self.clock.process(self._run())

    def _on_pod(self, event: WatchEvent) -> None:
        pod = event.object
        self._account(event)
        if event.type == "DELETED" and pod["spec"].get("nodeName"):
            self._retry_all()  # a freed slot: unschedulable pods move back to the active queue
        if event.type != "DELETED" and not pod["spec"].get("nodeName") and "deletionTimestamp" not in pod["metadata"]:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
            if key not in self.pending:
                self.pending[key] = None
                self._wake()

    def _retry_all(self) -> None:
        for pod in self.store.iter(PODS):
            if not pod["spec"].get("nodeName"):
                key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                self.pending.setdefault(key)
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.triggered:
            self._wakeup.succeed()

    def _run(self) -> Generator[simpy.Event, Any, None]:
        while True:
            if not self.pending:
                self._wakeup = self.clock.env.event()
                yield self._wakeup
                continue
            yield self.clock.timeout(0)
            (namespace, name), _ = self.pending.popitem(last=False)
            self._schedule(namespace, name)

    def _schedule(self, namespace: str, name: str) -> None:
        pod = self.store.get(PODS, namespace, name)
        if pod is None or pod["spec"].get("nodeName") or "deletionTimestamp" in pod["metadata"]:
            return
        nodes = list(self.store.iter(NODES))
        load = self._load()
        reasons: dict[str, int] = {}
        candidates = []
        for node in nodes:
            reason = feasible(pod, node, load.get(node["metadata"]["name"], 0))
            if reason is None:
                candidates.append(node)
            else:
                reasons[reason] = reasons.get(reason, 0) + 1
        if not candidates:
            detail = ", ".join(sorted(f"{count} {reason}" if reason == TOO_MANY_PODS else f"{count} node(s) {reason}"
                                      for reason, count in reasons.items()))
            # Preemption could free a slot where resources are short; it cannot change taints or affinity.
            resource_nodes = reasons.get(TOO_MANY_PODS, 0)
            preemption = sorted(part for part in (
                f"{resource_nodes} No preemption victims found for incoming pod." if resource_nodes else "",
                f"{len(nodes) - resource_nodes} Preemption is not helpful for scheduling."
                if len(nodes) - resource_nodes else "") if part)
            message = (f"0/{len(nodes)} nodes are available: {detail}. preemption: 0/{len(nodes)} nodes are available: "
                       + ", ".join(p.rstrip(".") for p in preemption) + ".")
            self._unschedulable(pod, message)
            return
        chosen = min(candidates, key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
        node_name = chosen["metadata"]["name"]
        pod["spec"]["nodeName"] = node_name
        result = self.client.update("v1", "pods", pod)
        if not result.ok:
            return
        status_pod = result.body
        status_pod.setdefault("status", {})["conditions"] = [
            c for c in status_pod["status"].get("conditions", []) if c["type"] != "PodScheduled"
        ] + [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
              "lastTransitionTime": _now(self.clock)}]
        self.client.update_status("v1", "pods", status_pod)
        self.trace.add(self.clock.now, "default-scheduler", f"Pod {namespace}/{name}", f"bound to {node_name}",
                       f"least loaded of {len(candidates)} feasible node(s)")
        self.events.record(pod, "Normal", "Scheduled", f"Successfully assigned {namespace}/{name} to {node_name}")

    def _account(self, event: WatchEvent) -> None:
        """The scheduler cache: which node each pod holds a slot on (not Succeeded or Failed)."""
        pod = event.object
        key = (pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
        node_name = pod["spec"].get("nodeName")
        holds = event.type != "DELETED" and node_name and pod.get("status", {}).get("phase") not in (
            "Succeeded", "Failed")
        previous = self.bound.pop(key, None)
        if previous is not None:
            self.load[previous] -= 1
        if holds:
            self.bound[key] = node_name
            self.load[node_name] = self.load.get(node_name, 0) + 1

    def _load(self) -> dict[str, int]:
        return self.load

    def _unschedulable(self, pod: Obj, message: str) -> None:
        conditions = pod.get("status", {}).get("conditions", [])
        if any(c["type"] == "PodScheduled" and c.get("message") == message for c in conditions):
            return
        pod.setdefault("status", {})["conditions"] = [c for c in conditions if c["type"] != "PodScheduled"] + [
            {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": _now(self.clock),
             "reason": "Unschedulable", "message": message}]
        self.client.update_status("v1", "pods", pod)
        self.events.record(pod, "Warning", "FailedScheduling", message)


def _now(clock: Clock) -> str:
    return rfc3339(clock.wall())
