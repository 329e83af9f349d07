"""`kubectl config ...` [KC 1.29.0 pkg/cmd/config/*.go]: edit and show kubeconfig files.

The file is written as clientcmd writes it: the v1 Config through JSON to YAML, so keys are sorted,
`preferences: {}` is always there, and empty lists are `null`. Paths given to set-cluster and
set-credentials are made absolute against the working directory.
"""

from __future__ import annotations

import base64
import posixpath
from typing import Any

from meshrepro.runtime.fs import FsError
from meshrepro.runtime.tabwriter import format_table

from .config import Kubeconfig, parse_kubeconfig
from .errors import GoError, UsageError
from .flags import Flag
from .printers import to_json, to_yaml
from .session import Session

_CLUSTER_KEYS = ("server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority",
                 "certificate-authority-data", "proxy-url", "disable-compression", "extensions")


def _load(s: Session) -> tuple[Kubeconfig, str]:
    """The file `set-*` edits, loaded on its own, and its path."""
    path = s.loader.destination()
    try:
        text = s.proc.host.fs.read(path, uid=s.proc.uid, gid=s.proc.gid, cwd=s.proc.cwd)
    except FsError as exc:
        if exc.errno != "ENOENT":
            raise GoError(f"open {path}: {exc.strerror}") from None
        text = ""
    return parse_kubeconfig(text, path), path


def serialize(kc: Kubeconfig) -> dict[str, Any]:
    """clientcmdapi v1 Config as JSON: list fields null when empty, cluster/user of a context kept."""
    def named(items: dict[str, dict[str, Any]], key: str) -> list[dict[str, Any]] | None:
        return [{"name": name, key: body} for name, body in sorted(items.items())] or None
    contexts = {name: {"cluster": body.get("cluster", ""), "user": body.get("user", ""),
                       **{k: v for k, v in body.items() if k not in ("cluster", "user") and v}}
                for name, body in kc.contexts.items()}
    clusters = {name: {"server": body.get("server", ""), **{k: v for k, v in body.items() if k != "server" and v}}
                for name, body in kc.clusters.items()}
    users = {name: {k: v for k, v in body.items() if v} for name, body in kc.users.items()}
    out: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config", "preferences": kc.preferences or {},
        "clusters": named(clusters, "cluster"), "contexts": named(contexts, "context"),
        "users": named(users, "user"), "current-context": kc.current_context,
    }
    out.update({k: v for k, v in kc.extra.items() if k == "extensions"})
    return out


def _save(s: Session, kc: Kubeconfig, path: str) -> None:
    fs = s.proc.host.fs
    directory = posixpath.dirname(posixpath.join(s.proc.cwd, path))
    try:
        if not fs.exists(directory):
            fs.mkdir(directory, parents=True, uid=s.proc.uid, gid=s.proc.gid)
    except FsError as exc:
        raise GoError(f"mkdir {directory}: {exc.strerror}") from None
    try:
        fs.write(path, to_yaml(serialize(kc)), uid=s.proc.uid, gid=s.proc.gid, cwd=s.proc.cwd)
    except FsError as exc:
        raise GoError(f"open {path}: {exc.strerror}") from None


def _one_name(s: Session, args: list[str], usage: str) -> str:
    if len(args) != 1 or not args[0]:
        raise UsageError(f"Unexpected args: {args}\nSee '{s.command} -h' for help and examples"
                         if args else f"{usage}\nSee '{s.command} -h' for help and examples")
    return args[0]


def _abs(s: Session, path: str) -> str:
    return posixpath.normpath(posixpath.join(s.proc.cwd, path)) if path else path


def _embed(s: Session, path: str, what: str) -> str:
    try:
        text = s.proc.host.fs.read(path, uid=s.proc.uid, gid=s.proc.gid, cwd=s.proc.cwd)
    except FsError as exc:
        raise GoError(f"could not stat {what} file {path}: stat {path}: {exc.strerror}") from None
    return base64.b64encode(text.encode()).decode()


# -- set-cluster, set-context, set-credentials ---------------------------------------------------
SET_CLUSTER_FLAGS = (Flag("server", default=""), Flag("certificate-authority", default=""),
                     Flag("embed-certs", kind="bool", default=False),
                     Flag("insecure-skip-tls-verify", kind="bool", default=False),
                     Flag("tls-server-name", default=""), Flag("proxy-url", default=""))


