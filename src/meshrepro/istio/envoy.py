"""The istio-proxy container of a sidecar pod: pilot-agent and the Envoy it runs, in the pod's network namespace.

`run_sidecar` is `pilot-agent proxy sidecar ...`: the agent opens its status port (15020), warms the workload
certificate from istiod's CA and proxies Envoy's xDS stream to istiod; Envoy serves its readiness (15021), stats
(15090) and admin (127.0.0.1:15000) listeners from its bootstrap at once, and the outbound (15001) and inbound
(15006) listeners only once istiod's first configuration arrives. Until then a connection istio-iptables
redirects to 15001/15006 is refused, and /healthz/ready answers 503.

Outbound (15001, the connection's original destination says where it was going):
- a Service VIP:port with an HTTP (or sniffed) protocol and HTTP traffic goes through the HTTP connection manager:
  the route `<port>` picks the virtual host by the request's authority (`allow_any` / `block_all` when none
  matches), the endpoint is picked at random, the default retry policy retries connect failures (and, before
  1.24, 503 responses) twice; Envoy's own answers are 503 `no healthy upstream` (UH), 503 `upstream connect error
  or disconnect/reset before headers...` (UF, UC, URX) and 502 (block_all).
- TCP (a TCP port, or TLS on a sniffed one) goes through tcp_proxy: a Service's cluster, else PassthroughCluster
  (outboundTrafficPolicy ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY: the connection is reset, UH).
- an endpoint whose pod carries `security.istio.io/tlsMode: istio` gets ISTIO_MUTUAL (auto mTLS, unless the
  service's namespace/mesh PeerAuthentication is DISABLE): a TLS client presenting this workload's identity, SNI
  `outbound_.<port>_._.<host>`; other endpoints get plaintext.
- upstream connections are dialled from the pod's netns as uid/gid 1337, so istio-iptables lets them out.

Inbound (15006): the listener's filter chains follow the workload's PeerAuthentication for the port: STRICT
accepts only mesh mTLS (anything else finds no filter chain: NR, the connection is reset), PERMISSIVE accepts
both, DISABLE passes everything to the application unchanged. Envoy then connects to the application at the pod
IP and port from 127.0.0.6 (InboundPassthroughBindIpv4, every release 1.18-1.27), or to 127.0.0.1 with
`inboundTrafficPolicy: LOCALHOST` (1.22+).

Access logs in the release's default text format go to the container's stdout when meshConfig.accessLogFile is
/dev/stdout (pilot/pkg/model/telemetry_logging.go EnvoyTextLogFormat).

Simplifications: a connection carries whole HTTP messages, so one downstream connection keeps its own upstream
connections (no shared pools), and HTTP/2, gRPC and websockets are not distinguished from HTTP/1.1; the workload
certificate is minted locally under the root of the pod's `istio-ca-root-cert` once istiod answers (the CSR is not
a message); the server's SAN is not checked against the service's accounts; Envoy's own log lines (level warning)
are not printed, among them the `StreamAggregatedResources gRPC config stream ... closed` warnings, whose caller
file:line differs per Envoy build.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import simpy

from meshrepro.istio.envoy_log import (
    AccessLogEntry,
    UpstreamFailure,
    access_log_line,
    connect_failure,
    go_duration,
    http_date,
    tls_failure,
)
from meshrepro.istio.peerauth import DISABLE, STRICT
from meshrepro.istio.sidecar_config import Endpoint, Service, ServicePort, SidecarConfig, is_http_or_sniffed
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.ztunnel_log import istio_line
from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response, wire_size
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import ConnectionRecord, NamespaceView, NetNamespace, Network, Wait
from meshrepro.net.tls import CLIENT_HELLO_BYTES, Certificate, ClientTLS
from meshrepro.runtime.process import Process, ProgramRun
from meshrepro.sim.trace import Trace

ADMIN_PORT = 15000
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
STATUS_PORT = 15020
READINESS_PORT = 15021
STATS_PORT = 15090
PROXY_UID = PROXY_GID = 1337
INBOUND_PASSTHROUGH_BIND = "127.0.0.6"  # listener_address.go InboundPassthroughBindIpv4
CLUSTER_ID = "Kubernetes"
NUM_RETRIES = 2  # route/retry/retry.go DefaultPolicy
RETRY_BASE = 0.025  # Envoy's default retry back-off base interval (25 ms, max 250 ms)
ADS_BACKOFF_BASE, ADS_BACKOFF_MAX = 0.5, 30.0  # Envoy's gRPC config stream retry back-off
XDS_WATCH = 5.0  # how often a connected proxy looks whether istiod is still there (stands in for the stream)
AGENT_STARTUP = 0.05  # from process start to the status port and Envoy (seconds)
ENVOY_CONFIG_LATENCY = 0.02  # from istiod's answer to Envoy's listeners being in place
CA_RETRY_BASE = 0.1  # pkg/security/retry.go: 5 tries, back-off from 100 ms doubling, 10 % jitter
CA_RETRIES = 4
WARM_INITIAL, WARM_MULTIPLIER, WARM_RANDOMIZATION, WARM_MAX = 0.5, 1.5, 0.5, 60.0  # pkg/backoff defaults
WAIT_TIMEOUT, WAIT_PERIOD, WAIT_REQUEST_TIMEOUT = 60, 0.5, 0.5  # pilot-agent wait defaults (app/wait.go)
WAIT_URL = "http://localhost:15021/healthz/ready"

# Istio's release commits (istio/istio tags): pilot-agent logs `Version <version>-<commit>-Clean`.
ISTIO_COMMITS = {
    (1, 18, 0): "697f4ff0fe6ee531bbd4f5f2a6b4b1f302c955a8", (1, 19, 0): "3b3ca8ec1632961e355f398f7357ebed9b13aa43",
    (1, 20, 0): "6869a6c2371e21c847d216065cf5c59863d01b4c", (1, 20, 2): "5f5d657c72d30a97cae97938de3a6831583e9f15",
    (1, 21, 0): "2ca3e986a683fbdb82dffcd7b2e8d02076a42468", (1, 21, 1): "ee6e9f6a314224fd9bcb808ca1d74d1dc66adba8",
    (1, 21, 2): "ed90e14d3473bc3fe54f98298eb16664002d14d1", (1, 22, 0): "aaf597fbfae607adf4bb4e77538a7ea98995328a",
    (1, 22, 1): "a1a76b8e75f810eb6c808b04531343ae2c7b8082", (1, 22, 2): "204da5ba47f295a8dc56936333e692f6a8707649",
    (1, 22, 3): "1e0dc8dd88091532084e55b18efbd5c066516571", (1, 23, 0): "d0ca037e58f90f58b38b33c5769fec25b6bfa9f3",
    (1, 24, 0): "8825a6b7f8c9a2d66005a5f8b64e98aaee0dda99", (1, 25, 0): "57e59c2e5d6b757a68d867491d9c9c09694e1522",
    (1, 26, 0): "c2e9871f340c0e0b114bcd1b73208284f1d17c9e", (1, 27, 0): "7359d8be2504f2b191f7d94156af08e6590d2d1c",
}

NO_HEALTHY_UPSTREAM = "no healthy upstream"  # Envoy router: local reply body of a cluster without healthy hosts


class SidecarConfigSource(Protocol):
    """What a running istiod offers a sidecar: the configuration it last pushed to that proxy (None: not yet)."""

    def config_for(self, namespace: str, pod_name: str) -> SidecarConfig | None: ...


def _addr(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "-"



def _uuid(rng: Any) -> str:
    """A version 4 UUID, as Envoy's request id generator makes them."""
    value = rng.getrandbits(128)
    value = (value & ~(0xF000 << 64)) | (0x4000 << 64)
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# -- the proxy ------------------------------------------------------------------------------------------------


