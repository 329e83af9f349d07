"""OwnedPods keeps a ReplicaSet's status counts from watch events: they must equal a recount of its pods."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from meshrepro.kube.controllers.podindex import Counts, OwnedPods
from meshrepro.kube.controllers.util import is_pod_active, is_pod_available, is_pod_ready
from meshrepro.sim.clock import rfc3339

NOW = datetime(2024, 1, 18, 10, 0, 0, tzinfo=UTC)


def _pod(rng: random.Random, name: str) -> dict:
    meta: dict = {"namespace": "default", "name": name,
                  "labels": rng.choice([{"app": "web"}, {"app": "web", "tier": "x"}, {"app": "db"}, {}])}
    if rng.random() < 0.1:
        meta["deletionTimestamp"] = rfc3339(NOW)
    ready = rng.random() < 0.6
    since = rfc3339(NOW - timedelta(seconds=rng.randrange(0, 20)))
    return {"metadata": meta, "status": {
        "phase": rng.choice(["Pending", "Running", "Running", "Succeeded", "Failed"]),
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": since}]}}


def _recount(pods: dict, wanted: dict, min_ready: int) -> Counts:
    active = [p for _, p in sorted(pods.items()) if is_pod_active(p)]
    ready = [p for p in active if is_pod_ready(p)]
    return Counts(len(active), sum(1 for p in active if wanted.items() <= (p["metadata"].get("labels") or {}).items()),
                  len(ready), sum(1 for p in ready if is_pod_available(p, min_ready, NOW)))


def test_counts_follow_every_event_as_a_recount_would() -> None:
    rng = random.Random(3)
    index, pods = OwnedPods(), {}
    for step in range(2000):
        key = ("default", f"web-{rng.randrange(40)}")
        if rng.random() < 0.2:
            index.remove(key)
            pods.pop(key, None)
        else:
            pods[key] = _pod(rng, key[1])
            index.put(key, pods[key])
        if step % 50 == 0:
            for wanted in ({"app": "web"}, {"app": "web", "tier": "x"}, {}):
                for min_ready in (0, 10):
                    assert index.counts(wanted, min_ready, NOW) == _recount(pods, wanted, min_ready)
    assert index.active() == [p for _, p in sorted(pods.items()) if is_pod_active(p)]