def set_cluster(s: Session, args: list[str]) -> int:
    name = _one_name(s, args, "Unexpected args: []")
    kc, path = _load(s)
    cluster = dict(kc.clusters.get(name, {}))
    f = s.flags
    if "server" in f.changed:
        cluster["server"] = f["server"]
    if "tls-server-name" in f.changed:
        cluster["tls-server-name"] = f["tls-server-name"]
    if "proxy-url" in f.changed:
        cluster["proxy-url"] = f["proxy-url"]
    if "insecure-skip-tls-verify" in f.changed:
        cluster["insecure-skip-tls-verify"] = f["insecure-skip-tls-verify"]
        if f["insecure-skip-tls-verify"]:
            cluster.pop("certificate-authority", None)
            cluster.pop("certificate-authority-data", None)
    if "certificate-authority" in f.changed:
        ca = _abs(s, f["certificate-authority"])
        if f["embed-certs"]:
            cluster["certificate-authority-data"] = _embed(s, ca, "certificate-authority")
            cluster.pop("certificate-authority", None)
        else:
            cluster["certificate-authority"] = ca
            cluster.pop("certificate-authority-data", None)
        cluster.pop("insecure-skip-tls-verify", None)
    kc.clusters[name] = cluster
    _save(s, kc, path)
    s.out(f'Cluster "{name}" set.\n')
    return 0


SET_CONTEXT_FLAGS = (Flag("cluster", default=""), Flag("user", default=""), Flag("namespace", default=""),
                     Flag("current", kind="bool", default=False))


def set_context(s: Session, args: list[str]) -> int:
    kc, path = _load(s)
    if s.flags["current"]:
        if args:
            raise UsageError(f"you cannot specify a context name and --current\nSee '{s.command} -h' for help "
                             "and examples")
        if not kc.current_context:
            raise GoError("no current context is set")
        name = kc.current_context
    else:
        name = _one_name(s, args, "Unexpected args: []")
    exists = name in kc.contexts
    context = dict(kc.contexts.get(name, {}))
    for flag, key in (("cluster", "cluster"), ("user", "user"), ("namespace", "namespace")):
        if flag in s.flags.changed:
            context[key] = s.flags[flag]
    kc.contexts[name] = context
    _save(s, kc, path)
    s.out(f'Context "{name}" {"modified" if exists else "created"}.\n')
    return 0


SET_CREDENTIALS_FLAGS = (Flag("token", default=""), Flag("username", default=""), Flag("password", default=""),
                         Flag("client-certificate", default=""), Flag("client-key", default=""),
                         Flag("embed-certs", kind="bool", default=False))


def set_credentials(s: Session, args: list[str]) -> int:
    name = _one_name(s, args, "Unexpected args: []")
    kc, path = _load(s)
    user = dict(kc.users.get(name, {}))
    f = s.flags
    if "token" in f.changed:
        user["token"] = f["token"]  # the literal value: a path stays a path [KC set_credentials.go]
    for key in ("username", "password"):
        if key in f.changed:
            user[key] = f[key]
    for key in ("client-certificate", "client-key"):
        if key in f.changed:
            file_path = _abs(s, f[key])
            if f["embed-certs"]:
                user[f"{key}-data"] = _embed(s, file_path, key)
                user.pop(key, None)
            else:
                user[key] = file_path
                user.pop(f"{key}-data", None)
    kc.users[name] = user
    _save(s, kc, path)
    s.out(f'User "{name}" set.\n')
    return 0


# -- use-context, current-context, get-contexts, delete-context ------------------------------------
def use_context(s: Session, args: list[str]) -> int:
    name = _one_name(s, args, "Unexpected args: []")
    kc, path = _load(s)
    merged = s.loader.load()
    if name not in merged.contexts:
        raise GoError(f'no context exists with the name: "{name}"')
    kc.current_context = name
    _save(s, kc, path)
    s.out(f'Switched to context "{name}".\n')
    return 0


def current_context(s: Session, args: list[str]) -> int:
    kc = s.loader.load()
    if not kc.current_context:
        raise GoError("current-context is not set")
    s.out(kc.current_context + "\n")
    return 0


GET_CONTEXTS_FLAGS = (Flag("no-headers", kind="bool", default=False), Flag("output", "o", default=""))


