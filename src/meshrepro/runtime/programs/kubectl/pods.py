"""Finding the pod and container a command is about, as logs and exec do
[KC 1.29.0 pkg/polymorphichelpers/logsforobject.go, attachablepodforobject.go, helpers.go
GetFirstPod; pkg/cmd/util/podcmd/podcmd.go; kubectl/pkg/util/podutils ByLogging]."""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

import simpy

from .errors import GoError
from .session import Session

Wait = Generator[simpy.Event, Any, Any]

_PHASE_ORDER = {"Running": 0, "Unknown": 1, "Pending": 2}


def find_pod(s: Session, arg: str) -> Wait:
    """A pod object for `name` or `TYPE/NAME` (first pod of the workload's selector)."""
    namespace = s.namespace()
    type_arg, _, name = arg.partition("/") if "/" in arg else ("pods", "", arg)
    resource = yield from s.resource(type_arg)
    obj = yield from s.get_json(resource.path(namespace if resource.namespaced else None, name))
    if resource.kind == "Pod":
        return obj
    selector = ((obj.get("spec") or {}).get("selector") or {})
    labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    if not labels or not all(isinstance(v, str) for v in labels.values()):
        raise GoError(f"cannot attach to {resource.kind.lower()}.{resource.group}: selector for "
                      f"{resource.kind} is not supported by the simulation")
    text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    listing = yield from s.get_json("/api/v1/namespaces/" + namespace + "/pods", [("labelSelector", text)])
    pods = list(listing.get("items") or [])
    if not pods:
        raise GoError("timed out waiting for the condition")
    pods.sort(key=functools.cmp_to_key(_by_logging))
    if len(pods) > 1:
        s.err(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}\n")
    return pods[0]


def _ready(pod: dict[str, Any]) -> tuple[bool, str]:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True", condition.get("lastTransitionTime", "")
    return False, ""


def _max_restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((c.get("restartCount", 0) for c in statuses), default=0)


def _by_logging(a: dict[str, Any], b: dict[str, Any]) -> int:
    """podutils.ByLogging.Less as a comparison."""
    node_a, node_b = (a.get("spec") or {}).get("nodeName", ""), (b.get("spec") or {}).get("nodeName", "")
    if node_a != node_b and (not node_a or not node_b):
        return -1 if node_a else 1
    phase_a = _PHASE_ORDER.get((a.get("status") or {}).get("phase", ""), 0)
    phase_b = _PHASE_ORDER.get((b.get("status") or {}).get("phase", ""), 0)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    (ready_a, since_a), (ready_b, since_b) = _ready(a), _ready(b)
    if ready_a != ready_b:
        return -1 if ready_a else 1
    if ready_a and ready_b and since_a != since_b:
        return -1 if _older(since_a, since_b) else 1
    if _max_restarts(a) != _max_restarts(b):
        return -1 if _max_restarts(a) > _max_restarts(b) else 1
    created_a = (a.get("metadata") or {}).get("creationTimestamp", "")
    created_b = (b.get("metadata") or {}).get("creationTimestamp", "")
    if created_a != created_b:
        return -1 if _older(created_a, created_b) else 1
    return 0


def _older(a: str, b: str) -> bool:
    """afterOrZero(b, a): a set time sorts before an empty one, earlier before later (RFC 3339 sorts)."""
    if not a or not b:
        return bool(a)
    return a < b


def choose_container(s: Session, pod: dict[str, Any], name: str, quiet: bool = False) -> str:
    """FindOrDefaultContainerByName: the named container, else the annotated default or the first."""
    spec = pod.get("spec") or {}
    every = [*(spec.get("containers") or []), *(spec.get("initContainers") or []),
             *(spec.get("ephemeralContainers") or [])]
    pod_name = (pod.get("metadata") or {}).get("name", "")
    if name:
        if not any(c.get("name") == name for c in every):
            raise GoError(f"container {name} not found in pod {pod_name}")
        return name
    containers = spec.get("containers") or []
    if not containers:
        raise GoError(f"pod {(pod.get('metadata') or {}).get('namespace', '')}/{pod_name} does not have any containers")
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    if annotated and any(c.get("name") == annotated for c in every):
        return str(annotated)
    first = str(containers[0].get("name", ""))
    if not quiet and (len(containers) > 1 or spec.get("initContainers") or spec.get("ephemeralContainers")):
        names = [c.get("name", "") for c in containers]
        names += [f"{c.get('name', '')} (ephem)" for c in spec.get("ephemeralContainers") or []]
        names += [f"{c.get('name', '')} (init)" for c in spec.get("initContainers") or []]
        s.err(f'Defaulted container "{first}" out of: {", ".join(names)}\n')
    return first
