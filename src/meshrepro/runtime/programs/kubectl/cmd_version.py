"""`kubectl version` [KC 1.27.0/1.28.0 pkg/cmd/version/version.go]."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import simpy

from .discovery import DISCOVERY_TIMEOUT
from .errors import GoError, go_quote
from .flags import Flag
from .printers import to_yaml
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

_INFO_FIELDS = ("major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                "compiler", "platform")


def flags_for(_: str) -> tuple[Flag, ...]:
    return FLAGS


FLAGS = (Flag("client", kind="bool", default=False), Flag("output", "o", default=""),
         Flag("short", kind="bool", default=False))


def run(s: Session, args: list[str]) -> Wait:
    if "short" in s.flags.changed and s.version.version_short_default:
        raise GoError("unknown flag: --short\nSee 'kubectl version --help' for usage.")
    output = s.flags["output"]
    if output not in ("", "json", "yaml"):
        raise GoError("--output must be 'yaml' or 'json'")
    client = _client_info(s)
    info: dict[str, Any] = {"clientVersion": client, "kustomizeVersion": s.version.kustomize}
    server_err: GoError | None = None
    if not s.flags["client"]:
        try:
            config_timeout = s.rest_config().timeout or DISCOVERY_TIMEOUT
            result = yield from s.request("GET", "/version", timeout=config_timeout)
            server = json.loads(result.raw())
            info["serverVersion"] = {k: server.get(k, "") for k in _INFO_FIELDS}
        except GoError as err:
            server_err = err
    if output == "json":
        s.out(json.dumps(info, indent=2) + "\n")
    elif output == "yaml":
        s.out(to_yaml(info) + "\n")
    elif s.version.version_short_default or s.flags["short"]:
        s.out(f"Client Version: {client['gitVersion']}\nKustomize Version: {s.version.kustomize}\n")
        if "serverVersion" in info:
            s.out(f"Server Version: {info['serverVersion']['gitVersion']}\n")
    else:
        s.err("WARNING: This version information is deprecated and will be replaced with the output from "
              "kubectl version --short.  Use --output=yaml|json to get the full version.\n")
        s.out(f"Client Version: {_go_struct(client)}\nKustomize Version: {s.version.kustomize}\n")
        if "serverVersion" in info:
            s.out(f"Server Version: {_go_struct(info['serverVersion'])}\n")
    if "serverVersion" in info:
        _skew_warning(s, client, info["serverVersion"])
    if server_err is not None:
        raise server_err
    return 0


def _client_info(s: Session) -> dict[str, str]:
    v = s.version
    major, minor = v.git_version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": v.git_version, "gitCommit": v.git_commit,
            "gitTreeState": "clean", "buildDate": v.build_date, "goVersion": v.go_version, "compiler": "gc",
            "platform": "linux/amd64"}


def _go_struct(info: dict[str, str]) -> str:
    """Go's %#v of version.Info."""
    names = ("Major", "Minor", "GitVersion", "GitCommit", "GitTreeState", "BuildDate", "GoVersion", "Compiler",
             "Platform")
    return "version.Info{" + ", ".join(f"{n}:{go_quote(info.get(k, ''))}" for n, k in zip(names, _INFO_FIELDS)) + "}"


def _skew_warning(s: Session, client: dict[str, str], server: dict[str, str]) -> None:
    try:
        client_minor = int(client["minor"])
        server_minor = int(str(server.get("minor", "")).rstrip("+"))
    except ValueError:
        return
    if abs(client_minor - server_minor) > 1:
        s.err(f"WARNING: version difference between client ({client['major']}.{client_minor}) and server "
              f"({server.get('major')}.{server_minor}) exceeds the supported minor version skew of +/-1\n")
