"""The kubelet's startup, liveness and readiness probes: event texts, timing, restarts, and API validation."""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from pathlib import Path

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.errors import InputError
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.kubelet.probes import expand_static, probe_headers, resolve_port
from meshrepro.kube.podvalidation import validate_probes
from meshrepro.kube.store import ResourceKey
from meshrepro.scenario import runner
from meshrepro.scenario.model import load
from meshrepro.scenario.result import RunResult
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

SCENARIOS = Path(__file__).parent / "scenarios"
EVENTS = ResourceKey("", "events")
PODS = ResourceKey("", "pods")


@cache
def run(name: str, kubernetes: tuple[int, int] = (1, 29), kubectl: str = "") -> RunResult:
    scenario = dataclasses.replace(load(str(SCENARIOS / name)), kubernetes=kubernetes, kubectl=kubectl)
    return runner.run(scenario)


def output(result: RunResult, step: int) -> str:
    return result.steps[step - 1].output


def events(result: RunResult, pod: str, reason: str) -> list[tuple[str, int, str]]:
    """(message, count, last seen time) of a pod's events with one reason."""
    return [(e["message"], e["count"], e["last"][11:]) for e in result.events
            if e["object"] == f"Pod/{pod}" and e["reason"] == reason]


def container(result: RunResult, pod: str, name: str) -> dict:
    view = next(p for p in result.pods if p.name == pod)
    return next(c for c in view.containers if c["name"] == name)


# -- readiness -------------------------------------------------------------------------------


def test_readiness_on_the_served_port_makes_the_pod_ready_one_relist_after_start() -> None:
    result = run("readiness-port.yaml")
    assert re.search(r"^good\s+1/1\s+Running\s+0\s+60s$", output(result, 3), re.MULTILINE)
    # nginx started at 09:57:32.232; the status sync one PLEG relist later ran the probe at once.
    ready = [t for t in result.trace if t["subject"] == "Pod default/good" and t["action"] == "container nginx ready"]
    assert [t["time"] for t in ready] == ["2024-01-18T09:57:33.232Z"]
    # The probe comes from the node's network namespace, with the prober's User-Agent.
    log = next(entry.text for entry in result.logs if entry.pod == "good")
    assert '10.244.0.1 - - [18/Jan/2024:09:57:33 +0000] "GET / HTTP/1.1" 200 615 "-" "kube-probe/1.29" "-"' in log
    assert log.count("kube-probe/1.29") == 6  # 09:57:33, then every periodSeconds (10) from there


def test_readiness_on_a_closed_port_keeps_the_pod_running_unready() -> None:
    result = run("readiness-port.yaml")
    assert re.search(r"^bad\s+0/1\s+Running\s+0\s+60s$", output(result, 3), re.MULTILINE)
    assert events(result, "bad", "Unhealthy") == [
        ("Readiness probe failed: dial tcp 10.244.0.6:81: connect: connection refused", 12, "09:58:28Z")]
    assert "Warning  Unhealthy  2s (x12 over 57s)  kubelet" in output(result, 5)
    assert container(result, "bad", "nginx")["ready"] is False


# -- liveness --------------------------------------------------------------------------------


def test_failing_liveness_probe_kills_and_restarts_the_container() -> None:
    result = run("liveness-restart.yaml")
    assert re.search(r"^web\s+1/1\s+Running\s+1 \(15s ago\)\s+45s$", output(result, 3), re.MULTILINE)
    table = output(result, 4)
    assert "5s          Warning   Unhealthy   pod/web   Liveness probe failed: HTTP probe failed with statuscode: " \
           "404" in table
    assert "15s         Normal    Killing     pod/web   Container nginx failed liveness probe, will be restarted" \
           in table
    # The named port resolved to 80; the worker ticks every 10 s from the pod's start (09:57:30.007):
    # failures at 09:57:40, :50 and 09:58:00, then the kill and, in the same sync, the restart.
    kills = [t["time"] for t in result.trace if t["subject"] == "Pod default/web" and t["action"].startswith("killing")]
    assert kills[0] == "2024-01-18T09:58:00.007Z"


