"""client-go's REST client over the simulated network.

One attempt = resolve -> dial -> TLS handshake -> one HTTP exchange, each failure rendered in
Go's words. Around it, client-go's retry policy [CG 1.27.0-1.31.0 rest/request.go request(),
rest/with_retry.go]: a GET that failed with a connection reset or a "probable EOF" is retried up
to 10 times, 1 s apart (a synthetic `Retry-After: 1`); so is a body-less request answered 429/5xx
with a Retry-After header. Refused, timeouts and x509 errors are final at once. When the final
error differs from the one before it, the result is `<cur> - error from a previous attempt: <prev>`.
Timeouts from client-go's transport [CG transport/cache.go]: dial 30 s, TLS handshake 10 s.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

import simpy

from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.tls import ClientTLS
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Connection, Process

from .config import RestConfig
from .errors import GoError, StatusError, URLError, WrappedPreviousError
from .versions import KubectlVersion

MAX_RETRIES = 10  # [CG rest/request.go NewRequest: maxRetries: 10]
DIAL_TIMEOUT = 30.0
TLS_HANDSHAKE_TIMEOUT = 10.0
JSON = "application/json"

Wait = Generator[simpy.Event, Any, Any]


@dataclass
class Result:
    """rest.Result: the response, and the unstructured error of a non-2xx status."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    err: GoError | None = None

    @property
    def content_type(self) -> str:
        for key, value in self.headers.items():
            if key.lower() == "content-type":
                return value
        return ""

    def raw(self) -> bytes:
        """Result.Raw(): the generic error for a failed status (discovery uses this)."""
        if self.err is not None:
            raise self.err
        return self.body

    def error(self) -> GoError | None:
        """Result.Error(): prefer a Status object decoded from the body."""
        if self.err is None or not self.body:
            return self.err
        try:
            decoded = json.loads(self.body)
        except ValueError:
            return self.err
        if isinstance(decoded, dict) and decoded.get("kind") == "Status" and decoded.get("status") == "Failure":
            return StatusError(decoded)
        return self.err

    def into(self) -> Any:
        """Result.Into() / Get(): the decoded JSON object, or the (Status-preferring) error."""
        err = self.error()
        if err is not None:
            raise err
        try:
            return json.loads(self.body) if self.body else {}
        except ValueError as exc:
            raise GoError(f"couldn't get version/kind; json parse error: {exc}") from None


class _Timeout:
    """Marker: a step lost its race against a deadline."""


