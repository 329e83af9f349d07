"""kube-scheduler: taints and tolerations, nodeSelector, nodeAffinity, max pods, and the least-loaded choice."""

from __future__ import annotations

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec, NodeSpec
from meshrepro.kube.scheduler import feasible, tolerates
from meshrepro.kube.store import ResourceKey
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")
NODES = ResourceKey("", "nodes")
EVENTS = ResourceKey("", "events")
CONTROL_PLANE_TAINT = {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"}


def cluster(*roles: str) -> Cluster:
    clock = Clock(seed=3)
    kind = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(
        ClusterSpec(nodes=tuple(NodeSpec(role) for role in roles)))
    clock.run_until(5)
    return kind


@pytest.fixture
def single() -> Cluster:
    return cluster("control-plane")


@pytest.fixture
def three() -> Cluster:
    return cluster("control-plane", "worker", "worker")


def pod(kind: Cluster, name: str, **spec: object) -> None:
    kind.apply_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                       "spec": {"containers": [{"name": "app", "image": "nginx"}], **spec}})


def node_of(kind: Cluster, name: str) -> str | None:
    return kind.store.get(PODS, "default", name)["spec"].get("nodeName")


def scheduled_condition(kind: Cluster, name: str) -> dict:
    conditions = kind.store.get(PODS, "default", name)["status"].get("conditions") or []
    return next(c for c in conditions if c["type"] == "PodScheduled")


def failed_scheduling(kind: Cluster) -> list[str]:
    return [e["message"] for e in kind.store.iter(EVENTS, "default") if e["reason"] == "FailedScheduling"]


# -- the predicates alone ---------------------------------------------------------------------


@pytest.mark.parametrize(("toleration", "expected"), [
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}, True),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}, True),
    ({"operator": "Exists"}, True),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoExecute"}, False),
    ({"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": ""}, True),
    ({"key": "node-role.kubernetes.io/control-plane", "value": "yes"}, False),
    ({"key": "node-role.kubernetes.io/master", "operator": "Exists"}, False),
])
def test_tolerations(toleration: dict, expected: bool) -> None:
    """Exists matches any value (an empty key any taint); Equal needs the value; a set effect must match."""
    assert tolerates({"spec": {"tolerations": [toleration]}}, CONTROL_PLANE_TAINT) is expected


def node(name: str = "n1", labels: dict | None = None, taints: list | None = None, pods: str = "110") -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []},
            "status": {"allocatable": {"pods": pods}, "conditions": [{"type": "Ready", "status": "True"}]}}


def test_prefer_no_schedule_taint_does_not_filter() -> None:
    """Only NoSchedule and NoExecute taints filter nodes."""
    taint = {"key": "k", "effect": "PreferNoSchedule"}
    assert feasible({"spec": {}}, node(taints=[taint]), 0) is None


def test_match_expressions_operators() -> None:
    """nodeAffinity matchExpressions: In, NotIn, Exists, DoesNotExist against node labels."""
    labeled = node(labels={"disk": "ssd"})

    def with_expr(expr: dict) -> dict:
        return {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [expr]}]}}}}}
    assert feasible(with_expr({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}), labeled, 0) is None
    assert feasible(with_expr({"key": "disk", "operator": "NotIn", "values": ["ssd"]}), labeled, 0) == (
        "didn't match Pod's node affinity/selector")
    assert feasible(with_expr({"key": "disk", "operator": "Exists"}), labeled, 0) is None
    assert feasible(with_expr({"key": "disk", "operator": "DoesNotExist"}), labeled, 0) is not None


def test_node_selector_terms_are_ored() -> None:
    """Any one matching nodeSelectorTerm is enough."""
    pod_spec = {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["other"]}]},
                              {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}}
    assert feasible(pod_spec, node("n1"), 0) is None
    assert feasible(pod_spec, node("n2"), 0) == "didn't match Pod's node affinity/selector"


