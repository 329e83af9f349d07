"""ServiceAccount tokens: the issuer's round trip and refusals, and the expiry the cluster's TokenRequest decides."""

from __future__ import annotations

import base64
import json

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.kube.cluster import Cluster, ClusterSpec
from meshrepro.kube.kubelet.volumes import MountError
from meshrepro.kube.store import ResourceKey
from meshrepro.kube.tokens import ISSUER, BoundObject, TokenClaims, TokenIssuer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

CLAIMS = TokenClaims(
    subject="system:serviceaccount:default:app", namespace="default", service_account="app",
    service_account_uid="11111111-2222-4333-8444-555555555555", audiences=(ISSUER,), issued_at=1705571820,
    expires_at=1705575427, pod=BoundObject("Pod", "app-0", "aaaa"), node=None, jti="", warn_after=None)


def segments(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def test_issue_verify_round_trip() -> None:
    """A token verifies under its issuer's key to exactly the claims it was issued with."""
    issuer = TokenIssuer(b"k" * 32, "kid-1")
    assert issuer.verify(issuer.issue(CLAIMS)) == CLAIMS


def test_round_trip_with_node_jti_and_warnafter() -> None:
    """The optional claims (node, jti, warnafter) survive the round trip."""
    issuer = TokenIssuer(b"k" * 32, "kid-1")
    claims = TokenClaims(**{**CLAIMS.__dict__, "node": BoundObject("Node", "kind-control-plane", "n-uid"),
                            "jti": "j-1", "warn_after": 1705571820 + 3607})
    assert issuer.verify(issuer.issue(claims)) == claims


def test_token_layout_is_a_kubernetes_jwt() -> None:
    """The header names RS256 and the key id; the payload has the registered claims and the kubernetes.io block."""
    header, payload = segments(TokenIssuer(b"k" * 32, "kid-1").issue(CLAIMS))
    assert header == {"alg": "RS256", "kid": "kid-1"}
    assert payload == {
        "aud": [ISSUER], "exp": 1705575427, "iat": 1705571820, "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {"namespace": "default",
                          "serviceaccount": {"name": "app", "uid": "11111111-2222-4333-8444-555555555555"},
                          "pod": {"name": "app-0", "uid": "aaaa"}},
        "nbf": 1705571820, "sub": "system:serviceaccount:default:app"}
    assert list(payload) == ["aud", "exp", "iat", "iss", "kubernetes.io", "nbf", "sub"]


def test_tampered_payload_is_refused() -> None:
    """Changing the payload (here: the subject) without re-signing makes verification fail."""
    issuer = TokenIssuer(b"k" * 32, "kid-1")
    header, _payload, signature = issuer.issue(CLAIMS).split(".")
    _, decoded = segments(issuer.issue(CLAIMS))
    decoded["sub"] = "system:serviceaccount:kube-system:admin"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    assert issuer.verify(f"{header}.{forged}.{signature}") is None


def test_tampered_signature_is_refused() -> None:
    """A token whose signature was altered does not verify."""
    issuer = TokenIssuer(b"k" * 32, "kid-1")
    header, payload, signature = issuer.issue(CLAIMS).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert issuer.verify(f"{header}.{payload}.{flipped}") is None


def test_another_issuers_key_is_refused() -> None:
    """A token signed by another cluster's key does not verify, even with the same key id."""
    token = TokenIssuer(b"a" * 32, "kid-1").issue(CLAIMS)
    assert TokenIssuer(b"b" * 32, "kid-1").verify(token) is None


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!.??.**"])
def test_malformed_tokens_are_refused(token: str) -> None:
    """Strings that are not three base64url segments verify to None rather than raising."""
    assert TokenIssuer(b"k" * 32, "kid-1").verify(token) is None


