from dataclasses import dataclass, field

import pytest

from meshrepro.kube import status
from meshrepro.kube.bootstrap_policy import bootstrap_objects
from meshrepro.kube.controllers.clusterrole_aggregation import converge
from meshrepro.kube.rbac import User, authorize, rule_allows, rules_for
from meshrepro.kube.requestinfo import parse_request_info

SA = User.service_account("default", "default")


@dataclass
class Policy:
    objects: list[dict] = field(default_factory=list)

    def _of(self, kind: str, namespace: str = "") -> list[dict]:
        return [
            o for o in self.objects if o["kind"] == kind and o["metadata"].get("namespace", "") == namespace
        ]

    def cluster_roles(self):
        return {o["metadata"]["name"]: o for o in self._of("ClusterRole")}

    def cluster_role_bindings(self):
        return self._of("ClusterRoleBinding")

    def roles(self, namespace):
        return {o["metadata"]["name"]: o for o in self._of("Role", namespace)}

    def role_bindings(self, namespace):
        return self._of("RoleBinding", namespace)


def cluster_role(name, *rules):
    return {"kind": "ClusterRole", "metadata": {"name": name}, "rules": list(rules)}


def role(namespace, name, *rules):
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": list(rules)}


def binding(kind, name, role_kind, role_name, subjects, namespace=""):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "kind": kind,
        "metadata": meta,
        "subjects": subjects,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
    }


def sa_subject(name, namespace=None):
    return {"kind": "ServiceAccount", "name": name, **({"namespace": namespace} if namespace else {})}


POD_READER = {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}


def req(method, path, query=None):
    return parse_request_info(method, path, query or {})


def allowed(user, method, path, policy, query=None):
    return authorize(user, req(method, path, query), policy).allowed


# --- identities ---


def test_service_account_user():
    assert SA.name == "system:serviceaccount:default:default"
    assert SA.groups == ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")


def test_authenticated_group_adder_rules():
    assert User.authenticated("kubernetes-admin", ["kubeadm:cluster-admins"]).groups == (
        "kubeadm:cluster-admins",
        "system:authenticated",
    )
    assert User.authenticated("u", ["system:authenticated", "g"]).groups == ("system:authenticated", "g")
    assert User.authenticated("u", ["system:unauthenticated"]).groups == ("system:unauthenticated",)
    assert User.authenticated("system:anonymous", []).groups == ()
    assert User.anonymous() == User("system:anonymous", ("system:unauthenticated",))


def test_impersonated_service_account_gets_its_groups():
    assert User.impersonated("system:serviceaccount:ns:sa").groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:ns",
        "system:authenticated",
    )
    assert User.impersonated("jane", ["devs"]).groups == ("devs", "system:authenticated")
    assert User.impersonated("system:anonymous").groups == ("system:unauthenticated",)


# --- rule matching ---


@pytest.mark.parametrize(
    "resources,path,expected",
    [
        (["pods"], "/api/v1/namespaces/d/pods/x", True),
        (["pods"], "/api/v1/namespaces/d/pods/x/log", False),  # pods does not cover pods/log
        (["pods/log"], "/api/v1/namespaces/d/pods/x/log", True),
        (["pods/log"], "/api/v1/namespaces/d/pods/x", False),
        (["*/log"], "/api/v1/namespaces/d/pods/x/log", True),  # */sub: that subresource of anything
        (["*/log"], "/api/v1/namespaces/d/pods/x", False),
        (["*/status"], "/api/v1/namespaces/d/pods/x/log", False),
        (["pods/*"], "/api/v1/namespaces/d/pods/x/log", False),  # pods/* is not a wildcard
        (["*"], "/api/v1/namespaces/d/pods/x/exec", True),
    ],
)
def test_resource_matching(resources, path, expected):
    rule = {"verbs": ["*"], "apiGroups": [""], "resources": resources}
    assert rule_allows(req("GET", path), rule) is expected