def test_not_ready_node_is_infeasible() -> None:
    """A node whose Ready condition is not True is reported with the not-ready taint."""
    not_ready = node()
    not_ready["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert feasible({"spec": {}}, not_ready, 0) == "had untolerated taint {node.kubernetes.io/not-ready: }"


def test_taint_is_reported_before_too_many_pods() -> None:
    """A tainted node that is also full is reported for its taint."""
    assert feasible({"spec": {}}, node(taints=[CONTROL_PLANE_TAINT], pods="1"), 1) == (
        "had untolerated taint {node-role.kubernetes.io/control-plane: }")


# -- on a cluster ---------------------------------------------------------------------------------


def test_kind_taints_the_control_plane_only_with_workers(single: Cluster, three: Cluster) -> None:
    """A single-node kind cluster is untainted; with workers the control plane carries the NoSchedule taint."""
    assert single.store.get(NODES, "", "kind-control-plane")["spec"].get("taints") is None
    assert three.store.get(NODES, "", "kind-control-plane")["spec"]["taints"] == [CONTROL_PLANE_TAINT]


def test_least_loaded_choice_breaks_ties_by_name(three: Cluster) -> None:
    """Pods go to the feasible node with fewest pods, the lower name on a tie; the tainted control plane is skipped."""
    assert three.scheduler.load == {"kind-control-plane": 6, "kind-worker": 4, "kind-worker2": 3}
    for i in range(4):
        pod(three, f"p{i}")
    three.clock.run_until(6)
    assert [node_of(three, f"p{i}") for i in range(4)] == ["kind-worker2", "kind-worker", "kind-worker2",
                                                           "kind-worker"]
    record = next(r for r in three.trace.records if r.subject == "Pod default/p0" and r.component == "default-scheduler")
    assert (record.action, record.reason) == ("bound to kind-worker2", "least loaded of 2 feasible node(s)")


def test_scheduled_event_and_condition(single: Cluster) -> None:
    """Binding records the Scheduled event and a PodScheduled True condition."""
    pod(single, "web")
    single.clock.run_until(6)
    [event] = [e for e in single.store.iter(EVENTS, "default") if e["reason"] == "Scheduled"]
    assert (event["type"], event["message"], event["source"]["component"]) == (
        "Normal", "Successfully assigned default/web to kind-control-plane", "default-scheduler")
    condition = scheduled_condition(single, "web")
    assert (condition["status"], condition["lastTransitionTime"]) == ("True", "2024-01-18T09:57:05Z")


def test_toleration_lets_a_pod_onto_the_control_plane(three: Cluster) -> None:
    """With the control-plane toleration and a hostname nodeSelector the pod lands on the control plane."""
    pod(three, "cp", nodeSelector={"kubernetes.io/hostname": "kind-control-plane"},
        tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}])
    three.clock.run_until(6)
    assert node_of(three, "cp") == "kind-control-plane"


def test_node_selector_mismatch_on_single_node(single: Cluster) -> None:
    """A nodeSelector no node matches leaves the pod Pending with the scheduler's exact FailedScheduling message."""
    pod(single, "sel", nodeSelector={"disk": "ssd"})
    single.clock.run_until(6)
    expected = ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes "
                "are available: 1 Preemption is not helpful for scheduling.")
    assert node_of(single, "sel") is None
    condition = scheduled_condition(single, "sel")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable", expected)
    assert failed_scheduling(single) == [expected]


def test_labelling_a_node_schedules_the_waiting_pod(single: Cluster) -> None:
    """A node update retries unschedulable pods: once the label exists, the pod is bound."""
    pod(single, "sel", nodeSelector={"disk": "ssd"})
    single.clock.run_until(6)
    single.client.patch("v1", "nodes", "", "kind-control-plane", {"metadata": {"labels": {"disk": "ssd"}}})
    single.clock.run_until(7)
    assert node_of(single, "sel") == "kind-control-plane"


