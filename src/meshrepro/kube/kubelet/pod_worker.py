"""One pod's life on a node: sandbox and CNI, volumes, init containers one by one, then the containers.

A SimPy process per pod, as the kubelet's pod worker: every transition is written to the pod's
status through the API server and recorded in the trace with the reason for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from meshrepro.errors import InputError
from meshrepro.kube.cni import CNIError, CNIResult
from meshrepro.kube.kubelet.containers import ContainerRecord, Terminated
from meshrepro.kube.kubelet.lifecycle import run_post_start
from meshrepro.kube.kubelet.probes import ProbeSpec, ProbeWorker, Result, container_probes
from meshrepro.kube.kubelet.volumes import MountError, PreparedVolume, field_value, prepare
from meshrepro.kube.store import Obj, ResourceKey
from meshrepro.net.stack import NetNamespace, ResolverConfig
from meshrepro.runtime.container import ContainerHost, container_capabilities, image_filesystem
from meshrepro.runtime.images import Image
from meshrepro.runtime.process import Output, Process, Transcript
from meshrepro.sim.clock import rfc3339

if TYPE_CHECKING:
    from meshrepro.kube.kubelet.kubelet import Kubelet

Wait = Generator[simpy.Event, Any, Any]
PODS = ResourceKey("", "pods")
SERVICES = ResourceKey("", "services")


@dataclass(frozen=True)
class Timing:
    """How long the runtime takes for each step on a kind node (seconds)."""

    sandbox: float = 0.5
    pull_fixed: float = 0.4
    pull_bytes_per_second: float = 60_000_000.0
    create: float = 0.05
    start: float = 0.1
    pleg_relist: float = 1.0  # the kubelet notices an exited container at its next PLEG relist
    sandbox_retry: float = 5.0
    mount_retry: float = 2.0


class SigTerm(Exception):
    """Cause of the interrupt that stops a container."""


@dataclass(frozen=True)
class ProbeKill:
    """A container the kubelet is killing because a liveness or startup probe failed."""

    restart: bool
    previous_finish: float | None  # when the instance before the killed one exited, if there was one


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet = kubelet
        self.clock = kubelet.clock
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.spec = pod["spec"]
        self.ref = f"Pod {self.namespace}/{self.name}"
        self.netns: NetNamespace | None = None
        self.pod_ip = ""
        self.init: list[ContainerRecord] = []
        self.containers: list[ContainerRecord] = []
        self.emptydirs: dict[str, dict[str, str]] = {}
        self.volumes: dict[str, PreparedVolume] = {}
        self.phase = "Pending"
        self.conditions: dict[str, tuple[str, str, str, str]] = {}  # type -> (status, time, reason, message)
        self.start_time = ""
        self.initialized = False
        self.terminating = False
        self.finishing = False  # the regular containers of a Never/OnFailure pod are done; sidecars stop
        self.process: simpy.Process | None = None
        self.probes: dict[tuple[str, str], ProbeWorker] = {}  # (container, kind) -> worker
        self._probe_kills: dict[str, ProbeKill] = {}
        self._filesystems: dict[str, tuple[str, Any]] = {}  # container -> (instance id, its root filesystem)
        self._changed = self.clock.env.event()  # fires when a container becomes started
        sidecars_on = kubelet.flags.sidecar_containers
        for spec in self.spec.get("initContainers") or []:
            sidecar = sidecars_on and spec.get("restartPolicy") == "Always"
            self.init.append(ContainerRecord(spec["name"], spec, True, sidecar, spec["image"],
                                             waiting_reason="PodInitializing"))
        default_reason = "PodInitializing" if self.init else "ContainerCreating"
        for spec in self.spec.get("containers") or []:
            self.containers.append(ContainerRecord(spec["name"], spec, False, False, spec["image"],
                                                   waiting_reason=default_reason))

    # -- lifecycle -----------------------------------------------------------------------

    def run(self) -> Wait:
        now = rfc3339(self.clock.wall())
        self.start_time = now
        self._set_condition("Initialized", "False" if self.init else "True",
                            "ContainersNotInitialized" if self.init else "",
                            f"containers with incomplete status: [{' '.join(c.name for c in self.init)}]"
                            if self.init else "")
        self._set_condition("Ready", "False", "ContainersNotReady", self._unready_message())
        self._set_condition("ContainersReady", "False", "ContainersNotReady", self._unready_message())
        if self.kubelet.flags.pod_ready_to_start_containers_condition:
            self._set_condition("PodReadyToStartContainers", "False")
        self.publish()
        self._start_probes()
        if not (yield from self._mount_volumes()):
            return
        if not (yield from self._create_sandbox()):
            return
        if self.kubelet.flags.pod_ready_to_start_containers_condition:
            self._set_condition("PodReadyToStartContainers", "True")
        self.publish()
        index = 0
        while index < len(self.init) and not self.terminating:
            record = self.init[index]
            if record.sidecar:
                yield from self._start(record)
                self.clock.process(self._supervise(record))
                yield from self._wait_started(record)  # the next init container waits for its startup probe
                index += 1
                continue
            code = yield from self._run_to_exit(record)
            if self.terminating:
                return
            if code == 0:
                index += 1
                continue
            if self.spec.get("restartPolicy", "Always") == "Never":
                self.phase = "Failed"
                self._set_condition("Initialized", "False", "ContainersNotInitialized",
                                    f"containers with incomplete status: [{' '.join(c.name for c in self.init[index:])}]")
                self.publish()
                return
            yield from self._wait_backoff(record)
        if self.terminating:
            return
        self.initialized = True
        self._set_condition("Initialized", "True")
        self.publish()
        for record in self.containers:
            record.waiting_reason = "ContainerCreating"
        self.publish()
        for record in self.containers:
            if self.terminating:
                return
            yield from self._start(record)
            self.clock.process(self._supervise(record))
        self.phase = "Running"
        self.publish()

    def _mount_volumes(self) -> Wait:
        """Volumes are set up before the sandbox; a missing ConfigMap keeps the pod in ContainerCreating."""
        pod = self._pod()
        if pod is None:
            return False
        for volume in self.spec.get("volumes") or []:
            while True:
                prepared = prepare(volume, pod, self.kubelet.store, self.kubelet.token_source, self.emptydirs)
                if not isinstance(prepared, MountError):
                    self.volumes[volume["name"]] = prepared
                    break
                self.kubelet.events.record(pod, "Warning", "FailedMount", prepared.message)
                self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, "volume setup failed",
                                       prepared.message)
                yield self.clock.timeout(self.kubelet.timing.mount_retry)
                if self.terminating:
                    return False
        return True

    def _create_sandbox(self) -> Wait:
        pod = self._pod()
        if pod is None:
            return False
        while not self.terminating:
            yield self.clock.timeout(self.kubelet.timing.sandbox)
            sandbox_id = self._hex(64)
            if self.spec.get("hostNetwork"):
                self.netns = self.kubelet.node_ns
                self.pod_ip = self.kubelet.node_ip
                self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, "sandbox uses the node network",
                                       "spec.hostNetwork: true; the CNI chain is not called")
                return True
            netns = self.kubelet.network.add_namespace(f"pod:{self.namespace}/{self.name}", [],
                                                       f"pod {self.namespace}/{self.name}", self.kubelet.node_name)
            result: CNIResult | CNIError = CNIResult()
            for plugin in self.kubelet.cni_chain:
                result = yield from plugin.add(self._pod() or pod, netns, result)
                if isinstance(result, CNIError):
                    break
            if isinstance(result, CNIError):
                for plugin in self.kubelet.cni_chain:
                    plugin.delete(pod, netns)
                self.kubelet.network.remove_namespace(netns.name)
                message = (f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network '
                           f'for sandbox "{sandbox_id}": plugin type="{result.plugin_type}" name="{result.plugin_name}" '
                           f'failed (add): {result.message}')
                self.kubelet.events.record(pod, "Warning", "FailedCreatePodSandBox", message)
                self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, "sandbox creation failed",
                                       result.message, plugin=result.plugin_type)
                yield self.clock.timeout(self.kubelet.timing.sandbox_retry)
                continue
            self.netns = netns
            self.pod_ip = result.ips[0] if result.ips else ""
            netns.resolver = self._resolver()
            self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, "sandbox ready",
                                   f"CNI chain {' → '.join(p.type for p in self.kubelet.cni_chain)} gave {self.pod_ip}")
            return True
        return False

    def _resolver(self) -> ResolverConfig:
        # the names of the kubelet-managed /etc/hosts (written with the container's files)
        hosts = {"localhost": "127.0.0.1", self.name: self.pod_ip}
        policy = self.spec.get("dnsPolicy", "ClusterFirst")
        if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and not (
                self.spec.get("hostNetwork") and policy == "ClusterFirst"):
            domain = self.kubelet.cluster_domain
            return ResolverConfig([self.kubelet.cluster_dns], [f"{self.namespace}.svc.{domain}", f"svc.{domain}",
                                                                domain], ndots=5, hosts=hosts)
        return ResolverConfig(list(self.kubelet.node_ns.resolver.nameservers) if self.kubelet.node_ns.resolver else [],
                              hosts=hosts)

    # -- containers ----------------------------------------------------------------------

    def _run_to_exit(self, record: ContainerRecord) -> Wait:
        yield from self._start(record)
        if record.process is None:
            return record.terminated.exit_code if record.terminated else 1
        yield record.process
        return record.terminated.exit_code if record.terminated else 0

    def _supervise(self, record: ContainerRecord) -> Wait:
        """Restart a long-running container (or sidecar) per the pod's restart policy."""
        while not self.terminating:
            if record.process is not None:
                yield record.process
            if self.terminating or record.terminated is None:
                return
            if record.sidecar and self.finishing:
                return  # stopped because the pod's regular containers are done
            kill = self._probe_kills.pop(record.name, None)
            policy = "Always" if record.sidecar else self.spec.get("restartPolicy", "Always")
            code = record.terminated.exit_code
            finished = not kill.restart if kill is not None else (
                policy == "Never" or (policy == "OnFailure" and code == 0))
            if finished:
                self._settle_phase()
                return
            if kill is not None and not self._killed_in_backoff(record, kill):
                # The sync that kills the container starts it again at once.
                yield from self._start(record)
                continue
            yield from self._wait_backoff(record)
            if self.terminating:
                return
            yield from self._start(record)

    def _killed_in_backoff(self, record: ContainerRecord, kill: ProbeKill) -> bool:
        """doBackOff in the killing sync: it sees the instance before the killed one as the last exited."""
        if kill.previous_finish is None:
            return False
        if record.backoff.in_backoff_since(kill.previous_finish, self.clock.now):
            return True
        record.backoff.next(kill.previous_finish, self.clock.now)
        return False

    def _settle_phase(self) -> None:
        """restartPolicy Never/OnFailure: the pod ends when every container has terminated; running sidecars
        are stopped first, in reverse order (computePodActions, KEP-753)."""
        if all(c.terminated is not None for c in self.containers) and not self.finishing:
            self.finishing = True
            self.clock.process(self._finish())

    def _finish(self) -> Wait:
        pod = self._pod()
        for record in reversed([r for r in self.init if r.sidecar and r.process is not None]):
            if pod is not None:
                self.kubelet.events.record(pod, "Normal", "Killing", f"Stopping container {record.name}",
                                           self._field_path(record))
            process = record.process
            yield from self._stop_container(record, float(self.spec.get("terminationGracePeriodSeconds", 30)))
            if process is not None and process.is_alive:
                yield process
        self.phase = "Succeeded" if all(c.terminated.exit_code == 0 for c in self.containers
                                        if c.terminated) else "Failed"
        self.publish()

    def _wait_backoff(self, record: ContainerRecord) -> Wait:
        assert record.terminated is not None
        finished = record.finished_at_sim
        yield self.clock.timeout(self.kubelet.timing.pleg_relist)
        if record.backoff.in_backoff_since(finished, self.clock.now):
            wait = finished + record.backoff.duration - self.clock.now
            pod = self._pod()
            record.last_terminated, record.terminated = record.terminated, None
            record.waiting_reason = "CrashLoopBackOff"
            record.waiting_message = (f"back-off {go_duration(record.backoff.duration)} restarting failed container="
                                      f"{record.name} pod={self.name}_{self.namespace}({self.uid})")
            self.publish()
            if pod is not None:
                self.kubelet.events.record(pod, "Warning", "BackOff",
                                           f"Back-off restarting failed container {record.name} in pod "
                                           f"{self.name}_{self.namespace}({self.uid})", self._field_path(record))
            self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref,
                                   f"container {record.name} in CrashLoopBackOff",
                                   f"exit code {record.last_terminated.exit_code if record.last_terminated else '?'}; "
                                   f"restart in {wait:g}s")
            yield self.clock.timeout(wait)
        record.backoff.next(finished, self.clock.now)

    def _start(self, record: ContainerRecord) -> Wait:
        """Pull, create and start one container; returns once its process runs (or failed to start)."""
        pod = self._pod()
        if pod is None or self.netns is None:
            return
        image = self.kubelet.catalogue.lookup(record.image)
        if image is None:
            raise InputError(f'{self.ref} container "{record.name}": image "{record.image}" is not in meshrepro\'s '
                             f"image catalogue (known: {', '.join(self.kubelet.catalogue.names())})")
        yield from self._pull(record, image, pod)
        yield self.clock.timeout(self.kubelet.timing.create)
        if record.terminated is not None:
            record.last_terminated = record.terminated
            record.terminated = None
            record.restart_count += 1
        elif record.last_terminated is not None and record.waiting_reason == "CrashLoopBackOff":
            record.restart_count += 1
        record.container_id = "containerd://" + self._hex(64)
        record.image_id = f"{image.name}@sha256:{hashlib.sha256(image.name.encode()).hexdigest()}"
        field_path = self._field_path(record)
        self.kubelet.events.record(pod, "Normal", "Created", f"Created container {record.name}", field_path)
        yield self.clock.timeout(self.kubelet.timing.start)
        argv = list(record.spec.get("command") or image.entrypoint) + list(
            record.spec.get("args") if record.spec.get("args") is not None else (
                image.cmd if not record.spec.get("command") else ()))
        transcript = Transcript(self.clock)  # this instance's log
        record.attempts.append(transcript)
        host, proc = self.container_process(record, image, argv, pod, transcript.stream("stdout"),
                                            transcript.stream("stderr"))
        program = host.find_program(argv[0], proc.env.get("PATH", "")) if argv else None
        if program is None:
            self._start_error(record, pod, argv)
            return
        record.waiting_reason = record.waiting_message = ""
        record.running_since = self.clock.wall()
        # Without a startup probe a running container is started; without a readiness probe, ready.
        record.started = (record.name, "startup") not in self.probes
        record.ready = record.started and (record.name, "readiness") not in self.probes
        record.ignores_sigterm = argv[0].rsplit("/", 1)[-1] in ("sh", "bash", "dash", "ash")
        self.kubelet.events.record(pod, "Normal", "Started", f"Started container {record.name}", field_path)
        self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, f"started container {record.name}",
                               f"uid {proc.uid}, argv {argv}")
        record.process = self.clock.process(self._execute(record, program, proc))
        hook = (record.spec.get("lifecycle") or {}).get("postStart")
        if hook and not (yield from run_post_start(self, record, pod, hook, field_path,
                                                   float(self.spec.get("terminationGracePeriodSeconds", 30)))):
            return
        if record.started:
            self._trigger_readiness(record, self.kubelet.timing.pleg_relist)
        self._refresh_readiness()
        self.publish()

    def _start_error(self, record: ContainerRecord, pod: Obj, argv: list[str]) -> None:
        what = argv[0] if argv else ""
        message = (f'failed to create containerd task: failed to create shim task: OCI runtime create failed: runc '
                   f'create failed: unable to start container process: exec: "{what}": executable file not found '
                   f"in $PATH: unknown")
        now = self.clock.wall()
        record.terminated = Terminated(128, "StartError", now, now, record.container_id, message)
        record.finished_at_sim = self.clock.now
        record.waiting_reason = ""
        self.kubelet.events.record(pod, "Warning", "Failed", f"Error: {message}", self._field_path(record))
        self.publish()

    def _pull(self, record: ContainerRecord, image: Image, pod: Obj) -> Wait:
        policy = record.spec.get("imagePullPolicy", "IfNotPresent")
        field_path = self._field_path(record)
        if policy != "Always" and self.kubelet.has_image(record.image):
            self.kubelet.events.record(pod, "Normal", "Pulled",
                                       f'Container image "{record.image}" already present on machine', field_path)
            return
        self.kubelet.events.record(pod, "Normal", "Pulling", f'Pulling image "{record.image}"', field_path)
        seconds = self.kubelet.timing.pull_fixed + image.size_bytes / self.kubelet.timing.pull_bytes_per_second
        yield self.clock.timeout(seconds)
        self.kubelet.images_present.add(record.image)
        took = go_duration(seconds)
        message = f'Successfully pulled image "{record.image}" in {took} ({took} including waiting)'
        if self.kubelet.flags.pulled_event_image_size:
            message += f". Image size: {image.size_bytes} bytes."
        self.kubelet.events.record(pod, "Normal", "Pulled", message, field_path)

    def container_process(self, record: ContainerRecord, image: Image, argv: list[str], pod: Obj, stdout: Output,
                stderr: Output) -> tuple[ContainerHost, Process]:
        """A process in the container's current instance: its filesystem, network, identity and environment."""
        assert self.netns is not None
        fs = self._filesystem(record, image)
        security = {**(self.spec.get("securityContext") or {}), **(record.spec.get("securityContext") or {})}
        uid = int(security.get("runAsUser", image.user[0]))
        gid = int(security.get("runAsGroup", image.user[1] if "runAsUser" not in security else 0))
        env = self._environment(record, image, pod)
        host = ContainerHost(self.clock, fs, self.netns.view(uid, gid), self.name, image.programs,
                             capabilities=container_capabilities(record.spec.get("securityContext")))
        proc = Process(host=host, argv=argv, env=env, stdout=stdout, stderr=stderr,
                       cwd=record.spec.get("workingDir") or image.workdir,
                       uid=uid, gid=gid, pid=host.next_pid(),
                       extra={"pod": f"{self.namespace}/{self.name}", "container": record.name})
        return host, proc

    def _filesystem(self, record: ContainerRecord, image: Image) -> Any:
        """The root filesystem of the container's current instance: exec'd processes share its writable layer."""
        known = self._filesystems.get(record.name)
        if known is not None and known[0] == record.container_id:
            return known[1]
        fs = image_filesystem(image)
        for mount in record.spec.get("volumeMounts") or []:
            prepared = self.volumes.get(mount["name"])
            if prepared is None:
                continue
            read_only = bool(mount.get("readOnly")) or prepared.read_only
            source = prepared.files if prepared.files is not None else self.emptydirs.setdefault(mount["name"], {})
            fs.mount(mount["mountPath"], source, read_only=read_only)
        self._write_managed_files(fs)
        self._filesystems[record.name] = (record.container_id, fs)
        return fs

    def _write_managed_files(self, fs: Any) -> None:
        """The files the kubelet manages in every container: hosts, resolv.conf, hostname."""
        resolver = self.netns.resolver if self.netns is not None else None
        if resolver is not None and resolver.nameservers:
            lines = []
            if resolver.search:
                lines.append("search " + " ".join(resolver.search))
            lines += [f"nameserver {server}" for server in resolver.nameservers]
            if resolver.ndots != 1:
                lines.append(f"options ndots:{resolver.ndots}")
            fs.mkdir("/etc", parents=True) if not fs.exists("/etc") else None
            fs.write("/etc/resolv.conf", "\n".join(lines) + "\n")
        if not fs.exists("/etc"):
            fs.mkdir("/etc", parents=True)
        fs.write("/etc/hostname", self.name + "\n")
        fs.write("/etc/hosts", "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                               "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
                               f"fe00::2\tip6-allrouters\n{self.pod_ip}\t{self.name}\n")

    def _environment(self, record: ContainerRecord, image: Image, pod: Obj) -> dict[str, str]:
        env = dict(image.env)
        env["HOSTNAME"] = self.name
        for entry in record.spec.get("env") or []:
            env[entry["name"]] = self._env_value(entry, pod)
        if self.spec.get("enableServiceLinks", True):
            services = list(self.kubelet.store.iter(SERVICES, self.namespace))
        else:
            services = []
        master = self.kubelet.store.peek(SERVICES, "default", "kubernetes")
        if master is not None and all(s["metadata"]["name"] != "kubernetes" or self.namespace != "default"
                                      for s in services):
            services.append(master)
        for service in services:
            env.update(service_env(service))
        return env

    def _env_value(self, entry: Obj, pod: Obj) -> str:
        if "value" in entry:
            return str(entry["value"])
        source = entry.get("valueFrom") or {}
        if "fieldRef" in source:
            return field_value(pod | {"status": {"podIP": self.pod_ip, "hostIP": self.kubelet.node_ip}},
                               source["fieldRef"]["fieldPath"])
        for kind, key in (("configMapKeyRef", ResourceKey("", "configmaps")), ("secretKeyRef", ResourceKey("", "secrets"))):
            if kind in source:
                ref = source[kind]
                obj = self.kubelet.store.peek(key, self.namespace, ref["name"]) or {}
                return str((obj.get("data") or {}).get(ref["key"], ""))
        return ""

    def _execute(self, record: ContainerRecord, program: Any, proc: Process) -> Wait:
        try:
            code = yield from program(proc)
        except simpy.Interrupt:
            code = 137 if record.ignores_sigterm else 143
        now = self.clock.wall()
        reason = "Completed" if code == 0 else "Error"
        record.terminated = Terminated(int(code), reason, record.running_since or now, now, record.container_id)
        record.finished_at_sim = self.clock.now
        record.running_since = None
        record.ready = False
        record.process = None
        record.started = False  # the kubelet reports started only for a running container
        self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref,
                               f"container {record.name} exited with {code}", reason)
        self._refresh_readiness()
        if not self.terminating:
            self.publish()
        return code

    # -- termination ---------------------------------------------------------------------

    def terminate(self) -> Wait:
        """Graceful deletion: SIGTERM, SIGKILL after the grace period, CNI DEL, then the object goes."""
        self.terminating = True
        # Simplification: every probe stops here (the real readiness worker probes until the containers die).
        for worker in self.probes.values():
            worker.stop()
        self._notify()
        pod = self._pod()
        grace = float(self.spec.get("terminationGracePeriodSeconds", 30))
        running = [r for r in [*self.containers, *self.init] if r.process is not None]
        for record in running:
            if pod is not None:
                self.kubelet.events.record(pod, "Normal", "Killing", f"Stopping container {record.name}",
                                           self._field_path(record))
        stubborn = [r for r in running if r.ignores_sigterm]
        for record in running:
            if not record.ignores_sigterm and record.process is not None:
                record.process.interrupt(SigTerm())
        if stubborn:
            # A shell as PID 1 has no SIGTERM handler, and the kernel ignores the signal for PID 1.
            yield self.clock.timeout(grace)
            for record in stubborn:
                if record.process is not None:
                    record.process.interrupt(SigTerm())
        yield self.clock.timeout(0)
        if self.netns is not None and not self.spec.get("hostNetwork"):
            for plugin in reversed(self.kubelet.cni_chain):
                plugin.delete(pod or {"metadata": {"namespace": self.namespace, "name": self.name}}, self.netns)
            self.kubelet.network.remove_namespace(self.netns.name)
        self.kubelet.forget(self)

    # -- probes --------------------------------------------------------------------------

    def _start_probes(self) -> None:
        """prober_manager.AddPod: a worker per probe of each container and restartable init container."""
        for record in [*[r for r in self.init if r.sidecar], *self.containers]:
            for kind, spec in container_probes(self.ref, record.spec).items():
                self.probes[(record.name, kind)] = ProbeWorker(self, record, kind, spec)

    def on_probe_result(self, record: ContainerRecord, kind: str, result: Result, container_id: str) -> None:
        """The kubelet's sync loop reacting to a changed probe result of a running container instance."""
        if container_id != record.container_id or not record.running or self.terminating:
            return
        if kind == "readiness":
            self._set_ready(record, result is Result.SUCCESS and record.started)
        elif result is Result.FAILURE:
            self.clock.process(self._kill_for_probe(record, kind))
        elif kind == "startup" and result is Result.SUCCESS and not record.started:
            record.started = True
            self._set_ready(record, (record.name, "readiness") not in self.probes)
            self.publish()
            self._notify()
            self._trigger_readiness(record, 0.0)

    def _set_ready(self, record: ContainerRecord, ready: bool) -> None:
        if record.ready != ready:
            record.ready = ready
            self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref,
                                   f"container {record.name} {'ready' if ready else 'not ready'}",
                                   "probe result changed")
            self._refresh_readiness()
            self.publish()

    def _trigger_readiness(self, record: ContainerRecord, delay: float) -> None:
        """The status sync after a start runs a pending readiness probe at once (UpdatePodStatus)."""
        worker = self.probes.get((record.name, "readiness"))
        if worker is not None:
            self.clock.timeout(delay).callbacks.append(lambda _: worker.trigger())

    def _kill_for_probe(self, record: ContainerRecord, kind: str) -> Wait:
        """computePodActions + killContainer for a failed liveness/startup probe."""
        pod = self._pod()
        if pod is None or record.process is None:
            return
        restart = record.sidecar or self.spec.get("restartPolicy", "Always") != "Never"
        if record.sidecar:
            message = f"Init container {record.name} failed {kind} probe"
        else:
            message = f"Container {record.name} failed {kind} probe" + (", will be restarted" if restart else "")
        previous = record.finished_at_sim if record.last_terminated is not None else None
        self._probe_kills[record.name] = ProbeKill(restart, previous)
        self.kubelet.events.record(pod, "Normal", "Killing", message, self._field_path(record))
        self.kubelet.trace.add(self.clock.now, self.kubelet.component, self.ref, f"killing container {record.name}",
                               message)
        yield from self._stop_container(record, self._kill_grace(record, kind))

    def _kill_grace(self, record: ContainerRecord, kind: str) -> float:
        """setTerminationGracePeriod: the probe's own terminationGracePeriodSeconds, else the pod's."""
        spec: ProbeSpec = self.probes[(record.name, kind)].spec
        if spec.termination_grace is not None:
            return float(spec.termination_grace)
        return float(self.spec.get("terminationGracePeriodSeconds", 30))

    def _stop_container(self, record: ContainerRecord, grace: float) -> Wait:
        """SIGTERM; a process that ignores it (a shell as PID 1) gets SIGKILL after the grace period."""
        process = record.process
        if process is None:
            return
        if record.ignores_sigterm:
            yield process | self.clock.timeout(grace)
        if process.is_alive:
            process.interrupt(SigTerm())

    def _wait_started(self, record: ContainerRecord) -> Wait:
        while not record.started and not self.terminating:
            yield self._changed

    def _notify(self) -> None:
        changed, self._changed = self._changed, self.clock.env.event()
        changed.succeed()

    # -- status --------------------------------------------------------------------------

    def _refresh_readiness(self) -> None:
        ready = self.initialized and all(c.ready for c in self.containers) and all(
            c.ready for c in self.init if c.sidecar)
        status, reason = ("True", "") if ready else ("False", "ContainersNotReady")
        message = "" if ready else self._unready_message()
        self._set_condition("ContainersReady", status, reason, message)
        self._set_condition("Ready", status, reason, message)

    def _unready_message(self) -> str:
        names = [c.name for c in [*[i for i in self.init if i.sidecar], *self.containers] if not c.ready]
        return f"containers with unready status: [{' '.join(names)}]"

    def _set_condition(self, kind: str, status: str, reason: str = "", message: str = "") -> None:
        previous = self.conditions.get(kind)
        if previous is not None and previous[0] == status and previous[2:] == (reason, message):
            return
        when = previous[1] if previous is not None and previous[0] == status else rfc3339(self.clock.wall())
        self.conditions[kind] = (status, when, reason, message)

    def status(self) -> Obj:
        order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]
        conditions = []
        for kind in order:
            if kind in self.conditions:
                status, when, reason, message = self.conditions[kind]
                condition: Obj = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": when}
                if reason:
                    condition["reason"] = reason
                if message:
                    condition["message"] = message
                conditions.append(condition)
        result: Obj = {"phase": self.phase, "conditions": conditions, "hostIP": self.kubelet.node_ip,
                       "startTime": self.start_time, "qosClass": "BestEffort"}
        if self.kubelet.flags.host_ips:
            result["hostIPs"] = [{"ip": self.kubelet.node_ip}]
        if self.pod_ip:
            result["podIP"] = self.pod_ip
            result["podIPs"] = [{"ip": self.pod_ip}]
        if self.init:
            result["initContainerStatuses"] = [c.status() for c in self.init]
        result["containerStatuses"] = [c.status() for c in self.containers]
        return result

    def publish(self) -> None:
        pod = self.kubelet.store.peek(PODS, self.namespace, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid:
            return
        scheduled = [c for c in pod.get("status", {}).get("conditions", []) if c["type"] == "PodScheduled"]
        status = self.status()
        status["conditions"] = status["conditions"] + scheduled
        # The status subresource reads only metadata and status from the body: no copy of the spec needed.
        self.kubelet.client.update_status("v1", "pods", {"metadata": pod["metadata"], "status": status})

    # -- helpers -------------------------------------------------------------------------

    def _pod(self) -> Obj | None:
        """The pod as stored (read only: every caller reads it for events, volumes and the CNI chain)."""
        pod = self.kubelet.store.peek(PODS, self.namespace, self.name)
        return pod if pod is not None and pod["metadata"]["uid"] == self.uid else None

    def _field_path(self, record: ContainerRecord) -> str:
        return f"spec.{'initContainers' if record.init else 'containers'}{{{record.name}}}"

    def _hex(self, length: int) -> str:
        return f"{self.clock.rng.getrandbits(length * 4):0{length}x}"

    def container(self, name: str) -> ContainerRecord | None:
        return next((c for c in [*self.init, *self.containers] if c.name == name), None)


def service_env(service: Obj) -> dict[str, str]:
    """Docker-links style variables for one Service, as the kubelet generates them."""
    spec = service.get("spec", {})
    ip = spec.get("clusterIP", "")
    if not ip or ip == "None" or not spec.get("ports"):
        return {}
    prefix = service["metadata"]["name"].upper().replace("-", "_")
    first = spec["ports"][0]
    env = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(first["port"])}
    for port in spec["ports"]:
        if port.get("name"):
            env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
    protocol = first.get("protocol", "TCP")
    env[f"{prefix}_PORT"] = f"{protocol.lower()}://{ip}:{first['port']}"
    for port in spec["ports"]:
        proto = port.get("protocol", "TCP")
        base = f"{prefix}_PORT_{port['port']}_{proto}"
        env[base] = f"{proto.lower()}://{ip}:{port['port']}"
        env[f"{base}_PROTO"] = proto.lower()
        env[f"{base}_PORT"] = str(port["port"])
        env[f"{base}_ADDR"] = ip
    return env


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() of a duration rounded to the millisecond."""
    millis = round(seconds * 1000)
    if millis < 1000:
        return f"{millis}ms"
    whole, frac = divmod(millis, 1000)
    minutes, secs = divmod(whole, 60)
    text = f"{secs}" + (f".{frac:03d}".rstrip("0") if frac else "") + "s"
    return f"{minutes}m{text}" if minutes else text
