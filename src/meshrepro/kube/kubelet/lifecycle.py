"""Container lifecycle hooks: the postStart handler the kubelet runs right after starting a container.

kubelet pkg/kubelet/kuberuntime/kuberuntime_container.go `startContainer` step 4 and pkg/kubelet/lifecycle/handlers.go:
the hook runs inside the pod's sync, so nothing else of the pod starts until it returns (and the container's
status still reads as being created). A failing hook records `FailedPostStartHook` (`PostStartHook failed`: the
handler's message is kept out of the event from Kubernetes 1.26, kubernetes/kubernetes#119541), kills the container
(`Killing` with message `FailedPostStartHook`), and the container waits with reason `PostStartHookError` until the
restart policy starts it again.

Modelled handlers: `exec` (through the same path as `kubectl exec`: a process in the container) and `httpGet`
(a GET from the node; like the kubelet, only a failed request is an error, not the status code). `sleep` and
`tcpSocket` (deprecated, never run) are not modelled.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from meshrepro.kube.kubelet.containers import ContainerRecord
from meshrepro.kube.kubelet.probes import _get, _probe_url, resolve_port
from meshrepro.kube.status import go_quote
from meshrepro.kube.store import Obj

if TYPE_CHECKING:
    from meshrepro.kube.kubelet.pod_worker import PodWorker

Wait = Generator[simpy.Event, Any, Any]
POST_START_ERROR = "PostStartHookError"  # kuberuntime ErrPostStartHook


def run_post_start(worker: PodWorker, record: ContainerRecord, pod: Obj, handler: Obj, field_path: str,
                   grace: float) -> Wait:
    """Run the container's postStart handler; True when it succeeded (the container keeps running)."""
    record.post_start_running = True
    try:
        error = yield from _run_handler(worker, record, pod, handler)
    finally:
        record.post_start_running = False
    kubelet = worker.kubelet
    if error is None:
        kubelet.trace.add(worker.clock.now, kubelet.component, worker.ref, f"postStart hook of {record.name} returned",
                          "the kubelet goes on with the pod's next container")
        return True
    kubelet.events.record(pod, "Warning", "FailedPostStartHook", "PostStartHook failed", field_path)
    kubelet.trace.add(worker.clock.now, kubelet.component, worker.ref, f"postStart hook of {record.name} failed",
                      error)
    if record.process is None:
        return False  # the container already exited while its hook ran
    kubelet.events.record(pod, "Normal", "Killing", "FailedPostStartHook", field_path)
    record.waiting_reason = POST_START_ERROR
    process = record.process
    yield from worker._stop_container(record, grace)
    if process.is_alive:
        yield process
    return False


def _run_handler(worker: PodWorker, record: ContainerRecord, pod: Obj, handler: Obj) -> Wait:
    """handlerRunner.Run: None on success, else the message the kubelet logs."""
    name = record.name
    pod_ref = f"{worker.name}_{worker.namespace}({worker.uid})"
    if "exec" in handler:
        command = [str(arg) for arg in (handler["exec"] or {}).get("command") or []]
        status, answer = yield from worker.kubelet.exec(pod, name, command)
        if status != 200:
            error = f"rpc error: code = Unknown desc = {str(answer).removeprefix('error executing command in container: ')}"
            return (f"Exec lifecycle hook ({_go_list(command)}) for Container {go_quote(name)} in Pod {go_quote(pod_ref)} "
                    f"failed - error: {error}, message: \"\"")
        output = answer["stdout"] + answer["stderr"]
        if answer["exitCode"] == 0:
            return None
        error = f"command '{' '.join(command)}' exited with {answer['exitCode']}: {answer['stderr']}"
        return (f"Exec lifecycle hook ({_go_list(command)}) for Container {go_quote(name)} in Pod {go_quote(pod_ref)} "
                f"failed - error: {error}, message: {go_quote(output)}")
    if "httpGet" in handler:
        action = handler["httpGet"] or {}
        port = resolve_port(action.get("port"), record.spec)
        host = str(action.get("host") or worker.pod_ip)
        if isinstance(port, str):
            error = port
        else:
            response = yield from _get(worker, _probe_url(action, host, port), {})
            if not isinstance(response, str):
                return None
            error = f'Get "{_probe_url(action, host, port)}": {response}'
        return (f"HTTP lifecycle hook ({action.get('path', '')}) for Container {go_quote(name)} in Pod {go_quote(pod_ref)} "
                f"failed - error: {error}")
    kind = next(iter(handler), "")
    return f"lifecycle handler {kind!r} is not modelled"


def _go_list(items: list[str]) -> str:
    """fmt's %v of a []string: `[a b c]`."""
    return "[" + " ".join(items) + "]"

