"""The decision trace: every component appends what it decided, about which object, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decision:
    """One decision by one component at one simulated instant."""

    time: float
    component: str  # e.g. "kubelet/kind-control-plane", "kube-proxy", "apiserver"
    subject: str  # the object it is about, e.g. "Pod default/nginx-7c5ddbdf54-q2wxz"
    action: str  # short verb phrase, e.g. "created sandbox", "rejected request"
    reason: str = ""  # why: the rule, field or flag that decided it
    data: dict[str, Any] = field(default_factory=dict)


class Trace:
    """Append-only list of decisions for one run."""

    def __init__(self) -> None:
        self.records: list[Decision] = []

    def add(self, time: float, component: str, subject: str, action: str, reason: str = "", **data: Any) -> Decision:
        record = Decision(time, component, subject, action, reason, dict(data))
        self.records.append(record)
        return record
