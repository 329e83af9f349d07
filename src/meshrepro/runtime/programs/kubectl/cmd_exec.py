"""`kubectl exec POD [-c C] [-i] [-t] -- COMMAND [args...]` [KC 1.29.0 pkg/cmd/exec/exec.go].

meshrepro's wire simplification: the exec POST answers with one JSON document
`{"stdout", "stderr", "exitCode"}` instead of a SPDY/WebSocket stream.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import simpy

from .errors import ExitError, GoError, UsageError
from .flags import Flag
from .pods import choose_container, find_pod
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (Flag("container", "c", default=""), Flag("stdin", "i", kind="bool", default=False),
         Flag("tty", "t", kind="bool", default=False), Flag("quiet", "q", kind="bool", default=False),
         Flag("pod-running-timeout", default="1m0s"), Flag("filename", "f", kind="array", default=[]))

_USAGE = "See 'kubectl exec -h' for help and examples"


def run(s: Session, args: list[str]) -> Wait:
    dash = s.flags.dash
    if not args:
        raise UsageError(f"pod, type/name or --filename must be specified\n{_USAGE}")
    if (dash == -1 or dash > 1) and len(args) > 1:
        raise GoError("exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
    command = args[dash:] if dash != -1 else []
    if not command:
        raise UsageError(f"you must specify at least one command for the container\n{_USAGE}")
    pod = yield from find_pod(s, args[0])
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        raise GoError(f"cannot exec into a container in a completed pod; current phase is {phase}")
    container = choose_container(s, pod, s.flags["container"], quiet=s.flags["quiet"])
    if s.flags["tty"]:
        # a process in a pod or a scenario step has no terminal on stdin
        s.err("Unable to use a TTY - input is not a terminal or the right kind of file\n")
    meta = pod.get("metadata") or {}
    query = [("command", part) for part in command] + [("container", container), ("stderr", "true"),
                                                        ("stdout", "true")]
    if s.flags["stdin"]:
        query.append(("stdin", "true"))
    result = yield from s.request("POST", f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/"
                                          f"{meta.get('name', '')}/exec", query=query,
                                  body=s.proc.stdin.encode() if s.flags["stdin"] else b"",
                                  content_type="text/plain" if s.flags["stdin"] else "")
    failure = result.error()
    if failure is not None:
        raise failure
    try:
        answer = json.loads(result.body)
    except ValueError:
        raise GoError("meshrepro: the exec endpoint answered something other than JSON") from None
    s.out(str(answer.get("stdout", "")))
    s.err(str(answer.get("stderr", "")))
    code = int(answer.get("exitCode", 0))
    if code:
        raise ExitError(code)
    return 0
