"""The contract between programs and the machine they run on.

A program is a generator function taking a `Process`. It yields SimPy events (a timeout to sleep,
a network operation in progress) and returns its exit code. The same contract serves programs in
containers and programs on the user's terminal (kind, kubectl, sleep ...).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import simpy

from meshrepro.net.errors import NetError, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.tls import ClientTLS
from meshrepro.sim.clock import Clock

if TYPE_CHECKING:
    from meshrepro.runtime.fs import FileSystem

ProgramRun = Generator[simpy.Event, Any, int]
Program = Callable[["Process"], ProgramRun]


class Output(Protocol):
    def write(self, text: str) -> None: ...


@dataclass(frozen=True)
class Chunk:
    time: float
    stream: str  # "stdout" | "stderr"
    text: str


class Transcript:
    """What a process tree wrote, in order, with the simulated time of each write.

    A container's log and a terminal step's output are both transcripts.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.chunks: list[Chunk] = []

    def stream(self, name: str) -> Output:
        return _TranscriptStream(self, name)

    def text(self, stream: str | None = None) -> str:
        return "".join(c.text for c in self.chunks if stream is None or c.stream == stream)


class _TranscriptStream:
    def __init__(self, transcript: Transcript, name: str) -> None:
        self.transcript = transcript
        self.name = name

    def write(self, text: str) -> None:
        if text:
            self.transcript.chunks.append(Chunk(self.transcript.clock.now, self.name, text))


class Buffer:
    """An in-memory output, for `$(...)` and pipes."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def getvalue(self) -> str:
        return "".join(self.parts)


class Connection(Protocol):
    """An established TCP connection as the client sees it."""

    local: tuple[str, int]
    remote: tuple[str, int]

    def handshake(self, tls: ClientTLS) -> Generator[simpy.Event, Any, NetError | TLSFailure | None]:
        """TLS handshake; None on success."""
        ...

    def exchange(self, request: Request) -> Generator[simpy.Event, Any, Response | NetError]:
        """Send one HTTP request and wait for its response."""
        ...

    def close(self) -> None: ...


class Network(Protocol):
    """The network as one network namespace sees it."""

    def dial(self, ip: str, port: int, timeout: float = 30.0) -> Generator[simpy.Event, Any, Connection | NetError]:
        ...

    def resolve(self, name: str) -> Generator[simpy.Event, Any, list[str] | NetError]:
        """Resolve a host name the way the libc/Go resolver does with this host's resolv.conf."""
        ...

    def listen(self, port: int, listener: Any) -> None:
        """Bind a listener (a `net.server` listener) on every address of this namespace."""
        ...

    def unlisten(self, port: int) -> None: ...


class Host(Protocol):
    """A machine a process runs on: a container, or the user's terminal."""

    clock: Clock
    fs: FileSystem
    network: Network
    hostname: str

    def find_program(self, name: str, path: str) -> Program | None:
        """The program `name` resolves to with this PATH, or None (`not found`)."""
        ...

    def next_pid(self) -> int: ...


@dataclass
class Process:
    host: Host
    argv: list[str]
    env: dict[str, str]
    stdout: Output
    stderr: Output
    stdin: str = ""
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    pid: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # per-host facts programs may read (e.g. pod name)

    @property
    def clock(self) -> Clock:
        return self.host.clock

    def sleep(self, seconds: float) -> simpy.Event:
        return self.host.clock.timeout(seconds)

    def child(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        stdout: Output | None = None,
        stderr: Output | None = None,
        cwd: str | None = None,
    ) -> Process:
        """A new process inheriting this one's identity, environment and streams unless overridden."""
        return Process(
            host=self.host,
            argv=list(argv),
            env=dict(self.env if env is None else env),
            stdout=self.stdout if stdout is None else stdout,
            stderr=self.stderr if stderr is None else stderr,
            stdin="" if stdin is None else stdin,
            cwd=self.cwd if cwd is None else cwd,
            uid=self.uid,
            gid=self.gid,
            pid=self.host.next_pid(),
            extra=self.extra,
        )
