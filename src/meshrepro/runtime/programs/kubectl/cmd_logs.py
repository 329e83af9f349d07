"""`kubectl logs` [KC 1.29.0 pkg/cmd/logs/logs.go].

Simplification: `-f` prints what the container has logged so far and returns (the simulated API
server answers a log request with the text at that instant, not a stream).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from .errors import GoError, UsageError
from .flags import Flag
from .pods import choose_container, find_pod
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

FLAGS = (
    Flag("container", "c", default=""), Flag("previous", "p", kind="bool", default=False),
    Flag("follow", "f", kind="bool", default=False), Flag("tail", kind="int", default=-1),
    Flag("timestamps", kind="bool", default=False), Flag("selector", "l", default=""),
    Flag("all-containers", kind="bool", default=False), Flag("prefix", kind="bool", default=False),
    Flag("since", kind="duration", default=0.0), Flag("limit-bytes", kind="int", default=0),
    Flag("max-log-requests", kind="int", default=5), Flag("pod-running-timeout", default="20s"),
    Flag("ignore-errors", kind="bool", default=False),
)

_USAGE = ("expected POD or TYPE/NAME is a required argument for the logs command\n"
          "See 'kubectl logs -h' for help and examples")


def run(s: Session, args: list[str]) -> Wait:
    f = s.flags
    selector = f["selector"]
    if selector and args:
        raise UsageError("only a selector (-l) or a POD name is allowed\nSee 'kubectl logs -h' for help and examples")
    if not selector and not args or len(args) > 2:
        raise UsageError(_USAGE)
    container = f["container"]
    if len(args) == 2:
        if container:
            raise GoError("only one of -c or an inline [CONTAINER] arg is allowed")
        container = args[1]
    if f["all-containers"] and container:
        raise GoError(f"--all-containers=true should not be specified with container name {container}")
    if f["tail"] < -1:
        raise GoError("--tail must be greater than or equal to -1")
    if selector:
        namespace = s.namespace()
        listing = yield from s.get_json(f"/api/v1/namespaces/{namespace}/pods", [("labelSelector", selector)])
        pods = list(listing.get("items") or [])
        if not pods:
            s.err(f"No resources found in {namespace} namespace.\n")
            return 0
        tail = f["tail"] if "tail" in f.changed else 10  # a selector defaults to the last 10 lines
        for pod in pods[: max(1, f["max-log-requests"])]:
            yield from _print_pod(s, pod, container, tail, quiet=True)
        return 0
    pod = yield from find_pod(s, args[0])
    yield from _print_pod(s, pod, container, f["tail"], quiet=False)
    return 0


def _print_pod(s: Session, pod: dict[str, Any], container: str, tail: int, quiet: bool) -> Wait:
    spec = pod.get("spec") or {}
    if s.flags["all-containers"]:
        names = [c["name"] for c in (*(spec.get("initContainers") or []), *(spec.get("containers") or []))]
    else:
        names = [choose_container(s, pod, container, quiet=quiet)]
    meta = pod.get("metadata") or {}
    for name in names:
        query = [("container", name)]
        if s.flags["follow"]:
            query.append(("follow", "true"))
        if s.flags["previous"]:
            query.append(("previous", "true"))
        if tail >= 0:
            query.append(("tailLines", str(tail)))
        if s.flags["timestamps"]:
            query.append(("timestamps", "true"))
        if s.flags["since"]:
            query.append(("sinceSeconds", str(int(s.flags["since"]))))
        if s.flags["limit-bytes"]:
            query.append(("limitBytes", str(s.flags["limit-bytes"])))
        result = yield from s.request("GET", f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/"
                                             f"{meta.get('name', '')}/log", query=query,
                                      accept="application/json, */*")
        failure = result.error()
        if failure is not None:
            raise failure
        text = result.body.decode(errors="replace")
        if s.flags["prefix"]:
            prefix = f"[pod/{meta.get('name', '')}/{name}] "
            text = "".join(prefix + line for line in text.splitlines(keepends=True))
        s.out(text)
