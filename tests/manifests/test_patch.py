import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshrepro.kube.versions import flags
from meshrepro.manifests.defaults import apply_defaults
from meshrepro.manifests.kinds import KindRegistry
from meshrepro.manifests.patch import (
    LAST_APPLIED,
    PatchError,
    json_merge_patch,
    json_patch,
    last_applied_configuration,
    merge_patch_diff,
    strategic_merge,
    three_way_merge,
    with_last_applied,
)

REGISTRY = KindRegistry()
DEPLOY = REGISTRY.resolve("deploy")
POD = REGISTRY.resolve("pod")


def pod(*containers):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": list(containers)}}


def test_strategic_merge_merges_containers_by_name_and_ports_by_container_port():
    live = pod({"name": "a", "image": "x", "ports": [{"containerPort": 80, "name": "http"}]},
               {"name": "istio-proxy", "image": "proxy"})
    patch = {"spec": {"containers": [{"name": "a", "image": "y", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                                                          {"containerPort": 81}]}]}}
    out = strategic_merge(live, patch, POD)
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "y", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"},
                                               {"containerPort": 81}]},
        {"name": "istio-proxy", "image": "proxy"}]
    assert live["spec"]["containers"][0]["image"] == "x"


def test_strategic_merge_directives_and_replace_lists():
    live = pod({"name": "a", "image": "x", "args": ["1", "2"], "env": [{"name": "A", "value": "1"}]},
               {"name": "b", "image": "z"})
    live["metadata"]["finalizers"] = ["f1"]
    patch = {"metadata": {"finalizers": ["f2"]},
             "spec": {"containers": [{"name": "b", "$patch": "delete"},
                                     {"name": "a", "args": ["3"], "env": None, "image": None}]}}
    out = strategic_merge(live, patch, POD)
    # A list of primitives with merge strategy; without $setElementOrder, apimachinery's
    # mergeSortedSlice puts items the live list lacks before the server-only ones.
    assert out["metadata"]["finalizers"] == ["f2", "f1"]
    assert out["spec"]["containers"] == [{"name": "a", "args": ["3"]}]  # args has no strategy: replaced
    replaced = strategic_merge(live, {"spec": {"containers": [{"name": "n", "image": "i"}, {"$patch": "replace"}]}}, POD)
    assert replaced["spec"]["containers"] == [{"name": "n", "image": "i"}]
    with pytest.raises(PatchError, match=r"^map: map\[image:i\] does not contain declared merge key: name$"):
        strategic_merge(live, {"spec": {"containers": [{"image": "i"}]}}, POD)


def test_strategic_merge_on_custom_resources_is_refused():
    [vs] = KindRegistry().add_custom({"spec": {"group": "g.io", "names": {"kind": "K", "plural": "ks"},
                                               "versions": [{"name": "v1"}]}})
    with pytest.raises(PatchError, match="^the body of the request was in an unknown format"):
        strategic_merge({}, {}, vs)


def _deployment(containers, strategy=None):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "nginx"}},
                    "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": containers}}}}
    if strategy:
        obj["spec"]["strategy"] = strategy
    return obj


def test_three_way_merge_matches_kubectl_apply():
    first = _deployment([{"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]},
                         {"name": "b", "image": "busybox"}])
    live = apply_defaults(with_last_applied(first), flags((1, 29)))
    second = _deployment([{"name": "a", "image": "nginx:2"}], strategy={"type": "Recreate"})
    patch = three_way_merge(first, with_last_applied(second), live, DEPLOY)
    patch["metadata"]["annotations"][LAST_APPLIED] = "..."
    assert json.dumps(patch, sort_keys=True, separators=(",", ":")) == (
        '{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"..."}},'
        '"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"},'
        '"template":{"spec":{"$setElementOrder/containers":[{"name":"a"}],'
        '"containers":[{"env":null,"image":"nginx:2","name":"a"},{"$patch":"delete","name":"b"}]}}}}')
    patch = three_way_merge(first, with_last_applied(second), live, DEPLOY)
    result = strategic_merge(live, patch, DEPLOY)
    assert result["spec"]["strategy"] == {"type": "Recreate"}  # $retainKeys dropped rollingUpdate
    [container] = result["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:2" and "env" not in container
    assert container["imagePullPolicy"] == "IfNotPresent"  # live defaults survive
    assert three_way_merge(first, with_last_applied(first), live, DEPLOY) == {}  # kubectl: "unchanged"


def test_three_way_merge_for_custom_resources_uses_json_merge_patch():
    [kind] = KindRegistry().add_custom({"spec": {"group": "g.io", "names": {"kind": "K", "plural": "ks"},
                                                 "versions": [{"name": "v1"}]}})
    original = {"spec": {"a": 1, "b": [1, 2]}}
    current = {"spec": {"a": 1, "b": [1, 2], "c": "server"}, "status": {"x": 1}}
    modified = {"spec": {"b": [3]}}
    assert three_way_merge(original, modified, current, kind) == {"spec": {"a": None, "b": [3]}}


def test_last_applied_configuration_is_go_json():
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}, "data": {"html": "<a&b>", "é": "ü"}}
    assert last_applied_configuration(obj) == (
        '{"apiVersion":"v1","data":{"html":"\\u003ca\\u0026b\\u003e","é":"ü"},"kind":"ConfigMap",'
        '"metadata":{"annotations":{},"name":"c"}}\n')
    modified = with_last_applied(obj)
    assert last_applied_configuration(modified) == last_applied_configuration(obj)  # no recursion


def test_json_patch_operations_and_errors():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "replace", "path": "/c", "value": "y"},
                           {"op": "move", "from": "/c", "path": "/d"}, {"op": "copy", "from": "/d", "path": "/e~1f"},
                           {"op": "remove", "path": "/a/b/0"}, {"op": "test", "path": "/a/b", "value": [2, 3]}])
    assert out == {"a": {"b": [2, 3]}, "d": "y", "e/f": "y"} and doc["c"] == "x"
    with pytest.raises(PatchError, match="^Unable to remove nonexistent key: z: missing value$"):
        json_patch(doc, [{"op": "remove", "path": "/z"}])
    with pytest.raises(PatchError, match="^testing value /c failed: test failed$"):
        json_patch(doc, [{"op": "test", "path": "/c", "value": "no"}])
    with pytest.raises(PatchError, match='^add operation does not apply: doc is missing path: "/x/y": missing value$'):
        json_patch(doc, [{"op": "add", "path": "/x/y", "value": 1}])
    with pytest.raises(PatchError, match="^Unexpected kind: jump$"):
        json_patch(doc, [{"op": "jump", "path": "/c"}])


def test_json_merge_patch_rfc7386_examples():
    assert json_merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == \
        {"a": "z", "c": {"d": "e"}}
    assert json_merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert json_merge_patch(["a"], {"a": "b"}) == {"a": "b"}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                       max_size=3), max_leaves=12)
no_null_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4).map(
    lambda d: json.loads(json.dumps(d), object_hook=lambda o: {k: v for k, v in o.items() if v is not None}))


@settings(max_examples=300, deadline=None)
@given(no_null_objects, no_null_objects)
def test_merge_patch_of_diff_gives_target(a, b):
    before = copy.deepcopy(a)
    assert json_merge_patch(a, merge_patch_diff(a, b)) == b
    assert a == before