def get_contexts(s: Session, args: list[str]) -> int:
    kc = s.loader.load()
    output = s.flags["output"]
    if output not in ("", "name"):
        raise GoError(f"output must be one of '' or 'name': {output}")
    names = sorted(kc.contexts) if not args else args
    missing = [n for n in names if n not in kc.contexts]
    if output == "name":
        s.out("".join(f"{n}\n" for n in names if n in kc.contexts))
    else:
        rows = [] if s.flags["no-headers"] else [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
        for n in names:
            if n in kc.contexts:
                c = kc.contexts[n]
                rows.append(["*" if n == kc.current_context else "", n, c.get("cluster", ""), c.get("user", ""),
                             c.get("namespace", "")])
        s.out(format_table(rows))
    if missing:
        raise GoError(f"context {missing[0]} not found")
    return 0


def delete_context(s: Session, args: list[str]) -> int:
    name = _one_name(s, args, "Unexpected args: []")
    kc, path = _load(s)
    if name not in kc.contexts:
        raise GoError(f"cannot delete context {name}, not in {path}")
    if kc.current_context == name:
        s.err('warning: this removed your active context, use "kubectl config use-context" to select a '
              "different one\n")
    del kc.contexts[name]
    _save(s, kc, path)
    s.out(f"deleted context {name} from {path}\n")
    return 0


# -- set / unset of dotted properties -----------------------------------------------------------
def _property_target(kc: Kubeconfig, prop: str) -> tuple[dict[str, Any], str]:
    parts = prop.split(".")
    maps = {"clusters": kc.clusters, "contexts": kc.contexts, "users": kc.users}
    if parts[0] == "current-context" and len(parts) == 1:
        return {}, "current-context"
    if parts[0] in maps and len(parts) >= 3:
        entry = maps[parts[0]].setdefault(parts[1], {})
        return entry, ".".join(parts[2:])
    raise GoError(f"unable to locate path {prop}")


def set_property(s: Session, args: list[str]) -> int:
    if len(args) != 2:
        raise UsageError(f"Unexpected args: {args}\nSee '{s.command} -h' for help and examples")
    kc, path = _load(s)
    prop, value = args
    target, key = _property_target(kc, prop)
    if key == "current-context":
        kc.current_context = value
    else:
        target[key] = value
    _save(s, kc, path)
    s.out(f'Property "{prop}" set.\n')
    return 0


def unset_property(s: Session, args: list[str]) -> int:
    if len(args) != 1:
        raise UsageError(f"Unexpected args: {args}\nSee '{s.command} -h' for help and examples")
    kc, path = _load(s)
    prop = args[0]
    parts = prop.split(".")
    maps = {"clusters": kc.clusters, "contexts": kc.contexts, "users": kc.users}
    if prop == "current-context":
        kc.current_context = ""
    elif parts[0] in maps and len(parts) == 2 and parts[1] in maps[parts[0]]:
        del maps[parts[0]][parts[1]]
    elif parts[0] in maps and len(parts) >= 3 and parts[1] in maps[parts[0]]:
        maps[parts[0]][parts[1]].pop(".".join(parts[2:]), None)
    else:
        raise GoError(f"current map key `{parts[-1]}` is invalid")
    _save(s, kc, path)
    s.out(f'Property "{prop}" unset.\n')
    return 0


# -- view --------------------------------------------------------------------------------------
VIEW_FLAGS = (Flag("raw", kind="bool", default=False), Flag("minify", kind="bool", default=False),
              Flag("flatten", kind="bool", default=False), Flag("output", "o", default="yaml"))


def view(s: Session, args: list[str]) -> int:
    if args:
        raise UsageError(f"unexpected arguments: {args}\nSee '{s.command} -h' for help and examples")
    kc = s.loader.load()
    if s.flags["minify"]:
        name = s.flags.values.get("context") or kc.current_context
        if not name:
            raise GoError("current-context must exist in order to minify")
        if name not in kc.contexts:
            raise GoError(f'cannot locate context {name}')
        context = kc.contexts[name]
        kc = Kubeconfig(
            clusters={k: v for k, v in kc.clusters.items() if k == context.get("cluster")},
            contexts={name: context}, users={k: v for k, v in kc.users.items() if k == context.get("user")},
            current_context=name, preferences=kc.preferences)
    if not s.flags["raw"]:
        kc = _redacted(kc)
    output = s.flags["output"]
    data = serialize(kc)
    if output == "json":
        s.out(to_json(data))
    elif output == "yaml":
        s.out(to_yaml(data))
    else:
        raise GoError(f'unable to match a printer suitable for the output format "{output}", allowed formats '
                      "are: json,yaml")
    return 0


def _redacted(kc: Kubeconfig) -> Kubeconfig:
    """ShortenConfig + redaction: secrets become REDACTED, embedded data DATA+OMITTED."""
    clusters = {n: {k: ("DATA+OMITTED" if k == "certificate-authority-data" else v) for k, v in c.items()}
                for n, c in kc.clusters.items()}
    users = {}
    for n, u in kc.users.items():
        users[n] = {k: ("DATA+OMITTED" if k in ("client-certificate-data", "client-key-data")
                        else "REDACTED" if k in ("token", "password") else v) for k, v in u.items()}
    return Kubeconfig(clusters=clusters, contexts=kc.contexts, users=users, current_context=kc.current_context,
                      preferences=kc.preferences, extra=kc.extra)


SUBCOMMANDS = {
    "view": (view, VIEW_FLAGS),
    "set-cluster": (set_cluster, SET_CLUSTER_FLAGS),
    "set-context": (set_context, SET_CONTEXT_FLAGS),
    "set-credentials": (set_credentials, SET_CREDENTIALS_FLAGS),
    "use-context": (use_context, ()),
    "use": (use_context, ()),
    "current-context": (current_context, ()),
    "get-contexts": (get_contexts, GET_CONTEXTS_FLAGS),
    "delete-context": (delete_context, ()),
    "set": (set_property, ()),
    "unset": (unset_property, ()),
}
