"""busybox wget (1.36): `wget [-q] [-O FILE] [-T SEC] [-S] [-U AGENT] URL`, in networking/wget.c's words.

Diagnostics go to stderr prefixed `wget: `; any failure exits 1. stderr is never a terminal in a
pod, so the status bar is printed once per update as a whole line (libbb/progress.c's notty form).
"""

from __future__ import annotations

import posixpath

from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response, status_text
from meshrepro.net.tls import ClientTLS
from meshrepro.runtime.process import Process, Program, ProgramRun
from meshrepro.runtime.programs.netfmt import SYN_TIMEOUT, Libc, strerror, within, write_file

DEFAULT_TIMEOUT = 900  # G.timeout_seconds
BAR = 32  # get_terminal_width() falls back to 80 columns off a tty; the bar gets 80 - 48


class WgetError(Exception):
    pass


def smart_ulltoa5(value: int) -> str:
    """libbb's five-column size: `  615`, `12345`, ` 120k`, `92.1M`."""
    if value <= 99999:
        return f"{value:5d}"
    scaled, index = value * 10, 0
    while True:
        scaled //= 1024
        index += 1
        if scaled < 100000:
            break
    whole, tenth = divmod(scaled, 10)
    suffix = " kMGTPEZY"[index]
    if whole >= 100:
        return f"{whole:4d}{suffix}"
    return f"{whole:2d}.{tenth}{suffix}"


def progress_line(curfile: str, transferred: int) -> str:
    """The PROGRESS_END line: wget then treats what arrived as the total, so a non-empty download
    shows a full bar; the body arrives within one second, so the ETA is 0."""
    line = f"{curfile:<20.20s} "
    if transferred:
        line += f"100% |{'*' * BAR}| {smart_ulltoa5(transferred)}  0:00:00 ETA"
    else:
        line += f"{smart_ulltoa5(0)} --:--:-- ETA"
    return line + "\n"


def _parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    takes_value = {"O", "o", "P", "Y", "U", "T", "t"}
    longs = {"--quiet": "q", "--server-response": "S", "--output-document": "O", "--user-agent": "U",
             "--timeout": "T", "--continue": "c", "--spider": "spider", "--no-check-certificate": "nocheck"}
    opts: dict[str, str] = {}
    urls: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            key = longs.get(name)
            if key is None:
                raise WgetError(f"unrecognized option '{arg}'")
            if key in takes_value and not eq:
                value, i = args[i], i + 1
            opts[key] = value
        elif arg.startswith("-") and len(arg) > 1:
            for pos, letter in enumerate(arg[1:], start=1):
                if letter in takes_value:
                    value = arg[pos + 1:]
                    if not value:
                        value, i = args[i], i + 1
                    opts[letter] = value
                    break
                if letter not in "cqS":
                    raise WgetError(f"invalid option -- '{letter}'")
                opts[letter] = ""
        else:
            urls.append(arg)
    return opts, urls


def _split_url(url: str) -> tuple[str, str, int, str]:
    """parse_url(): scheme (http by default), host[:port] as written, port, path without its slash."""
    scheme = "http"
    if "://" in url:
        scheme, url = url.split("://", 1)
        if scheme not in ("http", "https"):
            raise WgetError(f"not an http or ftp url: {scheme}")
    hostport, _, path = url.partition("/")
    port = hostport.partition(":")[2]
    return scheme, hostport, int(port) if port else (443 if scheme == "https" else 80), path


def make_wget(libc: Libc = "glibc") -> Program:
    """busybox wget linked against `libc` (busybox:latest is glibc, Alpine's is musl)."""

    def wget(proc: Process) -> ProgramRun:
        try:
            return (yield from _wget(proc, libc))
        except WgetError as error:
            proc.stderr.write(f"wget: {error}\n")
            return 1

    return wget


def _wget(proc: Process, libc: Libc) -> ProgramRun:
    opts, urls = _parse(proc.argv[1:])
    if not urls:
        raise WgetError("missing URL")  # simplification: busybox prints its usage text
    quiet = "q" in opts
    timeout = float(opts.get("T", DEFAULT_TIMEOUT))
    scheme, hostport, port, path = _split_url(urls[0])
    host = hostport.partition(":")[0]
    out_name = opts.get("O") or posixpath.basename(path.split("?", 1)[0]) or "index.html"
    err = proc.stderr

    addresses = yield from proc.host.network.resolve(host)
    if isinstance(addresses, NetError):
        raise WgetError(f"bad address '{host}'")
    ip = addresses[0]
    if not quiet:
        err.write(f"Connecting to {host} ({ip}:{port})\n")

    # alarm(-T) guards the connect and each read of the response.
    done, conn = yield from within(proc, proc.host.network.dial(ip, port, timeout=min(SYN_TIMEOUT, timeout)), timeout)
    if not done or (isinstance(conn, NetError) and conn.kind is NetErrorKind.TIMEOUT and timeout <= SYN_TIMEOUT):
        raise WgetError("download timed out")
    if isinstance(conn, NetError) and conn.kind not in (NetErrorKind.EOF, NetErrorKind.RESET):
        raise WgetError(f"can't connect to remote host ({ip}): {strerror(conn.kind, libc)}")
    if isinstance(conn, NetError):
        _response_failed(conn)
    try:
        if scheme == "https":
            err.write("wget: note: TLS certificate validation not implemented\n")
            shaken = yield from conn.handshake(ClientTLS(server_name=host, insecure=True))
            if isinstance(shaken, NetError):
                _response_failed(shaken)
        agent = opts.get("U", "Wget")
        request = Request("GET", "/" + path, {"Host": hostport, "User-Agent": agent, "Connection": "close"})
        done, response = yield from within(proc, conn.exchange(request), timeout)
    finally:
        conn.close()
    if not done:
        raise WgetError("download timed out")
    if isinstance(response, NetError):
        _response_failed(response)
    return _save(proc, opts, out_name, response)


def _response_failed(error: NetError) -> None:
    """fgets() of the status line returned NULL: perror() adds strerror only when errno is set."""
    reason = strerror(error.kind)
    raise WgetError("error getting response" + (f": {reason}" if reason else ""))


def _save(proc: Process, opts: dict[str, str], out_name: str, response: Response) -> int:
    err = proc.stderr
    status_line = f"HTTP/1.1 {status_text(response.status)}"
    headers = list(response.headers.items())
    if not response.header("Content-Length") and not response.header("Transfer-Encoding"):
        headers.append(("Content-Length", str(len(response.body))))  # the framing a real server sends
    if "S" in opts:
        err.write("".join(f"  {line}\n" for line in [status_line, *(f"{k}: {v}" for k, v in headers), ""]))
    if not (200 <= response.status <= 204 or response.status in (300, 301, 302, 303, 307, 308)):
        raise WgetError(f"server returned error: {status_line}")
    quiet = "q" in opts
    to_stdout = out_name == "-"
    body = response.body.decode("utf-8", "replace")
    if not to_stdout:
        error = write_file(proc, out_name, body)
        if error is not None:
            raise WgetError(f"can't open '{out_name}': {error.c_message}")
    if not quiet:
        err.write("writing to stdout\n" if to_stdout else f"saving to '{out_name}'\n")
    if to_stdout:
        proc.stdout.write(body)
    if not quiet:
        err.write(progress_line(posixpath.basename(out_name), len(response.body)))
        err.write("written to stdout\n" if to_stdout else f"'{out_name}' saved\n")
    return 0


wget = make_wget("glibc")
