"""ztunnel: the node proxy of ambient mode.

It learns workloads from istiod's pushes and proxies what capture sends it:
- outbound (15001): find the *source* workload (by source IP before 1.24, by the pod's ZDS WorkloadInfo
  from 1.24; waiting up to 5 s for istiod from 1.22.2), then HBONE to a mesh destination's 15008, plaintext
  to a known workload outside the mesh, or passthrough to anything unknown. No source: the accepted socket
  is dropped - the client reads EOF (or a reset once it has sent bytes ztunnel never read).
- inbound plaintext (15006) and HBONE (15008): find the local workload, apply its policies (PeerAuthentication
  STRICT denies a peer without an identity), connect to the application.

Before in-pod redirection (<= 1.20) one set of listeners in ztunnel's own netns serves the node ("shared"
mode); from 1.21 the CNI agent hands ztunnel each pod's netns and ztunnel binds listeners inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from meshrepro.istio import ztunnel_log as zlog
from meshrepro.istio.istiod import Policy, Snapshot
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.workload import Workload
from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response, wire_size
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import ConnectionRecord, DnsQuery, DnsReply, NetNamespace, Network, Wait
from meshrepro.net.tls import CLIENT_HELLO_BYTES, ClientTLS
from meshrepro.runtime.process import Output
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

OUTBOUND_PORT = 15001
INBOUND_PLAINTEXT_PORT = 15006
HBONE_PORT = 15008
DNS_PORT = 15053
READINESS_PORT = 15021
INPOD_MARK = 0x539  # ztunnel's SO_MARK on its sockets in a pod netns (INPOD_MARK=1337): capture rules skip it
SOURCE_WAIT = 5.0  # ztunnel#1147: wait_for_workload(.., Duration::from_secs(5)), hard-coded
FORWARD_TIMEOUT = 5.0  # the DNS proxy's upstream query timeout
LOOKUP_NS = 85_300  # how long a failed cache lookup takes before `failed dur=...` (a constant, for determinism)


@dataclass(frozen=True)
class PodInfo:
    """What ZDS tells ztunnel about a pod it adds (the WorkloadInfo of 1.24, the uid before)."""

    uid: str
    name: str
    namespace: str
    service_account: str

    @property
    def display(self) -> str:
        return f"{self.service_account}.{self.namespace} ({self.name})"


class Ztunnel:
    def __init__(self, clock: Clock, network: Network, trace: Trace, version: IstioVersion, node: str,
                 pod_name: str, netns: NetNamespace, log: Output) -> None:
        self.clock = clock
        self.network = network
        self.trace = trace
        self.version = version
        self.flags = flags(version)
        self.node = node
        self.name = f"ztunnel {pod_name}"
        self.netns = netns  # ztunnel's own pod netns
        self.log = log
        self.workloads: dict[str, Workload] = {}  # by uid
        self.by_address: dict[str, Workload] = {}
        self.services: dict[str, Any] = {}  # vip -> MeshService
        self.policies: dict[str, tuple[Policy, ...]] = {}
        self.ready = False
        self.pods: dict[str, tuple[PodInfo, NetNamespace]] = {}  # in-pod mode: uid -> the pod and its netns
        self._updated = clock.env.event()
        self._conn_ids = 0

    @property
    def inpod(self) -> bool:
        return self.flags.ambient_inpod_redirection

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.write(zlog.startup(self.version, self.clock.wall()))
        self.netns.listen(READINESS_PORT, HttpListener("ztunnel readiness", self._readiness))
        if not self.inpod:
            self._bind(self.netns, None)

    def stop(self) -> None:
        for port in (READINESS_PORT, OUTBOUND_PORT, INBOUND_PLAINTEXT_PORT, HBONE_PORT):
            self.netns.unlisten(port)
        for uid in list(self.pods):
            self.remove_pod(uid)

    def on_push(self, snapshot: Snapshot) -> None:
        for workload in snapshot.workloads:  # what the explanations' timelines show as "ztunnel learned the pod"
            known = self.workloads.get(workload.uid)
            if known is None or known.addresses != workload.addresses:
                self.trace.add(self.clock.now, "ztunnel", f"Pod {workload.namespace}/{workload.name}",
                               "learned workload", f"push {snapshot.version}: addresses "
                               f"{', '.join(workload.addresses) or 'none'}, status {workload.status}", ztunnel=self.name)
        self.workloads = {w.uid: w for w in snapshot.workloads}
        self.by_address = {a: w for w in snapshot.workloads for a in w.addresses}
        self.services = {vip: s for s in snapshot.services for vip in s.vips}
        self.policies = snapshot.policies
        self.ready = True
        waking, self._updated = self._updated, self.clock.env.event()
        waking.succeed()

    def _readiness(self, peer: Peer, request: Request) -> Wait:
        """/healthz/ready answers 200 once the first xDS push (workloads and certificates) arrived."""
        return Response(200 if self.ready else 503, {"Content-Type": "text/plain"}, b"ready\n" if self.ready else b"")
        yield  # pragma: no cover

    # -- in-pod mode: ZDS ----------------------------------------------------------------

    def add_pod(self, pod: PodInfo, netns: NetNamespace) -> None:
        """ZDS AddWorkload: start the pod's proxy, listeners inside its netns, then ack."""
        self.pods[pod.uid] = (pod, netns)
        self._bind(netns, pod)
        self.write(zlog.pod_proxy_started(self.version, self.clock.wall(), uid=pod.uid, namespace=pod.namespace,
                                          name=pod.name))

    def remove_pod(self, uid: str) -> None:
        entry = self.pods.pop(uid, None)
        if entry is not None:
            for port in (OUTBOUND_PORT, INBOUND_PLAINTEXT_PORT, HBONE_PORT):
                entry[1].unlisten(port)
            entry[1].unlisten(DNS_PORT, protocol="udp")

    def _bind(self, netns: NetNamespace, pod: PodInfo | None) -> None:
        netns.listen(OUTBOUND_PORT, _Listener("ztunnel outbound", self, pod, _Outbound))
        netns.listen(INBOUND_PLAINTEXT_PORT, _Listener("ztunnel inbound plaintext", self, pod, _InboundPlaintext))
        netns.listen(HBONE_PORT, _Listener("ztunnel inbound", self, pod, _InboundHbone))
        if pod is not None:  # the in-pod DNS proxy; only reached when the CNI captures DNS
            netns.listen(DNS_PORT, DnsProxy(self, netns), protocol="udp")

    # -- lookups -------------------------------------------------------------------------

    def find_workload(self, pod: PodInfo | None, address: str) -> Workload | None:
        """By ZDS WorkloadInfo (1.24+, in-pod) or by IP."""
        if pod is not None and self.flags.ztunnel_source_by_workload_info:
            return next((w for w in self.workloads.values()
                         if w.name == pod.name and w.namespace == pod.namespace), None)
        return self.by_address.get(address)

    def span(self, pod: PodInfo | None) -> zlog.Span | None:
        return zlog.proxy_span(self.version, uid=pod.uid, namespace=pod.namespace, name=pod.name) if pod else None

    def wait_for_workload(self, pod: PodInfo | None, address: str, conn_id: str, inbound: bool = False) -> Wait:
        """fetch_workload, or (1.22.2+) wait_for_workload up to 5 s, re-checking on every push."""
        found = self.find_workload(pod, address)
        if found is not None or not self.flags.ztunnel_waits_for_source_workload:
            return found
        deadline = self.clock.now + SOURCE_WAIT
        while found is None and self.clock.now < deadline:
            yield self._updated | self.clock.timeout(deadline - self.clock.now)
            found = self.find_workload(pod, address)
        if found is None:
            info = pod.display if pod is not None else ""
            self.write([zlog.wait_timed_out(self.version, self.clock.wall(), conn_id=conn_id, info=info,
                                            proxy=self.span(pod), spans=() if inbound else None)])
        return found

    def trace_id(self) -> str:
        """The connection's 32-hex-digit trace id (outbound{id=...})."""
        return f"{self.clock.rng.getrandbits(128):032x}"

    def write(self, lines: list[str]) -> None:
        for line in lines:
            self.log.write(line + "\n")


