"""The store's listing order and watch dispatch, which its indexes must keep exactly."""

from __future__ import annotations

import random

from meshrepro.kube.store import ResourceKey, Store, WatchEvent

PODS = ResourceKey("", "pods")
SERVICES = ResourceKey("", "services")


def _obj(namespace: str, name: str) -> dict:
    return {"metadata": {"namespace": namespace, "name": name}}


def _names(store: Store, key: ResourceKey, namespace: str | None = None) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.iter(key, namespace)]


def test_iter_lists_in_key_order_whatever_the_order_of_writes() -> None:
    rng = random.Random(7)
    store = Store()
    idents = [(ns, f"pod-{i}") for ns in ("b", "a", "kube-system", "") for i in range(30)]
    rng.shuffle(idents)
    live: set[tuple[str, str]] = set()
    for ident in idents:
        store.put(PODS, _obj(*ident))
        live.add(ident)
        if rng.random() < 0.3:
            gone = rng.choice(sorted(live))
            store.delete(PODS, *gone)
            live.discard(gone)
        store.put(PODS, _obj(*rng.choice(sorted(live))))  # a modification keeps the key set
    assert _names(store, PODS) == sorted(live)
    for namespace in ("a", "b", "kube-system", "", "missing"):
        assert _names(store, PODS, namespace) == sorted(i for i in live if i[0] == namespace)
    assert _names(store, SERVICES) == []


def test_iter_keys_are_fixed_when_iteration_starts() -> None:
    store = Store()
    for name in ("a", "b"):
        store.put(PODS, _obj("default", name))
    seen = []
    for obj in store.iter(PODS):
        seen.append(obj["metadata"]["name"])
        store.put(PODS, _obj("default", "c"))  # added meanwhile: not listed
    assert seen == ["a", "b"]
    assert _names(store, PODS, "default") == [("default", "a"), ("default", "b"), ("default", "c")]


def test_watchers_are_called_in_registration_order_and_changes_apply_to_later_events() -> None:
    store = Store()
    calls: list[str] = []

    def watcher(tag: str):
        return lambda event: calls.append(f"{tag}:{event.type}")

    late = watcher("late")

    def registering(event: WatchEvent) -> None:
        calls.append(f"registering:{event.type}")
        store.watch(late, PODS)

    store.watch(watcher("all"))
    store.watch(watcher("pods"), PODS)
    store.watch(watcher("services"), SERVICES)
    store.watch(registering, PODS)
    store.watch(watcher("all-again"))
    store.put(PODS, _obj("default", "a"))
    assert calls == ["all:ADDED", "pods:ADDED", "registering:ADDED", "all-again:ADDED"]
    calls.clear()
    store.unwatch(registering, PODS)
    store.put(SERVICES, _obj("default", "s"))
    store.delete(PODS, "default", "a")
    assert calls == ["all:ADDED", "services:ADDED", "all-again:ADDED",
                     "all:DELETED", "pods:DELETED", "all-again:DELETED", "late:DELETED"]
