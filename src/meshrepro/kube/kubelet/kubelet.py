"""The kubelet of one node: watches its pods, runs a PodWorker per pod, serves logs and exec."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.kube.client import Client
from meshrepro.kube.cni import CNIPlugin
from meshrepro.kube.events import EventRecorder
from meshrepro.kube.kubelet.pod_worker import PodWorker, Timing
from meshrepro.kube.kubelet.volumes import MountError
from meshrepro.kube.store import Obj, ResourceKey, Store, WatchEvent
from meshrepro.kube.versions import Flags
from meshrepro.net.stack import NetNamespace, Network
from meshrepro.runtime.images import Catalogue
from meshrepro.runtime.process import Buffer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")

# (pod, audience, expirationSeconds) -> a bound token (TokenRequest through the API server) or an error
TokenRequester = Callable[[Obj, str, int], "str | MountError"]


@dataclass
class NodeConfig:
    node_name: str
    node_ip: str
    cluster_dns: str
    cluster_domain: str = "cluster.local"


class Kubelet:
    def __init__(self, clock: Clock, store: Store, client: Client, trace: Trace, flags: Flags, network: Network,
                 node_ns: NetNamespace, catalogue: Catalogue, config: NodeConfig, token_source: TokenRequester,
                 timing: Timing | None = None) -> None:
        self.clock = clock
        self.store = store
        self.client = client
        self.trace = trace
        self.flags = flags
        self.network = network
        self.node_ns = node_ns
        self.catalogue = catalogue
        self.node_name = config.node_name
        self.node_ip = config.node_ip
        self.cluster_dns = config.cluster_dns
        self.cluster_domain = config.cluster_domain
        self.token_source = token_source
        self.timing = timing or Timing()
        self.component = f"kubelet/{config.node_name}"
        self.events = EventRecorder(client, clock, "kubelet", config.node_name)
        self.cni_chain: list[CNIPlugin] = []
        self.workers: dict[str, PodWorker] = {}  # pod uid -> worker
        self.images_present: set[str] = set()

    def start(self) -> None:
        self.store.watch(self._on_pod, PODS)
        for pod in list(self.store.iter(PODS)):
            self._on_pod(WatchEvent("ADDED", PODS, pod))

    def has_image(self, image: str) -> bool:
        return image in self.images_present

    def _on_pod(self, event: WatchEvent) -> None:
        pod = event.object
        if pod["spec"].get("nodeName") != self.node_name:
            return
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if event.type == "DELETED":
            if worker is not None and not worker.terminating:
                self.clock.process(worker.terminate())
            return
        if worker is None and "deletionTimestamp" not in pod["metadata"]:
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.process = self.clock.process(worker.run())
        elif worker is not None and "deletionTimestamp" in pod["metadata"] and not worker.terminating:
            self.clock.process(self._delete_after_termination(worker))

    def _delete_after_termination(self, worker: PodWorker) -> Generator[simpy.Event, Any, None]:
        yield from worker.terminate()
        # The kubelet confirms with a zero-grace delete once the containers are gone.
        self.store.delete(PODS, worker.namespace, worker.name)
        self.trace.add(self.clock.now, self.component, worker.ref, "pod removed", "all containers stopped")

    def forget(self, worker: PodWorker) -> None:
        self.workers.pop(worker.uid, None)

    def worker_for(self, namespace: str, name: str) -> PodWorker | None:
        pod = self.store.peek(PODS, namespace, name)
        if pod is None:
            return None
        return self.workers.get(pod["metadata"]["uid"])

    # -- the API server's pods/log and pods/exec ----------------------------------------

    def logs(self, pod: Obj, container: str, previous: bool, tail: int | None, timestamps: bool) -> tuple[int, Any]:
        worker = self.workers.get(pod["metadata"]["uid"])
        name = pod["metadata"]["name"]
        record = worker.container(container) if worker is not None else None
        if record is None or not record.attempts:
            reason = record.waiting_reason if record is not None and record.waiting_reason else "ContainerCreating"
            if worker is not None and worker.init and record is not None and not record.init and not worker.initialized:
                reason = "PodInitializing"
            return 400, f'container "{container}" in pod "{name}" is waiting to start: {reason}'
        attempts = record.attempts
        if previous:
            index = len(attempts) - 2  # the instance before the current one, running or not
            if index < 0:
                return 400, f'previous terminated container "{container}" in pod "{name}" not found'
            transcript = attempts[index]
        else:
            transcript = attempts[-1]
        lines = _lines(transcript, timestamps, self.clock)
        if tail is not None and tail >= 0:
            lines = lines[-tail:] if tail else []
        return 200, "".join(lines)

    def exec(self, pod: Obj, container: str, argv: list[str]) -> Generator[simpy.Event, Any, tuple[int, Any]]:
        worker = self.workers.get(pod["metadata"]["uid"])
        record = worker.container(container) if worker is not None else None
        if worker is None or record is None or not record.running:
            return 400, f'unable to upgrade connection: container not found ("{container}")'
        image = self.catalogue.lookup(record.image)
        assert image is not None
        stdout, stderr = Buffer(), Buffer()
        host, proc = worker.container_process(record, image, argv, pod, stdout, stderr)  # exec output is not logged
        program = host.find_program(argv[0], proc.env.get("PATH", "")) if argv else None
        if program is None:
            exec_id = f"{self.clock.rng.getrandbits(256):064x}"
            return 500, (f'error executing command in container: failed to exec in container: failed to start exec '
                         f'"{exec_id}": OCI runtime exec failed: exec failed: unable to start container process: '
                         f'exec: "{argv[0] if argv else ""}": executable file not found in $PATH: unknown')
        code = yield from program(proc)
        return 200, {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "exitCode": code}


def _lines(transcript: Any, timestamps: bool, clock: Clock) -> list[str]:
    """Split a transcript into log lines (the runtime's CRI log records one entry per line)."""
    lines: list[str] = []
    pending = ""
    pending_time = 0.0
    for chunk in transcript.chunks:
        for piece in chunk.text.splitlines(keepends=True):
            if not pending:
                pending_time = chunk.time
            pending += piece
            if pending.endswith("\n"):
                lines.append(_stamp(pending, pending_time, timestamps, clock))
                pending = ""
    if pending:
        lines.append(_stamp(pending, pending_time, timestamps, clock))
    return lines


def _stamp(line: str, at: float, timestamps: bool, clock: Clock) -> str:
    if not timestamps:
        return line
    moment = clock.wall(at)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000:09d}Z " + line