class Sidecar:
    """pilot-agent and Envoy of one pod."""

    def __init__(self, version: IstioVersion, proc: Process, istiod: Callable[[], SidecarConfigSource | None],
                 trace: Trace | None = None) -> None:
        network = proc.host.network
        assert isinstance(network, NamespaceView), "the sidecar runs in a pod"
        self.version = version
        self.flags = flags(version)
        self.proc = proc
        self.clock = proc.clock
        self.ns: NetNamespace = network.ns
        self.network: Network = self.ns.network
        self.istiod = istiod
        self.trace = trace
        self.namespace = proc.env.get("POD_NAMESPACE", "default")
        self.pod_name = proc.env.get("POD_NAME", proc.host.hostname)
        self.name = f"istio-proxy {self.namespace}/{self.pod_name}"
        self.started = self.clock.now
        self.config: SidecarConfig | None = None  # the last configuration Envoy received
        self.certificate: Certificate | None = None
        self.cds_updates = 0
        self.xds_connected = False
        self.xds_connections = 0
        self.serving = False  # 15001/15006 bound
        self.ready_once = False  # atleastOnceReady: Envoy LIVE with workers started, cached
        self.last_probe_ok = False
        self.quitting = False
        self.done = self.clock.env.event()  # the agent decided to exit (/quitquitquit)
        self.stopped = False

    # -- logging -------------------------------------------------------------------------------

    def log(self, level: str, message: str, scope: str = "", labels: tuple[tuple[str, Any], ...] = ()) -> None:
        self.proc.stdout.write(istio_line(self.clock.wall(), level, scope, message, labels) + "\n")

    def access_log(self, entry: AccessLogEntry) -> None:
        config = self.config
        if config is None or config.mesh.access_log_encoding != "TEXT":
            return
        if config.mesh.access_log_file == "/dev/stdout":
            self.proc.stdout.write(access_log_line(self.version, entry) + "\n")
        elif config.mesh.access_log_file == "/dev/stderr":
            self.proc.stderr.write(access_log_line(self.version, entry) + "\n")

    def hop(self, record: ConnectionRecord, action: str, detail: str = "") -> None:
        record.hop(self.name, action, detail)

    def decide(self, action: str, reason: str, **data: Any) -> None:
        if self.trace is not None:
            self.trace.add(self.clock.now, "istio-proxy", f"Pod {self.namespace}/{self.pod_name}", action, reason,
                           **data)

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def pod_ip(self) -> str:
        return (self.config.pod_ip if self.config is not None and self.config.pod_ip else "") or self.ns.primary

    @property
    def discovery_address(self) -> str:
        return self.config.mesh.discovery_address if self.config else "istiod.istio-system.svc:15012"

    def start(self) -> None:
        v = ".".join(map(str, self.version))
        self.log("info", f"Version {v}-{ISTIO_COMMITS.get(self.version, 'unknown')}-Clean")
        domain = f"{self.namespace}.svc.cluster.local"
        self.log("info", "Proxy role", labels=(("ips", f"[{self.ns.primary}]"), ("type", "sidecar"),
                                               ("id", f"{self.pod_name}.{self.namespace}"), ("domain", domain)))
        self.ns.listen(STATUS_PORT, HttpListener("pilot-agent status", self._status))
        self.log("info", f"Opening status port {STATUS_PORT}")
        self.log("info", f"Initializing with upstream address \"{self.discovery_address}\" and cluster "
                         f"\"{CLUSTER_ID}\"", scope="xdsproxy")
        self.log("info", "Starting proxy agent")
        # Envoy's bootstrap listeners
        self.ns.listen(READINESS_PORT, HttpListener("envoy readiness", self._envoy_ready))
        self.ns.listen(STATS_PORT, HttpListener("envoy prometheus", self._prometheus))
        self.ns.listen(ADMIN_PORT, HttpListener("envoy admin", self._admin), ip="127.0.0.1")
        self.clock.process(self._xds())
        self.clock.process(self._warm_certificate())

    def stop(self) -> None:
        self.stopped = True
        for port in (STATUS_PORT, READINESS_PORT, STATS_PORT, OUTBOUND_PORT, INBOUND_PORT):
            self.ns.unlisten(port)
        self.ns.unlisten(ADMIN_PORT, ip="127.0.0.1")
        self.serving = False

    def current_config(self) -> SidecarConfig | None:
        """The configuration a new connection meets: istiod's latest push while connected, else the last one."""
        source = self.istiod() if self.xds_connected else None
        if source is not None:
            latest = source.config_for(self.namespace, self.pod_name)
            if latest is not None:
                self.config = latest
        return self.config

    # -- xDS and certificates ------------------------------------------------------------------

    def _xds(self) -> Wait:
        """Envoy's ADS stream through the agent's xDS proxy; reconnects with Envoy's jittered back-off."""
        yield self.clock.timeout(AGENT_STARTUP)
        failures = 0
        while not self.stopped:
            source = self.istiod()
            config = source.config_for(self.namespace, self.pod_name) if source is not None else None
            if config is None:
                self.xds_connected = False
                failures += 1
                ceiling = min(ADS_BACKOFF_MAX, ADS_BACKOFF_BASE * 2 ** (failures - 1))
                yield self.clock.timeout(self.clock.rng.uniform(0, ceiling))
                continue
            failures = 0
            if self.cds_updates:
                self.config = config
            if not self.xds_connected:
                self.xds_connected = True
                self.xds_connections += 1
                labels = (("id", self.xds_connections),) if self.flags.xdsproxy_connection_id_label else ()
                self.log("info", f"connected to upstream XDS server: {self.discovery_address}", scope="xdsproxy",
                         labels=labels)
            if self.cds_updates == 0:
                yield self.clock.timeout(ENVOY_CONFIG_LATENCY)
                self._apply(config)
            yield self.clock.timeout(XDS_WATCH)

    def _apply(self, config: SidecarConfig) -> None:
        self.config = config
        self.cds_updates += 1
        if self.certificate is None:
            self._mint(config)
        if not self.serving and not self.stopped:
            self.serving = True
            self.ns.listen(OUTBOUND_PORT, _Listener("envoy virtualOutbound", self, _Outbound))
            self.ns.listen(INBOUND_PORT, _Listener("envoy virtualInbound", self, _Inbound))
            self.decide("listeners configured", "istiod's first push: 15001 and 15006 listen")

    def _mint(self, config: SidecarConfig) -> None:
        """The workload certificate istiod's CA signs for the pod's identity (the CSR is not modelled)."""
        root = config.root_cert
        if root is None:
            return
        serial = f"{self.clock.rng.getrandbits(64):016x}"
        self.certificate = Certificate(config.identity, root.common_name, serial, issuer_serial=root.serial)

    def _warm_certificate(self) -> Wait:
        """The SDS server's certificate warm-up (security/pkg/nodeagent/sds/sdsservice.go): a CSR to istiod's CA
        with 4 retries, then an exponential back-off (500 ms x1.5, randomised, at most 60 s) until it works."""
        yield self.clock.timeout(AGENT_STARTUP)
        interval = WARM_INITIAL
        while not self.stopped and self.certificate is None:
            source = self.istiod()
            if source is not None:
                config = source.config_for(self.namespace, self.pod_name)
                if config is not None and config.root_cert is not None:
                    self._mint(config)
                    return
            for attempt in range(1, CA_RETRIES + 1):
                error = yield from self._ca_error()
                if self.certificate is not None or self.stopped:
                    return
                wait = CA_RETRY_BASE * 2 ** (attempt - 1) * (1 + self.clock.rng.uniform(-0.1, 0.1))
                self.log("warn", f"ca request failed, starting attempt {attempt} in {go_duration(wait)}", scope="ca")
                yield self.clock.timeout(wait)
            error = yield from self._ca_error()
            if self.certificate is not None or self.stopped:
                return
            failure = f"create certificate: rpc error: code = Unavailable desc = {error}"
            if self.flags.agent_csr_sign_failure_log:
                self.log("error", f"failed to sign CSR: {failure}", scope="citadelclient")
            self.log("warn", f"failed to warm certificate: failed to generate workload certificate: {failure}",
                     scope="sds")
            delay = min(WARM_MAX, interval) * (1 + self.clock.rng.uniform(-WARM_RANDOMIZATION, WARM_RANDOMIZATION))
            interval = min(WARM_MAX, interval * WARM_MULTIPLIER)
            yield self.clock.timeout(delay)

    def _ca_error(self) -> Wait:
        """The gRPC error a call to istiod's CA gets: the real dial from the pod, as the agent (uid 1337)."""
        host, _, port_text = self.discovery_address.rpartition(":")
        port = int(port_text or 15012)
        view = NamespaceView(self.ns, PROXY_UID, PROXY_GID)
        addresses = yield from view.resolve(host)
        if isinstance(addresses, NetError):
            nameserver = (self.ns.resolver.nameservers[0] if self.ns.resolver and self.ns.resolver.nameservers
                          else "127.0.0.53")
            return (f'connection error: desc = "transport: Error while dialing: dial tcp: lookup {host} on '
                    f'{nameserver}:53: no such host"')
        ip = addresses[0]
        conn = yield from self.network.dial(self.ns, ip, port, uid=PROXY_UID, gid=PROXY_GID, timeout=20.0,
                                            owner=f"pilot-agent {self.namespace}/{self.pod_name}")
        if isinstance(conn, NetError):
            reason = {NetErrorKind.REFUSED: "connect: connection refused", NetErrorKind.TIMEOUT: "i/o timeout",
                      NetErrorKind.UNREACHABLE: "connect: no route to host"}.get(conn.kind, "connect: connection refused")
            return f'connection error: desc = "transport: Error while dialing: dial tcp {ip}:{port}: {reason}"'
        conn.close()
        return 'connection error: desc = "error reading server preface: EOF"'

    # -- readiness and the status server ------------------------------------------------------

    def readiness_error(self) -> str | None:
        """pilot/cmd/pilot-agent/status/ready/probe.go Check."""
        if self.cds_updates == 0:
            return ("config not received from XDS server (is Istiod running?): cds updates: 0 successful, 0 rejected; "
                    "lds updates: 0 successful, 0 rejected")
        if self.quitting:
            return "server is not live, current state is: DRAINING"
        if not self.ready_once:
            self.ready_once = True
            self.log("info", f"Readiness succeeded in {go_duration(self.clock.now - self.started)}")
        return None

    def _probe(self) -> Response:
        error = self.readiness_error()
        if error is not None:
            self.log("warn", f"Envoy proxy is NOT ready: {error}")
            self.last_probe_ok = False
            return Response(503, {"Date": http_date(self.clock.wall()), "Content-Length": "0"})
        if not self.last_probe_ok:
            self.log("info", "Envoy proxy is ready")
        self.last_probe_ok = True
        return Response(200, {"Date": http_date(self.clock.wall()), "Content-Length": "0"})

    def _envoy_ready(self, peer: Peer, request: Request) -> Wait:
        """Envoy's 15021 listener routes /healthz/ready to the agent's status port."""
        if request.path != "/healthz/ready":
            return Response(404, {"date": http_date(self.clock.wall()), "server": "envoy", "content-length": "0"})
        upstream = self._probe()
        return Response(upstream.status, {"content-length": "0", "date": http_date(self.clock.wall()),
                                          "x-envoy-upstream-service-time": "0", "server": "envoy"})
        yield  # pragma: no cover

    def _status(self, peer: Peer, request: Request) -> Wait:
        """The agent's status server (pilot/cmd/pilot-agent/status/server.go)."""
        path = request.path
        if path == "/healthz/ready":
            return self._probe()
        if path == "/quitquitquit":
            if not _loopback(peer.address[0]):
                return _text(403, "Only requests from localhost are allowed\n")
            if request.method != "POST":
                return _text(405, "Method Not Allowed\n")
            self.log("info", "handling /quitquitquit, notifying pilot-agent to exit")
            if not self.done.triggered:
                self.done.succeed("quit")
            return Response(200, {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "2"}, b"OK")
        if path.startswith("/app-health/"):
            return (yield from self._app_probe(request))
        if path in ("/stats/prometheus", "/metrics"):
            return Response(200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, b"")
        return _text(404, "404 page not found\n")

    def _app_probe(self, request: Request) -> Wait:
        """/app-health/<container>/<readyz|livez|startupz>: the application probe the injector rewrote, sent to the
        pod IP from 127.0.0.6 so that capture leaves it alone (ISTIO_KUBE_APP_PROBERS)."""
        try:
            probers = json.loads(self.proc.env.get("ISTIO_KUBE_APP_PROBERS", "") or "{}")
        except ValueError:
            probers = {}
        prober = probers.get(request.path)
        if not isinstance(prober, dict):
            self.log("error", f"Prober does not exists url {request.path}")
            return _text(400, f"app prober config does not exists for {request.path}")
        action = prober.get("httpGet") or prober.get("tcpSocket") or {}
        port = action.get("port")
        if not isinstance(port, int):
            return Response(500)
        timeout = float(prober.get("timeoutSeconds") or 1)
        conn = yield from self.network.dial(self.ns, self.pod_ip, port, uid=PROXY_UID, gid=PROXY_GID,
                                            source_ip=INBOUND_PASSTHROUGH_BIND, timeout=timeout,
                                            owner=f"pilot-agent {self.namespace}/{self.pod_name}")
        if isinstance(conn, NetError):
            if "httpGet" in prober:
                self.log("error", f"Request to probe app failed: Get \"http://{self.pod_ip}:{port}"
                                  f"{action.get('path', '/')}\": dial tcp {self.pod_ip}:{port}: connect: connection "
                                  f"refused, original URL path = {request.path}\napp URL path = {action.get('path', '/')}")
            return Response(500)
        if "tcpSocket" in prober:
            conn.close()
            return Response(200)
        path = action.get("path", "/")
        answer = yield from conn.exchange(Request("GET", path if path.startswith("/") else "/" + path,
                                                  {"Host": f"{self.pod_ip}:{port}", "User-Agent": "kube-probe"}))
        conn.close()
        if isinstance(answer, NetError):
            return Response(500)
        if 300 <= answer.status < 400:
            return Response(200)
        return Response(answer.status, {}, answer.body)

    def _prometheus(self, peer: Peer, request: Request) -> Wait:
        return Response(200, {"content-type": "text/plain; charset=UTF-8", "server": "envoy"}, b"")
        yield  # pragma: no cover

    def _admin(self, peer: Peer, request: Request) -> Wait:
        if request.path == "/ready":
            state = b"LIVE\n" if self.cds_updates else b"PRE_INITIALIZING\n"
            return Response(200 if self.cds_updates else 503, {"content-type": "text/plain; charset=UTF-8"}, state)
        return Response(200, {"content-type": "text/plain; charset=UTF-8"}, b"")
        yield  # pragma: no cover

    # -- termination ---------------------------------------------------------------------------

    def terminate(self) -> Wait:
        """Agent.terminate (pkg/envoy/agent.go): drain Envoy's listeners, wait terminationDrainDuration, abort Envoy."""
        self.quitting = True
        drain = self.config.mesh.termination_drain_duration if self.config else 5.0
        new = self.flags.agent_drain_for_termination
        self.log("info", "Agent draining Proxy for termination" if new else "Agent draining Proxy")
        self.log("info", f"Graceful termination period is {go_duration(drain)}, starting...")
        yield self.clock.timeout(drain)
        self.log("info", "Graceful termination period complete, terminating remaining proxies.")
        if new:
            self.log("info", "Envoy aborted normally")
            self.log("warn", "Aborted proxy instance")
        else:
            self.log("warn", "Aborted proxy instance")
            self.log("info", "Envoy aborted normally")
        self.stop()
        self.log("info", "Agent has successfully terminated")


