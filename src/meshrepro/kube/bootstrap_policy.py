"""The RBAC objects a fresh kind/kubeadm cluster has before anyone applies a manifest.

Two sources: the apiserver's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
policy.go, as dumped in its testdata/cluster-roles.yaml, cluster-role-bindings.yaml,
namespace-roles.yaml and namespace-role-bindings.yaml), and what `kubeadm init` creates
(cmd/kubeadm/app/phases: kubeconfig admin binding, addons/proxy, addons/dns). Only the roles that
matter to workloads and users are modelled; kube-controller-manager, kube-scheduler, node and
system:controller:* roles are left out together with their bindings, so no binding points at a
missing role. Aggregated roles (admin, edit, view) start with `rules: null`, as stored; the
ClusterRole aggregation controller fills them in.
"""

from __future__ import annotations

from meshrepro.kube.versions import KubeVersion, flags

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
KUBEADM_CLUSTER_ADMINS = "kubeadm:cluster-admins"
_NODE_BOOTSTRAP_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"

_RW = ("create", "delete", "deletecollection", "patch", "update")
_READ = ("get", "list", "watch")
_EVENTS_WRITE = ("create", "patch", "update")


def _rule(
    verbs: tuple[str, ...], groups: tuple[str, ...], resources: tuple[str, ...], names: tuple[str, ...] = ()
) -> dict:
    # PolicyRule JSON field order: verbs, apiGroups, resources, resourceNames, nonResourceURLs.
    rule: dict = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _urls(verbs: tuple[str, ...], urls: tuple[str, ...]) -> dict:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


def _meta(name: str, namespace: str = "", labels: dict | None = None, bootstrap: bool = True) -> dict:
    meta: dict = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if bootstrap:
        meta["labels"] = {**_BOOTSTRAP_LABELS, **(labels or {})}
        meta["annotations"] = dict(_AUTOUPDATE)
    return meta


def _cluster_role(
    name: str, rules: list[dict], *, aggregate_to: str = "", selects: str = "", bootstrap: bool = True
) -> dict:
    labels = {f"{_AGGREGATE_TO}{aggregate_to}": "true"} if aggregate_to else None
    role: dict = {
        "kind": "ClusterRole",
        "apiVersion": RBAC_API_VERSION,
        "metadata": _meta(name, labels=labels, bootstrap=bootstrap),
        "rules": rules or None,
    }
    if selects:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {f"{_AGGREGATE_TO}{selects}": "true"}}]
        }
    return role


def _subject(kind: str, name: str, namespace: str = "") -> dict:
    # v1 defaulting gives User and Group subjects the RBAC apiGroup; ServiceAccounts have none.
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"kind": kind, "apiGroup": RBAC_GROUP, "name": name}


def _binding(
    kind: str,
    name: str,
    role_kind: str,
    role: str,
    subjects: list[dict],
    namespace: str = "",
    bootstrap: bool = True,
) -> dict:
    return {
        "kind": kind,
        "apiVersion": RBAC_API_VERSION,
        "metadata": _meta(name, namespace, bootstrap=bootstrap),
        "subjects": subjects,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
    }


def _aggregate_to_admin() -> list[dict]:
    return [
        _rule(("create",), ("authorization.k8s.io",), ("localsubjectaccessreviews",)),
        _rule(
            ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
            (RBAC_GROUP,),
            ("rolebindings", "roles"),
        ),
    ]


