"""The pods a ReplicaSet owns, kept from watch events, with the counts its status is made of.

The real controller lists an owner's pods from its informer's index and recounts them on every sync.
Syncing once per pod change, that is O(n²) for an n-pod ReplicaSet; here the counts move with each
watch event instead, so a sync costs O(1) unless it needs the pods themselves (to pick pods to delete,
or to time minReadySeconds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from meshrepro.kube.controllers.base import Key
from meshrepro.kube.controllers.util import is_pod_active, is_pod_available, is_pod_ready
from meshrepro.kube.store import Obj

LabelSet = frozenset[tuple[str, str]]


class _Facts(NamedTuple):
    """What the counts read from one pod; fixed with its event, since stored objects are never edited."""

    active: bool
    ready: bool
    labels: LabelSet


class Counts(NamedTuple):
    active: int
    fully_labeled: int
    ready: int
    available: int


class OwnedPods:
    def __init__(self) -> None:
        self.pods: dict[Key, Obj] = {}
        self._facts: dict[Key, _Facts] = {}
        self._active = 0
        self._ready = 0  # active and ready
        self._label_sets: Counter[LabelSet] = Counter()  # active pods by their labels: few distinct sets

    def put(self, key: Key, pod: Obj) -> None:
        self.remove(key)
        facts = _Facts(is_pod_active(pod), is_pod_ready(pod), frozenset((pod["metadata"].get("labels") or {}).items()))
        self.pods[key] = pod
        self._facts[key] = facts
        self._count(facts, 1)

    def remove(self, key: Key) -> None:
        facts = self._facts.pop(key, None)
        if facts is not None:
            del self.pods[key]
            self._count(facts, -1)

    def active(self) -> list[Obj]:
        """The active pods in etcd key order, as the lister returns them."""
        return [self.pods[key] for key in sorted(self.pods) if self._facts[key].active]

    def counts(self, template_labels: Mapping[str, str], min_ready_seconds: int, now: datetime) -> Counts:
        """calculateStatus: active pods, those carrying the template's labels, ready, and available."""
        wanted = template_labels.items()
        labeled = sum(n for labels, n in self._label_sets.items() if wanted <= labels)
        available = self._ready
        if min_ready_seconds > 0:  # depends on the time: count the ready pods one by one
            available = sum(1 for key, facts in self._facts.items() if facts.active and facts.ready
                            and is_pod_available(self.pods[key], min_ready_seconds, now))
        return Counts(self._active, labeled, self._ready, available)

    def _count(self, facts: _Facts, sign: int) -> None:
        if not facts.active:
            return
        self._active += sign
        self._ready += sign * facts.ready
        self._label_sets[facts.labels] += sign
        if not self._label_sets[facts.labels]:
            del self._label_sets[facts.labels]
