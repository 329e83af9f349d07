"""What the network programs share: libc's words for connect-level failures, deadlines, timing.

curl, wget, nc and nslookup all see the same few outcomes from `net.stack` (refused, reset, EOF,
dropped, no such name, no DNS answer); each prints them through the C library of its image, so
the words depend on glibc (Debian, busybox:glibc) or musl (Alpine, curlimages/curl).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import simpy

from meshrepro.net.errors import NetErrorKind
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.process import Process

Libc = str  # "glibc" | "musl"
T = TypeVar("T")
Steps = Generator[simpy.Event, Any, T]  # a simulated operation that ends with a T

# Linux gives up on an unanswered SYN after tcp_syn_retries=6 retransmissions: 1+2+4+...+64 s.
SYN_TIMEOUT = 127.0

_STRERROR: dict[Libc, dict[NetErrorKind, str]] = {
    "glibc": {
        NetErrorKind.REFUSED: "Connection refused",
        NetErrorKind.RESET: "Connection reset by peer",
        NetErrorKind.TIMEOUT: "Connection timed out",
        NetErrorKind.UNREACHABLE: "No route to host",
    },
    "musl": {
        NetErrorKind.REFUSED: "Connection refused",
        NetErrorKind.RESET: "Connection reset by peer",
        NetErrorKind.TIMEOUT: "Operation timed out",
        NetErrorKind.UNREACHABLE: "Host is unreachable",
    },
}

_GAI_STRERROR: dict[Libc, dict[NetErrorKind, str]] = {
    "glibc": {NetErrorKind.NXDOMAIN: "Name or service not known",
              NetErrorKind.DNS_FAILURE: "Temporary failure in name resolution"},
    "musl": {NetErrorKind.NXDOMAIN: "Name does not resolve", NetErrorKind.DNS_FAILURE: "Try again"},
}


def strerror(kind: NetErrorKind, libc: Libc = "glibc") -> str:
    """strerror(errno) for a socket failure. EOF has no errno: a read simply returns 0."""
    return _STRERROR[libc].get(kind, "")


def gai_strerror(kind: NetErrorKind, libc: Libc = "glibc") -> str:
    """gai_strerror() for a failed getaddrinfo()."""
    return _GAI_STRERROR[libc].get(kind, _GAI_STRERROR[libc][NetErrorKind.NXDOMAIN])


def elapsed_ms(start: float, now: float) -> int:
    """Whole milliseconds between two instants, truncated as curl's Curl_timediff() does."""
    return int((now - start) * 1000 + 1e-6)  # the epsilon absorbs float error in sums of delays


def within(proc: Process, operation: Generator[simpy.Event, Any, Any],
           limit: float | None) -> Generator[simpy.Event, Any, tuple[bool, Any]]:
    """Run a network operation for at most `limit` seconds: (True, result), or (False, None) when the
    time ran out. The abandoned operation is interrupted, as closing the socket would end it."""
    if limit is None:
        return True, (yield from operation)
    task = proc.clock.process(operation)
    deadline = proc.clock.timeout(max(0.0, limit))
    yield task | deadline
    if task.triggered:
        return True, task.value
    task.defused = True  # its Interrupt is expected: nobody waits for it any more
    task.interrupt()
    return False, None


def write_file(proc: Process, path: str, text: str) -> FsError | None:
    """Write an output file as the process's user; `/dev/null` swallows everything."""
    if path == "/dev/null":
        return None
    try:
        proc.host.fs.write(path, text, uid=proc.uid, gid=proc.gid, cwd=proc.cwd)
    except FsError as error:
        return error
    return None


def service_name(proc: Process, port: int, protocol: str = "tcp") -> str | None:
    """getservbyport(): the name /etc/services of this image gives the port, if any."""
    try:
        services = proc.host.fs.read("/etc/services")
    except FsError:
        return None
    for line in services.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[1] == f"{port}/{protocol}":
            return fields[0]
    return None
