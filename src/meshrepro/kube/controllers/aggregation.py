"""clusterrole-aggregation-controller: ClusterRoles with an aggregationRule collect matching roles' rules.

The rule computation is clusterrole_aggregation.aggregated_rules (a port of syncClusterRole); this
wires it as a controller: any ClusterRole change requeues every aggregated role, and each sync
writes the rules computed from the current cache when they differ.
"""

from __future__ import annotations

from meshrepro.kube.controllers.base import Controller, ControllerContext, Key
from meshrepro.kube.controllers.clusterrole_aggregation import aggregated_rules, rules_equal
from meshrepro.kube.controllers.util import CLUSTER_ROLES, RateLimitedQueue, error_message
from meshrepro.kube.store import WatchEvent


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation-controller"
    primary = CLUSTER_ROLES

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.retries = RateLimitedQueue(self)

    def _on_primary(self, event: WatchEvent) -> None:
        # enqueueAll: a change of any role may change what an aggregated role selects.
        for role in self.ctx.store.iter(CLUSTER_ROLES):
            if role.get("aggregationRule") is not None:
                self.enqueue(("", role["metadata"]["name"]))

    def reconcile(self, namespace: str, name: str) -> None:
        roles = {r["metadata"]["name"]: r for r in self.ctx.store.iter(CLUSTER_ROLES)}
        role = roles.get(name)
        if role is None or role.get("aggregationRule") is None:
            return
        rules = aggregated_rules(name, roles)
        if rules_equal(rules, role.get("rules")):
            return
        updated = self.ctx.store.get(CLUSTER_ROLES, "", name)
        assert updated is not None
        updated["rules"] = rules
        result = self.ctx.client.update("rbac.authorization.k8s.io/v1", "clusterroles", updated)
        key: Key = ("", name)
        if result.ok:
            self.retries.forget(key)
        else:
            self.ctx.trace.add(self.ctx.clock.now, self.name, f"ClusterRole {name}", "update failed",
                               error_message(result))
            self.retries.add_rate_limited(key)
