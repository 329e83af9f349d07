"""curl, as the curl tool of a given release prints it: errors, `-v` trace, progress meter, `-w`.

Outcomes come from the connection walk (`net.stack`); this module only decides what curl says
about each and which exit code it returns. Strings follow curl's sources (lib/connect.c,
lib/multi.c, lib/hostip.c, lib/http.c, lib/vtls/openssl.c, lib/progress.c, src/tool_operate.c,
src/tool_cb_dbg.c) at the releases named in `CurlRelease`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import urlsplit

from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response, status_text
from meshrepro.net.tls import ClientTLS
from meshrepro.runtime.process import Connection, Output, Process, Program, ProgramRun
from meshrepro.runtime.programs.netfmt import SYN_TIMEOUT, Steps, elapsed_ms, strerror, within, write_file

DEFAULT_CONNECT_TIMEOUT = 300.0  # DEFAULT_CONNECT_TIMEOUT in lib/connect.h
READ_BUFFER = 16384  # CURL_MAX_WRITE_SIZE: the first body read `-v` reports as `[N bytes data]`
CA_CERT_ERRORMSG = (  # src/tool_operate.c, printed after a (60)
    "More details here: https://curl.se/docs/sslcerts.html\n\n"
    "curl failed to verify the legitimacy of the server and therefore could not\n"
    "establish a secure connection to it. To learn more about this situation and\n"
    "how to fix it, please visit the web page mentioned above.\n"
)
TRY_HELP = "curl: try 'curl --help' or 'curl --manual' for more information\n"

# The OpenSSL each packaged curl links: curlimages/curl:8.5.0 is Alpine 3.19, Debian bookworm ships 7.88.1.
OPENSSL = {"8.5.0": "3.1.4", "7.88.1": "3.0.11"}


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


@dataclass(frozen=True)
class CurlRelease:
    """The behaviours that changed between curl releases, as flags."""

    version: str
    openssl: str
    couldnt_connect_text: bool  # 7.86.0 (connect.c rework): "Couldn't connect to server", not strerror(errno)
    connection_ids: bool  # before 8.2.0 verbose lines carry "(#0)" / "Closing connection 0"
    connect_fail_from: bool  # 8.5.0: "connect to IP port P from LIP port LP failed: ..."
    resolve_info: bool  # 8.5.0 show_resolve_info(): "Host x:80 was resolved." + IPv6/IPv4 lines
    no_url_code: bool  # 8.x helpf "(2) no URL specified" instead of "no URL specified!"

    @classmethod
    def of(cls, version: str) -> CurlRelease:
        v = _vt(version)
        return cls(version=version, openssl=OPENSSL.get(version, "3.0.11"),
                   couldnt_connect_text=v >= (7, 86, 0), connection_ids=v < (8, 2, 0),
                   connect_fail_from=v >= (8, 5, 0), resolve_info=v >= (8, 5, 0), no_url_code=v >= (8, 0, 0))


class CurlExit(Exception):
    """A libcurl error: the code and the error buffer text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UsageError(Exception):
    pass


@dataclass
class Options:
    url: str = ""
    silent: bool = False
    show_error: bool = False
    verbose: bool = False
    include: bool = False
    head: bool = False
    output: str | None = None
    write_out: str | None = None
    max_time: float | None = None
    connect_timeout: float | None = None
    insecure: bool = False
    method: str | None = None
    headers: list[str] = field(default_factory=list)
    data: str | None = None
    fail: bool = False
    location: bool = False
    resolve: dict[tuple[str, int], str] = field(default_factory=dict)
    user_agent: str | None = None
    no_meter: bool = False  # --no-progress-meter: errors stay, the meter goes


_FLAGS = {"s": "silent", "S": "show_error", "v": "verbose", "i": "include", "I": "head", "k": "insecure",
          "f": "fail", "L": "location"}
_SHORT_VALUE = {"o": "--output", "w": "--write-out", "m": "--max-time", "X": "--request", "H": "--header",
                "d": "--data", "A": "--user-agent"}
