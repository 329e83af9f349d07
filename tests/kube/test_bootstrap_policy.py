import json

import pytest

from meshrepro.kube.bootstrap_policy import bootstrap_objects
from meshrepro.kube.versions import SUPPORTED


def by_kind_name(version=(1, 29)):
    return {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in bootstrap_objects(version)
    }


def test_names_are_unique_per_kind_and_namespace():
    objects = bootstrap_objects((1, 29))
    assert len(by_kind_name()) == len(objects)


@pytest.mark.parametrize("version", SUPPORTED)
def test_every_binding_points_at_an_existing_role(version):
    objects = by_kind_name(version)
    for (kind, namespace, name), obj in objects.items():
        if kind.endswith("Binding"):
            ref = obj["roleRef"]
            ref_ns = namespace if ref["kind"] == "Role" else ""
            assert (ref["kind"], ref_ns, ref["name"]) in objects, name
            assert ref["apiGroup"] == "rbac.authorization.k8s.io"


def test_bootstrap_labels_and_autoupdate_annotation():
    obj = by_kind_name()[("ClusterRoleBinding", "", "system:discovery")]
    assert obj["metadata"] == {
        "name": "system:discovery",
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    assert obj["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}
    ]


def test_cluster_admin_exact():
    assert by_kind_name()[("ClusterRole", "", "cluster-admin")]["rules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    ]
    crb = by_kind_name()[("ClusterRoleBinding", "", "cluster-admin")]
    assert [s["name"] for s in crb["subjects"]] == ["system:masters"]


def test_json_field_order_is_gos():
    role = by_kind_name()[("ClusterRole", "", "view")]
    assert list(role) == ["kind", "apiVersion", "metadata", "rules", "aggregationRule"]
    assert role["rules"] is None  # filled by the aggregation controller
    assert role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    binding = by_kind_name()[("ClusterRoleBinding", "", "system:kube-dns")]
    assert list(binding) == ["kind", "apiVersion", "metadata", "subjects", "roleRef"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-dns", "namespace": "kube-system"}]


def test_aggregation_labels_and_selectors():
    objects = by_kind_name()
    for name, selects, labelled in (
        ("admin", "admin", None),
        ("edit", "edit", "admin"),
        ("view", "view", "edit"),
    ):
        role = objects[("ClusterRole", "", name)]
        assert role["aggregationRule"] == {
            "clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{selects}": "true"}}
            ]
        }
        labels = role["metadata"]["labels"]
        assert (f"rbac.authorization.k8s.io/aggregate-to-{labelled}" in labels) is (labelled is not None)
    to_view = objects[("ClusterRole", "", "system:aggregate-to-view")]
    assert to_view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} in to_view[
        "rules"
    ]


def test_discovery_public_info_and_issuer_roles():
    objects = by_kind_name()
    urls = {
        name: objects[("ClusterRole", "", name)]["rules"][0]["nonResourceURLs"]
        for name in (
            "system:discovery",
            "system:public-info-viewer",
            "system:service-account-issuer-discovery",
        )
    }
    assert urls["system:discovery"] == [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
        "/version", "/version/",
    ]  # fmt: skip
    assert urls["system:public-info-viewer"] == ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    assert urls["system:service-account-issuer-discovery"] == [
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    ]
    issuer = objects[("ClusterRoleBinding", "", "system:service-account-issuer-discovery")]
    assert [s["name"] for s in issuer["subjects"]] == ["system:serviceaccounts"]
    public = objects[("ClusterRoleBinding", "", "system:public-info-viewer")]
    assert [s["name"] for s in public["subjects"]] == ["system:authenticated", "system:unauthenticated"]


def test_kubeadm_cluster_admins_binding_from_1_29():
    assert ("ClusterRoleBinding", "", "kubeadm:cluster-admins") not in by_kind_name((1, 28))
    crb = by_kind_name((1, 29))[("ClusterRoleBinding", "", "kubeadm:cluster-admins")]
    assert crb["roleRef"]["name"] == "cluster-admin"
    assert crb["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "kubeadm:cluster-admins"}
    ]
    assert "labels" not in crb["metadata"]  # kubeadm's objects are not bootstrap policy


def test_kube_proxy_rbac_from_kubeadm():
    objects = by_kind_name()
    assert objects[("Role", "kube-system", "kube-proxy")]["rules"] == [
        {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"]}
    ]
    crb = objects[("ClusterRoleBinding", "", "kubeadm:node-proxier")]
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"}]


def test_objects_are_fresh_copies_and_json_serializable():
    first = bootstrap_objects((1, 29))
    first[0]["metadata"]["labels"]["x"] = "y"
    assert "x" not in bootstrap_objects((1, 29))[0]["metadata"]["labels"]
    json.dumps(first)
