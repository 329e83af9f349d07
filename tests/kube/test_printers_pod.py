"""printPod: every branch of READY / STATUS / RESTARTS, and the wide cells."""

from datetime import UTC, datetime
from typing import Any

import pytest

from meshrepro.kube.printers import pod_status, to_table

NOW = datetime(2024, 1, 18, 10, 0, 0, tzinfo=UTC)
V127, V129, V131 = (1, 27), (1, 29), (1, 31)


def running(
    ready: bool = True,
    restarts: int = 0,
    finished: str | None = None,
    started: bool = True,
    name: str = "app",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "started": started,
        "state": {"running": {"startedAt": "2024-01-18T09:58:00Z"}},
    }
    if finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": finished}}
    return status


def waiting(reason: str, restarts: int = 0, name: str = "app") -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}


def terminated(exit_code: int, reason: str = "", signal: int = 0, name: str = "app") -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": exit_code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


def pod(
    containers: list[dict[str, Any]] | None = None,
    inits: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    sidecars: tuple[str, ...] = (),
    conditions: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    containers = containers or []
    inits = inits or []
    init_specs = [
        {
            "name": c["name"],
            "image": "busybox",
            **({"restartPolicy": "Always"} if c["name"] in sidecars else {}),
        }
        for c in inits
    ]
    status: dict[str, Any] = {
        "phase": phase,
        "containerStatuses": containers,
        "initContainerStatuses": inits,
        "conditions": [{"type": t, "status": s} for t, s in (conditions or {}).items()],
    }
    status.update(extra.pop("status", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "creationTimestamp": "2024-01-18T09:55:00Z",
            **extra.pop("metadata", {}),
        },
        "spec": {
            "containers": [{"name": c["name"], "image": "nginx"} for c in containers],
            "initContainers": init_specs,
            **extra.pop("spec", {}),
        },
        "status": status,
    }


def cells(p: dict[str, Any], version: tuple[int, int] = V129) -> list[Any]:
    return to_table("Pod", [p], NOW, version)["rows"][0]["cells"]


def test_columns_and_a_running_pod() -> None:
    table = to_table("Pod", [pod([running()], conditions={"Ready": "True"})], NOW, V129)
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["rows"][0]["cells"] == [
        "web",
        "1/1",
        "Running",
        "0",
        "5m",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]


@pytest.mark.parametrize(
    ("p", "ready", "status"),
    [
        (pod([], phase="Pending"), "0/0", "Pending"),
        (pod([waiting("ContainerCreating")], phase="Pending"), "0/1", "ContainerCreating"),
        (pod([waiting("CrashLoopBackOff")]), "0/1", "CrashLoopBackOff"),
        (pod([terminated(0, "Completed")], phase="Succeeded"), "0/1", "Completed"),
        (pod([terminated(1, "Error")], phase="Failed"), "0/1", "Error"),
        (pod([terminated(137, signal=9)]), "0/1", "Signal:9"),
        (pod([terminated(3)]), "0/1", "ExitCode:3"),
        (pod([running(ready=False)]), "0/1", "Running"),
        # First container wins: statuses are walked last to first.
        (
            pod([waiting("ErrImagePull", name="a"), waiting("ContainerCreating", name="b")]),
            "0/2",
            "ErrImagePull",
        ),
        # Completed next to a running container: Running if the pod is Ready, else NotReady.
        (
            pod([terminated(0, "Completed", name="a"), running(name="b")], conditions={"Ready": "True"}),
            "1/2",
            "Running",
        ),
        (
            pod([terminated(0, "Completed", name="a"), running(name="b")], conditions={"Ready": "False"}),
            "1/2",
            "NotReady",
        ),
        (pod([running()], status={"reason": "Evicted"}, phase="Failed"), "1/1", "Evicted"),
        (pod([], phase="Pending", conditions={"PodScheduled": "False"}), "0/0", "Pending"),
    ],
)
def test_app_container_statuses(p: dict[str, Any], ready: str, status: str) -> None:
    row = cells(p)
    assert (row[1], row[2]) == (ready, status)


def test_scheduling_gated() -> None:
    p = pod([], phase="Pending")
    p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    assert pod_status(p, NOW, V129) == "SchedulingGated"


@pytest.mark.parametrize(
    ("inits", "status"),
    [
        ([running(name="init")], "Init:0/1"),
        ([waiting("PodInitializing", name="init")], "Init:0/1"),
        ([{"name": "init", "restartCount": 0, "state": {}}], "Init:0/1"),
        ([waiting("ImagePullBackOff", name="init")], "Init:ImagePullBackOff"),
        ([waiting("CrashLoopBackOff", name="init")], "Init:CrashLoopBackOff"),
        ([terminated(1, "Error", name="init")], "Init:Error"),
        ([terminated(1, signal=15, name="init")], "Init:Signal:15"),
        ([terminated(2, name="init")], "Init:ExitCode:2"),
        ([terminated(0, "Completed", name="one"), running(name="two")], "Init:1/2"),
    ],
)
def test_init_container_statuses(inits: list[dict[str, Any]], status: str) -> None:
    p = pod([waiting("PodInitializing")], inits=inits, phase="Pending")
    assert cells(p)[1:3] == ["0/1", status]


def test_init_done_app_initializing() -> None:
    p = pod([waiting("PodInitializing")], inits=[terminated(0, "Completed", name="init")], phase="Pending")
    assert cells(p)[2] == "PodInitializing"


def test_init_restarts_count_while_initializing_then_reset() -> None:
    failing = waiting("CrashLoopBackOff", name="init")
    failing.update(
        restartCount=4, lastState={"terminated": {"exitCode": 1, "finishedAt": "2024-01-18T09:59:40Z"}}
    )
    p = pod([waiting("PodInitializing")], inits=[failing], phase="Pending")
    assert cells(p)[2:4] == ["Init:CrashLoopBackOff", "4 (20s ago)"]
    done = terminated(0, "Completed", name="init")
    done.update(restartCount=4, lastState=failing["lastState"])
    after = pod([running(restarts=2, finished="2024-01-18T09:50:00Z")], inits=[done])
    assert cells(after)[3] == "2 (10m ago)"


def test_restarts_use_newest_termination() -> None:
    p = pod(
        [
            running(restarts=1, finished="2024-01-18T09:00:00Z", name="a"),
            running(restarts=2, finished="2024-01-18T09:59:48Z", name="b"),
        ]
    )
    assert cells(p)[3] == "3 (12s ago)"
    assert cells(pod([running(restarts=3)]))[3] == "3"  # no termination time known


def test_native_sidecar_started_counts_as_ready_and_running() -> None:
    p = pod(
        [running(name="nginx")],
        inits=[running(name="proxy")],
        sidecars=("proxy",),
        conditions={"Initialized": "True", "Ready": "True"},
    )
    assert cells(p)[1:4] == ["2/2", "Running", "0"]


def test_native_sidecar_not_started_blocks_init() -> None:
    p = pod(
        [waiting("PodInitializing", name="nginx")],
        inits=[running(ready=False, started=False, name="proxy")],
        sidecars=("proxy",),
        phase="Pending",
    )
    assert cells(p)[1:3] == ["0/2", "Init:0/1"]


def test_crashed_sidecar_after_init_shows_app_state_and_sidecar_restarts() -> None:
    sidecar = waiting("CrashLoopBackOff", restarts=3, name="proxy")
    sidecar["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": "2024-01-18T09:59:30Z"}}
    p = pod(
        [running(name="nginx")],
        inits=[sidecar],
        sidecars=("proxy",),
        conditions={"Initialized": "True", "Ready": "False"},
    )
    # The init walk says Init:CrashLoopBackOff, but Initialized=True lets the app walk run; nginx
    # is running and ready so it does not replace the reason.
    assert cells(p, V129)[1:4] == ["1/2", "Init:CrashLoopBackOff", "3 (30s ago)"]