def _loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip == "::1"


def _text(status: int, text: str) -> Response:
    return Response(status, {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
                    text.encode())


class _Listener:
    def __init__(self, name: str, sidecar: Sidecar, session: Callable[[Sidecar, ConnectionRecord], Any]) -> None:
        self.name = name
        self.sidecar = sidecar
        self.session = session

    def accept(self, record: ConnectionRecord) -> Wait:
        record.hop(self.sidecar.name, f"{self.name} accepted",
                   f"original destination {_addr(record.original_destination or record.destination)}")
        return self.session(self.sidecar, record)
        yield  # pragma: no cover


# -- upstream connections ----------------------------------------------------------------------------------------


@dataclass
class _Target:
    """Where a request or connection goes: a cluster and the host picked in it."""

    cluster: str
    address: tuple[str, int]
    mtls_sni: str = ""  # non-empty: ISTIO_MUTUAL with this SNI
    endpoint: Endpoint | None = None


@dataclass
class _Upstream:
    conn: Any
    local: tuple[str, int]


class _Session:
    """What both listeners share: dialling upstreams as Envoy (uid 1337) and writing access logs."""

    direction = ""

    def __init__(self, sidecar: Sidecar, record: ConnectionRecord) -> None:
        self.sc = sidecar
        self.record = record
        self.config = sidecar.current_config()
        self.destination = record.original_destination or record.destination
        self.downstream = record.seen_source or record.source
        self.started = sidecar.clock.now
        self.wall = sidecar.clock.wall()
        self.mode = ""  # "http" | "tcp" once the first bytes decided it
        self.tcp: _Upstream | None = None
        self.tcp_target: _Target | None = None
        self.tcp_log: AccessLogEntry | None = None
        self.pool: dict[tuple[str, int], _Upstream] = {}
        self.closed = False

    def relay(self, upstream: _Upstream, request: Request) -> Wait:
        """tcp_proxy: the bytes go through unchanged; the connection's access log counts them."""
        answer = yield from upstream.conn.exchange(request)
        if self.tcp_log is not None:
            self.tcp_log.bytes_received += wire_size(request)
            if isinstance(answer, Response):
                self.tcp_log.bytes_sent += wire_size(answer)
        return answer

    def dial(self, target: _Target, *, source_ip: str | None = None) -> Wait:
        """Connect (and, for ISTIO_MUTUAL, handshake) to `target`; an _Upstream or an UpstreamFailure."""
        sc = self.sc
        timeout = self.config.mesh.connect_timeout if self.config else 10.0
        conn = yield from sc.network.dial(sc.ns, target.address[0], target.address[1], uid=PROXY_UID, gid=PROXY_GID,
                                          source_ip=source_ip, timeout=timeout, owner=f"envoy {sc.namespace}/"
                                                                                      f"{sc.pod_name}")
        if isinstance(conn, NetError):
            failure = connect_failure(sc.version, conn)
            sc.hop(self.record, f"upstream {_addr(target.address)} failed", f"{conn.kind.value}: {failure.reason}")
            return failure
        if target.mtls_sni:
            tls = ClientTLS(server_name=target.mtls_sni, trusted=(self.config.root_cert,) if self.config and
                            self.config.root_cert else (), certificate=sc.certificate)
            result = yield from conn.handshake(tls)
            if isinstance(result, (NetError, TLSFailure)):
                conn.close()
                failure = (tls_failure(sc.version, result.reason) if isinstance(result, TLSFailure)
                           else connect_failure(sc.version, result))
                sc.hop(self.record, f"mTLS to {_addr(target.address)} failed", failure.transport or failure.reason)
                return failure
        sc.hop(self.record, f"upstream {target.cluster} {_addr(target.address)}",
               f"connection #{conn.record.id}" + (f", ISTIO_MUTUAL as {sc.certificate.common_name}"
                                                 if target.mtls_sni and sc.certificate else ", plaintext"))
        return _Upstream(conn, conn.local)

    def log_tcp(self) -> None:
        entry = self.tcp_log
        if entry is None:
            return
        self.tcp_log = None
        entry.duration_ms = round((self.sc.clock.now - self.started) * 1000)
        self.sc.access_log(entry)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.tcp is not None:
            self.tcp.conn.close()
        for upstream in self.pool.values():
            upstream.conn.close()
        self.log_tcp()

    # -- HTTP ------------------------------------------------------------------------------------

    def forward(self, upstream: _Upstream, request: Request, attempt: int, extra: dict[str, str]) -> Wait:
        headers = {k.lower(): v for k, v in request.headers.items()}
        headers.setdefault("x-forwarded-proto", "http")
        headers.update(extra)
        headers["x-envoy-attempt-count"] = str(attempt)
        answer = yield from upstream.conn.exchange(Request(request.method, request.target, headers, request.body))
        return answer

    def reply(self, response: Response, server: str, service_time: int | None) -> Response:
        """Envoy's response mutations: header names lower-cased (HTTP/1 codec), `server` overwritten, the router's
        x-envoy-upstream-service-time, `date` when missing."""
        headers: dict[str, str] = {}
        for key, value in response.headers.items():
            headers[key.lower()] = value
        if "date" not in headers:
            headers["date"] = http_date(self.sc.clock.wall())
        headers["server"] = server
        if service_time is not None:
            headers["x-envoy-upstream-service-time"] = str(service_time)
        return Response(response.status, headers, response.body)

    def local_reply(self, status: int, body: str, server: str) -> Response:
        data = body.encode()
        headers = {"content-length": str(len(data))}
        if data:
            headers["content-type"] = "text/plain"
        headers.update({"date": http_date(self.sc.clock.wall()), "server": server})
        return Response(status, headers, data)


class _Outbound(_Session):
    """virtualOutbound (15001): the original destination picks the listener, then the route or tcp_proxy."""

    direction = "outbound"
    server = "envoy"  # the sidecar outbound HCM sets no server_name: Envoy's default, OVERWRITE

    # -- TCP ---------------------------------------------------------------------------------------

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait:
        if self.mode == "http":
            return NetError(NetErrorKind.RESET, self.destination, self.downstream)
        self.mode = "tcp"
        upstream = yield from self.open_tcp(tls.server_name)
        if isinstance(upstream, NetError):
            return upstream
        if self.tcp_log is not None:
            self.tcp_log.bytes_received += CLIENT_HELLO_BYTES
        return (yield from upstream.conn.handshake(tls))

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait:
        if not self.mode:
            self.mode = "http" if self.http_listener() else "tcp"
            self.sc.hop(record, f"{'HTTP connection manager' if self.mode == 'http' else 'tcp_proxy'} on "
                                f"{self.listener_name()}", "protocol from the Service port, or sniffed")
        if self.mode == "http":
            return (yield from self.http(request))
        upstream = yield from self.open_tcp("")
        if isinstance(upstream, NetError):
            return upstream
        return (yield from self.relay(upstream, request))

    def listener_name(self) -> str:
        exact = self.config.service_at(*self.destination) if self.config else None
        if exact is not None and not is_http_or_sniffed(exact[1].protocol):
            return f"{self.destination[0]}_{self.destination[1]}"
        if self.config and self.config.http_services(self.destination[1]):
            return f"0.0.0.0_{self.destination[1]}"
        return "virtualOutbound"

    def http_listener(self) -> bool:
        """HTTP traffic meets the HTTP connection manager when the port has an HTTP (or sniffed) route table and the
        destination is not a TCP Service's VIP listener."""
        if self.config is None:
            return False
        exact = self.config.service_at(*self.destination)
        if exact is not None and not is_http_or_sniffed(exact[1].protocol):
            return False
        return bool(self.config.http_services(self.destination[1]))

    def choose_tcp_target(self, sni: str) -> _Target | str:
        """The tcp_proxy cluster: a Service VIP's, else PassthroughCluster or BlackHoleCluster."""
        config = self.config
        assert config is not None
        exact = config.service_at(*self.destination)
        if exact is not None:
            service, port = exact
            cluster = f"outbound|{port.port}||{service.hostname}"
            endpoint = self.pick(port.endpoints, ())
            if endpoint is None:
                return cluster
            return self.endpoint_target(cluster, service, port, endpoint)
        if config.mesh.outbound_mode == "REGISTRY_ONLY":
            return "BlackHoleCluster"
        return _Target("PassthroughCluster", self.destination)

    def open_tcp(self, sni: str) -> Wait:
        if self.tcp is not None:
            return self.tcp
        sc = self.sc
        self.tcp_log = AccessLogEntry(self.wall, downstream_local=_addr(self.destination),
                                      downstream_remote=_addr(self.downstream), server_name=sni or "-")
        target = self.choose_tcp_target(sni)
        if isinstance(target, str):
            self.tcp_log.flags, self.tcp_log.upstream_cluster = "UH", target
            sc.hop(self.record, f"tcp_proxy to {target}: no healthy upstream",
                   "outboundTrafficPolicy REGISTRY_ONLY: an unknown destination goes nowhere"
                   if target == "BlackHoleCluster" else "the Service has no ready endpoints")
            sc.decide("outbound connection reset", f"{target} for {_addr(self.destination)}")
            self.log_tcp()
            return NetError(NetErrorKind.RESET, self.destination, self.downstream)
        self.tcp_target = target
        self.tcp_log.upstream_cluster = target.cluster
        self.tcp_log.upstream_host = _addr(target.address)
        upstream = yield from self.dial(target)
        if isinstance(upstream, UpstreamFailure):
            # tcp_proxy's max_connect_attempts is 1: the only attempt failed, so URX with UF
            self.tcp_log.flags = "UF,URX"
            self.tcp_log.transport_failure = upstream.transport_field
            self.log_tcp()
            return NetError(NetErrorKind.RESET, self.destination, self.downstream)
        self.tcp = upstream
        self.tcp_log.upstream_local = _addr(upstream.local)
        return upstream

    # -- HTTP --------------------------------------------------------------------------------------

    def pick(self, endpoints: tuple[Endpoint, ...], tried: tuple[tuple[str, int], ...]) -> Endpoint | None:
        """ROUND_ROBIN/LEAST_REQUEST stand-in: a random ready endpoint, another one than tried if there is one
        (previous_hosts retry predicate)."""
        if not endpoints:
            return None
        fresh = [e for e in endpoints if (e.address, e.port) not in tried] or list(endpoints)
        return fresh[self.sc.clock.rng.randrange(len(fresh))]

    def endpoint_target(self, cluster: str, service: Service, port: ServicePort, endpoint: Endpoint) -> _Target:
        mtls = endpoint.tls_mode == "istio" and service.mtls_mode != DISABLE
        sni = f"outbound_.{port.port}_._.{service.hostname}" if mtls else ""
        return _Target(cluster, (endpoint.address, endpoint.port), sni, endpoint)

    def http(self, request: Request) -> Wait:
        sc, config = self.sc, self.config
        assert config is not None
        port = self.destination[1]
        authority = request.header("Host") or _addr(self.destination)
        request_id = request.header("x-request-id") or _uuid(sc.clock.rng)
        start, wall = sc.clock.now, sc.clock.wall()
        entry = AccessLogEntry(wall, request.method, request.target, "HTTP/1.1", user_agent=request.header("User-Agent") or "-", request_id=request_id,
                               authority=authority, downstream_local=_addr(self.destination),
                               downstream_remote=_addr(self.downstream), bytes_received=len(request.body))
        matched = config.route(port, authority)
        retries = NUM_RETRIES
        retry_503 = not sc.flags.sidecar_default_retry_excludes_503
        if matched is not None:
            service, service_port = matched
            entry.route = "default"
            cluster = f"outbound|{service_port.port}||{service.hostname}"
            endpoints = service_port.endpoints
            sc.hop(self.record, f"route {port}: virtual host {service.hostname}:{service_port.port}",
                   f"authority {authority}")
        elif config.mesh.outbound_mode == "REGISTRY_ONLY":
            entry.route, entry.code, entry.details = "block_all", 502, "direct_response"
            sc.hop(self.record, f"route {port}: block_all", f"no virtual host for {authority}; outboundTrafficPolicy "
                                                             "REGISTRY_ONLY answers 502")
            sc.decide("outbound request blocked", f"{authority} is not in the registry (REGISTRY_ONLY)")
            response = self.local_reply(502, "", self.server)
            return self.finish(entry, start, response)
        else:
            entry.route, cluster, retries = "allow_any", "PassthroughCluster", 0
            endpoints = ()
            sc.hop(self.record, f"route {port}: allow_any", f"no virtual host for {authority}; PassthroughCluster to "
                                                             f"{_addr(self.destination)}")
        entry.upstream_cluster = cluster
        if matched is not None and not endpoints:
            entry.code, entry.flags, entry.details = 503, "UH", "no_healthy_upstream"
            sc.hop(self.record, f"{cluster}: no healthy upstream", "the Service has no ready endpoints")
            return self.finish(entry, start, self.local_reply(503, NO_HEALTHY_UPSTREAM, self.server))
        tried: tuple[tuple[str, int], ...] = ()
        attempt = 0
        failure: UpstreamFailure | None = None
        while True:
            attempt += 1
            if matched is not None:
                endpoint = self.pick(endpoints, tried)
                assert endpoint is not None
                target = self.endpoint_target(cluster, matched[0], matched[1], endpoint)
            else:
                target = _Target("PassthroughCluster", self.destination)
            tried += (target.address,)
            entry.upstream_host = _addr(target.address)
            upstream = self.pool.get(target.address)
            if upstream is None or not upstream.conn.open:
                upstream = yield from self.dial(target)
            if isinstance(upstream, UpstreamFailure):
                failure = upstream
                entry.upstream_local = "-"
                retriable = failure.flag == "UF"
                if retriable and attempt <= retries:
                    yield sc.clock.timeout(sc.clock.rng.uniform(0, RETRY_BASE * (2 ** attempt - 1)))
                    continue
                flags_text = failure.flag + (",URX" if retriable and retries else "")
                entry.code, entry.flags, entry.details = 503, flags_text, failure.details
                entry.transport_failure = failure.transport_field
                body = failure.body(retried=attempt > 1)
                return self.finish(entry, start, self.local_reply(503, body, self.server))
            self.pool[target.address] = upstream
            entry.upstream_local = _addr(upstream.local)
            sent = sc.clock.now
            answer = yield from self.forward(upstream, request, attempt, {"x-request-id": request_id})
            if isinstance(answer, NetError):
                upstream.conn.close()
                failure = UpstreamFailure("connection termination", flag="UC")
                entry.code, entry.flags, entry.details = 503, "UC", failure.details
                return self.finish(entry, start, self.local_reply(503, failure.body(retried=attempt > 1), self.server))
            if answer.status == 503 and retry_503 and attempt <= retries:
                sc.hop(self.record, f"503 from {_addr(target.address)}: retry", "retriable-status-codes: 503")
                yield sc.clock.timeout(sc.clock.rng.uniform(0, RETRY_BASE * (2 ** attempt - 1)))
                continue
            service_time = round((sc.clock.now - sent) * 1000)
            entry.code, entry.details = answer.status, "via_upstream"
            if answer.status == 503 and retry_503 and retries:
                entry.flags = "URX"
            entry.upstream_service_time = str(service_time)
            return self.finish(entry, start, self.reply(answer, self.server, service_time))

    def finish(self, entry: AccessLogEntry, start: float, response: Response) -> Response:
        entry.bytes_sent = len(response.body)
        entry.duration_ms = round((self.sc.clock.now - start) * 1000)
        if entry.code == 0:
            entry.code = response.status
        self.sc.access_log(entry)
        return response


class _Inbound(_Session):
    """virtualInbound (15006): filter chains by PeerAuthentication mode and transport, then the port's protocol."""

    direction = "inbound"
    server = "istio-envoy"  # listener_inbound.go: ServerName EnvoyServerName

    def __init__(self, sidecar: Sidecar, record: ConnectionRecord) -> None:
        super().__init__(sidecar, record)
        self.port = self.destination[1]
        self.mtls_mode = self.config.mtls_mode(self.port) if self.config else "PERMISSIVE"
        self.peer: Certificate | None = None  # the verified mesh peer of an mTLS connection
        self.sni = "-"
        self.chain = ""  # "mtls" | "plaintext" | "raw-tls": the filter chain that matched

    # -- filter chain match ------------------------------------------------------------------------

    def no_chain(self) -> NetError:
        sc = self.sc
        entry = AccessLogEntry(self.wall, downstream_local=_addr(self.destination),
                               downstream_remote=_addr(self.downstream), flags="NR", details="filter_chain_not_found")
        sc.access_log(entry)
        sc.hop(self.record, "no filter chain matched: connection reset",
               f"PeerAuthentication {self.mtls_mode} on port {self.port} accepts only mesh mTLS")
        sc.decide("inbound connection rejected", f"plaintext to port {self.port} under PeerAuthentication STRICT",
                  port=self.port)
        return NetError(NetErrorKind.RESET, self.destination, self.downstream)

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait:
        sc = self.sc
        if not self.chain:
            client = tls.certificate
            if client is not None and tls.server_name.startswith("outbound_.") and self.mtls_mode != DISABLE:
                root = self.config.root_cert if self.config else None
                if root is None or not client.signed_by(root):
                    sc.hop(record, "mTLS handshake failed", "the client certificate is not signed by the mesh root")
                    return TLSFailure("remote error: tls: unknown certificate authority")
                if sc.certificate is None or not any(sc.certificate.signed_by(ca) for ca in tls.trusted):
                    return TLSFailure("x509: certificate signed by unknown authority")
                self.chain, self.peer, self.sni = "mtls", client, tls.server_name
                sc.hop(record, "mTLS terminated", f"peer {client.common_name}, SNI {tls.server_name}")
                return None
            if self.mtls_mode == STRICT:
                return self.no_chain()
            self.chain = "raw-tls"
        # TLS the application itself speaks (inside mTLS, or passed through): tcp_proxy to the application
        self.mode = self.mode or "tcp"
        upstream = yield from self.open_app_tcp()
        if isinstance(upstream, NetError):
            return upstream
        if self.tcp_log is not None:
            self.tcp_log.bytes_received += CLIENT_HELLO_BYTES
        return (yield from upstream.conn.handshake(tls))

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait:
        if not self.chain:
            if self.mtls_mode == STRICT:
                return self.no_chain()
            self.chain = "plaintext"
        if not self.mode:
            inbound = self.config.inbound_port(self.port) if self.config else None
            protocol = inbound.protocol if inbound is not None else "UnsupportedProtocol"
            self.mode = "http" if is_http_or_sniffed(protocol) and self.chain != "raw-tls" else "tcp"
        if self.mode == "http":
            return (yield from self.http(request))
        upstream = yield from self.open_app_tcp()
        if isinstance(upstream, NetError):
            return upstream
        return (yield from self.relay(upstream, request))

    # -- to the application ------------------------------------------------------------------------

    def app_target(self) -> _Target:
        inbound = self.config.inbound_port(self.port) if self.config else None
        cluster = f"inbound|{self.port}||" if inbound is not None else "InboundPassthroughClusterIpv4"
        if self.config is not None and self.config.mesh.inbound_localhost:
            return _Target(cluster, ("127.0.0.1", self.port))
        return _Target(cluster, (self.destination[0], self.port))

    def dial_app(self, target: _Target) -> Wait:
        localhost = target.address[0] == "127.0.0.1"
        return (yield from self.dial(target, source_ip=None if localhost else INBOUND_PASSTHROUGH_BIND))

    def open_app_tcp(self) -> Wait:
        if self.tcp is not None:
            return self.tcp
        target = self.app_target()
        self.tcp_log = AccessLogEntry(self.wall, upstream_cluster=target.cluster, upstream_host=_addr(target.address),
                                      downstream_local=_addr(self.destination), downstream_remote=_addr(self.downstream),
                                      server_name=self.sni)
        upstream = yield from self.dial_app(target)
        if isinstance(upstream, UpstreamFailure):
            self.tcp_log.flags = "UF,URX"
            self.tcp_log.transport_failure = upstream.transport_field
            self.log_tcp()
            return NetError(NetErrorKind.RESET, self.destination, self.downstream)
        self.tcp = upstream
        self.tcp_log.upstream_local = _addr(upstream.local)
        return upstream

    def http(self, request: Request) -> Wait:
        sc = self.sc
        start, wall = sc.clock.now, sc.clock.wall()
        target = self.app_target()
        request_id = request.header("x-request-id") or _uuid(sc.clock.rng)
        entry = AccessLogEntry(wall, request.method, request.target, "HTTP/1.1", user_agent=request.header("User-Agent") or "-", request_id=request_id,
                               authority=request.header("Host") or "-", upstream_host=_addr(target.address),
                               upstream_cluster=target.cluster, downstream_local=_addr(self.destination),
                               downstream_remote=_addr(self.downstream), server_name=self.sni, route="default",
                               bytes_received=len(request.body))
        upstream = self.pool.get(target.address)
        if upstream is None or not upstream.conn.open:
            upstream = yield from self.dial_app(target)
        if isinstance(upstream, UpstreamFailure):
            entry.code, entry.flags, entry.details = 503, upstream.flag, upstream.details
            entry.transport_failure = upstream.transport_field
            return self.finish(entry, start, self.local_reply(503, upstream.body(retried=False), self.server))
        self.pool[target.address] = upstream
        entry.upstream_local = _addr(upstream.local)
        extra = {"x-request-id": request_id}
        if self.peer is not None and sc.certificate is not None:
            digest = hashlib.sha256(self.peer.pem().encode()).hexdigest()
            extra["x-forwarded-client-cert"] = (f"By={sc.certificate.common_name};Hash={digest};Subject=\"\";"
                                                f"URI={self.peer.common_name}")
        sent = sc.clock.now
        answer = yield from self.forward(upstream, request, 1, extra)
        if isinstance(answer, NetError):
            upstream.conn.close()
            failure = UpstreamFailure("connection termination", flag="UC")
            entry.code, entry.flags, entry.details = 503, "UC", failure.details
            return self.finish(entry, start, self.local_reply(503, failure.body(retried=False), self.server))
        service_time = round((sc.clock.now - sent) * 1000)
        entry.code, entry.details, entry.upstream_service_time = answer.status, "via_upstream", str(service_time)
        return self.finish(entry, start, self.reply(answer, self.server, service_time))

    def finish(self, entry: AccessLogEntry, start: float, response: Response) -> Response:
        entry.bytes_sent = len(response.body)
        entry.duration_ms = round((self.sc.clock.now - start) * 1000)
        self.sc.access_log(entry)
        return response


# -- the programs -------------------------------------------------------------------------------------------------


def run_sidecar(version: IstioVersion, proc: Process, istiod: Callable[[], SidecarConfigSource | None], *,
                trace: Trace | None = None) -> ProgramRun:
    """`pilot-agent proxy sidecar [flags]` (argv[1:3] == ["proxy", "sidecar"]; later flags are accepted and ignored).

    Runs until /quitquitquit or SIGTERM (a simpy Interrupt from the kubelet): then the agent drains Envoy for
    terminationDrainDuration (5 s) and exits 0."""
    sidecar = Sidecar(version, proc, istiod, trace)
    yield proc.clock.timeout(AGENT_STARTUP)
    sidecar.start()
    try:
        try:
            yield sidecar.done
        except simpy.Interrupt:
            pass
        yield from sidecar.terminate()
    except simpy.Interrupt:
        sidecar.stop()
        return 143
    finally:
        sidecar.stop()
    return 0


def wait_main(version: IstioVersion, proc: Process) -> ProgramRun:
    """`pilot-agent wait [--timeoutSeconds=60] [--periodMillis=500] [--requestTimeoutMillis=500] [--url=...]`
    (pilot/cmd/pilot-agent/app/wait.go): poll Envoy's readiness until 200; exit 0, or 255 after the timeout
    (cobra prints `Error: ...`, then main logs the error and calls os.Exit(-1))."""
    options = {"timeoutSeconds": str(WAIT_TIMEOUT), "periodMillis": str(int(WAIT_PERIOD * 1000)),
               "requestTimeoutMillis": str(int(WAIT_REQUEST_TIMEOUT * 1000)), "url": WAIT_URL}
    args = proc.argv[2:]
    i = 0
    while i < len(args):
        arg = args[i].lstrip("-")
        name, eq, value = arg.partition("=")
        if not eq and i + 1 < len(args):
            value, i = args[i + 1], i + 1
        if name in options:
            options[name] = value
        i += 1
    clock = proc.clock

    def log(level: str, message: str) -> None:
        proc.stdout.write(istio_line(clock.wall(), level, "", message) + "\n")

    timeout = int(options["timeoutSeconds"])
    period = int(options["periodMillis"]) / 1000
    request_timeout = int(options["requestTimeoutMillis"]) / 1000
    url = options["url"]
    log("info", f"Waiting for Envoy proxy to be ready (timeout: {timeout} seconds)...")
    deadline = clock.now + timeout
    last = "<nil>"
    while True:
        if clock.now + period > deadline:
            yield clock.timeout(deadline - clock.now)
            error = f"timeout waiting for Envoy proxy to become ready. Last error: {last}"
            proc.stderr.write(f"Error: {error}\n")
            log("error", error)
            return 255
        yield clock.timeout(period)
        last = yield from _check_ready(proc, url, request_timeout)
        if last == "":
            log("info", "Envoy is ready!")
            return 0


def _check_ready(proc: Process, url: str, timeout: float) -> Wait:
    """checkIfReady: "" when the URL answered 200, else Go's error text."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 80
    ip = "127.0.0.1" if host == "localhost" else host
    clock = proc.clock
    network = proc.host.network
    result: dict[str, Any] = {}

    def attempt() -> Wait:
        conn = yield from network.dial(ip, port, timeout=timeout)
        if isinstance(conn, NetError):
            result["error"] = f'Get "{url}": dial tcp {ip}:{port}: connect: connection refused'
            return
        answer = yield from conn.exchange(Request("GET", parts.path or "/", {"Host": parts.netloc,
                                                                            "User-Agent": "Go-http-client/1.1"}))
        conn.close()
        if isinstance(answer, NetError):
            result["error"] = f'Get "{url}": EOF'
        elif answer.status != 200:
            result["error"] = f"HTTP status code {answer.status}"
        else:
            result["error"] = ""

    task = clock.process(attempt())
    yield task | clock.timeout(timeout)
    if "error" not in result:
        return f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    return str(result["error"])


__all__ = [
    "ADMIN_PORT", "INBOUND_PORT", "OUTBOUND_PORT", "READINESS_PORT", "STATS_PORT", "STATUS_PORT", "Sidecar",
    "SidecarConfigSource", "run_sidecar", "wait_main",
]
