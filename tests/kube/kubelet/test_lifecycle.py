"""postStart hooks: the kubelet runs the hook right after starting the container and starts nothing else of the pod
until it returns; a failing hook records FailedPostStartHook, kills the container and leaves it waiting with
PostStartHookError before the restart policy brings it back."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.store import ResourceKey
from meshrepro.runtime.process import Transcript
from meshrepro.scenario import runner
from meshrepro.scenario.model import load
from meshrepro.scenario.result import RunResult
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

SCENARIOS = Path(__file__).parent / "scenarios"
PODS = ResourceKey("", "pods")


@cache
def scenario() -> RunResult:
    return runner.run(load(str(SCENARIOS / "post-start.yaml")))


def output(result: RunResult, step: int) -> str:
    return result.steps[step - 1].output


def test_a_running_hook_keeps_the_pod_creating_and_holds_back_the_next_container() -> None:
    result = scenario()
    assert re.search(r"^held\s+0/2\s+ContainerCreating\s+0\s+10s$", output(result, 3), re.MULTILINE)
    assert output(result, 4) == '{"waiting":{"reason":"ContainerCreating"}} {"waiting":{"reason":"ContainerCreating"}}'
    assert re.search(r"^held\s+2/2\s+Running\s+0\s+40s$", output(result, 6), re.MULTILINE)
    assert output(result, 7) == "hooked\n"  # the hook ran inside the container
    started = {t["action"]: t["time"] for t in result.trace if t["subject"] == "Pod default/held"
               and t["action"].startswith(("started container", "postStart"))}
    # `second` started when first's hook returned, 20 s after `first` started, and printed that time
    assert started["postStart hook of first returned"] < started["started container second"]
    assert output(result, 8) == started["started container second"][11:19] + "\n"
    first = datetime.fromisoformat(started["started container first"])
    second = datetime.fromisoformat(started["started container second"])
    assert 20 <= (second - first).total_seconds() < 21


def test_a_failing_hook_kills_the_container_with_the_events_of_1_26_and_later() -> None:
    result = scenario()
    events = [(e["reason"], e["message"]) for e in result.events if e["object"] == "Pod/broken"]
    assert ("FailedPostStartHook", "PostStartHook failed") in events
    assert ("Killing", "FailedPostStartHook") in events
    assert re.search(r"^broken\s+0/1\s+CrashLoopBackOff\s+3 \(\d+s ago\)\s+40s$", output(result, 6), re.MULTILINE)
    # nginx stops gracefully on SIGTERM: the killed instance completed with exit 0
    assert '"lastState"' not in output(result, 9)
    assert '"exitCode":0' in output(result, 9) and '"reason":"Completed"' in output(result, 9)


def _machine() -> tuple[Machine, Clock]:
    clock = Clock(datetime(2024, 1, 18, 9, 57, tzinfo=UTC), seed=1)
    machine = Machine(clock, Trace(), (1, 29), "1.29")
    transcript = Transcript(clock)
    process = clock.process(machine.run_step("kind create cluster", transcript))
    clock.env.run(until=process)
    return machine, clock


def _apply(machine: Machine, clock: Clock, manifest: str) -> None:
    machine.fs.write("/tmp/p.yaml", manifest)
    transcript = Transcript(clock)
    process = clock.process(machine.run_step("kubectl apply -f /tmp/p.yaml", transcript))
    clock.env.run(until=process)
    assert process.value == 0, transcript.text()


BROKEN = """apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  containers:
  - name: app
    image: nginx:1.25.3
    lifecycle:
      postStart:
        exec:
          command: [sh, -c, "sleep 5; echo no >&2; exit 3"]
"""


def test_post_start_hook_error_state_before_the_restart() -> None:
    machine, clock = _machine()
    _apply(machine, clock, BROKEN)
    cluster = next(iter(machine.clusters.values()))
    states: list[tuple[Any, ...]] = []
    for _ in range(64):
        clock.env.run(until=clock.now + 0.25)
        status = (cluster.store.get(PODS, "default", "broken") or {}).get("status", {})
        container = (status.get("containerStatuses") or [{}])[0]
        state = next(iter(container.get("state") or {"none": {}}))
        reason = (container.get("state") or {}).get(state, {}).get("reason", "")
        entry = (state, reason, container.get("restartCount"), bool(container.get("lastState")))
        if not states or states[-1] != entry:
            states.append(entry)
    assert [s for s in states if s[0] != "none"][:3] == [
        ("waiting", "ContainerCreating", 0, False),  # pulled, started, hook running: still "creating"
        ("waiting", "PostStartHookError", 0, True),  # killed; the killed instance is the last state
        ("waiting", "PostStartHookError", 1, True)]  # restarted at once (no back-off yet), failed again
    assert ("waiting", "CrashLoopBackOff", 1, True) in states
    failed = [t for t in machine.trace.records if t.subject == "Pod default/broken"
              and t.action == "postStart hook of app failed"]
    assert failed[0].reason.startswith("Exec lifecycle hook ([sh -c sleep 5; echo no >&2; exit 3]) for Container "
                                       '"app" in Pod "broken_default(')
    assert failed[0].reason.endswith(")\" failed - error: command 'sh -c sleep 5; echo no >&2; exit 3' exited with 3: "
                                     'no\n, message: "no\\n"')


def test_a_missing_hook_binary_fails_the_hook() -> None:
    machine, clock = _machine()
    _apply(machine, clock, BROKEN.replace('[sh, -c, "sleep 5; echo no >&2; exit 3"]', "[pilot-agent, wait]"))
    clock.env.run(until=clock.now + 10)
    failed = [t.reason for t in machine.trace.records if t.subject == "Pod default/broken"
              and t.action == "postStart hook of app failed"]
    assert failed and 'exec: "pilot-agent": executable file not found in $PATH: unknown, message: ""' in failed[0]


def test_http_get_hook_to_a_closed_port_fails() -> None:
    machine, clock = _machine()
    _apply(machine, clock, BROKEN.replace('exec:\n          command: [sh, -c, "sleep 5; echo no >&2; exit 3"]',
                                          "httpGet:\n          path: /hook\n          port: 81"))
    clock.env.run(until=clock.now + 10)
    failed = [t.reason for t in machine.trace.records if t.subject == "Pod default/broken"
              and t.action == "postStart hook of app failed"]
    assert failed and failed[0].startswith('HTTP lifecycle hook (/hook) for Container "app" in Pod "broken_default(')
    assert "dial tcp 10.244.0." in failed[0] and ":81: connect: connection refused" in failed[0]
