"""kube-apiserver through its HTTP handler `APIServer.serve`: authentication, RBAC, discovery, verbs, Status bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.store import ResourceKey
from meshrepro.net.http import Request, Response
from meshrepro.net.server import Peer
from meshrepro.net.tls import Certificate
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
PODS = ResourceKey("", "pods")


@pytest.fixture
def kind() -> Cluster:
    clock = Clock(seed=3)
    cluster = Machine(clock, Trace(), (1, 29), "1.29.2").create_cluster(ClusterSpec())
    clock.run_until(5)
    return cluster


def cert_peer(common_name: str, *organizations: str) -> Peer:
    """A client that presented a verified certificate (the TLS session already checked it)."""
    cert = Certificate(common_name=common_name, issuer="kubernetes", serial="01", organizations=organizations)
    return Peer(("172.18.0.1", 40000), tls=True, certificate=cert)


def admin(cluster: Cluster) -> Peer:
    return Peer(("172.18.0.1", 40000), tls=True, certificate=cluster.pki.admin)


def anonymous_peer() -> Peer:
    return Peer(("172.18.0.1", 40000), tls=True)


def call(cluster: Cluster, peer: Peer, method: str, target: str, headers: dict[str, str] | None = None,
         body: Any = None) -> Response:
    """Run one request through the listener's handler as a SimPy process, to completion."""
    payload = json.dumps(body).encode() if body is not None else b""
    request = Request(method, target, dict(headers or {}), payload)
    process = cluster.clock.process(cluster.apiserver.serve(peer, request))
    cluster.clock.env.run(until=process)
    return process.value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pod(name: str, **meta: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


def running_pod(cluster: Cluster, name: str) -> dict:
    """A pod the scheduler placed (so it has a node, as the kubelet's TokenRequest needs)."""
    assert call(cluster, admin(cluster), "POST", "/api/v1/namespaces/default/pods", body=pod(name)).status == 201
    cluster.clock.run_until(cluster.clock.now + 3)
    stored = cluster.store.get(PODS, "default", name)
    assert stored["spec"]["nodeName"] == "kind-control-plane"
    return stored


def sa_token(cluster: Cluster, bound: dict) -> str:
    token = cluster._token_for(bound, "", 3607)
    assert isinstance(token, str)
    return token


# -- discovery --------------------------------------------------------------------------


def test_api_discovery_aggregated_when_accepted(kind: Cluster) -> None:
    """`/api` with kubectl's Accept header answers the aggregated APIGroupDiscoveryList in its own media type."""
    response = call(kind, admin(kind), "GET", "/api", {"Accept": AGGREGATED})
    assert response.status == 200
    assert response.header("Content-Type") == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    body = json.loads(response.body)
    assert (body["kind"], body["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2beta1")
    [core] = body["items"]
    assert core["metadata"] == {"creationTimestamp": None}
    resources = {r["resource"]: r for r in core["versions"][0]["resources"]}
    assert resources["pods"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert resources["pods"]["scope"] == "Namespaced"
    assert resources["nodes"]["scope"] == "Cluster"


def test_api_discovery_plain_json(kind: Cluster) -> None:
    """`/api` without the aggregated type answers the legacy APIVersions document."""
    response = call(kind, admin(kind), "GET", "/api", {"Accept": "application/json"})
    assert response.header("Content-Type") == "application/json"
    assert json.loads(response.body) == {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "172.18.0.2:6443"}]}


def test_apis_discovery_aggregated_and_plain(kind: Cluster) -> None:
    """`/apis` answers named groups only: aggregated items carry the group name, the plain list an APIGroupList."""
    aggregated = json.loads(call(kind, admin(kind), "GET", "/apis", {"Accept": AGGREGATED}).body)
    names = [item["metadata"]["name"] for item in aggregated["items"]]
    assert "apps" in names and "rbac.authorization.k8s.io" in names and "" not in names
    plain = call(kind, admin(kind), "GET", "/apis", {"Accept": "application/json"})
    body = json.loads(plain.body)
    assert (plain.header("Content-Type"), body["kind"], body["apiVersion"]) == (
        "application/json", "APIGroupList", "v1")
    apps = next(g for g in body["groups"] if g["name"] == "apps")
    assert apps == {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}


def test_v2_aggregated_discovery_not_served_before_1_30(kind: Cluster) -> None:
    """A 1.29 server asked only for apidiscovery v2 falls back to plain JSON (v2 came in 1.30)."""
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    response = call(kind, admin(kind), "GET", "/api", {"Accept": accept})
    assert response.header("Content-Type") == "application/json"
    assert json.loads(response.body)["kind"] == "APIVersions"


def test_version(kind: Cluster) -> None:
    """`/version` answers the release's version.Info."""
    response = call(kind, anonymous_peer(), "GET", "/version")
    assert response.status == 200
    assert json.loads(response.body) == {
        "major": "1", "minor": "29", "gitVersion": "v1.29.2", "gitCommit": "0" * 40, "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21.7", "compiler": "gc", "platform": "linux/amd64"}


def test_unknown_path_is_404_status(kind: Cluster) -> None:
    """A non-resource path nobody serves is a NotFound Status."""
    response = call(kind, admin(kind), "GET", "/nothing-here")
    assert response.status == 404
    assert json.loads(response.body)["message"] == "the server could not find the requested resource"


# -- resources --------------------------------------------------------------------------


def test_list_pods_as_server_side_table(kind: Cluster) -> None:
    """Listing pods with the Table Accept header answers a meta.k8s.io Table whose cells are kubectl's columns."""
    response = call(kind, admin(kind), "GET", "/api/v1/namespaces/kube-system/pods", {"Accept": TABLE})
    assert response.status == 200
    table = json.loads(response.body)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    rows = {row["cells"][0]: row for row in table["rows"]}
    etcd = rows["etcd-kind-control-plane"]
    assert etcd["cells"] == ["etcd-kind-control-plane", "1/1", "Running", "0", "5s", "172.18.0.2",
                             "kind-control-plane", "<none>", "<none>"]
    # includeObject defaults to Metadata: the row carries PartialObjectMetadata, not the pod.
    assert etcd["object"]["kind"] == "PartialObjectMetadata"
    assert "spec" not in etcd["object"]


def test_list_pods_plain_json(kind: Cluster) -> None:
    """Without the Table Accept header, the list is a PodList with the store's revision."""
    response = call(kind, admin(kind), "GET", "/api/v1/namespaces/kube-system/pods")
    body = json.loads(response.body)
    assert (body["kind"], body["apiVersion"]) == ("PodList", "v1")
    assert body["metadata"]["resourceVersion"] == str(kind.store.revision)
    assert "etcd-kind-control-plane" in [p["metadata"]["name"] for p in body["items"]]


def test_create_with_generate_name(kind: Cluster) -> None:
    """generateName gets five characters from apimachinery's alphabet, and the response is 201 with the stored pod."""
    body = pod("", generateName="web-")
    del body["metadata"]["name"]
    response = call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods", body=body)
    assert response.status == 201
    created = json.loads(response.body)
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9
    assert all(ch in "bcdfghjklmnpqrstvwxz2456789" for ch in name[4:])
    assert created["metadata"]["namespace"] == "default"
    assert created["metadata"]["creationTimestamp"] == "2024-01-18T09:57:05Z"
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert kind.store.peek(PODS, "default", name) is not None


def test_create_twice_is_already_exists(kind: Cluster) -> None:
    """A second create of the same name answers the AlreadyExists Status (409)."""
    assert call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods", body=pod("web")).status == 201
    response = call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods", body=pod("web"))
    assert response.status == 409
    status = json.loads(response.body)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'pods "web" already exists'
    assert status["details"] == {"name": "web", "kind": "pods"}


def test_get_missing_is_not_found(kind: Cluster) -> None:
    """Getting a pod that does not exist answers the NotFound Status (404) naming it."""
    response = call(kind, admin(kind), "GET", "/api/v1/namespaces/default/pods/ghost")
    assert response.status == 404
    status = json.loads(response.body)
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure", "NotFound", 404)
    assert status["message"] == 'pods "ghost" not found'


def test_create_namespace_mismatch_is_bad_request(kind: Cluster) -> None:
    """A body namespace that differs from the URL's is refused with the registry's message."""
    response = call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods", body=pod("web", namespace="other"))
    assert response.status == 400
    assert json.loads(response.body)["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request")


def test_strategic_merge_patch_of_labels(kind: Cluster) -> None:
    """A strategic-merge PATCH adds a label and keeps the others; the resource version moves."""
    created = json.loads(call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods",
                              body=pod("web", labels={"app": "web"})).body)
    response = call(kind, admin(kind), "PATCH", "/api/v1/namespaces/default/pods/web",
                    {"Content-Type": "application/strategic-merge-patch+json"},
                    body={"metadata": {"labels": {"tier": "front"}}})
    assert response.status == 200
    patched = json.loads(response.body)
    assert patched["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert kind.store.get(PODS, "default", "web")["metadata"]["labels"] == {"app": "web", "tier": "front"}


def test_patch_null_removes_label(kind: Cluster) -> None:
    """A null label value in a strategic-merge patch deletes the label."""
    call(kind, admin(kind), "POST", "/api/v1/namespaces/default/pods", body=pod("web", labels={"app": "web", "x": "1"}))
    response = call(kind, admin(kind), "PATCH", "/api/v1/namespaces/default/pods/web",
                    body={"metadata": {"labels": {"x": None}}})
    assert json.loads(response.body)["metadata"]["labels"] == {"app": "web"}


# -- authentication ------------------------------------------------------------------------


def test_bearer_token_not_a_cluster_jwt_is_401(kind: Cluster) -> None:
    """A bearer token the cluster did not sign is rejected with the Unauthorized Status, and the trace says why."""
    response = call(kind, anonymous_peer(), "GET", "/api", bearer("not-a-jwt"))
    assert response.status == 401
    assert json.loads(response.body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                         "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    [record] = [r for r in kind.trace.records if r.subject == "authentication"]
    assert record.action == "rejected bearer token (401)"
    assert record.reason == "the token is not a JWT signed by this cluster"


def test_bearer_token_beats_client_certificate(kind: Cluster) -> None:
    """A bad bearer token is 401 even on a connection that presented the admin's certificate."""
    assert call(kind, admin(kind), "GET", "/api", bearer("x.y.z")).status == 401


def test_service_account_token_allows_discovery_forbids_pod_list(kind: Cluster) -> None:
    """A ServiceAccount token the cluster minted reads discovery (system:discovery) but cannot list pods."""
    token = sa_token(kind, running_pod(kind, "client"))
    discovery = call(kind, anonymous_peer(), "GET", "/api", {"Accept": "application/json", **bearer(token)})
    assert discovery.status == 200
    response = call(kind, anonymous_peer(), "GET", "/api/v1/namespaces/default/pods", bearer(token))
    assert response.status == 403
    status = json.loads(response.body)
    assert status["message"] == ('pods is forbidden: User "system:serviceaccount:default:default" cannot list '
                                 'resource "pods" in API group "" in the namespace "default"')
    assert status["details"] == {"kind": "pods"}


def test_token_invalid_once_bound_pod_is_deleted(kind: Cluster) -> None:
    """Deleting the pod a token is bound to makes the token fail authentication at once (deletionTimestamp set)."""
    token = sa_token(kind, running_pod(kind, "client"))
    assert call(kind, anonymous_peer(), "GET", "/version", bearer(token)).status == 200
    assert call(kind, admin(kind), "DELETE", "/api/v1/namespaces/default/pods/client").status == 200
    response = call(kind, anonymous_peer(), "GET", "/version", bearer(token))
    assert response.status == 401
    assert kind.trace.records[-1].reason == "the pod client the token is bound to is gone"


def test_anonymous_is_forbidden_to_list_pods(kind: Cluster) -> None:
    """A TLS client without certificate or token is system:anonymous, allowed /version, forbidden pods."""
    assert call(kind, anonymous_peer(), "GET", "/version").status == 200
    response = call(kind, anonymous_peer(), "GET", "/api/v1/pods")
    assert response.status == 403
    assert json.loads(response.body)["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope')


def test_system_masters_bypass_rbac(kind: Cluster) -> None:
    """A certificate in system:masters is allowed without any binding; the same name without the group is not."""
    assert call(kind, cert_peer("root-like", "system:masters"), "GET", "/api/v1/secrets").status == 200
    response = call(kind, cert_peer("root-like"), "GET", "/api/v1/secrets")
    assert response.status == 403
    assert json.loads(response.body)["message"] == (
        'secrets is forbidden: User "root-like" cannot list resource "secrets" in API group "" at the cluster scope')


def test_forbidden_request_is_traced(kind: Cluster) -> None:
    """The RBAC denial is recorded with the user and the request."""
    call(kind, cert_peer("nobody"), "GET", "/api/v1/namespaces/default/configmaps/x")
    record = kind.trace.records[-1]
    assert (record.component, record.subject, record.action) == (
        "kube-apiserver", "get /api/v1/namespaces/default/configmaps/x", "forbidden")
    assert record.data == {"user": "nobody"}


# -- impersonation ---------------------------------------------------------------------------


def test_impersonating_a_service_account_needs_impersonate_on_serviceaccounts(kind: Cluster) -> None:
    """Without `impersonate` on serviceaccounts the request is refused naming the account, not the target verb."""
    headers = {"Impersonate-User": "system:serviceaccount:default:default"}
    response = call(kind, cert_peer("jane"), "GET", "/api/v1/namespaces/default/pods", headers)
    assert response.status == 403
    status = json.loads(response.body)
    assert status["message"] == ('serviceaccounts "default" is forbidden: User "jane" cannot impersonate resource '
                                 '"serviceaccounts" in API group "" in the namespace "default"')
    assert status["details"] == {"name": "default", "kind": "serviceaccounts"}


def test_impersonation_granted_acts_as_the_service_account(kind: Cluster) -> None:
    """With a Role granting impersonate, the request runs as the account: its own RBAC then forbids the list."""
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    assert call(kind, admin(kind), "POST", f"{rbac}/roles", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "imp"},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]}).status == 201
    assert call(kind, admin(kind), "POST", f"{rbac}/rolebindings", body={
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "imp"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "imp"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]}).status == 201
    headers = {"Impersonate-User": "system:serviceaccount:default:default"}
    response = call(kind, cert_peer("jane"), "GET", "/api/v1/namespaces/default/pods", headers)
    assert response.status == 403
    assert json.loads(response.body)["message"] == (
        'pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" '
        'in the namespace "default"')
    # Impersonating another account of the namespace is allowed too (the Role names no resourceNames).
    assert call(kind, cert_peer("jane"), "GET", "/version",
                {"Impersonate-User": "system:serviceaccount:default:other"}).status == 200


def test_impersonating_a_user_needs_impersonate_on_users(kind: Cluster) -> None:
    """Impersonating a plain user checks `impersonate` on `users` at the cluster scope."""
    response = call(kind, cert_peer("jane"), "GET", "/version", {"Impersonate-User": "bob"})
    assert response.status == 403
    assert json.loads(response.body)["message"] == (
        'users "bob" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope')


def test_admin_impersonates_with_groups(kind: Cluster) -> None:
    """The cluster admin may impersonate a user and groups; system:masters as an impersonated group bypasses RBAC."""
    headers = {"Impersonate-User": "bob", "Impersonate-Group": "system:masters"}
    assert call(kind, admin(kind), "GET", "/api/v1/secrets", headers).status == 200
    response = call(kind, admin(kind), "GET", "/api/v1/secrets", {"Impersonate-User": "bob"})
    assert response.status == 403
