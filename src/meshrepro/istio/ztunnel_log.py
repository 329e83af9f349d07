"""The log lines ztunnel and the istio-cni node agent print, per release (pure functions: time and fields in, text out).

ztunnel (Rust, `tracing`):
- <= 1.21: tracing-subscriber 0.3.17's default `Full` format, no ANSI (ztunnel@1.20.0:src/telemetry.rs):
  `<ts> <LEVEL:>5> <span>{<fields>}:<span>...: <target>: <message> <k=v> ...`, e.g.
  `2024-01-20T02:24:10.123456Z  WARN outbound{id=5c1d...}: ztunnel::proxy::outbound: failed dur=85.3µs err=...`.
- >= 1.22 (flag ztunnel_istio_log_format): `IstioFormat` (ztunnel@1.22.0:src/telemetry.rs):
  `<ts>\\t<level>\\t<target minus "ztunnel::">[:<span>{<fields>}...]\\t<message>\\t<k=v> ...`. The message is
  always followed by a tab, so a line without fields ends in `\\t` (seen in istio/istio#54889).
Field values print as Rust's `{:?}`: strings quoted (`Str`/plain `str`), `%`-recorded values (addresses, errors
before 1.22.2, ids) bare (`Display`), numbers and booleans bare.

Only lines at the default level (`info`, RUST_LOG=info) or above are printed. Debug lines are named in the docstrings
and never rendered: ztunnel's per-workload xDS updates (`inserting workload`, `fetch workload`, `wait for workload`),
`connection opened` (1.22+), `proxy to ... using HBONE` (1.22+); the per-push `received response` summary is info.

istio-cni (Go, istio pkg/log console encoder): `<ts>\\t<level>\\t<scope>\\t<message>[\\t<k=v> ...]`, labels bare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from meshrepro.istio.versions import IstioVersion, flags

LEVELS = ("trace", "debug", "info", "warn", "error")
DEFAULT_LEVEL = "info"  # ztunnel: RUST_LOG default `info` (chart value); istio-cni: scopes at info


class Display(str):
    """A field recorded with `%` (Display): printed bare, e.g. `src.addr=10.0.0.1:80`."""

    __slots__ = ()


FieldValue = str | int | bool
Fields = Sequence[tuple[str, FieldValue]]


@dataclass(frozen=True)
class Span:
    """A tracing span with its fields, e.g. `outbound{id=...}` or `proxy{wl=ns/pod}`."""

    name: str
    fields: tuple[tuple[str, FieldValue], ...] = ()


@dataclass(frozen=True)
class BuildInfo:
    """ztunnel's version.BuildInfo (src/version.rs). Release-build values are UNCONFIRMED (see `build_info`)."""

    version: str
    git_revision: str
    rust_version: str = "unknown"
    build_profile: str = "release"
    build_status: str = "Clean"
    git_tag: str = ""
    istio_version: str = "unknown"  # env ISTIO_VERSION, which the charts do not set


# ztunnel commits of the release tags (github.com/istio/ztunnel)
_ZTUNNEL_COMMITS = {
    (1, 20, 0): "6f0d7bed19ca360dfbdc43d3262e6b29ea75c8e2",
    (1, 21, 0): "aeb79fb2954c86bc20951f10f000898c20450aa8",
    (1, 22, 0): "909bf991d01edc4db51265bc633acfe303555ef5",
    (1, 22, 2): "085565a89e7486a5c445f83629d39fb784731155",
    (1, 23, 0): "830da1d5691df706e2171d1766ae9dcce6866d22",
    (1, 24, 0): "1226c1b35f50938f428c71f7dcad3602ea991675",
}


def build_info(version: IstioVersion) -> BuildInfo:
    """A plausible release BuildInfo: common/scripts/report_build_info.sh uses VERSION for buildVersion and
    `git describe --tags` for the tag. The real values of a released image are UNCONFIRMED (RustVersion unknown)."""
    text = ".".join(map(str, version))
    return BuildInfo(version=text, git_revision=_ZTUNNEL_COMMITS.get(version, "unknown"), git_tag=text)


# -- primitives ------------------------------------------------------------------------------------------------

