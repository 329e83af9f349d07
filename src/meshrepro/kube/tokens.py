"""ServiceAccount tokens: JWTs the API server signs and checks (issuer, audience, expiry, bound pod).

The signature is an HMAC under the cluster's signing key rather than RS256: what matters to every
behaviour reproduced here is that only the cluster can mint a token that verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3607  # admission's projected token: 1 h + 7 s, kubelet refreshes at 80 %
EXTENDED_EXPIRATION = 365 * 24 * 3600  # --service-account-extend-token-expiration for the 3607 s tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class BoundObject:
    kind: str  # "Pod"
    name: str
    uid: str


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    namespace: str
    service_account: str
    service_account_uid: str
    audiences: tuple[str, ...]
    issued_at: int
    expires_at: int
    pod: BoundObject | None = None
    node: BoundObject | None = None
    jti: str = ""
    warn_after: int | None = None


class TokenIssuer:
    def __init__(self, key: bytes, key_id: str) -> None:
        self.key = key
        self.key_id = key_id

    def issue(self, claims: TokenClaims) -> str:
        header = {"alg": "RS256", "kid": self.key_id}
        private: dict[str, Any] = {
            "namespace": claims.namespace,
            "serviceaccount": {"name": claims.service_account, "uid": claims.service_account_uid},
        }
        if claims.pod is not None:
            private["pod"] = {"name": claims.pod.name, "uid": claims.pod.uid}
        if claims.node is not None:
            private["node"] = {"name": claims.node.name, "uid": claims.node.uid}
        if claims.warn_after is not None:
            private["warnafter"] = claims.warn_after
        payload: dict[str, Any] = {
            "aud": list(claims.audiences), "exp": claims.expires_at, "iat": claims.issued_at, "iss": ISSUER,
        }
        if claims.jti:
            payload["jti"] = claims.jti
        payload.update({"kubernetes.io": private, "nbf": claims.issued_at, "sub": claims.subject})
        signing_input = _b64(json.dumps(header, separators=(",", ":")).encode()) + "." + _b64(
            json.dumps(payload, separators=(",", ":")).encode())
        return signing_input + "." + _b64(hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest())

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a token this issuer signed, or None (not a JWT, wrong key, malformed)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = parts[0] + "." + parts[1]
        try:
            expected = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            payload = json.loads(_unb64(parts[1]))
            private = payload["kubernetes.io"]
            pod = private.get("pod")
            node = private.get("node")
            return TokenClaims(
                subject=payload["sub"], namespace=private["namespace"],
                service_account=private["serviceaccount"]["name"],
                service_account_uid=private["serviceaccount"]["uid"],
                audiences=tuple(payload["aud"]), issued_at=int(payload["iat"]), expires_at=int(payload["exp"]),
                pod=BoundObject("Pod", pod["name"], pod["uid"]) if pod else None,
                node=BoundObject("Node", node["name"], node["uid"]) if node else None,
                jti=payload.get("jti", ""), warn_after=private.get("warnafter"),
            )
        except (ValueError, KeyError, TypeError):
            return None