def _aggregate_to_edit() -> list[dict]:
    return [
        _rule(
            _READ,
            ("",),
            ("pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
        ),
        _rule(("impersonate",), ("",), ("serviceaccounts",)),
        _rule(_RW, ("",), ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy")),
        _rule(("create",), ("",), ("pods/eviction",)),
        _rule(
            _RW,
            ("",),
            (
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ),
        ),
        _rule(("create",), ("",), ("serviceaccounts/token",)),
        _rule(
            _RW,
            ("apps",),
            (
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ),
        ),
        _rule(_RW, ("autoscaling",), ("horizontalpodautoscalers",)),
        _rule(_RW, ("batch",), ("cronjobs", "jobs")),
        _rule(
            _RW,
            ("extensions",),
            (
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ),
        ),
        _rule(_RW, ("policy",), ("poddisruptionbudgets",)),
        _rule(_RW, ("networking.k8s.io",), ("ingresses", "networkpolicies")),
        _rule(
            ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
            ("coordination.k8s.io",),
            ("leases",),
        ),
    ]


def _aggregate_to_view() -> list[dict]:
    return [
        _rule(
            _READ,
            ("",),
            (
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ),
        ),
        _rule(
            _READ,
            ("",),
            (
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ),
        ),
        _rule(_READ, ("",), ("namespaces",)),
        _rule(_READ, ("discovery.k8s.io",), ("endpointslices",)),
        _rule(
            _READ,
            ("apps",),
            (
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ),
        ),
        _rule(_READ, ("autoscaling",), ("horizontalpodautoscalers", "horizontalpodautoscalers/status")),
        _rule(_READ, ("batch",), ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
        _rule(
            _READ,
            ("extensions",),
            (
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ),
        ),
        _rule(_READ, ("policy",), ("poddisruptionbudgets", "poddisruptionbudgets/status")),
        _rule(_READ, ("networking.k8s.io",), ("ingresses", "ingresses/status", "networkpolicies")),
    ]


def _cluster_roles() -> list[dict]:
    """policy.go ClusterRoles(), in the testdata's (name) order."""
    return [
        _cluster_role("admin", [], selects="admin"),
        _cluster_role("cluster-admin", [_rule(("*",), ("*",), ("*",)), _urls(("*",), ("*",))]),
        _cluster_role("edit", [], aggregate_to="admin", selects="edit"),
        _cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), aggregate_to="admin"),
        _cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), aggregate_to="edit"),
        _cluster_role("system:aggregate-to-view", _aggregate_to_view(), aggregate_to="view"),
        _cluster_role(
            "system:auth-delegator",
            [
                _rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
                _rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
            ],
        ),
        _cluster_role(
            "system:basic-user",
            [
                _rule(
                    ("create",),
                    ("authorization.k8s.io",),
                    ("selfsubjectaccessreviews", "selfsubjectrulesreviews"),
                ),
                _rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
            ],
        ),
        _cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            [_rule(("create",), ("certificates.k8s.io",), ("certificatesigningrequests/nodeclient",))],
        ),
        _cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            [_rule(("create",), ("certificates.k8s.io",), ("certificatesigningrequests/selfnodeclient",))],
        ),
        _cluster_role(
            "system:discovery",
            [
                _urls(
                    ("get",),
                    (
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ),
                )
            ],
        ),
        _cluster_role("system:kube-dns", [_rule(("list", "watch"), ("",), ("endpoints", "services"))]),
        _cluster_role(
            "system:monitoring",
            [
                _urls(
                    ("get",),
                    (
                        "/healthz",
                        "/healthz/*",
                        "/livez",
                        "/livez/*",
                        "/metrics",
                        "/metrics/slis",
                        "/readyz",
                        "/readyz/*",
                    ),
                )
            ],
        ),
        _cluster_role(
            "system:node-bootstrapper",
            [
                _rule(
                    ("create", "get", "list", "watch"),
                    ("certificates.k8s.io",),
                    ("certificatesigningrequests",),
                )
            ],
        ),
        _cluster_role(
            "system:node-proxier",
            [
                _rule(("list", "watch"), ("",), ("endpoints", "services")),
                _rule(_READ, ("",), ("nodes",)),
                _rule(_EVENTS_WRITE, ("", "events.k8s.io"), ("events",)),
                _rule(("list", "watch"), ("discovery.k8s.io",), ("endpointslices",)),
            ],
        ),
        _cluster_role(
            "system:public-info-viewer",
            [_urls(("get",), ("/healthz", "/livez", "/readyz", "/version", "/version/"))],
        ),
        _cluster_role(
            "system:service-account-issuer-discovery",
            [_urls(("get",), ("/.well-known/openid-configuration", "/openid/v1/jwks"))],
        ),
        _cluster_role("view", [], aggregate_to="edit", selects="view"),
    ]