def test_repeated_liveness_kills_end_in_crash_loop_back_off() -> None:
    result = run("liveness-restart.yaml")
    assert re.search(r"^web\s+0/1\s+CrashLoopBackOff\s+6 \(15s ago\)\s+5m45s$", output(result, 6), re.MULTILINE)
    assert events(result, "web", "BackOff")[0][0].startswith("Back-off restarting failed container nginx in pod web_")
    assert [(m, c) for m, c, _ in events(result, "web", "Killing")] == [
        ("Container nginx failed liveness probe, will be restarted", 7)]
    # nginx is stopped with SIGTERM and shuts down gracefully: exit 0, Completed.
    last = container(result, "web", "nginx")["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (0, "Completed")


def test_exec_liveness_probe_runs_in_the_container_filesystem() -> None:
    """The liveness-exec task of the Kubernetes documentation."""
    result = run("liveness-exec.yaml")
    assert re.search(r"^liveness-exec\s+1/1\s+Running\s+0\s+30s$", output(result, 3), re.MULTILINE)
    assert events(result, "liveness-exec", "Unhealthy") == [
        ("Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n", 3, "09:58:15Z")]
    assert events(result, "liveness-exec", "Killing") == [
        ("Container liveness failed liveness probe, will be restarted", 1, "09:58:15Z")]
    # Started 09:57:31, the file is gone at 09:58:01: failures at 09:58:05, :10 and :15, then the kill.
    # sh as PID 1 ignores SIGTERM: SIGKILL after the 30 s grace period, then the restart.
    assert re.search(r"^liveness-exec\s+1/1\s+Running\s+1 \(5s ago\)\s+80s$", output(result, 5), re.MULTILINE)
    last = container(result, "liveness-exec", "liveness")["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"], last["finishedAt"]) == (137, "Error", "2024-01-18T09:58:45Z")


# -- startup and sidecars --------------------------------------------------------------------


def test_startup_probe_holds_back_started_and_readiness() -> None:
    result = run("startup-sidecar.yaml")
    assert output(result, 4) == "false false"
    assert re.search(r"^slow\s+0/1\s+Running\s+0\s+10s$", output(result, 3), re.MULTILINE)
    assert output(result, 7) == "true true"
    ready = [t["time"] for t in result.trace if t["subject"] == "Pod default/slow" and t["action"] == "container nginx ready"]
    # initialDelaySeconds 15 after the 09:57:32.232 start: the first probe on the 2 s tick at 09:57:48.
    assert ready == ["2024-01-18T09:57:48.007Z"]


def test_native_sidecar_startup_probe_gates_the_next_init_container() -> None:
    result = run("startup-sidecar.yaml")
    assert re.search(r"^meshed\s+0/2\s+Init:0/2\s+0\s+10s$", output(result, 3), re.MULTILINE)
    assert re.search(r"^meshed\s+2/2\s+Running\s+0\s+40s$", output(result, 6), re.MULTILINE)
    times = {t["action"]: t["time"] for t in result.trace if t["subject"] == "Pod default/meshed"}
    assert times["container proxy ready"] == "2024-01-18T09:57:52.010Z"  # /tmp/ready exists from 09:57:51
    assert times["started container init"] == "2024-01-18T09:57:52.160Z"


# -- errors ----------------------------------------------------------------------------------


def test_probe_errors_and_timeouts_have_the_prober_words() -> None:
    result = run("probe-errors.yaml")
    assert events(result, "named", "Unhealthy")[0][0] == \
        'Readiness probe errored: strconv.Atoi: parsing "http": invalid syntax'
    assert events(result, "slow-exec", "Unhealthy")[0][0] == 'Readiness probe failed: command "sleep 5" timed out'
    assert events(result, "tls", "Unhealthy")[0][0] == \
        'Readiness probe failed: Get "https://10.244.0.7:80/": http: server gave HTTP response to HTTPS client'
    errored = events(result, "missing-binary", "Unhealthy")
    assert len(errored) == 6 and all(re.fullmatch(
        r'Liveness probe errored: rpc error: code = Unknown desc = failed to exec in container: failed to start exec '
        r'"[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: '
        r'"healthcheck": executable file not found in \$PATH: unknown', m) for m, _, _ in errored)
    # A probe that errors changes nothing: the liveness result stays Success, nothing is killed.
    assert re.search(r"^missing-binary\s+1/1\s+Running\s+0\s+60s$", output(result, 3), re.MULTILINE)


def test_errored_probe_wording_since_1_33() -> None:
    result = run("probe-errors.yaml", (1, 33), "1.31")  # the newest kubectl meshrepro emulates
    assert events(result, "named", "Unhealthy")[0][0] == \
        'Readiness probe errored and resulted in unknown state: strconv.Atoi: parsing "http": invalid syntax'


# -- lifecycle of the workers ----------------------------------------------------------------


@pytest.fixture
def kind() -> Cluster:
    clock = Clock(seed=3)
    cluster = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(ClusterSpec())
    clock.run_until(5)
    return cluster


def probed_pod(name: str, probe: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25.3", "livenessProbe": probe,
                                     "readinessProbe": {"tcpSocket": {"port": 81}, "periodSeconds": 1}}]}}


