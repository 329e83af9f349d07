"""A running container as its processes see it: the image's programs, a filesystem, a network namespace."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from meshrepro.runtime.fs import DirMeta, FileSystem
from meshrepro.runtime.images import Image
from meshrepro.runtime.process import Network, Program
from meshrepro.sim.clock import Clock

# containerd's default capability set (oci/spec.go defaultUnixCaps), what a container has unless its
# securityContext adds or drops some.
DEFAULT_CAPABILITIES = frozenset({"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                                  "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"})
ALL_CAPABILITIES = DEFAULT_CAPABILITIES | {"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_TIME",
                                           "SYS_RESOURCE", "SYS_BOOT", "SYS_NICE", "IPC_LOCK", "IPC_OWNER", "LEASE",
                                           "LINUX_IMMUTABLE", "NET_BROADCAST", "MAC_ADMIN", "MAC_OVERRIDE",
                                           "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_CONTROL", "AUDIT_READ",
                                           "DAC_READ_SEARCH", "SYS_PACCT", "SYS_RAWIO", "SYS_TTY_CONFIG", "BPF",
                                           "PERFMON", "CHECKPOINT_RESTORE"}


def container_capabilities(security_context: Mapping[str, Any] | None) -> frozenset[str]:
    """The container's capability set (its bounding set): every capability when privileged, else the runtime's
    default set with securityContext.capabilities.drop removed (`ALL` drops all) and .add added. A process running
    as a non-root user holds none of them effectively (no ambient capabilities): see `effective_capabilities`."""
    context = security_context or {}
    if context.get("privileged"):
        return ALL_CAPABILITIES
    capabilities = context.get("capabilities") or {}
    drop = {str(c).upper().removeprefix("CAP_") for c in capabilities.get("drop") or []}
    add = {str(c).upper().removeprefix("CAP_") for c in capabilities.get("add") or []}
    base = frozenset() if "ALL" in drop else DEFAULT_CAPABILITIES - drop
    return frozenset(base | (ALL_CAPABILITIES if "ALL" in add else add))


def effective_capabilities(host: Any, uid: int) -> frozenset[str]:
    """What a process of `uid` may use on `host`: the container's set for root, nothing for another user."""
    return frozenset(getattr(host, "capabilities", DEFAULT_CAPABILITIES)) if uid == 0 else frozenset()


class ContainerHost:
    """Implements runtime.process.Host for one container (or the user's terminal)."""

    def __init__(self, clock: Clock, fs: FileSystem, network: Network, hostname: str,
                 programs: Mapping[str, Program], first_pid: int = 1,
                 capabilities: frozenset[str] = DEFAULT_CAPABILITIES) -> None:
        self.clock = clock
        self.fs = fs
        self.network = network
        self.hostname = hostname
        self.programs = dict(programs)
        self.capabilities = capabilities
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


__all__ = ["ContainerHost", "DirMeta", "container_capabilities", "effective_capabilities", "image_filesystem"]
