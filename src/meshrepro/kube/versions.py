"""Kubernetes behaviour that changed between releases: one named flag per behaviour.

Code asks `flags(version).<name>` and never compares version strings. Every flag names the
release that introduced the behaviour and the upstream change, so a reader can check it.
"""

from __future__ import annotations

from dataclasses import dataclass

KubeVersion = tuple[int, int]  # (major, minor), e.g. (1, 29)


@dataclass(frozen=True)
class Flag:
    since: KubeVersion  # first minor release with the behaviour
    change: str  # upstream PR / commit / KEP
    summary: str
    until: KubeVersion | None = None  # first minor release *without* it, if it was removed


# name -> when the behaviour holds. Keep sorted by name.
TABLE: dict[str, Flag] = {
    "pod_ready_to_start_containers_condition": Flag(
        (1, 29), "kubernetes/kubernetes#119659 (KEP-3085 beta)",
        "kubelet writes the PodReadyToStartContainers condition (feature gate on by default)"),
    "sidecar_containers": Flag(
        (1, 29), "kubernetes/kubernetes#121579 (KEP-753 beta)",
        "init containers with restartPolicy: Always run as native sidecars (gate on by default)"),
}

SUPPORTED = [(1, minor) for minor in range(27, 34)]
DEFAULT_VERSION: KubeVersion = (1, 29)


@dataclass(frozen=True)
class Flags:
    version: KubeVersion

    def __getattr__(self, name: str) -> bool:
        try:
            flag = TABLE[name]
        except KeyError:
            raise AttributeError(f"unknown Kubernetes behaviour flag {name!r}") from None
        return flag.since <= self.version and (flag.until is None or self.version < flag.until)


def flags(version: KubeVersion) -> Flags:
    return Flags(version)


def parse_version(text: str) -> KubeVersion:
    """'1.29', 'v1.29.2' or '1.29.2' -> (1, 29)."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ValueError(f"not a Kubernetes version: {text!r}")
    return int(parts[0]), int(parts[1])
