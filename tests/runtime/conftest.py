"""A small fake Host for runtime tests: a clock, a filesystem, a table of programs, pids."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.process import Process, Program, Transcript
from meshrepro.runtime.programs.coreutils import BUSYBOX, GNU
from meshrepro.runtime.shell import ash, bash, dash
from meshrepro.sim.clock import Clock

BIN_DIRS = ("/usr/local/bin", "/usr/bin", "/bin")
DEFAULT_PATH = ":".join(BIN_DIRS)


@dataclass
class FakeHost:
    clock: Clock = field(default_factory=Clock)
    fs: FileSystem = field(default_factory=FileSystem)
    programs: dict[str, Program] = field(default_factory=dict)  # all installed in /usr/bin
    hostname: str = "test-pod"
    network: object = None  # never used by the shell or coreutils
    pid: int = 1

    def find_program(self, name: str, path: str) -> Program | None:
        if "/" in name:
            return self.programs.get(posixpath.basename(name)) if posixpath.dirname(name) in BIN_DIRS else None
        if any(d in BIN_DIRS for d in path.split(":")):
            return self.programs.get(name)
        return None

    def next_pid(self) -> int:
        self.pid += 1
        return self.pid


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str
    output: str  # both streams interleaved in write order
    elapsed: float


def make_host(flavour: str = "gnu", files: dict[str, str] | None = None) -> FakeHost:
    programs = dict(GNU if flavour == "gnu" else BUSYBOX)
    programs.update({"sh": ash if flavour == "busybox" else dash, "dash": dash, "bash": bash})
    return FakeHost(fs=FileSystem(files or {}), programs=programs)


def run_program(host: FakeHost, program: Program, argv: list[str], *, stdin: str = "",
                env: dict[str, str] | None = None, uid: int = 0, gid: int = 0, cwd: str = "/") -> Result:
    transcript = Transcript(host.clock)
    proc = Process(host=host, argv=argv, env={"PATH": DEFAULT_PATH} if env is None else env,
                   stdout=transcript.stream("stdout"), stderr=transcript.stream("stderr"), stdin=stdin,
                   uid=uid, gid=gid, cwd=cwd)
    start = host.clock.now
    done = host.clock.process(program(proc))
    host.clock.env.run()
    return Result(done.value, transcript.text("stdout"), transcript.text("stderr"), transcript.text(),
                  host.clock.now - start)


@pytest.fixture
def host() -> FakeHost:
    return make_host()


@pytest.fixture(name="make_host")
def make_host_fixture() -> Callable[..., FakeHost]:
    return make_host


@pytest.fixture(name="run")
def run_fixture() -> Callable[..., Result]:
    return run_program
