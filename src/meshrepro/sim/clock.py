"""Simulated time: a SimPy environment whose seconds map onto a wall-clock start instant."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import simpy

DEFAULT_START = datetime(2024, 1, 18, 9, 57, 0, tzinfo=UTC)


class Clock:
    """One run's time and randomness. Nothing in the simulation reads the wall clock or global random."""

    def __init__(self, start: datetime = DEFAULT_START, seed: int = 0) -> None:
        self.env = simpy.Environment()
        self.start = start
        self.rng = random.Random(seed)

    @property
    def now(self) -> float:
        """Seconds since the start of the run."""
        return float(self.env.now)

    def wall(self, at: float | None = None) -> datetime:
        """The simulated wall-clock instant of `at` (default: now)."""
        return self.start + timedelta(seconds=self.now if at is None else at)

    def timeout(self, seconds: float) -> simpy.Event:
        return self.env.timeout(max(0.0, seconds))

    def process(self, generator) -> simpy.Process:  # type: ignore[no-untyped-def]
        return self.env.process(generator)

    def run_until(self, seconds: float) -> None:
        """Advance the whole simulation to `seconds` since start."""
        if seconds > self.env.now:
            self.env.run(until=seconds)


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time form: second precision, `Z` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
