"""A container's filesystem: image files, mounted volumes that shadow them, and a writable layer.

Volumes are mappings of relative names to contents, read at access time, so a projected token that
rotates is seen rotated. Permissions are minimal: directories carry uid/gid/mode, files their owner;
uid 0 bypasses every check, as root does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field

MESSAGES = {
    "ENOENT": "no such file or directory",
    "EACCES": "permission denied",
    "EROFS": "read-only file system",
    "EISDIR": "is a directory",
    "ENOTDIR": "not a directory",
    "EEXIST": "file exists",
    "ENOTEMPTY": "directory not empty",
    "EBUSY": "device or resource busy",
}


class FsError(Exception):
    """A failed file operation. Go programs print `.strerror`, C programs `.c_message`."""

    def __init__(self, errno: str, path: str) -> None:
        super().__init__(f"{path}: {MESSAGES[errno]}")
        self.errno = errno
        self.path = path

    @property
    def strerror(self) -> str:
        return MESSAGES[self.errno]

    @property
    def c_message(self) -> str:
        return self.strerror[0].upper() + self.strerror[1:]


@dataclass(frozen=True)
class DirMeta:
    uid: int = 0
    gid: int = 0
    mode: int = 0o755


ROOT_DIR = DirMeta()
FILE_MODE = 0o644

Source = Callable[[], Mapping[str, str]] | Mapping[str, str]


@dataclass
class _Mount:
    source: Source
    read_only: bool
    dirs: set[str] = field(default_factory=set)  # directories made inside a writable volume

    def files(self) -> Mapping[str, str]:
        return self.source() if callable(self.source) else self.source


def normalize(path: str, cwd: str = "/") -> str:
    """Absolute, with `.`, `..` and `//` resolved (`..` above / stays at /)."""
    joined = posixpath.join(cwd, path) if path else cwd
    norm = posixpath.normpath(joined)
    return "/" + norm.lstrip("/")


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "/"


class FileSystem:
    def __init__(self, files: dict[str, str] | None = None, dirs: dict[str, DirMeta] | None = None) -> None:
        self._files: dict[str, str] = {}
        self._owners: dict[str, DirMeta] = {}
        self._dirs: dict[str, DirMeta] = {"/": ROOT_DIR}
        self._mounts: dict[str, _Mount] = {}
        for path, meta in (dirs or {}).items():
            self._add_dir(normalize(path), meta)
        for path, text in (files or {}).items():
            norm = normalize(path)
            self._add_parents(norm)
            self._files[norm] = text

    # -- structure ---------------------------------------------------------------------------
    def _add_parents(self, path: str) -> None:
        parent = _parent(path)
        while parent not in self._dirs:
            self._dirs[parent] = ROOT_DIR
            parent = _parent(parent)

    def _add_dir(self, path: str, meta: DirMeta) -> None:
        self._add_parents(path)
        self._dirs[path] = meta

    def _mount_of(self, path: str) -> tuple[str, _Mount] | None:
        """The innermost volume holding `path`, with `path` relative to it."""
        probe = path
        while True:
            if probe in self._mounts:
                rel = path[len(probe):].lstrip("/")
                return rel, self._mounts[probe]
            if probe == "/":
                return None
            probe = _parent(probe)

    def _kind(self, path: str) -> str | None:
        """"file", "dir" or None."""
        found = self._mount_of(path)
        if found is None:
            if path in self._files:
                return "file"
            return "dir" if path in self._dirs else None
        rel, mount = found
        if rel == "" or rel in mount.dirs:
            return "dir"
        files = mount.files()
        if rel in files:
            return "file"
        prefix = rel + "/"
        if any(name.startswith(prefix) for name in files) or any(d.startswith(prefix) for d in mount.dirs):
            return "dir"
        return "dir" if any(m.startswith(prefix) for m in self._mounts if m != path) else None

    def _check_parent(self, path: str) -> None:
        """ENOENT/ENOTDIR when a component above `path` is missing or a file."""
        parent = _parent(path)
        kind = self._kind(parent)
        if kind == "dir":
            return
        if kind == "file":
            raise FsError("ENOTDIR", path)
        self._check_parent(parent)
        raise FsError("ENOENT", path)

    def _meta(self, path: str) -> DirMeta:
        if path in self._dirs and self._mount_of(path) is None:
            return self._dirs[path]
        return self._owners.get(path, ROOT_DIR if self._kind(path) == "dir" else DirMeta(mode=FILE_MODE))

    def _may_write(self, path: str, uid: int, gid: int) -> bool:
        if uid == 0:
            return True
        meta = self._meta(path)
        if meta.uid == uid:
            return bool(meta.mode & 0o200)
        if meta.gid == gid:
            return bool(meta.mode & 0o020)
        return bool(meta.mode & 0o002)

    def _writable_mount(self, path: str) -> tuple[str, MutableMapping[str, str]] | None:
        """None outside volumes; (rel, mapping) inside a writable one; EROFS inside a read-only one."""
        found = self._mount_of(path)
        if found is None:
            return None
        rel, mount = found
        files = mount.files()
        if mount.read_only or not isinstance(files, MutableMapping):
            raise FsError("EROFS", path)
        return rel, files

    # -- queries -----------------------------------------------------------------------------
    def exists(self, path: str, cwd: str = "/") -> bool:
        return self._kind(normalize(path, cwd)) is not None

    def is_dir(self, path: str, cwd: str = "/") -> bool:
        return self._kind(normalize(path, cwd)) == "dir"

    def is_file(self, path: str, cwd: str = "/") -> bool:
        return self._kind(normalize(path, cwd)) == "file"

    def meta(self, path: str, cwd: str = "/") -> DirMeta:
        norm = normalize(path, cwd)
        if self._kind(norm) is None:
            raise FsError("ENOENT", path)
        return self._meta(norm)

    def read(self, path: str, uid: int = 0, gid: int = 0, cwd: str = "/") -> str:
        norm = normalize(path, cwd)
        kind = self._kind(norm)
        if kind == "dir":
            raise FsError("EISDIR", path)
        if kind is None:
            self._check_parent(norm)
            raise FsError("ENOENT", path)
        found = self._mount_of(norm)
        return found[1].files()[found[0]] if found else self._files[norm]

    def listdir(self, path: str, cwd: str = "/") -> list[str]:
        norm = normalize(path, cwd)
        kind = self._kind(norm)
        if kind != "dir":
            raise FsError("ENOTDIR" if kind == "file" else "ENOENT", path)
        prefix = norm.rstrip("/") + "/"
        found = self._mount_of(norm)
        if found is None:
            candidates = [p for p in (*self._files, *self._dirs) if p.startswith(prefix) and p != "/"]
        else:
            rel, mount = found
            base = prefix[: len(prefix) - len(rel) - 1] if rel else prefix
            candidates = [base + n for n in (*mount.files(), *mount.dirs)]
            candidates = [p for p in candidates if p.startswith(prefix)]
        candidates += [m for m in self._mounts if m.startswith(prefix)]
        return sorted({p[len(prefix):].split("/", 1)[0] for p in candidates})

    # -- changes -----------------------------------------------------------------------------
    def write(self, path: str, text: str, *, append: bool = False, uid: int = 0, gid: int = 0,
              cwd: str = "/") -> None:
        norm = normalize(path, cwd)
        kind = self._kind(norm)
        if kind == "dir":
            raise FsError("EISDIR", path)
        if kind is None:
            self._check_parent(norm)
        target = norm if kind == "file" else _parent(norm)
        volume = self._writable_mount(norm)
        if not self._may_write(target, uid, gid):
            raise FsError("EACCES", path)
        old = self.read(norm) if append and kind == "file" else ""
        if volume is not None:
            volume[1][volume[0]] = old + text
        else:
            self._files[norm] = old + text
        if kind is None:
            self._owners[norm] = DirMeta(uid, gid, FILE_MODE)

    def mkdir(self, path: str, parents: bool = False, uid: int = 0, gid: int = 0, mode: int = 0o755,
              cwd: str = "/") -> None:
        norm = normalize(path, cwd)
        kind = self._kind(norm)
        if kind is not None:
            if parents and kind == "dir":
                return
            raise FsError("EEXIST", path)
        if parents and self._kind(_parent(norm)) is None:
            self.mkdir(_parent(norm), parents=True, uid=uid, gid=gid, mode=mode)
        self._check_parent(norm)
        volume = self._mount_of(norm)
        self._writable_mount(norm)
        if not self._may_write(_parent(norm), uid, gid):
            raise FsError("EACCES", path)
        meta = DirMeta(uid, gid, mode)
        if volume is not None:
            volume[1].dirs.add(volume[0])
            self._owners[norm] = meta
        else:
            self._dirs[norm] = meta

    def remove(self, path: str, recursive: bool = False, uid: int = 0, gid: int = 0, cwd: str = "/") -> None:
        norm = normalize(path, cwd)
        kind = self._kind(norm)
        if kind is None:
            raise FsError("ENOENT", path)
        if norm in self._mounts or norm == "/":
            raise FsError("EBUSY", path)
        volume = self._writable_mount(norm)
        if not self._may_write(_parent(norm), uid, gid):
            raise FsError("EACCES", path)
        if kind == "dir":
            children = self.listdir(norm)
            if children and not recursive:
                raise FsError("ENOTEMPTY", path)
            for child in children:
                self.remove(posixpath.join(norm, child), recursive=True, uid=uid, gid=gid)
        self._owners.pop(norm, None)
        if volume is not None:
            rel, files = volume
            files.pop(rel, None)
            found = self._mount_of(norm)
            assert found is not None
            found[1].dirs.discard(rel)
        else:
            self._files.pop(norm, None)
            self._dirs.pop(norm, None)

    def chown(self, path: str, uid: int, gid: int, cwd: str = "/") -> None:
        norm = normalize(path, cwd)
        self._set_meta(norm, DirMeta(uid, gid, self.meta(norm).mode))

    def chmod(self, path: str, mode: int, cwd: str = "/") -> None:
        norm = normalize(path, cwd)
        meta = self.meta(norm)
        self._set_meta(norm, DirMeta(meta.uid, meta.gid, mode))

    def _set_meta(self, norm: str, meta: DirMeta) -> None:
        if norm in self._dirs and self._mount_of(norm) is None:
            self._dirs[norm] = meta
        else:
            self._owners[norm] = meta

    def mount(self, path: str, source: Source, read_only: bool = True) -> None:
        """Mount a volume at `path`, shadowing what the image has there."""
        norm = normalize(path)
        self._add_parents(norm)
        self._mounts[norm] = _Mount(source, read_only)