def test_verbs_and_groups():
    rule = {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}
    assert rule_allows(req("GET", "/apis/apps/v1/namespaces/d/deployments/w"), rule)
    assert not rule_allows(req("GET", "/apis/apps/v1/namespaces/d/deployments"), rule)  # that is list
    assert not rule_allows(req("GET", "/apis/extensions/v1beta1/namespaces/d/deployments/w"), rule)
    assert not rule_allows(req("GET", "/api/v1/namespaces/d/deployments/w"), rule)  # core group is ""
    assert not rule_allows(req("GET", "/apis/apps/v1/namespaces/d/deployments/w"), {**rule, "verbs": ["Get"]})
    assert rule_allows(req("GET", "/apis/x.io/v1/things/t"), {**rule, "apiGroups": ["*"], "resources": ["*"]})


def test_resource_names_never_match_nameless_requests():
    rule = {
        "verbs": ["get", "list", "watch", "create"],
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["kube-proxy"],
    }
    assert rule_allows(req("GET", "/api/v1/namespaces/kube-system/configmaps/kube-proxy"), rule)
    assert not rule_allows(req("GET", "/api/v1/namespaces/kube-system/configmaps/other"), rule)
    assert not rule_allows(req("GET", "/api/v1/namespaces/kube-system/configmaps"), rule)
    assert not rule_allows(req("GET", "/api/v1/namespaces/kube-system/configmaps", {"watch": ["1"]}), rule)
    assert not rule_allows(req("POST", "/api/v1/namespaces/kube-system/configmaps"), rule)


@pytest.mark.parametrize(
    "urls,path,expected",
    [
        (["/api/*"], "/api/v1", True),
        (["/api/*"], "/api", False),
        (["/api"], "/api", True),
        (["/api"], "/api/", False),
        (["/version/"], "/version/", True),
        (["/healthz*"], "/healthzfoo", True),
        (["*"], "/anything", True),
    ],
)
def test_non_resource_urls(urls, path, expected):
    assert rule_allows(req("GET", path), {"verbs": ["get"], "nonResourceURLs": urls}) is expected


def test_non_resource_rule_never_grants_resources():
    rule = {"verbs": ["*"], "nonResourceURLs": ["*"]}
    assert not rule_allows(req("GET", "/api/v1/namespaces/d/pods"), rule)
    assert rule_allows(req("POST", "/api"), rule)  # verb "post" matches "*"


# --- which bindings apply ---


def test_rolebinding_to_clusterrole_is_scoped_to_its_namespace():
    policy = Policy(
        [
            cluster_role("pod-reader", POD_READER),
            binding("RoleBinding", "rb", "ClusterRole", "pod-reader", [sa_subject("default")], "default"),
        ]
    )
    assert allowed(SA, "GET", "/api/v1/namespaces/default/pods", policy)
    assert not allowed(SA, "GET", "/api/v1/namespaces/other/pods", policy)
    assert not allowed(SA, "GET", "/api/v1/pods", policy)  # all namespaces needs a ClusterRoleBinding


def test_role_is_looked_up_in_the_binding_namespace():
    policy = Policy(
        [
            role("a", "r", POD_READER),
            binding("RoleBinding", "rb", "Role", "r", [sa_subject("default", "default")], "b"),
        ]
    )
    decision = authorize(SA, req("GET", "/api/v1/namespaces/b/pods"), policy)
    assert not decision.allowed
    assert decision.reason == 'RBAC: role.rbac.authorization.k8s.io "r" not found'


def test_sa_subject_without_namespace_in_a_clusterrolebinding_never_matches():
    policy = Policy(
        [
            cluster_role("pod-reader", POD_READER),
            binding("ClusterRoleBinding", "crb", "ClusterRole", "pod-reader", [sa_subject("default")]),
        ]
    )
    assert not allowed(SA, "GET", "/api/v1/namespaces/default/pods", policy)
    policy.objects[1]["subjects"] = [sa_subject("default", "default")]
    assert allowed(SA, "GET", "/api/v1/namespaces/default/pods", policy)
    assert allowed(SA, "GET", "/api/v1/pods", policy)


