import pytest

from meshrepro.kube.bootstrap_policy import bootstrap_objects
from meshrepro.kube.controllers.clusterrole_aggregation import (
    aggregate,
    converge,
    rules_equal,
    selector_matches,
)

AGG = "rbac.authorization.k8s.io/aggregate-to-"


def role(name, rules, labels=None, selects=None):
    obj = {"kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if selects is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": selects}
    return obj


def r(resource, verbs=("get",)):
    return {"verbs": list(verbs), "apiGroups": [""], "resources": [resource]}


def test_rules_come_in_role_name_order_deduplicated_and_self_skipped():
    roles = {
        "agg": role("agg", [r("stale")], {"pick": "yes"}, [{"matchLabels": {"pick": "yes"}}]),
        "b-role": role("b-role", [r("b"), r("shared")], {"pick": "yes"}),
        "a-role": role("a-role", [r("a"), r("shared")], {"pick": "yes"}),
        "ignored": role("ignored", [r("zzz")], {"pick": "no"}),
    }
    assert aggregate(roles) == {"agg": [r("a"), r("shared"), r("b")]}


def test_selectors_are_walked_in_order_and_a_role_matching_two_is_deduplicated():
    roles = {
        "agg": role("agg", None, None, [{"matchLabels": {"x": "1"}}, {"matchLabels": {"y": "1"}}]),
        "z-first": role("z-first", [r("z")], {"x": "1"}),
        "a-second": role("a-second", [r("a")], {"y": "1"}),
        "both": role("both", [r("both")], {"x": "1", "y": "1"}),
    }
    assert aggregate(roles)["agg"] == [r("both"), r("z"), r("a")]


def test_rule_equality_ignores_missing_versus_empty_lists():
    roles = {
        "agg": role("agg", None, None, [{"matchLabels": {"x": "1"}}]),
        "a": role(
            "a",
            [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": []}],
            {"x": "1"},
        ),
        "b": role("b", [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}], {"x": "1"}),
    }
    assert len(aggregate(roles)["agg"]) == 1
    assert rules_equal(None, [])
    assert not rules_equal([r("a")], [r("b")])


@pytest.mark.parametrize(
    "selector,labels,expected",
    [
        ({}, {}, True),  # an empty selector matches everything
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
    ],
)
def test_selector_matching(selector, labels, expected):
    assert selector_matches(selector, labels) is expected


def test_bad_operator_is_an_error():
    with pytest.raises(ValueError, match="not a valid label selector operator"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Gt"}]}, {"a": "1"})


def test_roles_without_aggregation_rule_are_not_touched():
    roles = {"plain": role("plain", [r("x")], {AGG + "view": "true"})}
    assert aggregate(roles) == {}


def test_bootstrap_view_edit_admin_nest_after_convergence():
    roles = {o["metadata"]["name"]: o for o in bootstrap_objects((1, 29)) if o["kind"] == "ClusterRole"}
    one_pass = aggregate(roles)
    # One pass sees edit and view still empty; admin only has its own rules so far.
    assert one_pass["admin"] == roles["system:aggregate-to-admin"]["rules"]
    settled = converge(roles)
    view, edit, admin = (settled[n]["rules"] for n in ("view", "edit", "admin"))
    assert view == roles["system:aggregate-to-view"]["rules"]
    assert edit == roles["system:aggregate-to-edit"]["rules"] + view
    # Sorted by role name: "edit" comes before "system:aggregate-to-admin".
    assert admin == edit + roles["system:aggregate-to-admin"]["rules"]
    assert converge(settled) == settled  # a settled state is a fixed point


def test_a_new_labelled_role_joins_view_edit_and_admin():
    roles = {o["metadata"]["name"]: o for o in bootstrap_objects((1, 29)) if o["kind"] == "ClusterRole"}
    crd_rule = {
        "verbs": ["get", "list", "watch"],
        "apiGroups": ["stable.example.com"],
        "resources": ["crontabs"],
    }
    roles["aggregate-cron-tabs-view"] = role("aggregate-cron-tabs-view", [crd_rule], {AGG + "view": "true"})
    settled = converge(roles)
    assert all(crd_rule in settled[n]["rules"] for n in ("view", "edit", "admin"))


def test_cycles_that_never_settle_raise():
    roles = {
        "a": role("a", [r("a")], {"to-b": "1"}, [{"matchLabels": {"to-a": "1"}}]),
        "b": role("b", [r("b")], {"to-a": "1"}, [{"matchLabels": {"to-b": "1"}}]),
    }
    with pytest.raises(RuntimeError, match="did not settle"):
        converge(roles)
