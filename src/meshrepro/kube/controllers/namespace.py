"""namespace-controller: a deleted namespace is emptied, then its `kubernetes` finalizer is removed.

Port of pkg/controller/namespace/namespace_controller.go and deletion/namespaced_resources_deleter.go:
phase Terminating, every namespaced resource deleted, the status conditions of
status_condition_utils.go, and a requeue after half the longest pod grace period plus one second
while content remains (the controller watches only namespaces).
"""

from __future__ import annotations

from typing import Any

from meshrepro.kube.controllers.base import Controller, ControllerContext
from meshrepro.kube.controllers.util import NAMESPACES, RateLimitedQueue, error_message
from meshrepro.kube.store import Obj, ResourceKey
from meshrepro.manifests.kinds import KindRegistry
from meshrepro.sim.clock import rfc3339

FINALIZER = "kubernetes"


class NamespaceController(Controller):
    name = "namespace-controller"
    primary = NAMESPACES

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.kinds = [k for k in KindRegistry() if k.namespaced and k.plural not in ("events",)]
        self.retries = RateLimitedQueue(self)

    def reconcile(self, namespace: str, name: str) -> None:
        ns = self.ctx.store.get(NAMESPACES, "", name)
        if ns is None or "deletionTimestamp" not in ns["metadata"]:
            return
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns["status"] = {**(ns.get("status") or {}), "phase": "Terminating"}
            result = self.ctx.client.update_status("v1", "namespaces", ns)
            if not result.ok:
                self.retries.add_rate_limited(("", name))
                return
            ns = result.body
        remaining, estimate, error = self._delete_content(name)
        self._set_conditions(ns, remaining, error)
        if error:
            self.retries.add_rate_limited(("", name))
        elif remaining:
            self.retries.add_after(("", name), estimate // 2 + 1)
        else:
            self._finalize(ns)

    def _delete_content(self, namespace: str) -> tuple[dict[str, int], int, str]:
        """Delete what is left; returns (kind plural -> count still present, grace estimate, error)."""
        remaining: dict[str, int] = {}
        estimate = 0
        error = ""
        for kind in self.kinds:
            key = ResourceKey(kind.group, kind.plural)
            for obj in list(self.ctx.store.iter(key, namespace)):
                if "deletionTimestamp" not in obj["metadata"]:
                    result = self.ctx.client.delete(kind.api_version, kind.plural, namespace, obj["metadata"]["name"])
                    if not result.ok and result.status != 404:
                        error = error or error_message(result)
                still = self.ctx.store.peek(key, namespace, obj["metadata"]["name"])
                if still is not None:
                    resource = f"{kind.plural}.{kind.group}" if kind.group else kind.plural  # GroupResource.String
                    remaining[resource] = remaining.get(resource, 0) + 1
                    if kind.plural == "pods" and (still.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                        estimate = max(estimate, int(still["spec"].get("terminationGracePeriodSeconds", 30)))
        return remaining, estimate, error

    def _set_conditions(self, ns: Obj, remaining: dict[str, int], error: str) -> None:
        now = rfc3339(self.ctx.clock.wall())

        def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
            return {"type": kind, "status": status, "lastTransitionTime": now, "reason": reason, "message": message}

        content = (cond("NamespaceContentRemaining", "True", "SomeResourcesRemain",
                        "Some resources are remaining: " + ", ".join(
                            f"{r} has {n} resource instances" for r, n in sorted(remaining.items())))
                   if remaining else cond("NamespaceContentRemaining", "False", "ContentRemoved",
                                          "All content successfully removed"))
        wanted = [
            cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
                 "All resources successfully discovered"),
            cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
                 "All legacy kube types successfully parsed"),
            cond("NamespaceDeletionContentFailure", "True", "ContentDeletionFailed", error) if error else
            cond("NamespaceDeletionContentFailure", "False", "ContentDeleted",
                 "All content successfully deleted, may be waiting on finalization"),
            content,
            cond("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
                 "All content-preserving finalizers finished"),
        ]
        old = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        merged = []
        for c in wanted:
            previous = old.get(c["type"])
            same = previous is not None and all(previous.get(k) == c[k] for k in ("status", "reason", "message"))
            merged.append(previous if same else c)
        if merged != (ns.get("status") or {}).get("conditions"):
            ns["status"]["conditions"] = merged
            self.ctx.client.update_status("v1", "namespaces", ns)

    def _finalize(self, ns: Obj) -> None:
        """Drop `kubernetes` from spec.finalizers (the real controller uses the finalize subresource,
        which the simulated API server does not serve), then delete the namespace for good."""
        name = ns["metadata"]["name"]
        current = self.ctx.store.get(NAMESPACES, "", name)
        if current is None:
            return
        finalizers = [f for f in (current.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        current.setdefault("spec", {})["finalizers"] = finalizers
        result = self.ctx.client.update("v1", "namespaces", current)
        if not result.ok and result.status != 404:
            self.retries.add_rate_limited(("", name))
            return
        if not finalizers and not current["metadata"].get("finalizers"):
            self.ctx.client.delete("v1", "namespaces", "", name)
