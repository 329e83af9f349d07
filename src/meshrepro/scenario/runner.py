"""Run a scenario on the simulated backend: steps at simulated time, then a snapshot of what came of it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from meshrepro.backends.sim import Machine
from meshrepro.backends.sim.kind_config import NODE_IMAGES
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.printers import to_table
from meshrepro.kube.selectors import matches_labels, parse_label_selector
from meshrepro.kube.store import ResourceKey
from meshrepro.runtime.process import Transcript
from meshrepro.scenario.model import Expectation, Scenario
from meshrepro.scenario.result import ExpectationResult, LogView, PodView, RunResult, StepResult
from meshrepro.sim.clock import Clock, rfc3339
from meshrepro.sim.trace import Trace

DEFAULT_CLUSTER_BOOT = 30.0  # seconds a scenario without `kind create cluster` gives its default cluster
PODS = ResourceKey("", "pods")
EVENTS = ResourceKey("", "events")


def run(scenario: Scenario, seed: int | None = None) -> RunResult:
    seed = scenario.seed if seed is None else seed
    clock = Clock(scenario.start, seed)
    trace = Trace()
    kube = scenario.kubernetes
    git_version = NODE_IMAGES.get(kube[1], f"v{kube[0]}.{kube[1]}.0")
    kubectl = scenario.kubectl or f"{kube[0]}.{kube[1]}"  # the kubectl release of the cluster's minor
    machine = Machine(clock, trace, kube, kubectl, scenario.folder, istio_version=scenario.istio,
                      file_overrides=scenario.file_overrides)
    if not any(re.search(r"\bkind\s+create\s+cluster\b", s.command) for s in scenario.steps):
        cluster = machine.create_cluster(ClusterSpec(version=kube, git_version=git_version))
        machine.write_kubeconfig(cluster)
        clock.run_until(DEFAULT_CLUSTER_BOOT)
    steps = []
    for index, step in enumerate(scenario.steps, start=1):
        transcript = Transcript(clock)
        start = clock.now
        process = clock.process(machine.run_step(step.command, transcript))
        clock.env.run(until=process)
        steps.append(StepResult(index, step.command, transcript.text(), transcript.text("stdout"),
                                transcript.text("stderr"), int(process.value), rfc3339(clock.wall(start)),
                                rfc3339(clock.wall())))
    cluster_obj = next(iter(machine.clusters.values()), None)
    pods = _pods(cluster_obj, clock) if cluster_obj else []
    expectations = [_check(e, steps, pods) for e in scenario.expectations]
    return RunResult(
        scenario=scenario.name, path=scenario.path, seed=seed,
        versions={"kubernetes": f"{kube[0]}.{kube[1]}", "kubectl": kubectl, **scenario.versions_raw},
        cluster=_cluster_info(cluster_obj), steps=steps, pods=pods,
        logs=_logs(cluster_obj) if cluster_obj else [],
        connections=[_connection(c, clock) for c in machine.network.connections],
        events=_events(cluster_obj) if cluster_obj else [], expectations=expectations,
        trace=[{"time": rfc3339_ms(clock.wall(r.time)), "component": r.component, "subject": r.subject,
                "action": r.action, "reason": r.reason, "data": _data(r.data)} for r in trace.records])


def _cluster_info(cluster: Cluster | None) -> dict[str, Any]:
    if cluster is None:
        return {}
    return {"name": cluster.spec.name, "kubernetes": cluster.spec.git_version,
            "nodes": [{"name": n.name, "ip": n.ip} for n in cluster.nodes]}


def _pods(cluster: Cluster, clock: Clock) -> list[PodView]:
    views = []
    objects = list(cluster.store.iter(PODS))
    table = to_table("Pod", objects, clock.wall(), cluster.spec.version, include_object="None")
    for pod, row in zip(objects, table["rows"]):
        cells = row["cells"]
        status = pod.get("status", {})
        containers = [{"name": c["name"], "init": init, "ready": c.get("ready", False),
                       "restartCount": c.get("restartCount", 0), "state": c.get("state", {}),
                       "lastState": c.get("lastState", {})}
                      for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses"))
                      for c in status.get(key) or []]
        views.append(PodView(pod["metadata"]["namespace"], pod["metadata"]["name"], pod["spec"].get("nodeName", ""),
                             status.get("podIP", ""), status.get("phase", ""), str(cells[2]), str(cells[1]),
                             str(cells[3]), dict(pod["metadata"].get("labels") or {}), containers))
    return views


def _logs(cluster: Cluster) -> list[LogView]:
    logs = []
    for node in cluster.nodes:
        for worker in sorted(node.kubelet.workers.values(), key=lambda w: (w.namespace, w.name)):
            for record in [*worker.init, *worker.containers]:
                for attempt, transcript in enumerate(record.attempts):
                    logs.append(LogView(worker.namespace, worker.name, record.name, attempt, transcript.text()))
    return logs


def _events(cluster: Cluster) -> list[dict[str, Any]]:
    events = sorted(cluster.store.iter(EVENTS), key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))
    return [{"namespace": e["metadata"]["namespace"], "object": f"{e['involvedObject']['kind']}/"
             f"{e['involvedObject']['name']}", "type": e["type"], "reason": e["reason"], "message": e["message"],
             "count": e.get("count", 1), "first": e.get("firstTimestamp"), "last": e.get("lastTimestamp")}
            for e in events]


def _connection(record: Any, clock: Clock) -> dict[str, Any]:
    return {"id": record.id, "time": rfc3339_ms(clock.wall(record.time)), "protocol": record.protocol,
            "source": f"{record.source[0]}:{record.source[1]}", "source_owner": record.source_owner,
            "destination": f"{record.destination[0]}:{record.destination[1]}",
            "final": f"{record.final[0]}:{record.final[1]}" if record.final else None,
            "outcome": record.outcome, "hops": [h.to_dict() for h in record.hops]}


def _data(data: dict[str, Any]) -> dict[str, Any]:
    """A decision's data (`flag`, `connection`, `user`...), JSON-safe and in a stable order."""
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for k, v in sorted(data.items())}