def test_mixed_reasons_sorted_as_count_reason_strings(three: Cluster) -> None:
    """A nodeSelector for the control plane without toleration: one taint failure, two selector failures."""
    pod(three, "cp", nodeSelector={"kubernetes.io/hostname": "kind-control-plane"})
    three.clock.run_until(6)
    assert failed_scheduling(three) == [
        ("0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: "
        "3 Preemption is not helpful for scheduling.")]


def test_match_fields_pins_a_pod_like_a_daemonset(three: Cluster) -> None:
    """nodeAffinity matchFields metadata.name (as the DaemonSet controller writes it) picks that node, even if busier."""
    pod(three, "pinned", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                "values": ["kind-worker"]}]}]}}})
    three.clock.run_until(6)
    assert node_of(three, "pinned") == "kind-worker"


def test_daemonset_pods_use_match_fields(three: Cluster) -> None:
    """The kube-proxy DaemonSet's pods carry a matchFields term naming their node, one per node."""
    placed = {}
    for p in three.store.iter(PODS, "kube-system"):
        if p["metadata"]["name"].startswith("kube-proxy-"):
            term = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"][0]
            assert term["matchFields"][0]["key"] == "metadata.name"
            placed[term["matchFields"][0]["values"][0]] = p["spec"]["nodeName"]
    assert placed == {n: n for n in ("kind-control-plane", "kind-worker", "kind-worker2")}


def full_node(kind: Cluster) -> None:
    """Lower the node's allocatable pods to what it already runs (the kubelet's --max-pods)."""
    load = kind.scheduler.load["kind-control-plane"]
    current = kind.store.get(NODES, "", "kind-control-plane")
    status = {**current["status"], "allocatable": {**current["status"]["allocatable"], "pods": str(load)}}
    kind.client.update_status("v1", "nodes", {**current, "status": status})


def test_max_pods_gives_too_many_pods(single: Cluster) -> None:
    """A node at its pod capacity refuses the next pod with `1 Too many pods`."""
    full_node(single)
    pod(single, "extra")
    single.clock.run_until(6)
    assert node_of(single, "extra") is None
    [message] = failed_scheduling(single)
    assert message.startswith("0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 ")


def test_max_pods_exact_message(single: Cluster) -> None:
    """The real FailedScheduling message of a full node."""
    full_node(single)
    pod(single, "extra")
    single.clock.run_until(6)
    assert failed_scheduling(single) == [
        ("0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims "
        "found for incoming pod.")]


def test_default_capacity_is_110_pods(single: Cluster) -> None:
    """kind nodes report the kubelet's default max-pods of 110 as allocatable."""
    assert single.store.get(NODES, "", "kind-control-plane")["status"]["allocatable"]["pods"] == "110"


def test_unschedulable_message_recorded_once(single: Cluster) -> None:
    """Retries that give the same message do not write another condition or event."""
    pod(single, "sel", nodeSelector={"disk": "ssd"})
    single.clock.run_until(6)
    single.client.patch("v1", "nodes", "", "kind-control-plane", {"metadata": {"labels": {"other": "x"}}})
    single.clock.run_until(7)
    assert len(failed_scheduling(single)) == 1
    [event] = [e for e in single.store.iter(EVENTS, "default") if e["reason"] == "FailedScheduling"]
    assert event["count"] == 1


def test_freed_slot_schedules_the_waiting_pod(single: Cluster) -> None:
    """When a pod on the full node is deleted and gone, the pod waiting for a slot is bound."""
    pod(single, "first")
    single.clock.run_until(6)
    full_node(single)
    pod(single, "second")
    single.clock.run_until(7)
    assert node_of(single, "second") is None
    single.client.delete("v1", "pods", "default", "first")
    single.clock.run_until(45)
    assert single.store.get(PODS, "default", "first") is None
    assert node_of(single, "second") == "kind-control-plane"
