"""The mechanism behind each product's behaviour table: named flags that hold from one release on.

Each product keeps its own table (`kube/versions.py`, `istio/versions.py`); code asks
`flags(version).<name>` and never compares version strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Release = tuple[int, ...]  # (major, minor) or (major, minor, patch), compared as tuples


@dataclass(frozen=True)
class Flag:
    since: Release  # first release with the behaviour
    change: str  # upstream PR / commit / KEP
    summary: str
    until: Release | None = None  # first release *without* it, if it was removed

    def holds(self, version: Release) -> bool:
        return self.since <= version and (self.until is None or version < self.until)


class Flags:
    """One release's answers: `Flags(...).some_flag` is True when the behaviour holds in that release."""

    def __init__(self, product: str, table: Mapping[str, Flag], version: Release) -> None:
        self._product = product
        self._table = table
        self.version = version

    def __getattr__(self, name: str) -> bool:
        try:
            flag = self._table[name]
        except KeyError:
            raise AttributeError(f"unknown {self._product} behaviour flag {name!r}") from None
        return flag.holds(self.version)
