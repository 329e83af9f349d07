"""The rules of aggregated ClusterRoles (admin, edit, view and any with an aggregationRule).

A pure port of pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go
syncClusterRole: for each selector in order, the matching ClusterRoles sorted by name (the role
itself skipped), each rule appended unless an equal one is already there. One call is one pass
over a snapshot, like the controller's sync of every role; `converge` repeats passes until the
nested aggregation (view -> edit -> admin) settles.
"""

from __future__ import annotations

from collections.abc import Mapping

_RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _labels(role: dict) -> Mapping[str, str]:
    return (role.get("metadata") or {}).get("labels") or {}


def _requirement_matches(expr: dict, labels: Mapping[str, str]) -> bool:
    key, operator, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f'"{operator}" is not a valid label selector operator')


def selector_matches(selector: dict, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelectorAsSelector(selector).Matches(labels); an empty selector matches all."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_requirement_matches(e, labels) for e in selector.get("matchExpressions") or ())


def _normalized(rule: dict) -> tuple[tuple[str, ...], ...]:
    # equality.Semantic.DeepEqual treats a missing list and an empty one alike.
    return tuple(tuple(rule.get(f) or ()) for f in _RULE_FIELDS)


def aggregated_rules(name: str, cluster_roles: Mapping[str, dict]) -> list[dict]:
    """The rules the controller would write into ClusterRole `name`."""
    role = cluster_roles[name]
    new_rules: list[dict] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ():
        for other in sorted(n for n, r in cluster_roles.items() if selector_matches(selector, _labels(r))):
            if other == name:
                continue
            for rule in cluster_roles[other].get("rules") or ():
                key = _normalized(rule)
                if key not in seen:
                    seen.add(key)
                    new_rules.append(rule)
    return new_rules


def aggregate(cluster_roles: Mapping[str, dict]) -> dict[str, list[dict]]:
    """New rules of every ClusterRole that has an aggregationRule, computed from one snapshot."""
    return {
        name: aggregated_rules(name, cluster_roles)
        for name in sorted(cluster_roles)
        if cluster_roles[name].get("aggregationRule") is not None
    }


def rules_equal(a: list[dict] | None, b: list[dict] | None) -> bool:
    """Whether the controller would skip the update (Semantic.DeepEqual of the rule lists)."""
    return [_normalized(r) for r in a or ()] == [_normalized(r) for r in b or ()]


def converge(cluster_roles: Mapping[str, dict], max_passes: int = 10) -> dict[str, dict]:
    """Apply passes of `aggregate` until nothing changes; returns the updated roles by name."""
    roles = dict(cluster_roles)
    for _ in range(max_passes):
        changed = {
            n: rules for n, rules in aggregate(roles).items() if not rules_equal(rules, roles[n].get("rules"))
        }
        if not changed:
            return roles
        for name, rules in changed.items():
            roles[name] = {**roles[name], "rules": rules}
    raise RuntimeError("ClusterRole aggregation did not settle (selector cycle?)")