def test_deleting_the_pod_stops_every_probe_worker(kind: Cluster) -> None:
    kind.apply_object(probed_pod("doomed", {"httpGet": {"path": "/nope", "port": 80}, "periodSeconds": 1}))
    kind.clock.run_until(12)
    kubelet = kind.kubelet_of("kind-control-plane")
    assert kubelet is not None
    worker = kubelet.worker_for("default", "doomed")
    assert worker is not None and len(worker.probes) == 2
    kind.client.delete("v1", "pods", "default", "doomed")
    kind.clock.run_until(60)
    assert kind.store.peek(PODS, "default", "doomed") is None
    assert all(not probe.process.is_alive for probe in worker.probes.values())
    unhealthy = [e for e in kind.store.iter(EVENTS, "default") if e["reason"] == "Unhealthy"]
    # Probing (every second) and liveness kills went on until the deletion at 09:57:12, and stopped there.
    assert len(unhealthy) == 2 and max(e["lastTimestamp"] for e in unhealthy) == "2024-01-18T09:57:11Z"
    kills = [e for e in kind.store.iter(EVENTS, "default") if e["message"].endswith("will be restarted")]
    assert kills and max(e["lastTimestamp"] for e in kills) <= "2024-01-18T09:57:12Z"


def test_grpc_probes_are_refused_with_a_clear_error(kind: Cluster) -> None:
    kind.apply_object(probed_pod("grpc", {"grpc": {"port": 9000}}))
    with pytest.raises(InputError, match=r'container "nginx": livenessProbe.grpc is not supported'):
        kind.clock.run_until(8)


# -- pure helpers ----------------------------------------------------------------------------


def test_resolve_port_as_probe_resolve_container_port() -> None:
    container = {"ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port("http", container) == 8080
    assert resolve_port(80, container) == 80
    assert resolve_port("8443", container) == 8443  # an int stored as a string
    assert resolve_port("metrics", container) == 'strconv.Atoi: parsing "metrics": invalid syntax'
    assert resolve_port(0, container) == "invalid port number: 0"


def test_probe_headers_defaults_and_overrides() -> None:
    assert probe_headers([], (1, 29)) == {"User-Agent": "kube-probe/1.29", "Accept": "*/*"}
    declared = [{"name": "user-agent", "value": "mine"}, {"name": "accept", "value": ""},
                {"name": "x-probe", "value": "1"}]
    assert probe_headers(declared, (1, 30)) == {"User-Agent": "mine", "X-Probe": "1"}


def test_exec_command_expands_static_env_only() -> None:
    env = [{"name": "FILE", "value": "/tmp/healthy"}, {"name": "POD", "valueFrom": {"fieldRef": {}}}]
    assert expand_static(["cat", "$(FILE)", "$(POD)", "$$(FILE)"], env) == ["cat", "/tmp/healthy", "$(POD)", "$(FILE)"]


def test_validate_probes_as_the_api_server() -> None:
    spec = {
        "initContainers": [
            {"name": "setup", "readinessProbe": {"exec": {"command": ["true"]}}},
            {"name": "proxy", "restartPolicy": "Always", "startupProbe": {"tcpSocket": {"port": 70000},
                                                                         "successThreshold": 2}},
        ],
        "containers": [{"name": "app",
                        "livenessProbe": {"httpGet": {"path": "", "port": "Http_Port", "scheme": "FTP"},
                                          "periodSeconds": -1, "terminationGracePeriodSeconds": 0},
                        "readinessProbe": {"exec": {"command": []}, "tcpSocket": {"port": 80},
                                           "terminationGracePeriodSeconds": 5},
                        "startupProbe": {"initialDelaySeconds": 3}}],
    }
    assert [str(e) for e in validate_probes(spec)] == [
        ("spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without "
         "restartPolicy=Always"),
        ("spec.initContainers[1].startupProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, "
         "inclusive"),
        "spec.initContainers[1].startupProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].livenessProbe.httpGet.path: Required value",
        ('spec.containers[0].livenessProbe.httpGet.port: Invalid value: "Http_Port": must contain only alpha-numeric '
         "characters (a-z, 0-9), and hyphens (-)"),
        'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"',
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
        "spec.containers[0].readinessProbe.exec.command: Required value",
        "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
        ("spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for "
         "readinessProbes"),
        "spec.containers[0].startupProbe: Required value: must specify a handler type",
    ]
    assert [str(e) for e in validate_probes({"initContainers": spec["initContainers"][:1]}, sidecars=False)] == [
        "spec.initContainers[0].readinessProbe: Forbidden: must not be set for init containers"]
