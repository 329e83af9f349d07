"""The kubelet's restart back-off: the Backoff record and the pod worker's restart timing, statuses and events."""

from __future__ import annotations

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.kubelet.containers import BACKOFF_INITIAL, BACKOFF_MAX, Backoff
from meshrepro.kube.printers import to_table
from meshrepro.kube.store import ResourceKey
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")
EVENTS = ResourceKey("", "events")
CRASH = ["sh", "-c", "date +%T; sleep 15; exit 1"]  # prints its start time, runs 15 s, fails


# -- Backoff (client-go flowcontrol.Backoff as the kubelet keys it per container) -----------


def test_backoff_constants() -> None:
    """The kubelet's back-off starts at 10 s and is capped at 5 min."""
    assert (BACKOFF_INITIAL, BACKOFF_MAX) == (10.0, 300.0)


def test_fresh_backoff_is_not_in_backoff() -> None:
    """A container that never failed before is restarted without waiting."""
    assert Backoff().in_backoff_since(finished_at=100.0, now=101.0) is False


def test_backoff_doubles_to_the_cap() -> None:
    """Each failure close to the previous one doubles the window: 10, 20, 40, 80, 160, then 300 s."""
    backoff = Backoff()
    durations = []
    for finished in (0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0):
        backoff.next(finished, finished + 1.0)
        durations.append(backoff.duration)
    assert durations == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_in_backoff_window_is_measured_from_finish() -> None:
    """After the first Next, a failure is in back-off while less than the window has passed since it finished."""
    backoff = Backoff()
    backoff.next(0.0, 1.0)
    assert backoff.in_backoff_since(finished_at=30.0, now=39.9) is True
    assert backoff.in_backoff_since(finished_at=30.0, now=40.0) is False


def test_backoff_resets_after_twice_the_cap() -> None:
    """A failure more than 10 min after the last update starts over at 10 s, and is not in back-off."""
    backoff = Backoff()
    for finished in (0.0, 20.0, 40.0):
        backoff.next(finished, finished + 1.0)
    assert backoff.duration == 40.0
    assert backoff.in_backoff_since(finished_at=642.0, now=643.0) is False
    backoff.next(642.0, 643.0)
    assert backoff.duration == 10.0


# -- the pod worker on a cluster -------------------------------------------------------------


@pytest.fixture
def kind() -> Cluster:
    clock = Clock(seed=3)
    cluster = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(ClusterSpec())
    clock.run_until(5)
    return cluster


def crashing_pod(kind: Cluster, init: bool, command: list[str] = CRASH) -> None:
    container = {"name": "init" if init else "app", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
                 "command": command}
    spec = {"initContainers": [container], "containers": [{"name": "main", "image": "nginx"}]} if init else {
        "containers": [container]}
    kind.apply_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash", "namespace": "default"},
                       "spec": spec})


def times(kind: Cluster, action: str) -> list[float]:
    return [round(r.time, 4) for r in kind.trace.records if r.subject == "Pod default/crash" and r.action == action]


def container_status(kind: Cluster, init: bool = False) -> dict:
    status = kind.store.get(PODS, "default", "crash")["status"]
    return status["initContainerStatuses" if init else "containerStatuses"][0]


def pod_status_column(kind: Cluster) -> str:
    pod = kind.store.get(PODS, "default", "crash")
    return to_table("Pod", [pod], kind.clock.wall(), (1, 29))["rows"][0]["cells"][2]