def rfc3339_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _check(expectation: Expectation, steps: list[StepResult], pods: list[PodView]) -> ExpectationResult:
    raw = expectation.raw
    if expectation.step is not None:
        step = steps[expectation.step]
        checks = []
        if "output_contains" in raw:
            checks.append(str(raw["output_contains"]) in step.output)
        if "output_not_contains" in raw:
            checks.append(str(raw["output_not_contains"]) not in step.output)
        if "output_matches" in raw:
            checks.append(re.search(str(raw["output_matches"]), step.output, re.MULTILINE) is not None)
        if "exit_code" in raw:
            checks.append(step.exit_code == int(raw["exit_code"]))
        actual = f"exit code {step.exit_code}; output: {_excerpt(step.output)}"
        return ExpectationResult(expectation.text, expectation.line, all(checks), actual)
    assert expectation.pod is not None
    selected = _select(expectation.pod, pods)
    if not selected:
        return ExpectationResult(expectation.text, expectation.line, False, "no pod matches")
    checks = []
    for pod in selected:
        if "status" in raw:
            checks.append(pod.status == str(raw["status"]))
        if "ready" in raw:
            checks.append(pod.ready == str(raw["ready"]))
        if "phase" in raw:
            checks.append(pod.phase == str(raw["phase"]))
        if "restarts" in raw:
            checks.append(pod.restarts.split(" ")[0] == str(raw["restarts"]))
    actual = "; ".join(f"{p.name}: {p.status} {p.ready} restarts {p.restarts}" for p in selected)
    return ExpectationResult(expectation.text, expectation.line, all(checks), actual)


def _select(spec: dict[str, str], pods: list[PodView]) -> list[PodView]:
    namespace = spec.get("namespace", "default")
    candidates = [p for p in pods if p.namespace == namespace]
    if "name" in spec:
        return [p for p in candidates if p.name == spec["name"]]
    requirements = parse_label_selector(spec.get("selector", ""))
    return [p for p in candidates if matches_labels(requirements, {"metadata": {"labels": p.labels}})]


def _excerpt(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
