"""A running container as its processes see it: the image's programs, a filesystem, a network namespace."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from meshrepro.runtime.fs import DirMeta, FileSystem
from meshrepro.runtime.images import Image
from meshrepro.runtime.process import Network, Program
from meshrepro.sim.clock import Clock


class ContainerHost:
    """Implements runtime.process.Host for one container (or the user's terminal)."""

    def __init__(self, clock: Clock, fs: FileSystem, network: Network, hostname: str,
                 programs: Mapping[str, Program], first_pid: int = 1) -> None:
        self.clock = clock
        self.fs = fs
        self.network = network
        self.hostname = hostname
        self.programs = dict(programs)
        self._pid = first_pid - 1

    def find_program(self, name: str, path: str) -> Program | None:
        if "/" in name:
            return self.programs.get(posixpath.normpath(name))
        for directory in path.split(":"):
            if directory:
                program = self.programs.get(f"{directory.rstrip('/')}/{name}")
                if program is not None:
                    return program
        return None

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid


def image_filesystem(image: Image) -> FileSystem:
    """A fresh filesystem with the image's files, its writable directories and its program paths."""
    # An executable's presence (an empty file) is what `ls` and `command -v` see.
    files = {**dict.fromkeys(image.programs, ""), **image.files}
    dirs = {"/tmp": DirMeta(0, 0, 0o1777)}
    dirs.update({path: DirMeta(uid, gid, mode) for path, uid, gid, mode in image.writable_dirs})
    return FileSystem(files, dirs)


__all__ = ["ContainerHost", "DirMeta", "image_filesystem"]
