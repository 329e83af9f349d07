"""serviceaccount-controller: a `default` ServiceAccount in every active namespace.

Port of pkg/controller/serviceaccount/serviceaccounts_controller.go: namespaces are queued on add and
update, ServiceAccounts on delete (the namespace of the deleted one), and syncNamespace creates the
missing accounts unless the namespace is terminating.
"""

from __future__ import annotations

from meshrepro.kube.controllers.base import Controller, Key
from meshrepro.kube.controllers.util import NAMESPACES, SERVICE_ACCOUNTS, RateLimitedQueue, error_message
from meshrepro.kube.store import WatchEvent

MANAGED = ("default",)  # serviceaccountcontroller.DefaultServiceAccountsControllerOptions


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    primary = NAMESPACES
    secondary = (SERVICE_ACCOUNTS,)

    def __init__(self, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)

    def keys_for(self, event: WatchEvent) -> list[Key]:
        if event.type != "DELETED":
            return []
        return [("", event.object["metadata"]["namespace"])]

    def _on_primary(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self.enqueue(("", event.object["metadata"]["name"]))

    def reconcile(self, namespace: str, name: str) -> None:
        ns = self.ctx.store.peek(NAMESPACES, "", name)
        if ns is None or "deletionTimestamp" in ns["metadata"] or (ns.get("status") or {}).get("phase",
                                                                                              "Active") != "Active":
            return
        for sa_name in MANAGED:
            if self.ctx.store.peek(SERVICE_ACCOUNTS, name, sa_name) is not None:
                continue
            result = self.ctx.client.create("v1", "serviceaccounts", name, {
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa_name, "namespace": name}})
            if not result.ok and result.status != 409:
                self.ctx.trace.add(self.ctx.clock.now, self.name, f"Namespace {name}", "create failed",
                                   error_message(result))
                self.retries.add_rate_limited((namespace, name))
                return
        self.retries.forget((namespace, name))
