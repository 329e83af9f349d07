import pytest

from meshrepro.manifests.kinds import KindRegistry, unknown_resource_message


@pytest.mark.parametrize("name, api_version, kind", [
    ("po", "v1", "Pod"), ("PODS", "v1", "Pod"), ("Deployment", "apps/v1", "Deployment"),
    ("deploy", "apps/v1", "Deployment"), ("deployments.apps", "apps/v1", "Deployment"),
    ("deployments.v1.apps", "apps/v1", "Deployment"), ("svc", "v1", "Service"), ("sa", "v1", "ServiceAccount"),
    ("ns", "v1", "Namespace"), ("cm", "v1", "ConfigMap"), ("rs", "apps/v1", "ReplicaSet"),
    ("ds", "apps/v1", "DaemonSet"), ("sts", "apps/v1", "StatefulSet"), ("ev", "v1", "Event"),
    ("events.events.k8s.io", "events.k8s.io/v1", "Event"), ("rolebindings", "rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("crd", "apiextensions.k8s.io/v1", "CustomResourceDefinition"), ("pdb", "policy/v1", "PodDisruptionBudget"),
    ("netpol", "networking.k8s.io/v1", "NetworkPolicy"), ("leases", "coordination.k8s.io/v1", "Lease"),
])
def test_resolves_names_like_kubectl(name, api_version, kind):
    info = KindRegistry().resolve(name)
    assert info is not None and (info.api_version, info.kind) == (api_version, kind)


def test_no_short_names_for_rbac_bindings_and_scope():
    registry = KindRegistry()
    assert registry.resolve("crb") is None and registry.resolve("rb") is None
    assert registry.resolve("clusterrolebinding").namespaced is False
    assert registry.resolve("role").namespaced is True
    assert unknown_resource_message("crb") == 'error: the server doesn\'t have a resource type "crb"'


def test_custom_resources_are_per_registry():
    crd = {"spec": {"group": "networking.istio.io", "scope": "Namespaced",
                    "names": {"kind": "VirtualService", "plural": "virtualservices", "singular": "virtualservice",
                              "shortNames": ["vs"], "categories": ["istio-io"]},
                    "versions": [{"name": "v1beta1", "served": True}, {"name": "v1alpha3", "served": False}]}}
    registry, other = KindRegistry(), KindRegistry()
    [added] = registry.add_custom(crd)
    assert added.api_version == "networking.istio.io/v1beta1" and added.custom
    assert registry.resolve("vs") is added and other.resolve("vs") is None
    assert registry.by_kind("networking.istio.io/v1alpha3", "VirtualService") is None
    registry.remove_custom("networking.istio.io", "virtualservices")
    assert registry.resolve("vs") is None


def test_all_category():
    kinds = [info.kind for info in KindRegistry().in_category("all")]
    assert kinds[:2] == ["Pod", "Service"] and "Deployment" in kinds and "ConfigMap" not in kinds