class RestClient:
    def __init__(self, proc: Process, config: RestConfig, version: KubectlVersion, command: str) -> None:
        self.proc = proc
        self.config = config
        self.version = version
        self.command = command
        self.session = str(uuid.UUID(int=proc.clock.rng.getrandbits(128), version=4))
        self._conn: Connection | None = None
        url = config.host if "://" in config.host else (
            ("https://" if config.trusted or config.insecure else "http://") + config.host)
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.hostname = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    @property
    def host_port(self) -> str:
        return urlsplit(self.base).netloc

    def url(self, path: str, query: list[tuple[str, str]] | None = None) -> str:
        text = self.base + path
        if query:
            # url.Values.Encode: keys sorted, QueryEscape (space as +)
            text += "?" + "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(query, key=lambda kv: kv[0]))
        return text

    def headers(self, accept: str, content_type: str = "") -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.version.user_agent}
        c = self.config
        if c.token:
            headers["Authorization"] = f"Bearer {c.token}"
        elif c.username or c.password:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
        if c.impersonate:
            headers["Impersonate-User"] = c.impersonate
        for group in c.impersonate_groups:
            # Go's http.Header.Add keeps every value; one message header carries them comma-joined
            headers["Impersonate-Group"] = ", ".join(filter(None, [headers.get("Impersonate-Group"), group]))
        if content_type:
            headers["Content-Type"] = content_type
        if self.proc.env.get("KUBECTL_COMMAND_HEADERS", "true").lower() not in ("false", "0"):
            headers["Kubectl-Command"] = self.command
            headers["Kubectl-Session"] = self.session
        headers["Accept-Encoding"] = "gzip"
        return headers

    # -- one logical request, with client-go's retries -------------------------------------------
    def request(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
                accept: str = JSON, body: bytes | None = None, content_type: str = "",
                timeout: float = 0.0) -> Wait:
        """Returns a Result; raises URLError (or a wrapped one) when no response came back."""
        timeout = timeout or self.config.timeout
        if timeout:
            query = [*(query or []), ("timeout", _go_duration(timeout))]
        url = self.url(path, query)
        target = url.removeprefix(self.base)
        deadline = self.proc.clock.now + timeout if timeout else None
        previous: GoError | None = None
        current: GoError | None = None
        attempts = 0
        while True:
            request = Request(method, urlsplit(self.base).path.rstrip("/") + target,
                              self.headers(accept, content_type if body is not None else ""), body or b"")
            outcome = yield from self._attempt(request, deadline)
            err = URLError(method, url, outcome) if isinstance(outcome, GoError) else None
            wait = self._retry_wait(method, body, outcome)
            attempts += 1
            # trackPreviousError: keep the two most recent attempt errors
            if current is not None:
                previous = current
            current = err
            if wait is None or attempts > MAX_RETRIES:
                break
            if deadline is not None and self.proc.clock.now + wait >= deadline:
                break
            yield self.proc.sleep(wait)
        if err is None:
            assert isinstance(outcome, Response)
            return _result(outcome)
        if previous is not None and str(previous) != str(err):
            inner = previous.inner if isinstance(previous, URLError) else previous
            raise WrappedPreviousError(err, inner)
        raise err

    @staticmethod
    def _retry_wait(method: str, body: bytes | None, outcome: Response | GoError) -> float | None:
        if body is not None:
            return None  # an opaque body cannot be replayed
        if isinstance(outcome, GoError):
            return 1.0 if method == "GET" and _probable_eof(str(outcome)) else None
        if outcome.status == 429 or outcome.status >= 500:
            value = outcome.header("Retry-After")
            if value.isdigit():
                return float(value)
        return None

    # -- one attempt ------------------------------------------------------------------------------
    def _attempt(self, request: Request, deadline: float | None) -> Wait:
        """A Response, or the GoError of the transport (the text inside the url.Error)."""
        conn = self._conn
        if conn is None or not getattr(conn, "open", True):
            conn = yield from self._connect(deadline)
            if isinstance(conn, GoError):
                return conn
        outcome = yield from self._race(conn.exchange(request), _remaining(self.proc, deadline))
        if isinstance(outcome, _Timeout):
            conn.close()
            self._conn = None
            return GoError("context deadline exceeded")
        if isinstance(outcome, NetError):
            self._conn = None
            return _net_text(outcome, "read")
        if outcome.header("Connection").lower() == "close":
            conn.close()
            self._conn = None
        else:
            self._conn = conn  # Go's transport keeps the connection for the next request
        return outcome

    def _connect(self, deadline: float | None) -> Wait:
        network = self.proc.host.network
        ip = self.hostname
        if not _is_ip(ip):
            resolved = yield from network.resolve(self.hostname)
            if isinstance(resolved, NetError):
                return self._dns_error(resolved)
            if not resolved:
                return GoError(f"dial tcp: lookup {self.hostname}: no such host")
            ip = resolved[0]
        limit = DIAL_TIMEOUT if deadline is None else min(DIAL_TIMEOUT, max(0.0, deadline - self.proc.clock.now))
        conn = yield from network.dial(ip, self.port, limit)
        if isinstance(conn, NetError):
            if conn.kind in (NetErrorKind.EOF, NetErrorKind.RESET):
                return _net_text(conn, "read")  # the connect succeeded; the first read failed
            return _net_text(conn, "dial")
        if self.scheme == "https":
            tls = ClientTLS(server_name=self.config.server_name or self.hostname, trusted=self.config.trusted,
                            insecure=self.config.insecure, certificate=self.config.client_certificate)
            limit = TLS_HANDSHAKE_TIMEOUT if deadline is None else min(TLS_HANDSHAKE_TIMEOUT,
                                                                         _remaining(self.proc, deadline) or 0.0)
            shaken = yield from self._race(conn.handshake(tls), limit)
            if isinstance(shaken, _Timeout):
                conn.close()
                return GoError("net/http: TLS handshake timeout")
            if isinstance(shaken, NetError):
                return _net_text(shaken, "read")
            if isinstance(shaken, TLSFailure):
                conn.close()
                reason = shaken.reason
                return GoError(f"tls: failed to verify certificate: {reason}" if reason.startswith("x509:")
                               else reason)
        return conn

    def _dns_error(self, err: NetError) -> GoError:
        server = self._nameserver()
        if err.kind is NetErrorKind.NXDOMAIN:
            return GoError(f"dial tcp: lookup {self.hostname} on {server}: no such host")
        return GoError(f"dial tcp: lookup {self.hostname} on {server}: read udp "
                       f"{_addr(err.local)}->{server}: i/o timeout" if err.local
                       else f"dial tcp: lookup {self.hostname} on {server}: i/o timeout")

    def _nameserver(self) -> str:
        """The first nameserver of /etc/resolv.conf, as Go's resolver names it in errors."""
        try:
            text = self.proc.host.fs.read("/etc/resolv.conf")
        except FsError:
            return "127.0.0.1:53"  # Go's default when resolv.conf is missing
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                return f"[{fields[1]}]:53" if ":" in fields[1] else f"{fields[1]}:53"
        return "127.0.0.1:53"

    def _race(self, step: Wait, limit: float | None) -> Wait:
        """Run `step`, giving up after `limit` seconds (None: no limit)."""
        if limit is None:
            return (yield from step)
        clock = self.proc.clock
        running = clock.process(step)
        timer = clock.timeout(limit)
        yield running | timer
        if running.triggered:
            return running.value
        return _Timeout()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _result(response: Response) -> Result:
    """transformResponse: statuses outside 200-206 carry NewGenericServerResponse's error."""
    result = Result(response.status, dict(response.headers), response.body)
    if not 200 <= response.status <= 206:
        text_body = result.content_type.startswith("text/")
        message = response.body.decode(errors="replace").strip() if text_body else "unknown"
        result.err = generic_server_error(response.status, result.content_type, message)
    return result


