import pytest

from meshrepro.kube.requestinfo import RequestInfoError, parse_request_info


def test_list_pods_in_namespace():
    info = parse_request_info("GET", "/api/v1/namespaces/default/pods", {"limit": ["500"]})
    assert info.is_resource_request
    assert (info.api_prefix, info.api_group, info.api_version) == ("api", "", "v1")
    assert (info.verb, info.namespace, info.resource, info.name) == ("list", "default", "pods", "")


def test_pod_log_subresource():
    info = parse_request_info("GET", "/api/v1/namespaces/default/pods/x/log", {})
    assert (info.verb, info.resource, info.subresource, info.name) == ("get", "pods", "log", "x")
    assert info.parts == ("pods", "x", "log")


def test_grouped_resource_and_verbs_by_method():
    path = "/apis/apps/v1/namespaces/ns/deployments/web"
    assert parse_request_info("PUT", path).verb == "update"
    assert parse_request_info("PATCH", path).verb == "patch"
    assert parse_request_info("DELETE", path).verb == "delete"
    assert parse_request_info("HEAD", path).verb == "get"
    info = parse_request_info("POST", "/apis/apps/v1/namespaces/ns/deployments")
    assert (info.api_group, info.api_version, info.verb, info.resource) == (
        "apps",
        "v1",
        "create",
        "deployments",
    )


def test_delete_collection_and_unknown_method():
    assert parse_request_info("DELETE", "/api/v1/namespaces/ns/pods").verb == "deletecollection"
    assert parse_request_info("OPTIONS", "/api/v1/namespaces/ns/pods/x").verb == ""


@pytest.mark.parametrize(
    "value,verb",
    [
        ("true", "watch"),
        ("1", "watch"),
        ("yes", "watch"),
        ("false", "list"),
        ("0", "list"),
        ("FALSE", "list"),
    ],
)
def test_watch_query(value, verb):
    assert parse_request_info("GET", "/api/v1/pods", {"watch": [value]}).verb == verb


def test_watch_query_ignored_on_named_get():
    assert parse_request_info("GET", "/api/v1/namespaces/a/pods/p", {"watch": ["true"]}).verb == "get"


def test_watch_path_form():
    info = parse_request_info("GET", "/api/v1/watch/namespaces/ns/pods")
    assert (info.verb, info.namespace, info.resource) == ("watch", "ns", "pods")


def test_proxy_takes_no_subresource():
    info = parse_request_info("GET", "/api/v1/proxy/namespaces/ns/pods/p/some/path")
    assert (info.verb, info.resource, info.name, info.subresource) == ("proxy", "pods", "p", "")


def test_special_verb_without_resource_is_an_error():
    with pytest.raises(RequestInfoError, match="unable to determine kind and namespace from url"):
        parse_request_info("GET", "/api/v1/watch")


def test_cluster_scoped_and_all_namespaces():
    nodes = parse_request_info("GET", "/api/v1/nodes")
    assert (nodes.verb, nodes.namespace, nodes.resource) == ("list", "", "nodes")
    all_pods = parse_request_info("GET", "/api/v1/pods")
    assert (all_pods.namespace, all_pods.resource) == ("", "pods")


def test_namespaces_as_resource():
    listing = parse_request_info("GET", "/api/v1/namespaces")
    assert (listing.verb, listing.resource, listing.namespace, listing.name) == ("list", "namespaces", "", "")
    own = parse_request_info("GET", "/api/v1/namespaces/x")
    assert (own.verb, own.resource, own.namespace, own.name) == ("get", "namespaces", "x", "x")
    status = parse_request_info("PUT", "/api/v1/namespaces/x/status")
    assert (status.resource, status.name, status.subresource, status.namespace) == (
        "namespaces",
        "x",
        "status",
        "x",
    )
    finalize = parse_request_info("PUT", "/api/v1/namespaces/x/finalize")
    assert (finalize.resource, finalize.subresource) == ("namespaces", "finalize")


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/apis",
        "/api/v1",
        "/apis/apps",
        "/apis/apps/v1",
        "/healthz",
        "/version",
        "/",
        "/openapi/v2",
        "/foo/bar/baz",
    ],
)
def test_non_resource_paths(path):
    info = parse_request_info("GET", path)
    assert not info.is_resource_request
    assert info.verb == "get"  # the lowercased HTTP method
    assert info.path == path
    assert info.resource == ""