def test_crashed_sidecar_while_not_initialized() -> None:
    sidecar = waiting("CrashLoopBackOff", restarts=1, name="proxy")
    p = pod(
        [waiting("PodInitializing", name="nginx")],
        inits=[sidecar],
        sidecars=("proxy",),
        phase="Pending",
        conditions={"Initialized": "False"},
    )
    assert cells(p)[1:4] == ["0/2", "Init:CrashLoopBackOff", "1"]


def test_before_128_restart_policy_is_not_sidecar_aware() -> None:
    p = pod(
        [running(name="nginx")],
        inits=[running(name="proxy")],
        sidecars=("proxy",),
        conditions={"Initialized": "True", "Ready": "True"},
    )
    assert cells(p, V127)[1:3] == ["0/1", "Init:0/1"]


def test_before_128_last_restart_time_keeps_init_containers() -> None:
    done = terminated(0, "Completed", name="init")
    done["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": "2024-01-18T09:59:55Z"}}
    p = pod([running(restarts=1, finished="2024-01-18T09:50:00Z")], inits=[done])
    assert cells(p, V127)[3] == "1 (5s ago)"
    assert cells(p, V129)[3] == "1 (10m ago)"


def test_terminating_and_unknown() -> None:
    deleted = {"metadata": {"deletionTimestamp": "2024-01-18T09:59:00Z"}}
    assert cells(pod([running()], **deleted))[2] == "Terminating"
    lost = pod([running()], status={"reason": "NodeLost"}, **deleted)
    assert cells(lost)[2] == "Unknown"
    done = pod([terminated(0, "Completed")], phase="Succeeded", **deleted)
    assert cells(done, V129)[2] == "Terminating"
    assert cells(done, V131)[2] == "Completed"
    failed = pod([terminated(1, "Error")], phase="Failed", **deleted)
    assert cells(failed, V131)[2] == "Error"


def test_wide_cells_and_readiness_gates() -> None:
    p = pod(
        [running()],
        spec={
            "nodeName": "kind-worker",
            "readinessGates": [{"conditionType": "example.com/a"}, {"conditionType": "example.com/b"}],
        },
        status={
            "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
            "podIP": "10.244.1.7",
            "nominatedNodeName": "kind-worker2",
        },
        conditions={"example.com/a": "True", "example.com/b": "False"},
    )
    assert cells(p)[5:] == ["10.244.1.7", "kind-worker", "kind-worker2", "1/2"]


def test_finished_pods_carry_the_completed_row_condition() -> None:
    row = to_table("Pod", [pod([terminated(0, "Completed")], phase="Succeeded")], NOW, V129)["rows"][0]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert "conditions" not in to_table("Pod", [pod([running()])], NOW, V129)["rows"][0]
