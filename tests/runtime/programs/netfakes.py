"""A scripted network for the network programs' tests: each name and address gives one outcome."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.tls import ClientTLS
from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.process import Process, Program, Transcript
from meshrepro.sim.clock import Clock

LOCAL = ("10.244.0.7", 40000)
Wait = Generator[simpy.Event, Any, Any]


@dataclass
class Server:
    """What listens at one address. `reply` answers requests (a Response, or a NetError kind)."""

    reply: Callable[[Request], Response | NetErrorKind] = lambda request: Response(200, {}, b"hello\n")
    delay: float = 0.0  # seconds before the reply
    tls: TLSFailure | NetErrorKind | None = None  # handshake outcome; None: succeeds
    hang: bool = False  # never answers the request


@dataclass
class FakeNetwork:
    clock: Any
    names: dict[str, list[str] | NetErrorKind] = field(default_factory=dict)
    resolve_delay: float = 0.0
    # (ip, port) -> Server, or a NetErrorKind: REFUSED, TIMEOUT (dropped SYN), EOF/RESET (accept then close)
    routes: dict[tuple[str, int], Server | NetErrorKind] = field(default_factory=dict)
    connect_delay: float = 0.0
    dials: list[tuple[str, int, float]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    tls_seen: list[ClientTLS] = field(default_factory=list)

    def resolve(self, name: str) -> Wait:
        if self.resolve_delay:
            yield self.clock.timeout(self.resolve_delay)
        answer = self.names.get(name, [name] if name[0].isdigit() else NetErrorKind.NXDOMAIN)
        if isinstance(answer, NetErrorKind):
            return NetError(answer, (name, 0), name=name)
        return list(answer)

    def dial(self, ip: str, port: int, timeout: float = 30.0) -> Wait:
        self.dials.append((ip, port, timeout))
        route = self.routes.get((ip, port), NetErrorKind.REFUSED)
        if route is NetErrorKind.TIMEOUT:
            yield self.clock.timeout(timeout)
            return NetError(route, (ip, port), LOCAL)
        if self.connect_delay:
            yield self.clock.timeout(self.connect_delay)
        if isinstance(route, NetErrorKind):
            return NetError(route, (ip, port), LOCAL)
        return FakeConnection(self, route, (ip, port))

    def listen(self, port: int, listener: Any) -> None:
        raise NotImplementedError

    def unlisten(self, port: int) -> None:
        raise NotImplementedError


class FakeConnection:
    def __init__(self, network: FakeNetwork, server: Server, remote: tuple[str, int]) -> None:
        self.network = network
        self.server = server
        self.local = LOCAL
        self.remote = remote
        self.closed = False

    def handshake(self, tls: ClientTLS) -> Wait:
        self.network.tls_seen.append(tls)
        outcome = self.server.tls
        if isinstance(outcome, NetErrorKind):
            return NetError(outcome, self.remote, self.local)
        return None if tls.insecure else outcome
        yield  # pragma: no cover

    def exchange(self, request: Request) -> Wait:
        self.network.requests.append(request)
        if self.server.hang:
            yield self.network.clock.env.event()
        if self.server.delay:
            yield self.network.clock.timeout(self.server.delay)
        reply = self.server.reply(request)
        if isinstance(reply, NetErrorKind):
            return NetError(reply, self.remote, self.local)
        return reply

    def close(self) -> None:
        self.closed = True


@dataclass
class NetHost:
    clock: Clock
    fs: FileSystem
    network: FakeNetwork
    hostname: str = "client-7d9f8"
    pid: int = 1

    def find_program(self, name: str, path: str) -> Program | None:
        return None

    def next_pid(self) -> int:
        self.pid += 1
        return self.pid


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    output: str  # both streams in write order
    elapsed: float


def net_host(files: dict[str, str] | None = None, **network: Any) -> NetHost:
    clock = Clock()
    return NetHost(clock, FileSystem(dict(files or {})), FakeNetwork(clock, **network))


def run(host: NetHost, program: Program, command: str | list[str], stdin: str = "", uid: int = 0) -> Result:
    """Run `command` (split on spaces when a string) to completion on the host's clock."""
    argv = command.split() if isinstance(command, str) else command
    transcript = Transcript(host.clock)
    proc = Process(host=host, argv=argv, env={"PATH": "/usr/bin:/bin"}, stdout=transcript.stream("stdout"),
                   stderr=transcript.stream("stderr"), stdin=stdin, uid=uid, gid=uid)
    start = host.clock.now
    ended: list[float] = []
    done = host.clock.process(program(proc))
    done.callbacks.append(lambda _: ended.append(host.clock.now))  # abandoned deadlines may fire later
    host.clock.env.run()
    return Result(done.value, transcript.text("stdout"), transcript.text("stderr"), transcript.text(),
                  ended[0] - start)
