"""The Istio kinds: their CRDs per release, and how a manifest of one is rejected (schema, CEL, webhook)."""

from __future__ import annotations

import pytest

from meshrepro.istio.kinds import custom_resource_definitions, find, kind_infos, validate
from meshrepro.manifests.load import load_documents

KUBE = (1, 29)


def crd(version: tuple[int, int, int], name: str) -> dict:
    return next(c for c in custom_resource_definitions(version) if c["metadata"]["name"] == name)


def served(version: tuple[int, int, int], name: str) -> list[tuple[str, bool]]:
    return [(v["name"], v["storage"]) for v in crd(version, name)["spec"]["versions"]]


def problems(text: str, version: tuple[int, int, int]) -> list[str]:
    [manifest] = load_documents(text, "pa.yaml")
    return [str(p) for p in validate(manifest, version, KUBE)]


def test_crd_set_per_release() -> None:
    """The base chart's CRDs: 15 up to 1.20 (with IstioOperator), 14 once `installed-state` is dropped (1.21)."""
    assert len(custom_resource_definitions((1, 20, 2))) == 15
    names = [c["metadata"]["name"] for c in custom_resource_definitions((1, 21, 0))]
    assert len(names) == 14 and "istiooperators.install.istio.io" not in names
    assert names[0] == "wasmplugins.extensions.istio.io" and names[-1] == "telemetries.telemetry.istio.io"


def test_served_versions_per_release() -> None:
    """v1 arrives in 1.22 for networking and PeerAuthentication; networking stores v1 from 1.27."""
    assert served((1, 20, 2), "peerauthentications.security.istio.io") == [("v1beta1", True)]
    assert served((1, 22, 0), "peerauthentications.security.istio.io") == [("v1", False), ("v1beta1", True)]
    assert served((1, 20, 2), "virtualservices.networking.istio.io") == [("v1alpha3", True), ("v1beta1", False)]
    assert served((1, 22, 0), "virtualservices.networking.istio.io") == [
        ("v1", False), ("v1alpha3", False), ("v1beta1", True)]
    assert served((1, 27, 0), "virtualservices.networking.istio.io")[0] == ("v1", True)
    assert served((1, 18, 0), "authorizationpolicies.security.istio.io") == [("v1", False), ("v1beta1", True)]


def test_names_scope_and_printer_columns() -> None:
    pa = crd((1, 22, 0), "peerauthentications.security.istio.io")["spec"]
    assert pa["scope"] == "Namespaced" and pa["group"] == "security.istio.io"
    assert pa["names"] == {"kind": "PeerAuthentication", "listKind": "PeerAuthenticationList",
                           "plural": "peerauthentications", "singular": "peerauthentication",
                           "categories": ["istio-io", "security-istio-io"], "shortNames": ["pa"]}
    assert [c["name"] for c in pa["versions"][0]["additionalPrinterColumns"]] == ["Mode", "Age"]
    ap_old = crd((1, 21, 0), "authorizationpolicies.security.istio.io")["spec"]
    ap_new = crd((1, 22, 0), "authorizationpolicies.security.istio.io")["spec"]
    assert "shortNames" not in ap_old["names"] and "additionalPrinterColumns" not in ap_old["versions"][0]
    assert ap_new["names"]["shortNames"] == ["ap"]
    assert [c["jsonPath"] for c in ap_new["versions"][0]["additionalPrinterColumns"]] == [
        ".spec.action", ".metadata.creationTimestamp"]


def test_kind_infos_and_find() -> None:
    """What the API server serves once the CRDs exist; an apiVersion the release lacks is not found."""
    pa = [k for k in kind_infos((1, 22, 0)) if k.kind == "PeerAuthentication"]
    assert [(k.api_version, k.short_names, k.custom) for k in pa] == [
        ("security.istio.io/v1", ("pa",), True), ("security.istio.io/v1beta1", ("pa",), True)]
    assert find("security.istio.io/v1", "PeerAuthentication", (1, 20, 2)) is None
    assert find("security.istio.io/v1beta1", "PeerAuthentication", (1, 20, 2)) is not None


PA = """\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
spec:
"""


@pytest.mark.parametrize("version", [(1, 20, 2), (1, 24, 0)])
def test_mtls_mode_enum(version: tuple[int, int, int]) -> None:
    """The CRD's enum, in the apiextensions wording, at the line of the field."""
    assert problems(PA + "  mtls:\n    mode: STRICTT\n", version) == [
        ('pa.yaml:7: PeerAuthentication "default": spec.mtls.mode: Unsupported value: "STRICTT": supported values: '
        '"UNSET", "DISABLE", "PERMISSIVE", "STRICT"')]


