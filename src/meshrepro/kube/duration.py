"""apimachinery's HumanDuration: the AGE / "(5m ago)" text of every `kubectl get` table.

Ported from k8s.io/apimachinery/pkg/util/duration/duration.go (unchanged 1.27-1.33). Go truncates
toward zero when converting durations to whole units; `int()` does the same in Python.
"""

from __future__ import annotations

from datetime import datetime

_MINUTE = 60
_HOUR = 60 * _MINUTE


def human_duration(seconds: float) -> str:
    """Succinct duration with ~2-3 significant figures: `119s`, `2m5s`, `45m`, `3h5m`, `7d23h`, `2y100d`."""
    whole = int(seconds)  # Go: int(d.Seconds()), truncation toward zero
    # Up to one second of clock skew still reads as "now"; more is reported as nonsense.
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 2 * _MINUTE:
        return f"{whole}s"
    minutes = whole // _MINUTE
    if minutes < 10:
        return _two_units(minutes, "m", whole % _MINUTE, "s")
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = whole // _HOUR
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _two_units(hours // 24, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        return _two_units(hours // 24 // 365, "y", (hours // 24) % 365, "d")
    return f"{hours // 24 // 365}y"


def _two_units(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}" if small == 0 else f"{big}{big_unit}{small}{small_unit}"


def parse_time(text: str) -> datetime:
    """RFC3339 (optionally with fractional seconds, as MicroTime) -> aware datetime."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"not an RFC3339 time (no zone): {text!r}")
    return parsed


def since(timestamp: str | None, now: datetime) -> str:
    """printers.go translateTimestampSince: `<unknown>` for an unset timestamp."""
    if not timestamp:
        return "<unknown>"
    return human_duration((now - parse_time(timestamp)).total_seconds())


def duration_between(start: str, end: str) -> str:
    """HumanDuration of end-start, as the Job DURATION column computes it."""
    return human_duration((parse_time(end) - parse_time(start)).total_seconds())