_GENERIC = {
    409: ("Conflict", "the server reported a conflict"),
    404: ("NotFound", "the server could not find the requested resource"),
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    413: ("RequestEntityTooLarge", "the server has rejected the request because it is too large"),
    415: ("UnsupportedMediaType", "the server was unable to respond with a content type that the client supports"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", ("the server was unable to return a response in the time allotted, "
                     "but may still be processing the request")),
}


def generic_server_error(code: int, content_type: str, server_message: str) -> StatusError:
    """errors.NewGenericServerResponse [AM 1.29.0 pkg/api/errors/errors.go]."""
    fallback = f"the server responded with the status code {code} but did not return more information"
    reason, message = _GENERIC.get(code, ("", fallback))
    if code == 403:
        reason, message = "Forbidden", server_message
    elif code == 406:
        reason = "NotAcceptable"
        message = server_message if server_message not in ("", "unknown") else \
            "the server was unable to respond with a content type that the client supports"
    elif code >= 500 and code not in _GENERIC:
        reason = "InternalError"
        message = f"an error on the server ({json.dumps(server_message)}) has prevented the request from succeeding"
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
              "details": {"causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]},
              "code": code}
    return StatusError(status)


def _probable_eof(text: str) -> bool:
    """utilnet.IsProbableEOF / IsConnectionReset [AM pkg/util/net/http.go]."""
    return (text in ("EOF", "unexpected EOF") or "connection reset by peer" in text
            or "use of closed network connection" in text or "broken connection" in text
            or "http2: server sent GOAWAY and closed the connection" in text)


def _net_text(err: NetError, op: str) -> GoError:
    """The Go *net.OpError (or io.EOF) text of a connection failure."""
    remote = _addr(err.remote)
    match err.kind:
        case NetErrorKind.EOF:
            return GoError("EOF")
        case NetErrorKind.RESET if op == "read":
            return GoError(f"read tcp {_addr(err.local)}->{remote}: read: connection reset by peer")
        case NetErrorKind.RESET | NetErrorKind.REFUSED:
            return GoError(f"dial tcp {remote}: connect: connection refused")
        case NetErrorKind.TIMEOUT:
            return GoError(f"dial tcp {remote}: i/o timeout")
        case NetErrorKind.UNREACHABLE:
            return GoError(f"dial tcp {remote}: connect: no route to host")
    return GoError(f"dial tcp {remote}: {err.kind.value}")


def _addr(address: tuple[str, int] | None) -> str:
    if address is None:
        return ""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _remaining(proc: Process, deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - proc.clock.now)


def _go_duration(seconds: float) -> str:
    """time.Duration.String for whole seconds and minutes: 32s, 1m0s."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s"