def test_sa_subject_in_other_namespace_does_not_match():
    policy = Policy(
        [
            cluster_role("pod-reader", POD_READER),
            binding(
                "RoleBinding", "rb", "ClusterRole", "pod-reader", [sa_subject("default", "other")], "default"
            ),
        ]
    )
    assert not allowed(SA, "GET", "/api/v1/namespaces/default/pods", policy)


def test_user_and_group_subjects():
    policy = Policy(
        [
            cluster_role("pod-reader", POD_READER),
            binding(
                "ClusterRoleBinding", "u", "ClusterRole", "pod-reader", [{"kind": "User", "name": "jane"}]
            ),
            binding(
                "ClusterRoleBinding", "g", "ClusterRole", "pod-reader", [{"kind": "Group", "name": "devs"}]
            ),
        ]
    )
    path = "/api/v1/namespaces/d/pods"
    assert allowed(User("jane"), "GET", path, policy)
    assert allowed(User("bob", ("devs",)), "GET", path, policy)
    assert not allowed(User("bob", ("ops",)), "GET", path, policy)
    assert not allowed(User("devs"), "GET", path, policy)  # a group name is not a user name


def test_allow_reason_names_binding_role_and_subject():
    policy = Policy(
        [
            cluster_role("pod-reader", POD_READER),
            binding(
                "RoleBinding",
                "rb",
                "ClusterRole",
                "pod-reader",
                [{"kind": "Group", "name": "x"}, sa_subject("default")],
                "default",
            ),
        ]
    )
    decision = authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), policy)
    assert decision.reason == (
        'RBAC: allowed by RoleBinding "rb/default" of ClusterRole "pod-reader" '
        'to ServiceAccount "default/default"'
    )


def test_missing_roles_are_the_no_opinion_reason_even_when_other_rules_apply():
    policy = Policy(
        [
            cluster_role("unrelated", {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}),
            binding(
                "ClusterRoleBinding",
                "a",
                "ClusterRole",
                "pod-reader",
                [{"kind": "Group", "name": "system:authenticated"}],
            ),
            binding(
                "ClusterRoleBinding",
                "b",
                "ClusterRole",
                "unrelated",
                [{"kind": "Group", "name": "system:authenticated"}],
            ),
            binding("RoleBinding", "c", "Role", "gone", [sa_subject("default")], "default"),
            binding("RoleBinding", "d", "Role", "gone", [sa_subject("default")], "default"),
            binding("ClusterRoleBinding", "e", "ClusterRole", "not-mine", [{"kind": "User", "name": "x"}]),
        ]
    )
    decision = authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), policy)
    assert not decision.allowed
    assert decision.reason == (
        'RBAC: [clusterrole.rbac.authorization.k8s.io "pod-reader" not found, '
        'role.rbac.authorization.k8s.io "gone" not found]'
    )
    _, body = status.forbidden(req("GET", "/api/v1/namespaces/default/pods"), SA, decision.reason)
    assert body["message"].endswith(
        'in the namespace "default": RBAC: [clusterrole.rbac.authorization.k8s.io '
        '"pod-reader" not found, role.rbac.authorization.k8s.io "gone" not found]'
    )


def test_single_missing_role_reason_and_unsupported_kind():
    policy = Policy(
        [binding("ClusterRoleBinding", "a", "ClusterRole", "pod-reader", [sa_subject("default", "default")])]
    )
    assert authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), policy).reason == (
        'RBAC: clusterrole.rbac.authorization.k8s.io "pod-reader" not found'
    )
    policy.objects[0]["roleRef"]["kind"] = "Thing"
    assert authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), policy).reason == (
        'RBAC: unsupported role reference kind: "Thing"'
    )


def test_no_reason_when_nothing_is_missing():
    assert authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), Policy()).reason == ""


# --- with the real bootstrap policy ---