_LONG_FLAGS = {"--silent": "silent", "--show-error": "show_error", "--verbose": "verbose", "--include": "include",
               "--head": "head", "--insecure": "insecure", "--fail": "fail", "--location": "location"}
_LONG_VALUE = {"--output", "--write-out", "--max-time", "--connect-timeout", "--request", "--header", "--data",
               "--data-raw", "--data-binary", "--resolve", "--user-agent"}
_IGNORED = {"--http1.1", "--no-progress-meter", "-4", "--ipv4", "--compressed", "--no-buffer", "-N"}


def _set_value(opts: Options, name: str, value: str) -> None:
    if name in ("--max-time", "--connect-timeout"):
        try:
            seconds = float(value)
        except ValueError:
            raise UsageError(f"option {name}: expected a proper numerical parameter") from None
        setattr(opts, "max_time" if name == "--max-time" else "connect_timeout", seconds)
    elif name == "--output":
        opts.output = value
    elif name == "--write-out":
        opts.write_out = value
    elif name == "--request":
        opts.method = value
    elif name == "--header":
        opts.headers.append(value)
    elif name in ("--data", "--data-raw", "--data-binary"):
        opts.data = value if opts.data is None else f"{opts.data}&{value}"
    elif name == "--user-agent":
        opts.user_agent = value
    elif name == "--resolve":
        host, port, address = (value.split(":", 2) + ["", ""])[:3]
        opts.resolve[(host, int(port or 0))] = address