def test_unknown_field_is_a_strict_decoding_problem() -> None:
    assert problems(PA + "  mtls:\n    mod: STRICT\n", (1, 22, 0)) == [
        'pa.yaml:7: PeerAuthentication "default": unknown field "spec.mtls.mod"']


def test_valid_peer_authentication_passes() -> None:
    text = PA + "  selector:\n    matchLabels:\n      app: web\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n" \
                "    8080:\n      mode: DISABLE\n"
    assert problems(text, (1, 20, 2)) == []
    assert problems(text, (1, 24, 0)) == []


def test_port_level_mtls_without_selector_webhook_then_cel() -> None:
    """Up to 1.22 istiod's webhook rejects it; from 1.23 the CRD's CEL rule does, before any webhook."""
    text = PA + "  portLevelMtls:\n    8080:\n      mode: DISABLE\n"
    assert problems(text, (1, 22, 3)) == [
        ('pa.yaml:6: PeerAuthentication "default": admission webhook "validation.istio.io" denied the request: '
        "configuration is invalid: mesh/namespace peer authentication cannot have port level mTLS")]
    assert problems(text, (1, 23, 0)) == [
        'pa.yaml:5: PeerAuthentication "default": spec: Invalid value: "object": portLevelMtls requires selector']


def test_port_zero() -> None:
    text = PA + "  selector:\n    matchLabels:\n      app: web\n  portLevelMtls:\n    0:\n      mode: DISABLE\n"
    assert problems(text, (1, 20, 2))[0].endswith("configuration is invalid: port cannot be 0")
    assert problems(text, (1, 24, 0))[0].endswith(
        'spec.portLevelMtls: Invalid value: "object": port must be between 1-65535')


def test_api_version_the_release_does_not_serve() -> None:
    assert problems(PA.replace("v1beta1", "v1"), (1, 20, 2)) == [
        ('pa.yaml:1: PeerAuthentication "default": no matches for kind "PeerAuthentication" in version '
        '"security.istio.io/v1"')]
    assert problems(PA.replace("v1beta1", "v1"), (1, 22, 0)) == []


AP = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny
  namespace: web
spec:
"""


def test_authorization_policy_webhook_checks() -> None:
    """ValidateAuthorizationPolicy's messages, prefixed `invalid policy <name>.<namespace>:`."""
    assert problems(AP + "  action: DENY\n", (1, 22, 0)) == [
        ('pa.yaml:6: AuthorizationPolicy "deny": admission webhook "validation.istio.io" denied the request: '
        "configuration is invalid: invalid policy deny.web: DENY action without `rules` is meaningless as it will "
        "never be triggered, add an empty rule `{}` if you want it be triggered for every request")]
    assert problems(AP + "  rules:\n  - from: []\n", (1, 22, 0))[0].endswith(
        "invalid policy deny.web: `from` must not be empty, found at rule 0")
    assert problems(AP + "  rules:\n  - when:\n    - key: request.headers[x]\n", (1, 22, 0))[0].endswith(
        "at least one of `values` or `notValues` must be set for key request.headers[x]")
    assert problems(AP + "  action: ALLOWED\n", (1, 22, 0))[0].endswith(
        'spec.action: Unsupported value: "ALLOWED": supported values: "ALLOW", "DENY", "AUDIT", "CUSTOM"')


def test_authorization_policy_fields_by_release() -> None:
    """targetRef is a field from 1.20, targetRefs from 1.22; selector with targetRefs is CEL-rejected from 1.24."""
    target = "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n    name: gw\n  rules:\n  - {}\n"
    assert problems(AP + target, (1, 21, 0)) == [('pa.yaml:7: AuthorizationPolicy "deny": unknown field '
                                                  '"spec.targetRefs"')]
    assert problems(AP + target, (1, 22, 0)) == []
    both = target + "  selector:\n    matchLabels:\n      app: web\n"
    assert problems(AP + both, (1, 23, 0)) == []
    assert problems(AP + both, (1, 24, 0))[0].endswith(
        'spec: Invalid value: "object": only one of targetRefs or selector can be set')


def test_kinds_without_a_modelled_schema_are_checked_for_their_api_version_only() -> None:
    vs = "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: r\nspec:\n  anything: 1\n"
    assert problems(vs, (1, 20, 2)) == []
    assert problems(vs.replace("v1beta1", "v1"), (1, 20, 2))[0].endswith(
        'no matches for kind "VirtualService" in version "networking.istio.io/v1"')