class _Listener:
    def __init__(self, name: str, ztunnel: Ztunnel, pod: PodInfo | None, session: Callable[..., Any]) -> None:
        self.name = name
        self.ztunnel = ztunnel
        self.pod = pod
        self.session = session

    def accept(self, record: ConnectionRecord) -> Wait:
        """The kernel completed the handshake: the client's connect() has already succeeded."""
        record.hop(self.ztunnel.name, f"{self.name} accepted",
                   f"original destination {_addr(record.original_destination or record.destination)}")
        return self.session(self.ztunnel, self.pod, record)
        yield  # pragma: no cover


class _Proxied:
    """A session ztunnel proxies: the upstream is opened on the client's first use (ztunnel opens it right
    after accept; the client's first write follows at once, so the order is the same)."""

    direction = ""

    def __init__(self, ztunnel: Ztunnel, pod: PodInfo | None, record: ConnectionRecord) -> None:
        self.ztunnel = ztunnel
        self.pod = pod
        self.record = record
        self.started = ztunnel.clock.now
        self.conn_id = ztunnel.trace_id()
        self.upstream: Any = None
        self.failed: NetError | None = None
        self.bytes_sent = 0
        self.bytes_recv = 0
        self.log = zlog.AccessLog("", "", "")

    def open(self) -> Wait:
        raise NotImplementedError

    def _ensure(self) -> Wait:
        if self.upstream is None and self.failed is None:
            result = yield from self.open()
            if isinstance(result, NetError):
                self.failed = result
            else:
                self.upstream = result
        return self.failed or self.upstream

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait:
        upstream = yield from self._ensure()
        if isinstance(upstream, NetError):
            return upstream
        self.bytes_recv += CLIENT_HELLO_BYTES
        return (yield from upstream.handshake(tls))

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait:
        upstream = yield from self._ensure()
        if isinstance(upstream, NetError):
            return upstream
        response = yield from upstream.exchange(request)
        self.bytes_recv += wire_size(request)
        if isinstance(response, Response):
            self.bytes_sent += wire_size(response)
        return response

    def close(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.ztunnel.write(self.completed())

    def completed(self, error: str | None = None) -> list[str]:
        """The line(s) ztunnel prints when the connection ends."""
        z = self.ztunnel
        if not z.flags.ztunnel_access_logs:
            return self.legacy_completed()
        log = replace(self.log, bytes_sent=self.bytes_sent, bytes_recv=self.bytes_recv,
                      duration_ms=round((z.clock.now - self.started) * 1000), error=error)
        return [zlog.connection_complete(z.version, z.clock.wall(), log)]

    def legacy_completed(self) -> list[str]:
        return []

    def fail(self, kind: NetErrorKind, error: str, lines: list[str], **data: Any) -> NetError:
        """Drop the accepted socket (EOF if the client has sent nothing yet, a reset once it has)."""
        z = self.ztunnel
        z.write(lines)
        self.record.hop(z.name, f"{self.direction} connection dropped", error)
        z.trace.add(z.clock.now, "ztunnel", z.name, f"{self.direction} connection dropped", error,
                    connection=self.record.id, **data)
        return NetError(kind, self.record.destination, self.record.source)

    def early_deny(self, kind: NetErrorKind, error: str, **data: Any) -> NetError:
        """Refused before anything was set up: 1.22+ `connection failed`; older releases log per direction."""
        z = self.ztunnel
        if z.flags.ztunnel_access_logs:
            lines = [zlog.connection_failed(z.version, z.clock.wall(), src=self.log.src_addr, dst=self.log.dst_addr,
                                            direction=self.direction, error=error)]
        else:
            lines = self.legacy_early_deny(error)
        return self.fail(kind, error, lines, **data)

    def legacy_early_deny(self, error: str) -> list[str]:
        return []

    def dial(self, netns: NetNamespace, address: tuple[str, int], source_ip: str | None) -> Wait:
        z = self.ztunnel
        conn = yield from z.network.dial(netns, address[0], address[1], mark=INPOD_MARK, source_ip=source_ip,
                                         owner=z.name)
        return conn


class _Outbound(_Proxied):
    direction = "outbound"

    def open(self) -> Wait:
        z, record = self.ztunnel, self.record
        source_ip = record.source[0]
        destination = record.original_destination or record.destination
        self.log = zlog.AccessLog(_addr(record.source), _addr(destination), "outbound")
        source = yield from z.wait_for_workload(self.pod, source_ip, self.conn_id)
        if source is None:
            info = self.pod.display if self.pod is not None else ""
            error = zlog.unknown_source_error(z.version, source_ip=source_ip, info=info)
            # Without a wait ztunnel drops the socket before the client's first bytes arrive (EOF); after
            # waiting, the client's ClientHello sits unread and the close becomes a reset.
            waited = z.clock.now > self.started
            if z.flags.ztunnel_access_logs:
                return self.early_deny(NetErrorKind.RESET if waited else NetErrorKind.EOF, error,
                                       flag="ztunnel_waits_for_source_workload", source=source_ip)
            return self.fail(NetErrorKind.EOF, error, [zlog.outbound_failed(
                z.version, z.clock.wall(), conn_id=self.conn_id, elapsed_ns=LOOKUP_NS, error=error,
                proxy=z.span(self.pod))], flag="ztunnel_waits_for_source_workload", source=source_ip)
        self.log = replace(self.log, src_workload=source.name, src_namespace=source.namespace)
        target, via = _destination(z, destination)
        netns = self.pod_netns()
        spoof = None if z.inpod else source_ip
        if isinstance(target, Workload) and target.tunnel_protocol == "HBONE":
            inner = (target.addresses[0], via)
            if not z.inpod and target.node == z.node:
                return (yield from self.fast_path(source, target, inner))
            self.log = replace(self.log, src_identity=source.identity, dst_addr=_addr((inner[0], HBONE_PORT)),
                               dst_hbone_addr=_addr(inner), **_dst(z, target, destination), dst_identity=target.identity)
            self.legacy_open(inner, (inner[0], HBONE_PORT), "Direct", hbone=True)
            record.hop(z.name, f"HBONE to {inner[0]}:{HBONE_PORT}",
                       f"workload {target.namespace}/{target.name} is in the mesh; CONNECT {_addr(inner)} as "
                       f"{source.identity}")
            conn = yield from self.dial(netns, (inner[0], HBONE_PORT), spoof)
            if isinstance(conn, NetError):
                return self.fail(NetErrorKind.RESET, f"io error: {conn.kind.value}", self.completed(
                    f"io error: {conn.kind.value}"))
            session = conn.session
            if not isinstance(session, _InboundHbone):
                conn.close()
                return self.fail(NetErrorKind.RESET, "http2 handshake failed", self.completed("http2 handshake failed"))
            tunnelled = yield from session.connect(inner, source)
            if isinstance(tunnelled, NetError):
                conn.close()
                error = session.error or "connection closed"
                return self.fail(NetErrorKind.RESET, error, self.completed(error))
            return conn
        if isinstance(target, Workload):
            address = (target.addresses[0], via)
            self.log = replace(self.log, dst_addr=_addr(address), **_dst(z, target, destination))
            self.legacy_open(address, address, "Direct", hbone=False)
            record.hop(z.name, f"plaintext to {_addr(address)}",
                       f"workload {target.namespace}/{target.name} is not captured (no HBONE)")
        else:
            address = destination
            self.legacy_open(address, address, "Passthrough", hbone=False)
            record.hop(z.name, f"passthrough to {_addr(address)}", "no workload or service has this address")
        conn = yield from self.dial(netns, address, spoof)
        if isinstance(conn, NetError):
            return self.fail(conn.kind, f"io error: {conn.kind.value}", self.completed(f"io error: {conn.kind.value}"))
        return conn

    def fast_path(self, source: Workload, target: Workload, inner: tuple[str, int]) -> Wait:
        """<= 1.20 shared proxy, destination on the same node: no tunnel, ztunnel connects to the pod itself
        after the destination's inbound policy check."""
        z, record = self.ztunnel, self.record
        z.write([zlog.outbound_fast_path(z.version, z.clock.wall(), conn_id=self.conn_id, destination=_addr(inner))])
        denied = _denied_by(z, target, inner[1], has_identity=True)
        if denied is not None:
            return self.fail(NetErrorKind.RESET, "RBAC rejected", [zlog.rbac_rejected(
                z.version, z.clock.wall(), src_ip=record.source[0], src_identity=source.identity, dst=_addr(inner))])
        record.hop(z.name, f"node-local fast path to {_addr(inner)}",
                   f"workload {target.namespace}/{target.name} is in the mesh on this node")
        conn = yield from self.dial(z.netns, inner, record.source[0])
        if isinstance(conn, NetError):
            return self.fail(conn.kind, f"io error: {conn.kind.value}", [])
        return conn

    def legacy_open(self, destination: tuple[str, int], gateway: tuple[str, int], request_type: str, *,
                    hbone: bool) -> None:
        z = self.ztunnel
        if not z.flags.ztunnel_access_logs:
            z.write([zlog.outbound_proxying(z.version, z.clock.wall(), conn_id=self.conn_id,
                                            destination=_addr(destination), gateway=_addr(gateway),
                                            request_type=request_type, hbone=hbone, proxy=z.span(self.pod))])

    def legacy_completed(self) -> list[str]:
        z = self.ztunnel
        return [zlog.outbound_complete(z.version, z.clock.wall(), conn_id=self.conn_id,
                                       elapsed_ns=round((z.clock.now - self.started) * 1e9), proxy=z.span(self.pod))]

    def pod_netns(self) -> NetNamespace:
        z = self.ztunnel
        if self.pod is not None and self.pod.uid in z.pods:
            return z.pods[self.pod.uid][1]
        return z.netns


class _Inbound(_Proxied):
    direction = "inbound"

    def app_netns(self) -> NetNamespace:
        z = self.ztunnel
        if self.pod is not None and self.pod.uid in z.pods:
            return z.pods[self.pod.uid][1]
        return z.netns


class _InboundPlaintext(_Inbound):
    def open(self) -> Wait:
        z, record = self.ztunnel, self.record
        destination = record.original_destination or record.destination
        client = record.seen_source or record.source
        self.log = zlog.AccessLog(_addr(client), _addr(destination), "inbound")
        if not z.flags.ztunnel_access_logs:
            z.write([zlog.inbound_plaintext_accepted(z.version, z.clock.wall(), source=_addr(client),
                                                     destination=_addr(destination), proxy=z.span(self.pod))])
        workload = yield from z.wait_for_workload(self.pod, destination[0], self.conn_id, inbound=True)
        if workload is None:
            info = self.pod.display if self.pod is not None else ""
            error = (zlog.unknown_source_error(z.version, source_ip=destination[0], info=info)
                     if self.pod is not None and z.flags.ztunnel_source_by_workload_info
                     else zlog.unknown_destination_error(destination[0]))
            return self.early_deny(NetErrorKind.RESET, error)
        self.log = replace(self.log, **_dst(z, workload, destination))
        policy = _denied_by(z, workload, destination[1], has_identity=False)
        if policy is not None:
            record.hop(z.name, "denied by policy", f"{policy.key}: a peer without identity (plaintext) on port "
                                                   f"{destination[1]}")
            if z.flags.ztunnel_access_logs:
                error = zlog.policy_rejection_error(z.version, policy=policy.key)
                return self.fail(NetErrorKind.RESET, error, self.completed(error))
            return self.fail(NetErrorKind.RESET, "RBAC rejected", [zlog.rbac_rejected(
                z.version, z.clock.wall(), src_ip=client[0], src_identity=None, dst=_addr(destination))])
        record.hop(z.name, f"inbound plaintext to {_addr(destination)}",
                   f"workload {workload.namespace}/{workload.name}; no policy denies a peer without identity")
        conn = yield from self.dial(self.app_netns(), destination, client[0])
        if isinstance(conn, NetError):
            error = f"io error: {conn.kind.value}"
            return self.fail(conn.kind, error, self.completed(error))
        return conn

    def legacy_early_deny(self, error: str) -> list[str]:
        z = self.ztunnel
        return [zlog.inbound_plaintext_failed(z.version, z.clock.wall(), source=self.log.src_addr, error=error,
                                              proxy=z.span(self.pod))]

    def legacy_completed(self) -> list[str]:
        z = self.ztunnel
        return [zlog.inbound_plaintext_complete(z.version, z.clock.wall(), source=self.log.src_addr,
                                                destination=self.log.dst_addr, proxy=z.span(self.pod))]


class _InboundHbone(_Inbound):
    """The far end of an HBONE tunnel: the outbound ztunnel sends CONNECT <target> with its peer's identity."""

    error = ""

    def connect(self, target: tuple[str, int], source: Workload) -> Wait:
        z, record = self.ztunnel, self.record
        self.log = zlog.AccessLog(_addr(record.seen_source or record.source),
                                  _addr(record.original_destination or record.destination), "inbound",
                                  src_workload=source.name, src_namespace=source.namespace,
                                  src_identity=source.identity, dst_hbone_addr=_addr(target))
        workload = yield from z.wait_for_workload(self.pod, target[0], self.conn_id, inbound=True)
        if workload is None:
            self.error = zlog.unknown_destination_error(target[0])
            return self.early_deny(NetErrorKind.RESET, self.error)
        self.log = replace(self.log, **_dst(z, workload, target), dst_identity=workload.identity)
        policy = _denied_by(z, workload, target[1], has_identity=True)
        if policy is not None:
            self.error = zlog.policy_rejection_error(z.version, policy=policy.key) if z.flags.ztunnel_access_logs \
                else "RBAC rejected"
            return self.fail(NetErrorKind.RESET, self.error, self.completed(self.error))
        record.hop(z.name, f"HBONE CONNECT {_addr(target)}", f"peer {source.identity}")
        conn = yield from self.dial(self.app_netns(), target, record.source[0])
        if isinstance(conn, NetError):
            self.error = f"io error: {conn.kind.value}"
            return self.fail(conn.kind, self.error, self.completed(self.error))
        self.upstream = conn
        return conn

    def open(self) -> Wait:
        # A client that speaks to 15008 without HBONE: ztunnel's TLS listener rejects it.
        return self.fail(NetErrorKind.RESET, "tls handshake failed: not an HBONE client", [])
        yield  # pragma: no cover


class DnsProxy:
    """ztunnel's DNS proxy (src/dns/server.rs): names of Services it learned from istiod are answered with
    their VIPs; anything else is forwarded to the resolver the client asked (its original destination)."""

    name = "ztunnel dns"

    def __init__(self, ztunnel: Ztunnel, netns: NetNamespace) -> None:
        self.ztunnel = ztunnel
        self.netns = netns

    def answer(self, message: DnsQuery, record: ConnectionRecord) -> Wait:
        z = self.ztunnel
        name = message.name.rstrip(".")
        vips = sorted({vip for service in z.services.values() if service.hostname == name for vip in service.vips})
        if vips and message.qtype == "A":
            record.hop(self.name, f"answered {name}", "a Service pushed by istiod")
            return DnsReply("NOERROR", tuple(vips))
        upstream = record.original_destination or record.destination
        sock = yield from z.network.dial(self.netns, upstream[0], upstream[1], protocol="udp", mark=INPOD_MARK,
                                         owner=z.name)
        if isinstance(sock, NetError):
            return None
        record.hop(self.name, f"forwarded {name} to {_addr(upstream)}", f"connection #{sock.record.id}")
        return (yield from sock.query(message, FORWARD_TIMEOUT))


def _denied_by(z: Ztunnel, workload: Workload, port: int, *, has_identity: bool) -> Policy | None:
    return next((p for p in z.policies.get(workload.uid, ()) if p.denies(port, has_identity)), None)


def _destination(z: Ztunnel, destination: tuple[str, int]) -> tuple[Workload | None, int]:
    """A Service VIP picks one of its workloads (the target port mapped); a workload IP is itself; else None."""
    ip, port = destination
    service = z.services.get(ip)
    if service is not None:
        key = f"{service.namespace}/{service.hostname}"
        endpoints = sorted(((w, target) for w in z.workloads.values() if w.addresses
                            for svc, svc_port, target in w.service_ports if svc == key and svc_port == port),
                           key=lambda e: e[0].uid)
        healthy = [e for e in endpoints if e[0].status == "HEALTHY"] or endpoints
        if healthy:
            workload, target = healthy[z.clock.rng.randrange(len(healthy))]
            return workload, target
        return None, port
    return z.by_address.get(ip), port


def _dst(z: Ztunnel, workload: Workload, destination: tuple[str, int]) -> dict[str, str]:
    """dst.service / dst.workload / dst.namespace of an access log line."""
    service = z.services.get(destination[0])
    hostname = service.hostname if service is not None else (
        workload.services[0].split("/", 1)[1] if workload.services else None)
    fields = {"dst_workload": workload.name, "dst_namespace": workload.namespace}
    if hostname:
        fields["dst_service"] = hostname
    return fields



def _addr(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"