def _cluster_role_bindings() -> list[dict]:
    """policy.go ClusterRoleBindings() for the roles above."""

    def group(name: str) -> dict:
        return _subject("Group", name)

    def crb(name: str, subjects: list[dict]) -> dict:
        return _binding("ClusterRoleBinding", name, "ClusterRole", name, subjects)

    return [
        crb("cluster-admin", [group("system:masters")]),
        crb("system:basic-user", [group("system:authenticated")]),
        crb("system:discovery", [group("system:authenticated")]),
        crb("system:kube-dns", [_subject("ServiceAccount", "kube-dns", "kube-system")]),
        crb("system:monitoring", [group("system:monitoring")]),
        crb("system:node-proxier", [_subject("User", "system:kube-proxy")]),
        crb("system:public-info-viewer", [group("system:authenticated"), group("system:unauthenticated")]),
        crb("system:service-account-issuer-discovery", [group("system:serviceaccounts")]),
    ]


def _namespace_policy() -> list[dict]:
    """namespace_policy.go: the Role kube-system/extension-apiserver-authentication-reader and its binding."""
    return [
        {
            "kind": "Role",
            "apiVersion": RBAC_API_VERSION,
            "metadata": _meta("extension-apiserver-authentication-reader", "kube-system"),
            "rules": [_rule(_READ, ("",), ("configmaps",), ("extension-apiserver-authentication",))],
        },
        _binding(
            "RoleBinding",
            "system::extension-apiserver-authentication-reader",
            "Role",
            "extension-apiserver-authentication-reader",
            [_subject("User", "system:kube-controller-manager"), _subject("User", "system:kube-scheduler")],
            namespace="kube-system",
        ),
    ]


def _kubeadm_objects(version: KubeVersion) -> list[dict]:
    """What `kubeadm init` adds: the admin binding (1.29+), kube-proxy's and CoreDNS's RBAC."""
    objects: list[dict] = []
    if flags(version).kubeadm_cluster_admins_group:
        objects.append(
            _binding(
                "ClusterRoleBinding",
                KUBEADM_CLUSTER_ADMINS,
                "ClusterRole",
                "cluster-admin",
                [_subject("Group", KUBEADM_CLUSTER_ADMINS)],
                bootstrap=False,
            )
        )
    objects += [
        _binding(
            "ClusterRoleBinding",
            "kubeadm:node-proxier",
            "ClusterRole",
            "system:node-proxier",
            [_subject("ServiceAccount", "kube-proxy", "kube-system")],
            bootstrap=False,
        ),
        {
            "kind": "Role",
            "apiVersion": RBAC_API_VERSION,
            "metadata": _meta("kube-proxy", "kube-system", bootstrap=False),
            "rules": [_rule(("get",), ("",), ("configmaps",), ("kube-proxy",))],
        },
        _binding(
            "RoleBinding",
            "kube-proxy",
            "Role",
            "kube-proxy",
            [_subject("Group", _NODE_BOOTSTRAP_TOKEN_GROUP)],
            namespace="kube-system",
            bootstrap=False,
        ),
        _cluster_role(
            "system:coredns",
            [
                _rule(("list", "watch"), ("",), ("endpoints", "services", "pods", "namespaces")),
                _rule(("list", "watch"), ("discovery.k8s.io",), ("endpointslices",)),
            ],
            bootstrap=False,
        ),
        _binding(
            "ClusterRoleBinding",
            "system:coredns",
            "ClusterRole",
            "system:coredns",
            [_subject("ServiceAccount", "coredns", "kube-system")],
            bootstrap=False,
        ),
    ]
    return objects


def bootstrap_objects(version: KubeVersion) -> list[dict]:
    """ClusterRoles, ClusterRoleBindings, Roles and RoleBindings of a fresh cluster, in creation order."""
    return [*_cluster_roles(), *_cluster_role_bindings(), *_namespace_policy(), *_kubeadm_objects(version)]