def timestamp(ts: datetime) -> str:
    """tracing-subscriber SystemTime / istio formatDate: RFC3339 UTC with microseconds, `Z`. Naive means UTC."""
    moment = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def rust_duration(nanos: int) -> str:
    """`{:?}` of std::time::Duration: the largest unit with a non-zero integer part, all significant fraction
    digits (85_300 ns -> `85.3µs`, 6 ms -> `6ms`, 339_387_380_351 ns -> `339.387380351s`)."""
    secs, rest = divmod(nanos, 1_000_000_000)
    if secs:
        integer, fraction, width, unit = secs, rest, 9, "s"
    elif rest >= 1_000_000:
        integer, fraction, width, unit = rest // 1_000_000, rest % 1_000_000, 6, "ms"
    elif rest >= 1_000:
        integer, fraction, width, unit = rest // 1_000, rest % 1_000, 3, "µs"
    else:
        integer, fraction, width, unit = rest, 0, 0, "ns"
    digits = f"{fraction:0{width}d}".rstrip("0") if fraction else ""
    return f"{integer}.{digits}{unit}" if digits else f"{integer}{unit}"


def rust_debug_str(value: str) -> str:
    """`{:?}` of a &str: double quotes, `\\` `"` escaped, \\t \\r \\n \\0, other control characters as \\u{..}."""
    out = []
    for char in value:
        if char in "\\\"":
            out.append("\\" + char)
        elif char in "\t\r\n\0":
            out.append({"\t": "\\t", "\r": "\\r", "\n": "\\n", "\0": "\\0"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Display):
        return str(value)
    return rust_debug_str(value)


def _fields(fields: Fields) -> str:
    return " ".join(f"{name}={_value(value)}" for name, value in fields)


def printed(level: str) -> bool:
    """Whether a line at `level` shows with the default filter (info)."""
    return LEVELS.index(level) >= LEVELS.index(DEFAULT_LEVEL)


def ztunnel_line(version: IstioVersion, ts: datetime, level: str, target: str, message: str,
                 fields: Fields = (), spans: Sequence[Span] = ()) -> str:
    """One ztunnel log line (no newline) in the release's format. `target` is the Rust module path
    (`ztunnel::proxy::outbound`), or `access` for access logs."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if flags(version).ztunnel_istio_log_format:
        scope = target.removeprefix("ztunnel::")
        scope += "".join(f":{s.name}" + (f"{{{_fields(s.fields)}}}" if s.fields else "") for s in spans)
        tail = _fields(fields)
        return f"{timestamp(ts)}\t{level}\t{scope}\t{message}\t{tail}"
    chain = "".join(f"{s.name}" + (f"{{{_fields(s.fields)}}}" if s.fields else "") + ":" for s in spans)
    head = f"{timestamp(ts)} {level.upper():>5} " + (f"{chain} " if chain else "") + f"{target}: "
    return head + " ".join([message, *([_fields(fields)] if fields else [])])


# -- identities, errors ----------------------------------------------------------------------------------------

def workload_info(service_account: str, namespace: str, pod: str) -> str:
    """ztunnel@1.24.0:src/state.rs `impl Display for WorkloadInfo`: `<sa>.<ns> (<pod>)`."""
    return f"{service_account}.{namespace} ({pod})"


def unknown_source_error(version: IstioVersion, *, source_ip: str, info: str) -> str:
    """The outbound source-lookup failure: ztunnel@1.20.0..1.23.0:src/proxy.rs `#[error("unknown source: {0}")]`;
    1.24 (ztunnel_source_by_workload_info) `#[error("failed to fetch information about local workload: {0}")]`
    with `info` = `workload_info(...)`."""
    if flags(version).ztunnel_source_by_workload_info:
        return f"failed to fetch information about local workload: {info}"
    return f"unknown source: {source_ip}"


def unknown_destination_error(ip: str) -> str:
    """ztunnel@1.20.0..1.23.0:src/proxy.rs `#[error("unknown destination: {0}")]` (inbound plaintext to an address
    ztunnel has no workload for)."""
    return f"unknown destination: {ip}"


def policy_rejection_error(version: IstioVersion, *, policy: str | None = "istio-system/istio_converted_static_strict",
                           ) -> str:
    """RBAC denial as an error (1.22+; <= 1.21 logs `RBAC rejected` instead, see `rbac_rejected`).
    1.22/1.23 ztunnel src/proxy.rs `#[error("connection closed due to policy rejection")]`; 1.24
    `... policy rejection: {0}` with AuthorizationRejectionError: `explicitly denied by: {ns}/{name}` for a DENY
    policy, `allow policies exist, but none allowed` when `policy` is None."""
    if not flags(version).ztunnel_access_logs:
        raise ValueError(f"Istio {version}: ztunnel logs `RBAC rejected` for a denied connection, not an error")
    if not flags(version).ztunnel_policy_rejection_names_policy:
        return "connection closed due to policy rejection"
    reason = f"explicitly denied by: {policy}" if policy else "allow policies exist, but none allowed"
    return f"connection closed due to policy rejection: {reason}"


# -- ztunnel startup ---------------------------------------------------------------------------------------------

def proxy_span(version: IstioVersion, *, uid: str, namespace: str, name: str) -> Span | None:
    """The span an in-pod proxy runs in (ztunnel src/inpod/statemanager.rs): `proxy{uid=<uid>}` (1.21-1.22),
    `proxy{wl=<ns>/<pod>}` (1.23+); None for the shared node proxy (<= 1.20)."""
    f = flags(version)
    if not f.ambient_inpod_redirection:
        return None
    if f.ztunnel_inpod_logs_workload_name:
        return Span("proxy", (("wl", Display(f"{namespace}/{name}")),))
    return Span("proxy", (("uid", Display(uid)),))


def _listeners(version: IstioVersion, ts: datetime, transparent: bool) -> list[str]:
    """Proxy::from_inputs order: inbound, inbound plaintext, outbound, socks5 (ztunnel src/proxy/*.rs `new`)."""
    lines = [ztunnel_line(version, ts, "info", f"ztunnel::proxy::{module}", "listener established",
                          (("address", Display(address)), ("component", component), ("transparent", transparent)))
             for module, address, component in (("inbound", "[::]:15008", "inbound"),
                                                ("inbound_passthrough", "[::]:15006", "inbound plaintext"),
                                                ("outbound", "[::]:15001", "outbound"))]
    if not flags(version).ztunnel_socks5_off_by_default:
        lines.append(ztunnel_line(version, ts, "info", "ztunnel::proxy::socks5", "listener established",
                                  (("address", Display("127.0.0.1:15080")), ("component", "socks5"))))
    return lines


def _server(version: IstioVersion, ts: datetime, address: str, component: str) -> str:
    """ztunnel src/hyper_util.rs Server::spawn: `info!(%address, component=self.name, "listener established")`."""
    return ztunnel_line(version, ts, "info", "ztunnel::hyper_util", "listener established",
                        (("address", Display(address)), ("component", component)))


def startup(version: IstioVersion, ts: datetime, *, build: BuildInfo | None = None, transparent: bool = True,
            ) -> list[str]:
    """What ztunnel prints when it starts, up to its listeners (all at `ts`).

    src/main.rs: `version: {BuildInfo}`, `running with config: {yaml}` - the YAML dump is cut to its first line
    (`proxy: true`; the real message goes on over many lines). src/app.rs: the readiness server spawns first (on the
    data-plane thread; its order against the next lines is not fixed), then
    - <= 1.20 (shared node proxy): stats, admin, then the node's own listeners (inbound 15008, inbound plaintext 15006,
      outbound 15001, socks5 127.0.0.1:15080) with `transparent=true` (IP_TRANSPARENT works with NET_ADMIN);
    - 1.21+ (in-pod): `in-pod mode enabled` (1.23+: `shared proxy mode - in-pod mode enabled`), admin, stats;
      per-pod listeners come later (`pod_proxy_started`).
    Not rendered: xDS `Stream established` / `received response` (see `xds_received_response`), readiness task lines.
    """
    f = flags(version)
    b = build or build_info(version)
    profile = f', BuildProfile:"{b.build_profile}"' if f.ztunnel_build_info_profile else ""
    info = (f'version.BuildInfo{{Version:"{b.version}", GitRevision:"{b.git_revision}", RustVersion:"{b.rust_version}"'
            f'{profile}, BuildStatus:"{b.build_status}", GitTag:"{b.git_tag}", IstioVersion:"{b.istio_version}"}}')
    lines = [ztunnel_line(version, ts, "info", "ztunnel", f"version: {info}"),
             ztunnel_line(version, ts, "info", "ztunnel", "running with config: proxy: true"),
             _server(version, ts, "[::]:15021", "readiness")]
    if not f.ambient_inpod_redirection:
        return lines + [_server(version, ts, "[::]:15020", "stats"), _server(version, ts, "127.0.0.1:15000", "admin"),
                        *_listeners(version, ts, transparent)]
    mode = "shared proxy mode - in-pod mode enabled" if f.ztunnel_shared_inpod_mode_log else "in-pod mode enabled"
    return lines + [ztunnel_line(version, ts, "info", "ztunnel::app", mode),
                    _server(version, ts, "127.0.0.1:15000", "admin"), _server(version, ts, "[::]:15020", "stats")]


def pod_proxy_started(version: IstioVersion, ts: datetime, *, uid: str, namespace: str, name: str,
                      transparent: bool = True, dns_address: str | None = None) -> list[str]:
    """In-pod (1.21+): ztunnel receives a pod from the CNI agent (ZDS AddWorkload) and starts its proxy.

    src/inpod/statemanager.rs: 1.21-1.22 `pod {:?} received netns, starting proxy` (WorkloadUid Debug:
    `WorkloadUid("<uid>")`), 1.23+ `pod received, starting proxy` uid=/name=/namespace= (quoted). Then, when DNS
    capture is on, src/dns/server.rs `starting local DNS server` address=<dns_address> component="dns" (real 1.23-era
    logs show `localhost:15053`), then the listeners (`transparent` is true when IP_TRANSPARENT can be set, i.e. with
    the chart's NET_ADMIN; istio/istio#55937 shows `false` on some clusters, cause UNCONFIRMED).
    """
    f = flags(version)
    if not f.ambient_inpod_redirection:
        raise ValueError(f"Istio {version}: ztunnel runs one shared proxy per node (no in-pod proxies)")
    if f.ztunnel_inpod_logs_workload_name:
        first = ztunnel_line(version, ts, "info", "ztunnel::inpod::statemanager", "pod received, starting proxy",
                             (("uid", uid), ("name", name), ("namespace", namespace)))
    else:
        first = ztunnel_line(version, ts, "info", "ztunnel::inpod::statemanager",
                             f"pod WorkloadUid({rust_debug_str(uid)}) received netns, starting proxy")
    dns = [] if dns_address is None else [
        ztunnel_line(version, ts, "info", "ztunnel::dns::server", "starting local DNS server",
                     (("address", Display(dns_address)), ("component", "dns")))]
    return [first, *dns, *_listeners(version, ts, transparent)]


def xds_received_response(version: IstioVersion, ts: datetime, *, connection: int, type_url: str, size: int,
                          removes: int = 0) -> str:
    """Every xDS push ztunnel accepts (info): ztunnel src/xds/client.rs `received response` type_url= size=
    (1.21+: removes=), in span `xds{id=<connection number>}`. The per-workload inserts it triggers are debug."""
    fields: list[tuple[str, FieldValue]] = [("type_url", type_url), ("size", size)]
    if flags(version).ztunnel_xds_log_removes:
        fields.append(("removes", removes))
    return ztunnel_line(version, ts, "info", "ztunnel::xds::client", "received response", fields,
                        (Span("xds", (("id", connection),)),))


# -- connections ---------------------------------------------------------------------------------------------------

def _conn_spans(proxy: Span | None, name: str, conn_id: str) -> tuple[Span, ...]:
    return (*([proxy] if proxy else []), Span(name, (("id", Display(conn_id)),)))


def wait_timed_out(version: IstioVersion, ts: datetime, *, conn_id: str, info: str,
                   spans: Sequence[Span] | None = None, proxy: Span | None = None) -> str:
    """ztunnel gave up waiting 5 s for a workload from xDS (ztunnel_waits_for_source_workload): src/state.rs
    warn `timed out waiting for workload from xds` (1.22.2/1.23), `timed out waiting for workload '<info>' from xds`
    (1.24). Target `ztunnel::state`; spans default to the outbound connection's (`[proxy{..}:]outbound{id=..}`), as
    istio/istio#53271 shows. For an inbound plaintext wait (1.24) istio/istio#54889 shows no spans at all: pass
    `spans=()` (why the proxy span is missing there is UNCONFIRMED)."""
    f = flags(version)
    if not f.ztunnel_waits_for_source_workload:
        raise ValueError(f"Istio {version}: ztunnel does not wait for a missing workload")
    message = (f"timed out waiting for workload '{info}' from xds" if f.ztunnel_source_by_workload_info
               else "timed out waiting for workload from xds")
    chosen = _conn_spans(proxy, "outbound", conn_id) if spans is None else tuple(spans)
    return ztunnel_line(version, ts, "warn", "ztunnel::state", message, (), chosen)


def connection_failed(version: IstioVersion, ts: datetime, *, src: str, dst: str, direction: str, error: str) -> str:
    """1.22+ early denial (before a connection is set up): ztunnel src/proxy/metrics.rs `log_early_deny`, warn,
    target access, no spans: `connection failed src.addr=.. dst.addr=.. direction=".." error=..`; the error is bare
    in 1.22.0/1.22.1 (`error = %err`) and quoted from 1.22.2 (`format!`)."""
    f = flags(version)
    if not f.ztunnel_access_logs:
        raise ValueError(f"Istio {version}: no access logs; use outbound_failed / inbound_plaintext_failed")
    err: FieldValue = error if f.ztunnel_access_log_quotes_strings else Display(error)
    return ztunnel_line(version, ts, "warn", "access", "connection failed",
                        (("src.addr", Display(src)), ("dst.addr", Display(dst)), ("direction", direction),
                         ("error", err)))


@dataclass(frozen=True)
class AccessLog:
    """The fields of `connection complete` (ztunnel src/proxy/metrics.rs ConnectionResult::record), in print order.
    None fields are left out. Give identities only for mTLS (HBONE) connections (`.filter(|_| mtls)`)."""

    src_addr: str
    dst_addr: str  # outbound: the address dialled (pod:15008 for HBONE); inbound: the original destination
    direction: str  # "inbound" | "outbound"
    src_workload: str | None = None  # pod name (else canonical service)
    src_namespace: str | None = None
    src_identity: str | None = None  # spiffe://...
    dst_hbone_addr: str | None = None  # HBONE: the CONNECT target
    dst_service: str | None = None  # hostname, e.g. ratings.bookinfo.svc.cluster.local
    dst_workload: str | None = None
    dst_namespace: str | None = None
    dst_identity: str | None = None
    bytes_sent: int = 0
    bytes_recv: int = 0
    duration_ms: int = 0  # `format!("{}ms", elapsed.as_millis())`
    error: str | None = None  # Some -> level error, `error="..."` last


def connection_complete(version: IstioVersion, ts: datetime, log: AccessLog) -> str:
    """1.22+ `connection complete` (info; error with `error="..."` when the connection failed, e.g. an RBAC
    rejection). Workload/namespace/service are bare in 1.22.0/1.22.1 (`display`), quoted from 1.22.2; identities,
    direction, duration and error are quoted in every release; addresses and byte counts are bare."""
    f = flags(version)
    if not f.ztunnel_access_logs:
        raise ValueError(f"Istio {version}: ztunnel has no access logs")

    def name(value: str) -> FieldValue:
        return value if f.ztunnel_access_log_quotes_strings else Display(value)

    items: list[tuple[str, FieldValue | None]] = [
        ("src.addr", Display(log.src_addr)),
        ("src.workload", None if log.src_workload is None else name(log.src_workload)),
        ("src.namespace", None if log.src_namespace is None else name(log.src_namespace)),
        ("src.identity", log.src_identity),
        ("dst.addr", Display(log.dst_addr)),
        ("dst.hbone_addr", None if log.dst_hbone_addr is None else Display(log.dst_hbone_addr)),
        ("dst.service", None if log.dst_service is None else name(log.dst_service)),
        ("dst.workload", None if log.dst_workload is None else name(log.dst_workload)),
        ("dst.namespace", None if log.dst_namespace is None else name(log.dst_namespace)),
        ("dst.identity", log.dst_identity),
        ("direction", log.direction),
        ("bytes_sent", log.bytes_sent),
        ("bytes_recv", log.bytes_recv),
        ("duration", f"{log.duration_ms}ms"),
        ("error", log.error),
    ]
    fields = [(k, v) for k, v in items if v is not None]
    level = "info" if log.error is None else "error"
    return ztunnel_line(version, ts, level, "access", "connection complete", fields)


# <= 1.21 (tracing format, no access logs) -------------------------------------------------------------------------

def _legacy(version: IstioVersion) -> None:
    if flags(version).ztunnel_access_logs:
        raise ValueError(f"Istio {version}: ztunnel reports connections with access logs (connection_complete)")


def outbound_failed(version: IstioVersion, ts: datetime, *, conn_id: str, elapsed_ns: int, error: str,
                    proxy: Span | None = None) -> str:
    """<= 1.21: ztunnel@1.20.0:src/proxy/outbound.rs `Err(e) => warn!(dur=?start.elapsed(), err=%e, "failed")` in
    span `outbound{id=<32 hex>}` (1.21 in-pod: under `proxy{uid=..}`)."""
    _legacy(version)
    return ztunnel_line(version, ts, "warn", "ztunnel::proxy::outbound", "failed",
                        (("dur", Display(rust_duration(elapsed_ns))), ("err", Display(error))),
                        _conn_spans(proxy, "outbound", conn_id))


def outbound_proxying(version: IstioVersion, ts: datetime, *, conn_id: str, destination: str, gateway: str,
                      request_type: str, hbone: bool, proxy: Span | None = None) -> str:
    """<= 1.21 info when an outbound connection is set up (ztunnel@1.20.0:src/proxy/outbound.rs):
    HBONE `proxy to {dst} using HBONE via {gw} type {:#?}`, TCP `Proxying to {dst} using TCP via {gw} type {:?}`.
    `request_type`: ToServerWaypoint | Direct | DirectLocal | Passthrough (unit variants print their name).
    Same-node HBONE in the shared proxy takes the fast path instead: see `outbound_fast_path`."""
    _legacy(version)
    message = (f"proxy to {destination} using HBONE via {gateway} type {request_type}" if hbone
               else f"Proxying to {destination} using TCP via {gateway} type {request_type}")
    return ztunnel_line(version, ts, "info", "ztunnel::proxy::outbound", message, (),
                        _conn_spans(proxy, "outbound", conn_id))


def outbound_fast_path(version: IstioVersion, ts: datetime, *, conn_id: str, destination: str,
                       proxy: Span | None = None) -> str:
    """<= 1.21 shared proxy, HBONE to a pod on the same node: `proxying to {dst} using node local fast path`."""
    _legacy(version)
    return ztunnel_line(version, ts, "info", "ztunnel::proxy::outbound",
                        f"proxying to {destination} using node local fast path", (),
                        _conn_spans(proxy, "outbound", conn_id))


def outbound_complete(version: IstioVersion, ts: datetime, *, conn_id: str, elapsed_ns: int,
                      proxy: Span | None = None) -> str:
    """<= 1.21: `Ok(_) => info!(dur=?start.elapsed(), "complete")` in span outbound{id=..}."""
    _legacy(version)
    return ztunnel_line(version, ts, "info", "ztunnel::proxy::outbound", "complete",
                        (("dur", Display(rust_duration(elapsed_ns))),), _conn_spans(proxy, "outbound", conn_id))


def inbound_plaintext_accepted(version: IstioVersion, ts: datetime, *, source: str, destination: str,
                               proxy: Span | None = None) -> str:
    """<= 1.21 (ztunnel@1.20.0:src/proxy/inbound_passthrough.rs): `info!(%source, destination=%orig,
    component="inbound plaintext", "accepted connection")`, before the destination lookup."""
    _legacy(version)
    return ztunnel_line(version, ts, "info", "ztunnel::proxy::inbound_passthrough", "accepted connection",
                        (("source", Display(source)), ("destination", Display(destination)),
                         ("component", "inbound plaintext")), (proxy,) if proxy else ())


def inbound_plaintext_complete(version: IstioVersion, ts: datetime, *, source: str, destination: str,
                               proxy: Span | None = None) -> str:
    """<= 1.21: the same fields, message `connection complete`, once the relay ends."""
    _legacy(version)
    return ztunnel_line(version, ts, "info", "ztunnel::proxy::inbound_passthrough", "connection complete",
                        (("source", Display(source)), ("destination", Display(destination)),
                         ("component", "inbound plaintext")), (proxy,) if proxy else ())


def inbound_plaintext_failed(version: IstioVersion, ts: datetime, *, source: str, error: str,
                             proxy: Span | None = None) -> str:
    """<= 1.21: `warn!(source=%.., component="inbound plaintext", "proxying failed: {}", e)`, e.g. error
    `unknown destination: <ip>`."""
    _legacy(version)
    return ztunnel_line(version, ts, "warn", "ztunnel::proxy::inbound_passthrough", f"proxying failed: {error}",
                        (("source", Display(source)), ("component", "inbound plaintext")), (proxy,) if proxy else ())


def rbac_rejected(version: IstioVersion, ts: datetime, *, src_ip: str, src_identity: str | None, dst: str,
                  hbone: bool = False, spans: Sequence[Span] = ()) -> str:
    """<= 1.21 policy denial: `info!(%conn, "RBAC rejected")`, conn Display `{src_ip}({identity or None})->{dst}`
    (ztunnel@1.20.0:src/rbac.rs). Inbound plaintext (src/proxy/inbound_passthrough.rs): no connection span, then the
    socket is dropped with no other line. HBONE (`hbone=True`, src/proxy/inbound.rs, answered with a 401): pass the
    span `inbound{id=<traceparent> peer_ip=<ip> peer_id=<spiffe id>}` (under `proxy{..}` in 1.21) in `spans`."""
    _legacy(version)
    conn = f"{src_ip}({src_identity if src_identity is not None else 'None'})->{dst}"
    target = "ztunnel::proxy::inbound" if hbone else "ztunnel::proxy::inbound_passthrough"
    return ztunnel_line(version, ts, "info", target, "RBAC rejected", (("conn", Display(conn)),), spans)


def outbound_unknown_source(version: IstioVersion, ts: datetime, *, src: str, dst: str, conn_id: str,
                            info: str, elapsed_ns: int = 85_300, proxy: Span | None = None) -> list[str]:
    """The printed lines for an outbound connection whose source workload ztunnel cannot find (#48854 chain):
    <= 1.21 one `failed ... err=unknown source: <ip>` line; 1.22.0/1.22.1 `connection failed`; 1.22.2+ the 5 s
    wait's `timed out waiting ...` line, then `connection failed` (all stamped `ts`, the moment ztunnel gives up).
    `src`/`dst` are ip:port; `info` is `workload_info(sa, ns, pod)`."""
    f = flags(version)
    error = unknown_source_error(version, source_ip=src.rpartition(":")[0], info=info)
    if not f.ztunnel_access_logs:
        return [outbound_failed(version, ts, conn_id=conn_id, elapsed_ns=elapsed_ns, error=error, proxy=proxy)]
    lines = [wait_timed_out(version, ts, conn_id=conn_id, info=info, proxy=proxy)] if (
        f.ztunnel_waits_for_source_workload) else []
    return lines + [connection_failed(version, ts, src=src, dst=dst, direction="outbound", error=error)]


# -- istio-cni ---------------------------------------------------------------------------------------------------

def istio_line(ts: datetime, level: str, scope: str, message: str, labels: Fields = ()) -> str:
    """istio pkg/log console line: `<ts>\\t<level>\\t<scope>\\t<msg>`, labels appended to the message after a tab
    as bare `k=v` (pkg/log/scope.go emitWithTime: fmt.Sprint of each value)."""
    text = message + ("\t" + " ".join(f"{k}={v}" for k, v in labels) if labels else "")
    return "\t".join([timestamp(ts), level, *([scope] if scope else []), text])


def _agent_scope(version: IstioVersion) -> str:
    return "cni-agent" if flags(version).cni_agent_scope_cni_agent else "ambient"


def _plugin_scope(version: IstioVersion) -> str:
    return "cni-plugin" if flags(version).cni_plugin_scope_cni_plugin else "cni"


def _mask(prefix: int) -> str:
    return f"{(0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF:08x}"


def cni_pod_added(version: IstioVersion, ts: datetime, *, namespace: str, name: str, uid: str, pod_ip: str,
                  prefix: int = 24, host_ip: str = "10.244.0.1", service_account: str = "default",
                  trust_domain: str = "cluster.local", ztunnel_connected: bool = True,
                  via_plugin: bool = True) -> list[str]:
    """istio-cni-node's info lines when the CNI plugin adds an ambient pod (`pod_ip` from the previous plugin's
    result, `prefix` its mask).

    <= 1.20 (node-level, the plugin binary logs and the agent relays over its UDS log socket under scope `cni`,
    message only): istio@1.20.0:cni/pkg/plugin/plugin.go `istio-cni ambient cmdAdd podName: %s podIPs: %+v`,
    cni/pkg/ambient/net.go `Adding pod '%s/%s' (%s) to ipset` (pod NAME first, then namespace) and
    `Adding route for %s/%s: %+v` (the `ip route add` args, src = the node's pod-CIDR address).
    1.21-1.22.1 (agent, scope `ambient`): istio@1.21.0:cni/pkg/nodeagent/net.go
    `in pod mode - adding pod %s/%s to ztunnel ` (trailing space); 1.22.0/1.22.1 then
    istio@1.22.0:cni/pkg/nodeagent/ztunnelserver.go `About to send added pod: %s to ztunnel: %+v` (protobuf text,
    spacing as in istio/istio#51622's 1.22.1 log). 1.22.2+ (scope `cni-agent`): `adding pod to the mesh` ns= name=,
    `sending pod add to ztunnel` uid= name= namespace= serviceAccount=. The ZDS line (1.22+) is printed only when
    ztunnel is connected (`ztunnel_connected`); otherwise `cni_add_failed` follows the first line.
    """
    f = flags(version)
    if not f.ambient_inpod_redirection:
        # The plugin's lines are relayed under scope `cni`; the agent's informer (a pod enrolled after it
        # started, e.g. its namespace labelled later) runs the same net.go code under its own scope `ambient`.
        scope = "cni" if via_plugin else "ambient"
        route = f"[table 100 {pod_ip}/32 via 192.168.126.2 dev istioin src {host_ip}]"
        cmd_add = [istio_line(ts, "info", "cni", f"istio-cni ambient cmdAdd podName: {name} podIPs: "
                                                 f"[{{IP:{pod_ip} Mask:{_mask(prefix)}}}]")] if via_plugin else []
        return [*cmd_add, istio_line(ts, "info", scope, f"Adding pod '{name}/{namespace}' ({uid}) to ipset"),
                istio_line(ts, "info", scope, f"Adding route for {name}/{namespace}: {route}")]
    scope = _agent_scope(version)
    if f.cni_agent_add_log_labels:
        sending = istio_line(ts, "info", scope, "sending pod add to ztunnel",
                             (("uid", uid), ("name", name), ("namespace", namespace),
                              ("serviceAccount", service_account)))
        return [istio_line(ts, "info", scope, "adding pod to the mesh", (("ns", namespace), ("name", name))),
                *([sending] if ztunnel_connected else [])]
    lines = [istio_line(ts, "info", scope, f"in pod mode - adding pod {namespace}/{name} to ztunnel ")]
    if f.cni_agent_zds_add_log and ztunnel_connected:
        proto = (f'add:{{uid:"{uid}"  workload_info:{{name:"{name}"  namespace:"{namespace}"  '
                 f'service_account:"{service_account}"  trust_domain:"{trust_domain}"}}}}')
        lines.append(istio_line(ts, "info", scope, f"About to send added pod: {uid} to ztunnel: {proto}"))
    return lines


def _push_error(version: IstioVersion, agent_error: str) -> str:
    if flags(version).cni_plugin_error_has_agent_message:
        return f"unable to push CNI event (status code 500): {agent_error}\n"  # http.Error's body ends in \n
    return "unable to push CNI event, error was 500"


def cni_plugin_line(version: IstioVersion, ts: datetime, namespace: str, name: str, message: str,
                    level: str = "info") -> str:
    """A line of the istio-cni plugin (cni/pkg/plugin/plugin.go, logger WithLabels("pod", ns/name)) as the node
    agent relays it over its UDS log socket: scope `cni` (`cni-plugin` from 1.23), the pod label from 1.22.2."""
    pod = (("pod", f"{namespace}/{name}"),) if flags(version).cni_plugin_log_labels else ()
    return istio_line(ts, level, _plugin_scope(version), message, pod)


def cni_plugin_add_error(version: IstioVersion, agent_error: str = "partial add error: no ztunnel connection") -> str:
    """The error the istio-cni plugin returns for an ambient pod the node agent refused (1.21+), i.e. the text after
    `plugin type="istio-cni" name="istio-cni" failed (add): ` in kubelet's FailedCreatePodSandBox event.
    istio@1.21.0:cni/pkg/plugin/cnieventclient.go `unable to push CNI event, error was %d`; 1.22.3+
    (cni_plugin_error_has_agent_message) `unable to push CNI event (status code %d): %v` with the agent's response
    body, which `http.Error` ends with a newline - kept here, as the plugin returns it (kubectl describe trims it)."""
    if not flags(version).ambient_inpod_redirection:
        raise ValueError(f"Istio {version}: the ambient plugin path does not call the node agent")
    return _push_error(version, agent_error)


def cni_add_failed(version: IstioVersion, ts: datetime, *, namespace: str, name: str,
                   inner_error: str = "no ztunnel connection") -> list[str]:
    """istio-cni-node's error lines when the agent cannot finish an add (1.21+; after `cni_pod_added`'s first line),
    e.g. ztunnel not connected (istio@1.21.0:cni/pkg/nodeagent/ztunnelserver.go `no ztunnel connection`), wrapped
    as a PartialAddError (`partial add error: %v`, cni/pkg/nodeagent/error.go):
    agent server.go `failed to add pod to ztunnel: %v`; 1.23+ `pod: %s/%s was not enrolled and is unhealthy: %v`;
    cni-watcher.go `Failed to handle add event: %v` (1.22.3+ `failed to handle add event: %v` ns= name=); the
    plugin's `istio-cni cmdAdd failed to signal node Istio CNI agent: %s` (pod= label from 1.22.2), plugin.go
    CmdAdd's `istio-cni cmdAdd error: %v`, cmd/istio-cni/main.go `istio-cni failed with: %v`. Relayed plugin
    messages are TrimSpace'd (cni/pkg/log/uds.go), so the body's newline does not show."""
    f = flags(version)
    if not f.ambient_inpod_redirection:
        raise ValueError(f"Istio {version}: the ambient plugin path does not call the node agent")
    agent, plugin = _agent_scope(version), _plugin_scope(version)
    error = f"partial add error: {inner_error}"
    push = _push_error(version, error).strip()
    lines = [istio_line(ts, "error", agent, f"failed to add pod to ztunnel: {error}")]
    if f.cni_agent_logs_unenrolled_pod:
        lines.append(istio_line(ts, "error", agent, f"pod: {namespace}/{name} was not enrolled and is unhealthy: "
                                                    f"{error}"))
    if f.cni_plugin_error_has_agent_message:
        lines.append(istio_line(ts, "error", agent, f"failed to handle add event: {error}",
                                (("ns", namespace), ("name", name))))
    else:
        lines.append(istio_line(ts, "error", agent, f"Failed to handle add event: {error}"))
    pod = (("pod", f"{namespace}/{name}"),) if f.cni_plugin_log_labels else ()
    return lines + [
        istio_line(ts, "error", plugin, f"istio-cni cmdAdd failed to signal node Istio CNI agent: {push}", pod),
        istio_line(ts, "error", plugin, f"istio-cni cmdAdd error: {push}"),
        istio_line(ts, "error", plugin, f"istio-cni failed with: {push}"),
    ]