def test_signed_payload_without_kubernetes_claims_is_refused() -> None:
    """A correctly signed JWT that lacks the kubernetes.io claims is not a ServiceAccount token."""
    import hashlib
    import hmac
    key = b"k" * 32
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    signing_input = enc({"alg": "RS256"}) + "." + enc({"sub": "x", "aud": [], "iat": 0, "exp": 1})
    signature = base64.urlsafe_b64encode(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    assert TokenIssuer(key, "kid").verify(signing_input + "." + signature.rstrip(b"=").decode()) is None


# -- the expiry the cluster's TokenRequest decides ----------------------------------------


def cluster(version: tuple[int, int]) -> Cluster:
    clock = Clock(seed=3)
    kind = Machine(clock, Trace(), version, f"{version[0]}.{version[1]}").create_cluster(
        ClusterSpec(version=version, git_version=f"v{version[0]}.{version[1]}.0"))
    clock.run_until(5)
    kind.apply_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "default"},
                       "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
    clock.run_until(8)
    return kind


@pytest.fixture(scope="module")
def kind129() -> Cluster:
    return cluster((1, 29))


def test_admission_token_gets_extended_expiry_and_warnafter(kind129: Cluster) -> None:
    """The 3607 s admission-projected token (no audience) expires a year after issue and warns after 3607 s."""
    pod = kind129.store.get(ResourceKey("", "pods"), "default", "app")
    claims = kind129.issuer.verify(kind129._token_for(pod, "", 3607))
    iat = int(kind129.clock.wall().timestamp())
    assert iat == 1705571828  # 2024-01-18T09:57:08Z
    assert (claims.issued_at, claims.expires_at, claims.warn_after) == (iat, iat + 365 * 24 * 3600, iat + 3607)
    assert claims.audiences == (ISSUER,)
    sa = kind129.store.get(ResourceKey("", "serviceaccounts"), "default", "default")
    assert claims.service_account_uid == sa["metadata"]["uid"]
    assert claims.pod == BoundObject("Pod", "app", pod["metadata"]["uid"])
    # Before 1.30 the token carries neither the node nor a jti.
    assert (claims.node, claims.jti) == (None, "")


def test_users_own_7200s_projection_is_not_extended(kind129: Cluster) -> None:
    """A user's projected token with expirationSeconds 7200 expires after exactly 7200 s, without warnafter."""
    pod = kind129.store.get(ResourceKey("", "pods"), "default", "app")
    claims = kind129.issuer.verify(kind129._token_for(pod, "", 7200))
    assert claims.expires_at - claims.issued_at == 7200
    assert claims.warn_after is None


def test_3607s_with_an_audience_is_not_extended(kind129: Cluster) -> None:
    """Only the default-audience 3607 s token is extended; one for another audience keeps its plain expiry."""
    pod = kind129.store.get(ResourceKey("", "pods"), "default", "app")
    claims = kind129.issuer.verify(kind129._token_for(pod, "vault", 3607))
    assert claims.audiences == ("vault",)
    assert (claims.expires_at - claims.issued_at, claims.warn_after) == (3607, None)


def test_missing_service_account_is_a_mount_error(kind129: Cluster) -> None:
    """A pod whose ServiceAccount does not exist gets the kubelet's MountVolume.SetUp message instead of a token."""
    pod = kind129.store.get(ResourceKey("", "pods"), "default", "app")
    pod = {**pod, "spec": {**pod["spec"], "serviceAccountName": "ghost"}}
    error = kind129._token_for(pod, "", 3607)
    assert isinstance(error, MountError)
    assert error.message == (
        'MountVolume.SetUp failed for volume "token" : failed to fetch token: serviceaccounts "ghost" not found')


def test_node_claims_and_jti_from_1_30() -> None:
    """From 1.30 the token names the pod's node (name and uid) and carries a jti."""
    kind = cluster((1, 30))
    pod = kind.store.get(ResourceKey("", "pods"), "default", "app")
    claims = kind.issuer.verify(kind._token_for(pod, "", 3607))
    node = kind.store.get(ResourceKey("", "nodes"), "", "kind-control-plane")
    assert claims.node == BoundObject("Node", "kind-control-plane", node["metadata"]["uid"])
    assert len(claims.jti) == 36 and claims.jti.count("-") == 4