@pytest.fixture(scope="module")
def cluster():
    objects = bootstrap_objects((1, 29))
    roles = converge({o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"})
    return Policy([roles[o["metadata"]["name"]] if o["kind"] == "ClusterRole" else o for o in objects])


def test_default_sa_gets_discovery_but_not_pods(cluster):
    for path in (
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/version",
        "/healthz",
        "/openapi/v2",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    ):
        assert allowed(SA, "GET", path, cluster), path
    assert not allowed(SA, "GET", "/metrics", cluster)
    decision = authorize(SA, req("GET", "/api/v1/namespaces/default/pods", {"limit": ["500"]}), cluster)
    assert decision == authorize(SA, req("GET", "/api/v1/namespaces/default/pods"), cluster)
    assert not decision.allowed and decision.reason == ""
    _, body = status.forbidden(req("GET", "/api/v1/namespaces/default/pods"), SA, decision.reason)
    assert body["message"] == (
        'pods is forbidden: User "system:serviceaccount:default:default" cannot list '
        'resource "pods" in API group "" in the namespace "default"'
    )
    assert allowed(SA, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", cluster)


def test_anonymous_gets_public_info_only(cluster):
    anonymous = User.anonymous()
    assert allowed(anonymous, "GET", "/version", cluster)
    assert allowed(anonymous, "GET", "/readyz", cluster)
    assert not allowed(anonymous, "GET", "/api", cluster)
    assert not allowed(anonymous, "GET", "/openid/v1/jwks", cluster)


@pytest.mark.parametrize("groups", [("kubeadm:cluster-admins",), ("system:masters",)])
def test_admin_groups_may_do_everything(cluster, groups):
    admin = User.authenticated("kubernetes-admin", groups)
    for method, path in (
        ("DELETE", "/api/v1/nodes/n"),
        ("GET", "/metrics"),
        ("POST", "/apis/x.io/v1/namespaces/a/t"),
        ("GET", "/api/v1/namespaces/kube-system/secrets"),
        ("PATCH", "/api/v1/namespaces/a/pods/p/status"),
    ):
        assert allowed(admin, method, path, cluster), (method, path)


def test_kubeadm_admins_binding_only_from_1_29():
    policy = Policy(bootstrap_objects((1, 28)))
    admin = User.authenticated("kubernetes-admin", ["kubeadm:cluster-admins"])
    assert not allowed(admin, "GET", "/api/v1/namespaces/default/pods", policy)


def test_view_binding_grants_pods_and_logs_but_not_secrets(cluster):
    policy = Policy(
        [
            *cluster.objects,
            binding("RoleBinding", "v", "ClusterRole", "view", [sa_subject("default")], "default"),
        ]
    )
    assert allowed(SA, "GET", "/api/v1/namespaces/default/pods", policy)
    assert allowed(SA, "GET", "/api/v1/namespaces/default/pods/p/log", policy)
    assert not allowed(SA, "GET", "/api/v1/namespaces/default/secrets", policy)
    assert not allowed(SA, "DELETE", "/api/v1/namespaces/default/pods/p", policy)
    assert not allowed(SA, "GET", "/api/v1/namespaces/other/pods", policy)


def test_rules_for_lists_discovery_and_collects_errors(cluster):
    rule_set = rules_for(SA, "default", cluster)
    assert {
        "verbs": ["get"],
        "nonResourceURLs": ["/.well-known/openid-configuration", "/openid/v1/jwks"],
    } in rule_set.rules
    assert any("selfsubjectrulesreviews" in r.get("resources", []) for r in rule_set.rules)
    assert not any("pods" in r.get("resources", []) for r in rule_set.rules)
    assert rule_set.error == ""
    broken = Policy(
        [*cluster.objects, binding("RoleBinding", "x", "Role", "nope", [sa_subject("default")], "default")]
    )
    assert rules_for(SA, "default", broken).error == 'role.rbac.authorization.k8s.io "nope" not found'
    assert rules_for(SA, "", broken).error == ""  # RoleBindings are only read for a namespace
