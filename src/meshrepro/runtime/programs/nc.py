"""nc in two flavours: Debian's netcat-openbsd (1.219) and busybox's (nc_bloaty.c, 1.36).

Both connect to HOST PORT. With `-z` they only report whether the connect worked; without it, what
arrives on stdin is sent and the reply printed. The network is message-level, so a payload is
only meaningful when it is an HTTP request, which is what people pipe into nc in a pod.
"""

from __future__ import annotations

from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response, status_text
from meshrepro.runtime.process import Connection, Process, Program, ProgramRun
from meshrepro.runtime.programs.netfmt import (
    SYN_TIMEOUT,
    Libc,
    gai_strerror,
    service_name,
    strerror,
    within,
)


def _options(args: list[str], with_value: str) -> tuple[dict[str, str], list[str]]:
    """getopt: clustered flags, values attached or in the next word; repeated flags accumulate."""
    opts: dict[str, str] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or len(arg) == 1:
            operands.append(arg)
            continue
        for pos, letter in enumerate(arg[1:], start=1):
            if letter in with_value:
                value = arg[pos + 1:]
                if not value and i < len(args):
                    value, i = args[i], i + 1
                opts[letter] = value
                break
            opts[letter] = opts.get(letter, "") + letter  # repeated -v counts
    return opts, operands


def _parse_http(payload: str) -> Request | None:
    head, _, body = payload.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return Request(parts[0], parts[1], {k.strip(): v.strip() for k, v in headers.items()}, body.encode())


def _raw_response(response: Response) -> str:
    lines = [f"HTTP/1.1 {status_text(response.status)}", *(f"{k}: {v}" for k, v in response.headers.items())]
    if not response.header("Content-Length") and not response.header("Transfer-Encoding"):
        lines.append(f"Content-Length: {len(response.body)}")  # the framing a real server sends
    return "".join(f"{line}\r\n" for line in lines) + "\r\n" + response.body.decode("utf-8", "replace")


def _relay(proc: Process, conn: Connection | NetError, limit: float | None) -> ProgramRun:
    """readwrite(): send stdin, print what comes back until the peer closes; returns bytes received."""
    if isinstance(conn, NetError):
        return 0  # the peer closed at once: nothing to print, and nc exits 0 on EOF
    try:
        request = _parse_http(proc.stdin)
        if request is None:
            return 0
        done, reply = yield from within(proc, conn.exchange(request), limit)
        if done and isinstance(reply, Response):
            text = _raw_response(reply)
            proc.stdout.write(text)
            return len(text.encode())
    finally:
        conn.close()
    return 0


def make_nc_openbsd(libc: Libc = "glibc") -> Program:
    def nc(proc: Process) -> ProgramRun:
        opts, operands = _options(proc.argv[1:], "wsIOPpTViXx")
        if len(operands) != 2:
            proc.stderr.write("usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n"
                              "\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n"
                              "\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n"
                              "\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n"
                              "\t  [destination] [port]\n")
            return 1
        host, port_text = operands
        port = int(port_text)
        verbose = "v" in opts
        wait = float(opts["w"]) if opts.get("w") else None
        addresses = yield from proc.host.network.resolve(host)
        if isinstance(addresses, NetError):
            proc.stderr.write(f'nc: getaddrinfo for host "{host}" port {port}: {gai_strerror(addresses.kind, libc)}\n')
            return 1
        for ip in addresses:
            limit = wait if wait is not None else SYN_TIMEOUT
            done, conn = yield from within(proc, proc.host.network.dial(ip, port, timeout=limit), limit)
            if not done:
                conn = NetError(NetErrorKind.TIMEOUT, (ip, port))  # poll() timed out: nc fakes ETIMEDOUT
            if isinstance(conn, NetError) and conn.kind not in (NetErrorKind.EOF, NetErrorKind.RESET):
                if verbose:
                    shown = host if host == ip else f"{host} ({ip})"
                    proc.stderr.write(f"nc: connect to {shown} port {port} (tcp) failed: "
                                      f"{strerror(conn.kind, libc)}\n")
                continue
            if verbose:
                shown = host if host == ip else f"{host} ({ip})"
                service = service_name(proc, port) or "*"
                proc.stderr.write(f"Connection to {shown} {port} port [tcp/{service}] succeeded!\n")
            if "z" in opts:
                if not isinstance(conn, NetError):
                    conn.close()
                return 0
            yield from _relay(proc, conn, wait)
            return 0
        return 1

    nc.__name__ = "nc"
    return nc


def make_nc_busybox(libc: Libc = "glibc") -> Program:
    def nc(proc: Process) -> ProgramRun:
        opts, operands = _options(proc.argv[1:], "psw")
        if len(operands) != 2:
            proc.stderr.write("BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\n"
                              "Usage: nc [OPTIONS] HOST PORT  - connect\n")
            return 1
        host, port_text = operands
        port = int(port_text)
        verbosity = len(opts.get("v", ""))
        wait = float(opts["w"]) if opts.get("w") else None  # -w 0 / no -w: no alarm, the kernel decides
        addresses = yield from proc.host.network.resolve(host)
        if isinstance(addresses, NetError):
            proc.stderr.write(f"nc: bad address '{host}'\n")
            return 1
        ip = addresses[0]
        limit = wait or SYN_TIMEOUT
        done, conn = yield from within(proc, proc.host.network.dial(ip, port, timeout=limit), limit)
        if not done:
            conn = NetError(NetErrorKind.TIMEOUT, (ip, port))  # the alarm: errno = ETIMEDOUT, "fake it"
        status, received = 0, 0
        if isinstance(conn, NetError) and conn.kind not in (NetErrorKind.EOF, NetErrorKind.RESET):
            status = 1
            # One -v hides refusals (port scanning); -vv shows everything.
            if verbosity > 1 or (verbosity and conn.kind is not NetErrorKind.REFUSED):
                proc.stderr.write(f"nc: {host} ({ip}:{port}): {strerror(conn.kind, libc)}\n")
        else:
            if verbosity:
                proc.stderr.write(f"{host} ({ip}:{port}) open\n")
            if "z" in opts:
                if not isinstance(conn, NetError):
                    conn.close()
            else:
                received = yield from _relay(proc, conn, wait)
        if verbosity > 1:
            sent = len(proc.stdin.encode()) if received or not isinstance(conn, NetError) else 0
            proc.stderr.write(f"sent {sent if 'z' not in opts else 0}, rcvd {received}\n")
        return status

    nc.__name__ = "nc"
    return nc


nc_openbsd = make_nc_openbsd("glibc")
nc_busybox = make_nc_busybox("glibc")
