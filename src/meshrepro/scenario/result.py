"""What a run produced: the terminal transcript, the cluster's pods, logs, connections, events, and verdicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any


@dataclass
class StepResult:
    index: int  # 1-based, as the scenario's `step:` expectations count
    command: str
    output: str  # stdout and stderr interleaved, as the terminal showed them
    stdout: str
    stderr: str
    exit_code: int
    start: str
    end: str


@dataclass
class PodView:
    namespace: str
    name: str
    node: str
    ip: str
    phase: str
    status: str  # the STATUS column of `kubectl get pods`
    ready: str
    restarts: str
    labels: dict[str, str] = field(default_factory=dict)
    containers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LogView:
    namespace: str
    pod: str
    container: str
    attempt: int
    text: str


@dataclass
class ExpectationResult:
    text: str
    line: int
    passed: bool
    actual: str


@dataclass
class RunResult:
    scenario: str
    path: str
    seed: int
    versions: dict[str, str]
    cluster: dict[str, Any]
    steps: list[StepResult]
    pods: list[PodView]
    logs: list[LogView]
    connections: list[dict[str, Any]]
    events: list[dict[str, Any]]
    expectations: list[ExpectationResult]
    trace: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations)

    def to_dict(self) -> dict[str, Any]:
        """Steps, pods, logs and expectations become dicts; connections, events and the trace already are
        (not copied: a run's record is large and read only by now)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = [asdict(v) if is_dataclass(v) else v for v in value] if isinstance(value, list) else value
        return out