def test_restart_timing_always(kind: Cluster) -> None:
    """Exit 1 after 15 s: restarted right after the 1 s PLEG relist, then 10, 20 and 40 s after each exit."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(150)
    starts = times(kind, "started container app")
    exits = times(kind, "container app exited with 1")
    # Sandbox at 5.5 s, image pull 0.4358 s, create 0.05 s, start 0.1 s.
    assert starts[0] == 6.0858
    assert [round(e - s, 4) for s, e in zip(starts, exits)] == [15.0, 15.0, 15.0, 15.0]
    # From each exit to the next start: PLEG relist (1 s) or the back-off window, then create + start (0.15 s).
    assert [round(s - e, 4) for e, s in zip(exits, starts[1:])] == [1.15, 10.15, 20.15, 40.15]
    assert times(kind, "container app in CrashLoopBackOff") == [38.2358, 63.3858, 98.5358]


def test_crashloop_status_and_message(kind: Cluster) -> None:
    """During the second back-off the container waits in CrashLoopBackOff with kubelet's message; the last exit is lastState."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(40)
    pod = kind.store.get(PODS, "default", "crash")
    status = container_status(kind)
    assert status["state"] == {"waiting": {
        "reason": "CrashLoopBackOff",
        "message": f"back-off 10s restarting failed container=app pod=crash_default({pod['metadata']['uid']})"}}
    assert status["restartCount"] == 1
    last = status["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"], last["startedAt"], last["finishedAt"]) == (
        1, "Error", "2024-01-18T09:57:22Z", "2024-01-18T09:57:37Z")
    assert (status["ready"], status["started"]) == (False, False)
    assert pod_status_column(kind) == "CrashLoopBackOff"


def test_crashloop_message_uses_go_duration(kind: Cluster) -> None:
    """The fifth failure waits 80 s, which the kubelet's message spells `1m20s`."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(160)  # exits at 37.2, 62.4, 97.5, 152.7; the 80 s back-off starts at 153.7
    message = container_status(kind)["state"]["waiting"]["message"]
    assert message.startswith("back-off 1m20s restarting failed container=app pod=crash_default(")


def test_backoff_event(kind: Cluster) -> None:
    """The first back-off records the Warning BackOff event on the container's field path."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(40)
    pod = kind.store.get(PODS, "default", "crash")
    [event] = [e for e in kind.store.iter(EVENTS, "default") if e["reason"] == "BackOff"]
    assert event["type"] == "Warning"
    assert event["message"] == f"Back-off restarting failed container app in pod crash_default({pod['metadata']['uid']})"
    assert event["involvedObject"]["fieldPath"] == "spec.containers{app}"
    assert (event["firstTimestamp"], event["source"]["component"]) == ("2024-01-18T09:57:38Z", "kubelet")


def test_status_running_after_restart_counts_restarts(kind: Cluster) -> None:
    """Once restarted after the 10 s window the container runs again with restartCount 2."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(50)
    status = container_status(kind)
    assert status["state"] == {"running": {"startedAt": "2024-01-18T09:57:47Z"}}
    assert status["restartCount"] == 2
    assert pod_status_column(kind) == "Running"


def test_logs_previous_returns_the_previous_instance(kind: Cluster) -> None:
    """`kubectl logs --previous` reads the instance before the current one; without it, the current one."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(50)  # instances started at 09:57:06, 09:57:22, 09:57:47
    pod = kind.store.get(PODS, "default", "crash")
    kubelet = kind.kubelet_of("kind-control-plane")
    assert kubelet.logs(pod, "app", False, None, False) == (200, "09:57:47\n")
    assert kubelet.logs(pod, "app", True, None, False) == (200, "09:57:22\n")


def test_logs_previous_without_previous_instance(kind: Cluster) -> None:
    """Before any restart, --previous has no instance to show: the API server's 400 text."""
    crashing_pod(kind, init=False)
    kind.clock.run_until(10)
    pod = kind.store.get(PODS, "default", "crash")
    assert kind.kubelet_of("kind-control-plane").logs(pod, "app", True, None, False) == (
        400, 'previous terminated container "app" in pod "crash" not found')