def parse_args(args: list[str]) -> Options:
    opts = Options()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in _IGNORED:
            opts.no_meter = opts.no_meter or arg == "--no-progress-meter"
        elif arg in _LONG_FLAGS:
            setattr(opts, _LONG_FLAGS[arg], True)
        elif arg in _LONG_VALUE:
            if i >= len(args):
                raise UsageError(f"option {arg}: requires parameter")
            _set_value(opts, arg, args[i])
            i += 1
        elif arg.startswith("--"):
            raise UsageError(f"option {arg}: is unknown")
        elif arg.startswith("-") and len(arg) > 1:
            for pos, letter in enumerate(arg[1:], start=1):
                if letter in _FLAGS:
                    setattr(opts, _FLAGS[letter], True)
                elif letter in _SHORT_VALUE:
                    value = arg[pos + 1:]
                    if not value:
                        if i >= len(args):
                            raise UsageError(f"option -{letter}: requires parameter")
                        value = args[i]
                        i += 1
                    _set_value(opts, _SHORT_VALUE[letter], value)
                    break
                else:
                    raise UsageError(f"option -{letter}: is unknown")
        else:
            opts.url = arg
    return opts


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    target: str  # path and query

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_url(url: str) -> Target:
    """curl's URL guessing: no scheme means http; path defaults to `/`; the fragment is never sent."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CurlExit(1, f'Protocol "{scheme}" not supported')
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise CurlExit(3, "URL using bad/illegal format or missing URL") from None
    host = parts.hostname or ""
    if not host:
        raise CurlExit(3, "URL using bad/illegal format or missing URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, target)


def _max5(value: int) -> str:
    """max5data() in lib/progress.c: at most five columns."""
    kib, mib, gib = 1024, 1024 ** 2, 1024 ** 3
    if value < 100000:
        return f"{value:5d}"
    if value < 10000 * kib:
        return f"{value // kib:4d}k"
    if value < 100 * mib:
        return f"{value // mib:2d}.{(value % mib) // (mib // 10)}M"
    if value < 10000 * mib:
        return f"{value // mib:4d}M"
    return f"{value // gib:4d}G"


def _time2str(seconds: int) -> str:
    if seconds <= 0:
        return "--:--:--"
    hours, rest = divmod(seconds, 3600)
    return f"{hours:2d}:{rest // 60:02d}:{rest % 60:02d}"


class Meter:
    """lib/progress.c's meter, which curl writes to stderr when not `-s`: a line at the start, one per
    second of waiting (curl's loop polls at least once a second), and a forced last one plus newline."""

    RING = 6  # CURR_TIME = 5 + 1

    def __init__(self, out: Output, start: float) -> None:
        self.out = out
        self.start = start
        self.shown = 0  # whole seconds of waiting already reported
        self.speeder: list[tuple[float, int]] = []  # (time, bytes) once per shown line

    def begin(self) -> None:
        self.out.write("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                       "                                 Dload  Upload   Total   Spent    Left  Speed\n")
        self._show(self.start, 0, None)

    def wait_until(self, now: float) -> None:
        while self.start + self.shown + 1 < now:
            self.shown += 1
            self._show(self.start + self.shown, 0, None)

    def done(self, now: float, downloaded: int, size: int | None) -> None:
        self.wait_until(now)
        self._show(now, downloaded, size)
        self.out.write("\n")

    def _show(self, now: float, downloaded: int, size: int | None) -> None:
        spent_us = round((now - self.start) * 1_000_000)
        speed = downloaded * 1_000_000 // spent_us if spent_us >= 1 else downloaded * 1_000_000
        self.speeder.append((now, downloaded))
        count = min(len(self.speeder), self.RING) - 1
        if count:  # "current speed" over the last few shown lines
            old_time, old_bytes = self.speeder[-1 - count]
            current = (downloaded - old_bytes) * 1000 // (elapsed_ms(old_time, now) or 1)
        else:
            current = speed
        percent = estimate = 0
        if size is not None and speed > 0:
            estimate = size // speed
            percent = _percent(downloaded, size)
        expected = downloaded if size is None else size
        spent = spent_us // 1_000_000
        self.out.write(
            f"\r{_percent(downloaded, expected):3d} {_max5(expected)}  {percent:3d} {_max5(downloaded)}  "
            f"{0:3d} {_max5(0)}  {_max5(speed)}  {_max5(0)} {_time2str(estimate)} {_time2str(spent)} "
            f"{_time2str(estimate - spent if estimate > 0 else 0)} {_max5(current)}")


def _percent(part: int, whole: int) -> int:
    if whole > 10000:
        return part // (whole // 100)
    return part * 100 // whole if whole > 0 else 0


def wire_headers(response: Response) -> list[tuple[str, str]]:
    """The header lines on the wire. Messages carry no framing, so an HTTP/1.1 server's Content-Length
    is added when the message has neither it nor Transfer-Encoding."""
    headers = list(response.headers.items())
    if not response.header("Content-Length") and not response.header("Transfer-Encoding"):
        headers.append(("Content-Length", str(len(response.body))))
    return headers


class Transfer:
    """One curl invocation's single transfer."""

    def __init__(self, proc: Process, release: CurlRelease, opts: Options) -> None:
        self.proc = proc
        self.release = release
        self.opts = opts
        self.start = proc.clock.now
        self.meter = Meter(proc.stderr, self.start) if not (opts.silent or opts.no_meter) else None
        self.meter_started = False
        self.overall = self.start + opts.max_time if opts.max_time else None
        connect = self.start + (opts.connect_timeout or DEFAULT_CONNECT_TIMEOUT)
        self.connect_deadline = min(connect, self.overall) if self.overall else connect
        self.response: Response | None = None
        self.remote: tuple[str, int] | None = None
        self.connected = False

    # -- output helpers -----------------------------------------------------------------------
    def info(self, text: str) -> None:
        if self.opts.verbose:
            self.proc.stderr.write(f"* {text}\n")

    def trace(self, prefix: str, lines: list[str]) -> None:
        if self.opts.verbose:
            self.proc.stderr.write("".join(f"{prefix} {line}\r\n" for line in lines))

    def start_meter(self) -> None:
        if self.meter is not None and not self.meter_started:
            self.meter_started = True
            self.meter.begin()

    def ms(self) -> int:
        return elapsed_ms(self.start, self.proc.clock.now)

    def fail(self, code: int, message: str) -> CurlExit:
        self.info(message)  # failf() also writes to the verbose trace
        return CurlExit(code, message)

    def closing(self) -> str:
        return "Closing connection 0" if self.release.connection_ids else "Closing connection"

    # -- the transfer -------------------------------------------------------------------------
    def run(self, url: Target) -> Steps[Response]:
        addresses = yield from self.resolve(url)
        conn = yield from self.connect(url, addresses)
        try:
            if url.scheme == "https":
                yield from self.handshake(url, conn)
            response = yield from self.request(url, conn)
        finally:
            conn.close()
        return response

    def resolve(self, url: Target) -> Steps[list[str]]:
        pinned = self.opts.resolve.get((url.host, url.port))
        try:
            ipaddress.ip_address(url.host)
            return [url.host]
        except ValueError:
            pass
        self.start_meter()
        if pinned:
            self.info(f"Added {url.host}:{url.port}:{pinned} to DNS cache")
            return [pinned]
        done, result = yield from within(self.proc, self.proc.host.network.resolve(url.host),
                                         self.connect_deadline - self.proc.clock.now)
        if not done:
            raise self.fail(28, f"Resolving timed out after {self.ms()} milliseconds")
        if isinstance(result, NetError):
            raise self.fail(6, f"Could not resolve host: {url.host}")
        if self.release.resolve_info:
            self.info(f"Host {url.host}:{url.port} was resolved.")
            self.info("IPv6: (none)")
            self.info(f"IPv4: {', '.join(result)}")
        return list(result)

    def connect(self, url: Target, addresses: list[str]) -> Steps[Connection]:
        errno_timeout = False
        last = NetError(NetErrorKind.REFUSED, (url.host, url.port))
        for ip in addresses:
            self.info(f"  Trying {ip}:{url.port}...")
            self.start_meter()
            remaining = self.connect_deadline - self.proc.clock.now
            done, result = yield from within(
                self.proc, self.proc.host.network.dial(ip, url.port, timeout=min(SYN_TIMEOUT, remaining)), remaining)
            if not done or (isinstance(result, NetError) and result.kind is NetErrorKind.TIMEOUT
                            and self.proc.clock.now >= self.connect_deadline - 1e-9):
                self.connect_timed_out(url, remaining)
            if isinstance(result, NetError) and result.kind in (NetErrorKind.EOF, NetErrorKind.RESET):
                # The handshake completed; the peer hangs up before (or as) it reads the request.
                self.remote = (ip, url.port)
                self.info(self.connected_line(url, ip))
                return _ClosedConnection(result)
            if isinstance(result, NetError):
                errno_timeout = result.kind is NetErrorKind.TIMEOUT
                local = f" from {result.local[0]} port {result.local[1]}" if (
                    self.release.connect_fail_from and result.local) else ""
                self.info(f"connect to {ip} port {url.port}{local} failed: {strerror(result.kind)}")
                last = result
                continue
            self.remote = (ip, url.port)
            self.connected = True
            self.info(self.connected_line(url, ip))
            return result
        reason = "Couldn't connect to server" if self.release.couldnt_connect_text else strerror(last.kind)
        # ETIMEDOUT from the kernel turns the (7) into a (28), with the same words.
        raise self.fail(28 if errno_timeout else 7,
                        f"Failed to connect to {url.host} port {url.port} after {self.ms()} ms: {reason}")

    def connect_timed_out(self, url: Target, limit: float) -> NoReturn:
        if self.overall is not None and self.proc.clock.now >= self.overall - 1e-9:
            # multi_runsingle() checks the overall timeout before the connect filters run.
            raise self.fail(28, f"Connection timed out after {self.ms()} milliseconds")
        self.info(f"ipv4 connect timeout after {int(limit * 1000)}ms, move on!")
        raise self.fail(28, f"Failed to connect to {url.host} port {url.port} after {self.ms()} ms: "
                            "Timeout was reached")

    def connected_line(self, url: Target, ip: str) -> str:
        suffix = " (#0)" if self.release.connection_ids else ""
        return f"Connected to {url.host} ({ip}) port {url.port}{suffix}"

    def handshake(self, url: Target, conn: Connection) -> Steps[None]:
        tls = ClientTLS(server_name=url.host, insecure=self.opts.insecure)
        done, result = yield from within(self.proc, conn.handshake(tls), self.connect_deadline - self.proc.clock.now)
        if not done:
            if self.overall is not None and self.proc.clock.now >= self.overall - 1e-9:
                raise self.fail(28, f"Connection timed out after {self.ms()} milliseconds")
            raise self.fail(28, "SSL connection timeout")
        ossl = f"OpenSSL/{self.release.openssl}"
        if isinstance(result, NetError):
            if result.kind is NetErrorKind.RESET:
                raise self.fail(35, f"OpenSSL SSL_connect: Connection reset by peer in connection to "
                                    f"{url.host}:{url.port} ")
            raise self.fail(35, f"{ossl}: error:0A000126:SSL routines::unexpected eof while reading")
        if isinstance(result, TLSFailure):
            raise self.tls_failure(url, result, ossl)
        return None

    def tls_failure(self, url: Target, failure: TLSFailure, ossl: str) -> CurlExit:
        """OpenSSL's verdict for what Go's crypto/tls words as `failure.reason`."""
        reason = failure.reason
        if "signed by unknown authority" in reason:
            return self.fail(60, "SSL certificate problem: unable to get local issuer certificate")
        if "certificate is valid for" in reason:
            return self.fail(60, f"SSL: no alternative certificate subject name matches target host name "
                                 f"'{url.host}'")
        if "expired" in reason:
            return self.fail(60, "SSL certificate problem: certificate has expired")
        return self.fail(35, f"{ossl}: error:0A00010B:SSL routines::wrong version number")

    def request(self, url: Target, conn: Connection) -> Steps[Response]:
        opts = self.opts
        method = opts.method or ("HEAD" if opts.head else "POST" if opts.data is not None else "GET")
        headers = self.request_headers(url)
        body = (opts.data or "").encode()
        self.trace(">", [f"{method} {url.target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), ""])
        if body and opts.verbose:
            self.proc.stderr.write(f"}} [{len(body)} bytes data]\n")
        limit = None if self.overall is None else self.overall - self.proc.clock.now
        done, result = yield from within(self.proc, conn.exchange(Request(method, url.target, headers, body)), limit)
        if not done:
            raise self.fail(28, f"Operation timed out after {self.ms()} milliseconds with 0 bytes received")
        if isinstance(result, NetError):
            if result.kind is NetErrorKind.EOF:
                raise self.fail(52, "Empty reply from server")
            raise self.fail(56, f"Recv failure: {strerror(result.kind)}")
        self.response = result
        return result

    def request_headers(self, url: Target) -> dict[str, str]:
        defaults = {"Host": url.host_header, "User-Agent": self.opts.user_agent or f"curl/{self.release.version}",
                    "Accept": "*/*"}
        custom: dict[str, str] = {}
        for line in self.opts.headers:
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            matching = next((k for k in defaults if k.lower() == name.lower()), None)
            if matching is not None and matching != "Host":
                del defaults[matching]
            if matching == "Host":
                defaults["Host"] = value
            elif value:  # `-H 'Accept:'` removes a header without sending one
                custom[name] = value
        headers = {**defaults, **custom}
        if self.opts.data is not None:
            headers["Content-Length"] = str(len(self.opts.data.encode()))
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return headers


class _ClosedConnection:
    """A connection the peer closed right after accepting: every use meets that close."""

    def __init__(self, error: NetError) -> None:
        self.error = error
        self.local = error.local or ("", 0)
        self.remote = error.remote

    def handshake(self, tls: ClientTLS) -> Steps[NetError]:
        return self.error
        yield  # pragma: no cover - makes this a generator

    def exchange(self, request: Request) -> Steps[NetError]:
        return self.error
        yield  # pragma: no cover

    def close(self) -> None:
        pass


_WRITE_OUT = re.compile(r"%\{([a-z_]+)\}|%%|\\[nrt\\]")


def write_out(template: str, values: dict[str, str], stderr: Output) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("\\"):
            return {"\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\"}[token]
        if token == "%%":
            return "%"
        name = match.group(1)
        if name not in values:
            stderr.write(f"curl: unknown --write-out variable: '{name}'\n")
            return ""
        return values[name]

    return _WRITE_OUT.sub(replace, template)


def make_curl(version: str) -> Program:
    """The curl tool of `version` (e.g. "8.5.0" for curlimages/curl, "7.88.1" for Debian bookworm)."""
    release = CurlRelease.of(version)

    def curl(proc: Process) -> ProgramRun:
        try:
            opts = parse_args(proc.argv[1:])
        except UsageError as error:
            proc.stderr.write(f"curl: {error}\n{TRY_HELP}")
            return 2
        if not opts.url:
            proc.stderr.write(("curl: (2) no URL specified\n" if release.no_url_code else "curl: no URL specified!\n")
                              + TRY_HELP)
            return 2
        transfer = Transfer(proc, release, opts)
        code, message = 0, ""
        url: Target | None = None
        try:
            url = parse_url(opts.url)
            response: Response = yield from transfer.run(url)
            code = _deliver(proc, transfer, url, response)
        except CurlExit as failure:
            code, message = failure.code, failure.message
        _finish(proc, transfer, url, code)
        if code and message and (not opts.silent or opts.show_error):
            proc.stderr.write(f"curl: ({code}) {message}\n" + (CA_CERT_ERRORMSG if code == 60 else ""))
        if opts.write_out is not None:
            proc.stdout.write(write_out(opts.write_out, _variables(transfer, opts, code, message), proc.stderr))
        return code

    curl.__name__ = "curl"
    return curl


def _deliver(proc: Process, transfer: Transfer, url: Target, response: Response) -> int:
    """Trace and write out a response; raises CurlExit for `-f` and write failures."""
    opts = transfer.opts
    status_line = f"HTTP/1.1 {status_text(response.status)}"
    headers = wire_headers(response)
    transfer.trace("<", [status_line, *(f"{k}: {v}" for k, v in headers), ""])
    if opts.fail and response.status >= 400:
        raise transfer.fail(22, f"The requested URL returned error: {response.status}")
    body = b"" if opts.head else response.body
    if body and opts.verbose:
        proc.stderr.write(f"{{ [{min(len(body), READ_BUFFER)} bytes data]\n")
    head_text = "".join(f"{line}\r\n" for line in [status_line, *(f"{k}: {v}" for k, v in headers), ""])
    text = (head_text if opts.include or opts.head else "") + body.decode("utf-8", "replace")
    if opts.output is None:
        proc.stdout.write(text)
        return 0
    error = write_file(proc, opts.output, text)
    if error is not None:
        if not opts.silent:
            proc.stderr.write(f"Warning: Failed to open the file {opts.output}: {error.c_message}\n")
        raise transfer.fail(23, "Failure writing output to destination")
    return 0


def _finish(proc: Process, transfer: Transfer, url: Target | None, code: int) -> None:
    """multi_done(): the last meter line, then the connection's fate in the trace."""
    response = transfer.response
    if transfer.meter is not None and url is not None:
        transfer.start_meter()
        size = None
        downloaded = 0
        if response is not None and code == 0 and not transfer.opts.head:
            downloaded = len(response.body)
            length = response.header("Content-Length")
            size = int(length) if length.isdigit() else downloaded if not response.header("Transfer-Encoding") else None
        transfer.meter.done(proc.clock.now, downloaded, size)
    if url is None:
        return
    if code == 0 and response is not None and response.header("Connection").lower() != "close":
        transfer.info(f"Connection #0 to host {url.host} left intact")
    else:
        transfer.info(transfer.closing())


def _variables(transfer: Transfer, opts: Options, code: int, message: str) -> dict[str, str]:
    response = transfer.response
    remote = transfer.remote or ("", 0)
    return {
        "http_code": f"{response.status if response else 0:03d}",
        "response_code": f"{response.status if response else 0:03d}",
        "remote_ip": remote[0],
        "remote_port": str(remote[1]) if remote[1] else "0",
        "size_download": str(len(response.body) if response and not opts.head else 0),
        "time_total": f"{transfer.proc.clock.now - transfer.start:.6f}",
        "url_effective": opts.url if "://" in opts.url else f"http://{opts.url}",
        "exitcode": str(code),
        "errormsg": message,
        "method": opts.method or ("HEAD" if opts.head else "POST" if opts.data is not None else "GET"),
    }


