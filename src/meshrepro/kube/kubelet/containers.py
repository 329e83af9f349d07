"""What the kubelet tracks per container: state, restarts, back-off, and each attempt's log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import simpy

from meshrepro.runtime.process import Transcript
from meshrepro.sim.clock import rfc3339

BACKOFF_INITIAL = 10.0  # kubelet backOffPeriod
BACKOFF_MAX = 300.0  # MaxContainerBackOff


@dataclass
class Backoff:
    """client-go flowcontrol.Backoff keyed per container, as the kubelet uses it."""

    duration: float = 0.0
    last_update: float | None = None

    def in_backoff_since(self, finished_at: float, now: float) -> bool:
        if self.last_update is None or finished_at - self.last_update > 2 * BACKOFF_MAX:
            return False
        return now - finished_at < self.duration

    def next(self, finished_at: float, now: float) -> None:
        """Backoff.Next: expiry is judged from the exit, but the entry is stamped with the restart's time."""
        if self.last_update is None or finished_at - self.last_update > 2 * BACKOFF_MAX:
            self.duration = BACKOFF_INITIAL
        else:
            self.duration = min(self.duration * 2, BACKOFF_MAX)
        self.last_update = now


@dataclass
class Terminated:
    exit_code: int
    reason: str
    started_at: datetime
    finished_at: datetime
    container_id: str
    message: str = ""

    def to_api(self) -> dict[str, Any]:
        state: dict[str, Any] = {"containerID": self.container_id, "exitCode": self.exit_code,
                                 "finishedAt": rfc3339(self.finished_at), "reason": self.reason,
                                 "startedAt": rfc3339(self.started_at)}
        if self.message:
            state["message"] = self.message
        return state


@dataclass
class ContainerRecord:
    name: str
    spec: dict[str, Any]
    init: bool
    sidecar: bool  # an init container with restartPolicy: Always
    image: str
    waiting_reason: str = ""  # "" once the container has been created at least once
    waiting_message: str = ""
    running_since: datetime | None = None
    terminated: Terminated | None = None
    last_terminated: Terminated | None = None
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    ready: bool = False
    started: bool = False
    backoff: Backoff = field(default_factory=Backoff)
    attempts: list[Transcript] = field(default_factory=list)
    process: simpy.Process | None = None
    finished_at_sim: float = 0.0
    ignores_sigterm: bool = False
    post_start_running: bool = False  # its postStart hook runs: the kubelet has not reported the start yet

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def status(self) -> dict[str, Any]:
        """The v1.ContainerStatus the kubelet reports."""
        state: dict[str, Any]
        if self.post_start_running:  # startContainer has not returned: the status still shows it being created
            state = {"waiting": {"reason": "PodInitializing" if self.init else "ContainerCreating"}}
        elif self.running_since is not None:
            state = {"running": {"startedAt": rfc3339(self.running_since)}}
        elif self.waiting_reason:
            waiting: dict[str, Any] = {"reason": self.waiting_reason}
            if self.waiting_message:
                waiting["message"] = self.waiting_message
            state = {"waiting": waiting}
        elif self.terminated is not None:
            state = {"terminated": self.terminated.to_api()}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        # A container killed for its postStart hook waits with PostStartHookError over its terminated instance.
        waiting_over_exit = self.waiting_reason and self.running_since is None and self.terminated is not None
        last = self.terminated if waiting_over_exit else self.last_terminated
        status: dict[str, Any] = {
            "name": self.name, "image": self.image, "imageID": self.image_id,
            "lastState": {"terminated": last.to_api()} if last else {},
            "ready": self.ready and not self.post_start_running, "restartCount": self.restart_count,
            "started": self.started and not self.post_start_running, "state": state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status