def test_init_container_status_goes_error_then_crashloop(kind: Cluster) -> None:
    """A failing init container shows Init:Error when it exits, then Init:CrashLoopBackOff in its back-off."""
    crashing_pod(kind, init=True)
    kind.clock.run_until(10)
    assert pod_status_column(kind) == "Init:0/1"
    kind.clock.run_until(21.5)  # the first instance exited at 21.09
    assert pod_status_column(kind) == "Init:Error"
    assert container_status(kind, init=True)["state"]["terminated"]["reason"] == "Error"
    kind.clock.run_until(38.5)  # the second exited at 37.24, the back-off began at the relist 1 s later
    assert pod_status_column(kind) == "Init:CrashLoopBackOff"
    assert container_status(kind, init=True)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    main = container_status(kind)
    assert (main["state"], main["restartCount"]) == ({"waiting": {"reason": "PodInitializing"}}, 0)
    pod = kind.store.get(PODS, "default", "crash")
    assert pod["status"]["phase"] == "Pending"
    initialized = next(c for c in pod["status"]["conditions"] if c["type"] == "Initialized")
    assert (initialized["status"], initialized["reason"], initialized["message"]) == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [init]")


def test_init_container_restart_timing(kind: Cluster) -> None:
    """An init container backs off like any container: 1.15, 10.15, 20.15 s from exit to the next start."""
    crashing_pod(kind, init=True)
    kind.clock.run_until(100)
    starts = times(kind, "started container init")
    exits = times(kind, "container init exited with 1")
    assert [round(s - e, 4) for e, s in zip(exits, starts[1:])] == [1.15, 10.15, 20.15]
    [event] = [e for e in kind.store.iter(EVENTS, "default") if e["reason"] == "BackOff"]
    assert event["involvedObject"]["fieldPath"] == "spec.initContainers{init}"


def test_pod_ip_appears_after_sandbox_while_init_runs(kind: Cluster) -> None:
    """The sandbox (0.5 s after binding) gives the pod its IP, published before the init container finishes."""
    crashing_pod(kind, init=True)
    kind.clock.run_until(5.4)
    assert "podIP" not in kind.store.get(PODS, "default", "crash")["status"]
    kind.clock.run_until(5.6)
    status = kind.store.get(PODS, "default", "crash")["status"]
    assert (status["podIP"], status["podIPs"], status["phase"]) == ("10.244.0.5", [{"ip": "10.244.0.5"}], "Pending")
    kind.clock.run_until(7)
    status = kind.store.get(PODS, "default", "crash")["status"]
    assert status["initContainerStatuses"][0]["state"] == {"running": {"startedAt": "2024-01-18T09:57:06Z"}}
    assert status["podIP"] == "10.244.0.5"


def test_exit_zero_under_on_failure_completes(kind: Cluster) -> None:
    """restartPolicy OnFailure: a container that exits 0 is not restarted and the pod Succeeds."""
    kind.apply_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash", "namespace": "default"},
                       "spec": {"restartPolicy": "OnFailure", "containers": [{
                           "name": "app", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
                           "command": ["sh", "-c", "sleep 15"]}]}})
    kind.clock.run_until(60)
    assert times(kind, "started container app") == [6.0858]
    pod = kind.store.get(PODS, "default", "crash")
    assert pod["status"]["phase"] == "Succeeded"
    assert container_status(kind)["state"]["terminated"]["reason"] == "Completed"


def test_backoff_expiry_counts_from_the_restart_not_the_previous_exit(kind: Cluster) -> None:
    """A container failing every 400 s reaches the 300 s cap and stays there: 400 s < 2 x 300 s since the restart."""
    crashing_pod(kind, init=False, command=["sh", "-c", "sleep 400; exit 1"])
    kind.clock.run_until(4200)
    starts = times(kind, "started container app")
    exits = times(kind, "container app exited with 1")
    gaps = [round(s - e, 2) for e, s in zip(exits, starts[1:])]
    assert gaps[:8] == [1.15, 10.15, 20.15, 40.15, 80.15, 160.15, 300.15, 300.15]
