"""The kubelet's prober: startup, liveness and readiness probes per container (pkg/kubelet/prober, pkg/probe).

One `ProbeWorker` SimPy process per container and probe type, as the real prober's worker goroutine:
it ticks every periodSeconds (after a random delay when the kubelet started less than a period ago),
honours initialDelaySeconds and the startup gate, counts success/failure runs against the thresholds and
hands the result to the pod worker, which plays the kubelet's sync loop (readiness flag, Killing and
restart). HTTP and TCP probes are dialled from the node's network namespace to the pod IP, as the kubelet
does; exec probes run in the container through `Kubelet.exec`. The event texts are the prober's.

`validate_probes` holds the API server's probe validation (pkg/apis/core/validation) for pod specs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Generator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import simpy

from meshrepro.errors import InputError
from meshrepro.kube.kubelet.containers import ContainerRecord
from meshrepro.kube.podvalidation import FIELDS, HANDLERS
from meshrepro.kube.store import Obj, ResourceKey
from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.tls import ClientTLS
from meshrepro.sim.clock import parse_rfc3339

if TYPE_CHECKING:
    from meshrepro.kube.kubelet.pod_worker import PodWorker

Wait = Generator[simpy.Event, Any, Any]
NODES = ResourceKey("", "nodes")

KINDS = ("startup", "liveness", "readiness")
_TITLE = {"startup": "Startup", "liveness": "Liveness", "readiness": "Readiness"}  # probeType.String()
_MAX_REDIRECTS = 10  # net/http's default CheckRedirect limit
_MAX_PROBE_RETRIES = 3  # prober.go maxProbeRetries: a probe that *errors* is retried at once


class Result(str, Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"  # an HTTP probe stopped at a non-local redirect: counts as success
    UNKNOWN = "unknown"


# The results manager's first value for a new container (worker.go newWorker).
_INITIAL = {"readiness": Result.FAILURE, "liveness": Result.SUCCESS, "startup": Result.UNKNOWN}


@dataclass(frozen=True)
class Outcome:
    """One probe run: the result and its output, or a prober error (the result is then thrown away)."""

    result: Result
    output: str = ""
    error: str = ""


@dataclass(frozen=True)
class ProbeSpec:
    handler: str  # one of HANDLERS
    action: Obj
    initial_delay: int
    period: int
    timeout: int
    success_threshold: int
    failure_threshold: int
    termination_grace: int | None

    @classmethod
    def from_api(cls, probe: Obj) -> ProbeSpec:
        """A defaulted v1.Probe (API defaulting fills periodSeconds etc.; zeros still mean the default)."""
        handler = next((name for name in HANDLERS if probe.get(name) is not None), "")
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(handler, probe.get(handler) or {}, int(probe.get("initialDelaySeconds") or 0),
                   int(probe.get("periodSeconds") or 10), int(probe.get("timeoutSeconds") or 1),
                   int(probe.get("successThreshold") or 1), int(probe.get("failureThreshold") or 3),
                   int(grace) if grace is not None else None)


def container_probes(pod_ref: str, container: Obj) -> dict[str, ProbeSpec]:
    """The probes a container declares, by kind; gRPC probes are refused (no gRPC servers are simulated)."""
    found: dict[str, ProbeSpec] = {}
    for kind in KINDS:
        probe = container.get(FIELDS[kind])
        if not isinstance(probe, dict):
            continue
        spec = ProbeSpec.from_api(probe)
        if spec.handler == "grpc":
            raise InputError(f'{pod_ref} container "{container.get("name")}": {FIELDS[kind]}.grpc is not supported '
                             "by meshrepro's simulated kubelet (no gRPC health servers are modelled); use httpGet, "
                             "tcpSocket or exec")
        found[kind] = spec
    return found


# -- the worker ------------------------------------------------------------------------------


class ProbeWorker:
    """pkg/kubelet/prober/worker.go: one probe of one container, for the life of the pod."""

    def __init__(self, pod: PodWorker, record: ContainerRecord, kind: str, spec: ProbeSpec) -> None:
        self.pod = pod
        self.clock = pod.clock
        self.record = record
        self.kind = kind
        self.spec = spec
        self.container_id = ""  # the container instance the results belong to
        self.result: Result | None = None  # the results manager's entry for that instance
        self.last: Result | None = None
        self.run_length = 0
        self.on_hold = False  # after a liveness/startup failure: wait for a new container
        self.stopped = False
        self._triggered = False
        self._wake = self.clock.env.event()
        self._next_tick = 0.0
        self.process = self.clock.process(self.run())

    def stop(self) -> None:
        self.stopped = True
        self._poke()

    def trigger(self) -> None:
        """The prober manager's manualTriggerCh (buffered: one pending trigger at most)."""
        if not self.stopped:
            self._triggered = True
            self._poke()

    def _poke(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def run(self) -> Wait:
        period = float(self.spec.period)
        # If the kubelet started less than a period ago, the worker first sleeps a random part of it.
        if _kubelet_uptime(self.pod) < period:
            yield self.clock.timeout(self.clock.rng.random() * period)
        self._next_tick = self.clock.now + period
        while not self.stopped and (yield from self._probe_once()):
            yield from self._wait_tick(period)

    def _wait_tick(self, period: float) -> Wait:
        """time.Ticker (one buffered tick when a probe overran) or a manual trigger, which resets the ticker."""
        while not self.stopped:
            now = self.clock.now
            if self._triggered:
                self._triggered = False
                self._next_tick = now + period
                return
            if now >= self._next_tick:
                while self._next_tick <= now:
                    self._next_tick += period
                return
            self._wake = self.clock.env.event()
            yield self.clock.timeout(self._next_tick - now) | self._wake

    def _probe_once(self) -> Wait:
        """worker.doProbe: False ends the worker."""
        record = self.record
        if self.pod.phase in ("Failed", "Succeeded"):
            return False
        if not record.container_id:
            return True  # not created yet
        if record.container_id != self.container_id:
            self.container_id, self.result = record.container_id, None
            self._set(_INITIAL[self.kind])
            self.on_hold = False
        if self.on_hold:
            return True
        if not record.running:
            self._set(Result.FAILURE)
            return record.terminated is None or self.pod.spec.get("restartPolicy", "Always") != "Never"
        assert record.running_since is not None
        # int32(time.Since(startedAt).Seconds()) < initialDelaySeconds
        if int((self.clock.wall() - record.running_since).total_seconds()) < self.spec.initial_delay:
            return True
        if record.started != (self.kind != "startup"):
            return True  # startup probes stop once started; the others wait for it
        outcome = yield from self._probe_with_retries()
        if outcome is None:
            return True  # the pod is gone
        if outcome.error:
            return True  # a prober error: the result is thrown away
        result = Result.SUCCESS if outcome.result is Result.WARNING else outcome.result
        self.run_length = self.run_length + 1 if result is self.last else 1
        self.last = result
        threshold = self.spec.failure_threshold if result is Result.FAILURE else self.spec.success_threshold
        if self.run_length < threshold:
            return True
        self._set(result)
        if self.kind != "readiness" and result is Result.FAILURE:
            self.on_hold, self.run_length = True, 0  # no probing while the container is killed
        return True

    def _probe_with_retries(self) -> Generator[simpy.Event, Any, Outcome | None]:
        """prober.probe: run (retrying errors), then record the Unhealthy / ProbeWarning event."""
        container = self.record.spec
        outcome = Outcome(Result.UNKNOWN)
        for _ in range(_MAX_PROBE_RETRIES):
            outcome = yield from run_probe(self.pod, container, self.spec)
            if not outcome.error:
                break
        pod = self.pod._pod()
        if pod is None:
            return None
        title = _TITLE[self.kind]
        if outcome.error:
            errored = (f"{title} probe errored and resulted in {outcome.result.value} state"
                       if self.pod.kubelet.flags.probe_errored_unknown_state else f"{title} probe errored")
            self._event(pod, "Unhealthy", f"{errored}: {outcome.error}")
        elif outcome.result is Result.FAILURE:
            self._event(pod, "Unhealthy", f"{title} probe failed: {outcome.output}")
        elif outcome.result is Result.WARNING:
            self._event(pod, "ProbeWarning", f"{title} probe warning: {outcome.output}")
        if outcome.error or outcome.result is not Result.SUCCESS:
            self.pod.kubelet.trace.add(self.clock.now, self.pod.kubelet.component, self.pod.ref,
                                       f"{self.kind} probe of {self.record.name}: "
                                       f"{'error' if outcome.error else outcome.result.value}",
                                       outcome.error or outcome.output.strip())
        return outcome

    def _event(self, pod: Obj, reason: str, message: str) -> None:
        self.pod.kubelet.events.record(pod, "Warning", reason, message, self.pod._field_path(self.record))

    def _set(self, result: Result) -> None:
        """The results manager sends an update only when the cached result changes."""
        if result is self.result:
            return
        self.result = result
        self.pod.on_probe_result(self.record, self.kind, result, self.container_id)


def _kubelet_uptime(pod: PodWorker) -> float:
    """Seconds since the kubelet started, read from its Node's registration time (second precision)."""
    node = pod.kubelet.store.peek(NODES, "", pod.kubelet.node_name)
    created = (node or {}).get("metadata", {}).get("creationTimestamp")
    if not created:
        return float("inf")
    return (pod.clock.wall() - parse_rfc3339(created)).total_seconds()


# -- one probe run ---------------------------------------------------------------------------


def run_probe(pod: PodWorker, container: Obj, spec: ProbeSpec) -> Generator[simpy.Event, Any, Outcome]:
    """prober.runProbe for one handler."""
    if spec.handler == "exec":
        return (yield from _exec_probe(pod, container, spec))
    port = resolve_port(spec.action.get("port"), container)
    if isinstance(port, str):
        return Outcome(Result.UNKNOWN, error=port)
    host = str(spec.action.get("host") or pod.pod_ip)
    if spec.handler == "tcpSocket":
        return (yield from _tcp_probe(pod, host, port, spec.timeout))
    if spec.handler == "httpGet":
        return (yield from _within(pod, _http_probe(pod, container, spec.action, host, port), spec.timeout,
                                   lambda: _http_timeout(spec.action, host, port)))
    return Outcome(Result.UNKNOWN, error=f"missing probe handler for {pod.name}_{pod.namespace}({pod.uid}):"
                                         f"{container.get('name')}")


def resolve_port(port: Any, container: Obj) -> int | str:
    """probe.ResolveContainerPort: a number, or a named port of the container; an error text otherwise."""
    if isinstance(port, str):
        named = next((p.get("containerPort") for p in container.get("ports") or [] if p.get("name") == port), None)
        if named is None:
            try:
                number = int(port)  # "last ditch effort - maybe it was an int stored as string?"
            except ValueError:
                return f'strconv.Atoi: parsing "{port}": invalid syntax'
        else:
            number = int(named)
    elif isinstance(port, int):
        number = port
    else:
        return f"intOrString had no kind: {port!r}"
    if 0 < number < 65536:
        return number
    return f"invalid port number: {number}"


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _tcp_probe(pod: PodWorker, host: str, port: int, timeout: int) -> Generator[simpy.Event, Any, Outcome]:
    """pkg/probe/tcp: a connection that opens is a success, whatever the peer does next."""
    address = _join_host_port(host, port)
    ip = yield from _resolve(pod, host)
    if isinstance(ip, Outcome):
        return ip
    conn = yield from pod.kubelet.node_ns.view().dial(ip, port, float(timeout))
    if isinstance(conn, NetError):
        if conn.kind in (NetErrorKind.EOF, NetErrorKind.RESET):
            return Outcome(Result.SUCCESS)  # the handshake completed, then the peer hung up
        return Outcome(Result.FAILURE, f"dial tcp {address}: {_dial_error(conn)}")
    conn.close()
    return Outcome(Result.SUCCESS)


def _dial_error(error: NetError) -> str:
    """Go's *net.OpError text after `dial tcp ADDR: ` for a failed connect."""
    return {NetErrorKind.REFUSED: "connect: connection refused", NetErrorKind.TIMEOUT: "i/o timeout",
            NetErrorKind.UNREACHABLE: "connect: no route to host"}.get(error.kind, "connect: connection refused")


def _resolve(pod: PodWorker, host: str) -> Generator[simpy.Event, Any, str | Outcome]:
    """An IP as is; a name through the node's resolver, failing with Go's lookup error."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    view = pod.kubelet.node_ns.view()
    answer = yield from view.resolve(host)
    if isinstance(answer, NetError):
        resolver = pod.kubelet.node_ns.resolver
        server = f"{resolver.nameservers[0]}:53" if resolver is not None and resolver.nameservers else ""
        reason = "no such host" if answer.kind is NetErrorKind.NXDOMAIN else "i/o timeout"
        return Outcome(Result.FAILURE, f"dial tcp: lookup {host}" + (f" on {server}" if server else "") +
                       f": {reason}")
    return str(answer[0])


def _http_probe(pod: PodWorker, container: Obj, action: Obj, host: str,
                port: int) -> Generator[simpy.Event, Any, Outcome]:
    """pkg/probe/http: GET with kube-probe's headers; 2xx success, 3xx to another host a warning."""
    url = _probe_url(action, host, port)
    headers = probe_headers(action.get("httpHeaders") or [], pod.kubelet.flags.version)
    for _ in range(_MAX_REDIRECTS + 1):
        response = yield from _get(pod, url, headers)
        if isinstance(response, str):
            return Outcome(Result.FAILURE, f'Get "{url}": {response}')
        location = response.header("Location")
        if not 300 <= response.status < 400 or not location:
            break
        target = urljoin(url, location)
        if urlsplit(target).hostname != urlsplit(url).hostname:
            break  # the prober does not follow redirects to another host: it stops at this response
        url = target
    else:
        return Outcome(Result.FAILURE, f'Get "{url}": stopped after {_MAX_REDIRECTS} redirects')
    body = response.body.decode(errors="replace")
    if 200 <= response.status < 300:
        return Outcome(Result.SUCCESS, body)
    if 300 <= response.status < 400:
        return Outcome(Result.WARNING, f"Probe terminated redirects, Response body: {body}")
    # The user-facing text must not contain the body (kubernetes/kubernetes#99425).
    return Outcome(Result.FAILURE, f"HTTP probe failed with statuscode: {response.status}")


def probe_headers(declared: list[Obj], version: tuple[int, int]) -> dict[str, str]:
    """newProbeRequest: the pod's httpHeaders (canonical keys), then User-Agent and Accept unless declared."""
    headers: dict[str, str] = {}
    for header in declared:
        headers.setdefault(_canonical(str(header.get("name", ""))), str(header.get("value", "")))
    headers.setdefault("User-Agent", f"kube-probe/{version[0]}.{version[1]}")
    if "Accept" not in headers:
        headers["Accept"] = "*/*"
    elif not headers["Accept"]:
        del headers["Accept"]  # declared empty: the prober removes it
    return headers


def _canonical(name: str) -> str:
    """textproto.CanonicalMIMEHeaderKey."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _get(pod: PodWorker, url: str, headers: dict[str, str]) -> Generator[simpy.Event, Any, Response | str]:
    """One GET from the node; a Go error text (after `Get "url": `) when it fails."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    ip = yield from _resolve(pod, host)
    if isinstance(ip, Outcome):
        return ip.output
    conn = yield from pod.kubelet.node_ns.view().dial(ip, port, 3600.0)  # the client's deadline bounds it
    if isinstance(conn, NetError):
        return _read_error(conn) if conn.kind in (NetErrorKind.EOF, NetErrorKind.RESET) else \
            f"dial tcp {_join_host_port(ip, port)}: {_dial_error(conn)}"
    try:
        if parts.scheme == "https":
            failure = yield from conn.handshake(ClientTLS(server_name=host, insecure=True))
            if isinstance(failure, NetError):
                return _read_error(failure)
            if isinstance(failure, TLSFailure):
                return "http: server gave HTTP response to HTTPS client"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = {"Host": headers.get("Host") or parts.netloc, **headers, "Connection": "close"}
        response = yield from conn.exchange(Request("GET", target, request_headers))
    finally:
        conn.close()
    return _read_error(response) if isinstance(response, NetError) else response


def _read_error(error: NetError) -> str:
    if error.kind is NetErrorKind.RESET and error.local is not None:
        local, remote = _join_host_port(*error.local), _join_host_port(*error.remote)
        return f"read tcp {local}->{remote}: read: connection reset by peer"
    return "EOF"


def _probe_url(action: Obj, host: str, port: int) -> str:
    """formatURL: scheme://host:port/path as url.URL.String() writes it."""
    scheme = str(action.get("scheme") or "HTTP").lower()
    path = str(action.get("path") or "")
    return f"{scheme}://{_join_host_port(host, port)}{path if not path or path.startswith('/') else '/' + path}"


def _http_timeout(action: Obj, host: str, port: int) -> Outcome:
    """http.Client.Timeout expired, whether in the dial or waiting for the response headers."""
    return Outcome(Result.FAILURE, f'Get "{_probe_url(action, host, port)}": context deadline exceeded '
                                   "(Client.Timeout exceeded while awaiting headers)")


def _exec_probe(pod: PodWorker, container: Obj, spec: ProbeSpec) -> Generator[simpy.Event, Any, Outcome]:
    """pkg/probe/exec over CRI ExecSync: exit 0 succeeds; the output is stdout then stderr."""
    argv = expand_static(list(spec.action.get("command") or []), container.get("env") or [])
    pod_obj = pod._pod()
    if pod_obj is None:
        return Outcome(Result.UNKNOWN, error="pod not found")
    timed_out = Outcome(Result.FAILURE, f'command "{" ".join(argv)}" timed out')
    done = yield from _within(pod, _exec(pod, pod_obj, container, argv), spec.timeout, lambda: timed_out)
    return done


def _exec(pod: PodWorker, pod_obj: Obj, container: Obj, argv: list[str]) -> Generator[simpy.Event, Any, Outcome]:
    code, answer = yield from pod.kubelet.exec(pod_obj, str(container.get("name")), argv)
    if code != 200:
        # Kubelet.exec words it for `kubectl exec`; ExecSync returns the runtime's error over gRPC.
        detail = str(answer).removeprefix("error executing command in container: ")
        return Outcome(Result.UNKNOWN, error=f"rpc error: code = Unknown desc = {detail}")
    output = answer["stdout"] + answer["stderr"]
    return Outcome(Result.SUCCESS if answer["exitCode"] == 0 else Result.FAILURE, output)


def expand_static(argv: list[str], env: list[Obj]) -> list[str]:
    """ExpandContainerCommandOnlyStatic: $(VAR) from the container's literal env values; $$ escapes."""
    values = {e["name"]: str(e["value"]) for e in env if "value" in e and "name" in e}

    def expand(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return values.get(match.group(1), match.group(0))

    return [re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", expand, arg) for arg in argv]


def _within(pod: PodWorker, operation: Generator[simpy.Event, Any, Outcome], seconds: int,
            on_timeout: Any) -> Generator[simpy.Event, Any, Outcome]:
    """Run a probe under its timeoutSeconds; an abandoned operation is interrupted."""
    task = pod.clock.process(operation)
    deadline = pod.clock.timeout(float(seconds))
    yield task | deadline
    if task.triggered:
        assert isinstance(task.value, Outcome)
        return task.value
    task.defused = True
    task.interrupt()
    return on_timeout()


# -- API validation --------------------------------------------------------------------------
