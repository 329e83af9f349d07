"""What Envoy and pilot-agent print, per release: Go durations, the default text access log format and its lines,
and how Envoy words an upstream failure (reset reason, transport failure reason, response flag, local reply body).
Pure functions: values in, text out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.net.errors import NetError, NetErrorKind


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() at nanosecond precision (`1.5s`, `104.719432ms`, `2m0.5s`)."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                whole, frac = divmod(nanos, size)
                digits = len(str(size)) - 1
                text = f"{whole}" + (f".{frac:0{digits}d}".rstrip("0") if frac else "")
                return f"{sign}{text}{unit}"
    secs, frac = divmod(nanos, 1_000_000_000)
    minutes, secs = divmod(secs, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{secs}" + (f".{frac:09d}".rstrip("0") if frac else "") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def envoy_time(ts: datetime) -> str:
    """%START_TIME% with Envoy's default format `%Y-%m-%dT%H:%M:%S.%3fZ`."""
    moment = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(ts: datetime) -> str:
    moment = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return format_datetime(moment, usegmt=True)


def envoy_text_log_format(version: IstioVersion) -> str:
    """EnvoyTextLogFormat as istiod sets it for the sidecar's file access log (pilot/pkg/model/telemetry_logging.go);
    the format string is the same 1.18-1.27 but for the upstream cluster operator."""
    cluster = "%UPSTREAM_CLUSTER_RAW%" if flags(version).envoy_access_log_upstream_cluster_raw else "%UPSTREAM_CLUSTER%"
    return ("[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% "
            "%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
            "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
            "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
            "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" " + cluster + " "
            "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
            "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n")


@dataclass
class AccessLogEntry:
    """The values of one access log line; "-" is Envoy's empty value. A TCP connection has no method, path or
    protocol (`"- - -"`) and response code 0."""

    start: datetime
    method: str = "-"
    path: str = "-"
    protocol: str = "-"
    code: int = 0
    flags: str = "-"
    details: str = "-"
    termination: str = "-"
    transport_failure: str = "-"
    bytes_received: int = 0
    bytes_sent: int = 0
    duration_ms: int = 0
    upstream_service_time: str = "-"
    forwarded_for: str = "-"
    user_agent: str = "-"
    request_id: str = "-"
    authority: str = "-"
    upstream_host: str = "-"
    upstream_cluster: str = "-"
    upstream_local: str = "-"
    downstream_local: str = "-"
    downstream_remote: str = "-"
    server_name: str = "-"
    route: str = "-"


def access_log_line(version: IstioVersion, entry: AccessLogEntry) -> str:
    """One line of the default text format (without the newline). %UPSTREAM_CLUSTER% and %UPSTREAM_CLUSTER_RAW%
    print the same name here: istiod sets no alt_stat_name unless outboundClusterStatName is configured."""
    e = entry
    fields = {
        "%START_TIME%": envoy_time(e.start), "%REQ(:METHOD)%": e.method, "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%": e.path,
        "%PROTOCOL%": e.protocol, "%RESPONSE_CODE%": str(e.code), "%RESPONSE_FLAGS%": e.flags,
        "%RESPONSE_CODE_DETAILS%": e.details, "%CONNECTION_TERMINATION_DETAILS%": e.termination,
        "%UPSTREAM_TRANSPORT_FAILURE_REASON%": e.transport_failure, "%BYTES_RECEIVED%": str(e.bytes_received),
        "%BYTES_SENT%": str(e.bytes_sent), "%DURATION%": str(e.duration_ms),
        "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%": e.upstream_service_time, "%REQ(X-FORWARDED-FOR)%": e.forwarded_for,
        "%REQ(USER-AGENT)%": e.user_agent, "%REQ(X-REQUEST-ID)%": e.request_id, "%REQ(:AUTHORITY)%": e.authority,
        "%UPSTREAM_HOST%": e.upstream_host, "%UPSTREAM_CLUSTER%": e.upstream_cluster,
        "%UPSTREAM_CLUSTER_RAW%": e.upstream_cluster, "%UPSTREAM_LOCAL_ADDRESS%": e.upstream_local,
        "%DOWNSTREAM_LOCAL_ADDRESS%": e.downstream_local, "%DOWNSTREAM_REMOTE_ADDRESS%": e.downstream_remote,
        "%REQUESTED_SERVER_NAME%": e.server_name, "%ROUTE_NAME%": e.route,
    }
    line = envoy_text_log_format(version)
    for token, value in fields.items():
        line = line.replace(token, value or "-")
    return line.rstrip("\n")


@dataclass(frozen=True)
class UpstreamFailure:
    """Why Envoy could not use an upstream connection: the reset reason and transport failure reason as Envoy words
    them, and the response flag it sets."""

    reason: str  # "connection failure" | "remote connection failure" | "connection termination" | ...
    transport: str = ""  # "delayed connect error: 111", "TLS error: ..."
    flag: str = "UF"

    @property
    def details(self) -> str:
        """%RESPONSE_CODE_DETAILS%: `upstream_reset_before_response_started{<reason>[,<transport>]}`, spaces as `_`."""
        inner = self.reason + (f",{self.transport}" if self.transport else "")
        return "upstream_reset_before_response_started{" + inner.replace(" ", "_") + "}"

    @property
    def transport_field(self) -> str:
        return self.transport.replace(" ", "_") if self.transport else "-"

    def body(self, retried: bool) -> str:
        """The router's local reply body (router.cc)."""
        return ("upstream connect error or disconnect/reset before headers. "
                + ("retried and the latest " if retried else "") + f"reset reason: {self.reason}"
                + (f", transport failure reason: {self.transport}" if self.transport else ""))


_ERRNO = {NetErrorKind.REFUSED: 111, NetErrorKind.UNREACHABLE: 113}
_TLS_ERRORS = {"WRONG_VERSION_NUMBER": 268435703, "CERTIFICATE_VERIFY_FAILED": 268435581}


def connect_failure(version: IstioVersion, error: NetError) -> UpstreamFailure:
    """The upstream failure for a connection Envoy could not establish (or that closed right after accept)."""
    if error.kind in (NetErrorKind.EOF, NetErrorKind.RESET):
        return UpstreamFailure("connection termination", flag="UC")
    remote = flags(version).envoy_remote_connection_failure
    if error.kind is NetErrorKind.TIMEOUT:
        # The pool's connect timeout; its wording before the local/remote split is UNCONFIRMED.
        return UpstreamFailure("connection timeout" if remote else "connection failure")
    errno = _ERRNO.get(error.kind, 111)
    return UpstreamFailure("remote connection failure" if remote else "connection failure",
                           f"delayed connect error: {errno}")


def tls_failure(version: IstioVersion, reason: str) -> UpstreamFailure:
    """A TLS handshake to the upstream that failed (BoringSSL's error queue as Envoy reports it)."""
    code = "CERTIFICATE_VERIFY_FAILED" if "x509" in reason or "certificate" in reason else "WRONG_VERSION_NUMBER"
    number = _TLS_ERRORS[code]
    if flags(version).envoy_ssl_failure_reason_format:
        transport = f"TLS_error:|{number}:SSL routines:OPENSSL_internal:{code}:TLS_error_end"
    else:
        transport = f"TLS error: {number}:SSL routines:OPENSSL_internal:{code}"
    remote = flags(version).envoy_remote_connection_failure
    return UpstreamFailure("remote connection failure" if remote else "connection failure", transport)
