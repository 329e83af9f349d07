"""Objects read with `-f FILE|DIR|-`, mapped to resources: the part of cli-runtime's builder that
apply, create, delete, label and wait share [cli-runtime pkg/resource/visitor.go, mapper.go]."""

from __future__ import annotations

import posixpath
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.errors import InputError
from meshrepro.manifests.load import load_documents
from meshrepro.runtime.fs import FsError

from .discovery import NoKindMatch, Resource
from .errors import GoError, StatusError, go_quote
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

EXTENSIONS = (".json", ".yaml", ".yml")


@dataclass
class Info:
    """resource.Info: one object, where it came from, and its REST mapping."""

    obj: dict[str, Any]
    source: str
    resource: Resource
    namespace: str

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def path(self) -> str:
        return self.resource.path(self.namespace if self.resource.namespaced else None, self.name)

    @property
    def collection(self) -> str:
        return self.resource.path(self.namespace if self.resource.namespaced else None)

    def describe(self) -> str:
        """Info.String(): the block apply's error messages embed."""
        r = self.resource
        return (f'Resource: "{r.group}/{r.version}, Resource={r.name}", GroupVersionKind: '
                f'"{r.group}/{r.version}, Kind={r.kind}"\nName: "{self.name}", Namespace: "{self.namespace}"')


def read_sources(s: Session, filenames: list[str], recursive: bool = False) -> list[tuple[str, str]]:
    """(source name, text) for each -f argument: a file, a directory's manifests, or `-` for stdin."""
    fs = s.proc.host.fs
    out: list[tuple[str, str]] = []
    for name in filenames:
        if name == "-":
            out.append(("STDIN", s.proc.stdin))
            continue
        if name.startswith(("http://", "https://")):
            raise GoError(f"meshrepro: reading manifests from URLs is not supported ({name})")
        if not fs.exists(name, cwd=s.proc.cwd):
            raise GoError(f"the path {go_quote(name)} does not exist")
        if fs.is_dir(name, cwd=s.proc.cwd):
            found = _walk(s, name, recursive)
            if not found:
                raise GoError(f"error reading [{name}]: recognized file extensions are [.json .yaml .yml]")
            out.extend(found)
            continue
        out.append((name, _read(s, name)))
    return out


def _walk(s: Session, directory: str, recursive: bool) -> list[tuple[str, str]]:
    fs = s.proc.host.fs
    out: list[tuple[str, str]] = []
    for entry in sorted(fs.listdir(directory, cwd=s.proc.cwd)):
        path = posixpath.join(directory, entry)
        if fs.is_dir(path, cwd=s.proc.cwd):
            if recursive:
                out.extend(_walk(s, path, recursive))
        elif path.endswith(EXTENSIONS):
            out.append((path, _read(s, path)))
    return out


def _read(s: Session, path: str) -> str:
    try:
        return s.proc.host.fs.read(path, uid=s.proc.uid, gid=s.proc.gid, cwd=s.proc.cwd)
    except FsError as exc:
        raise GoError(f"open {path}: {exc.strerror}") from None


def decode(source: str, text: str) -> list[dict[str, Any]]:
    try:
        return [m.obj for m in load_documents(text, source)]
    except InputError as exc:
        raise GoError(f"error parsing {source}: error converting YAML to JSON: yaml: "
                      f"{_strip_source(str(exc), source)}") from None


def _strip_source(message: str, source: str) -> str:
    prefix = f"{source}:"
    if message.startswith(prefix):
        line, _, rest = message[len(prefix):].partition(": ")
        return f"line {line}: {rest}" if line.isdigit() else message[len(prefix):].strip()
    return message


def infos(s: Session, filenames: list[str], recursive: bool = False) -> Wait:
    """Every object of the -f sources with its mapping; per-object errors are collected, not fatal."""
    namespace = s.namespace()
    found: list[Info] = []
    errors: list[GoError] = []
    for source, text in read_sources(s, filenames, recursive):
        for obj in decode(source, text):
            meta = obj.get("metadata") or {}
            try:
                resource = yield from s.mapper.kind_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
            except NoKindMatch as err:
                errors.append(GoError(f"resource mapping not found for name: {go_quote(str(meta.get('name', '')))}"
                                      f" namespace: {go_quote(str(meta.get('namespace', '')))} from "
                                      f"{go_quote(source)}: {err}\nensure CRDs are installed first"))
                continue
            except GoError as err:
                errors.append(GoError(f"unable to recognize {go_quote(source)}: {err}"))
                continue
            object_ns = str(meta.get("namespace") or "")
            if resource.namespaced:
                if object_ns and s.explicit_namespace and object_ns != namespace:
                    raise GoError(f"the namespace from the provided object {go_quote(object_ns)} does not match "
                                  f"the namespace {go_quote(namespace)}. You must pass "
                                  f"'--namespace={object_ns}' to perform this operation.")
                ns = object_ns or namespace
            else:
                ns = ""
            found.append(Info(obj, source, resource, ns))
    return found, errors


def with_source(verb: str, source: str, err: GoError) -> GoError:
    """cmdutil.AddSourceToErr: `error when <verb> "<source>": <err>`, keeping a Status a Status."""
    if not source:
        return err
    if isinstance(err, StatusError):
        status = dict(err.status)
        status["message"] = f"error when {verb} {go_quote(source)}: {err}"
        return StatusError(status)
    return GoError(f"error when {verb} {go_quote(source)}: {err}")
