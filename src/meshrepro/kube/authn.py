"""Authentication: client certificates, ServiceAccount bearer tokens, anonymous."""

from __future__ import annotations

from dataclasses import dataclass

from meshrepro.kube.rbac import User
from meshrepro.kube.store import ResourceKey, Store
from meshrepro.kube.tokens import ISSUER, TokenIssuer
from meshrepro.net.http import Request
from meshrepro.net.server import Peer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")
SERVICE_ACCOUNTS = ResourceKey("", "serviceaccounts")


@dataclass
class Authenticator:
    clock: Clock
    issuer: TokenIssuer
    trace: Trace
    audiences: tuple[str, ...] = (ISSUER,)

    def authenticate(self, peer: Peer, request: Request, store: Store) -> User | None:
        """The user of a request; None means 401 (a bearer token was sent and failed)."""
        authorization = request.header("Authorization")
        if authorization.startswith("Bearer "):
            return self._token(authorization[len("Bearer "):].strip(), store)
        if peer.certificate is not None:
            return User.authenticated(peer.certificate.common_name, list(peer.certificate.organizations))
        return User.anonymous()

    def _token(self, token: str, store: Store) -> User | None:
        claims = self.issuer.verify(token)
        if claims is None:
            return self._reject("the token is not a JWT signed by this cluster", token)
        now = int(self.clock.wall().timestamp())
        if claims.expires_at < now:
            return self._reject("the token has expired", claims.subject)
        if not set(claims.audiences) & set(self.audiences):
            return self._reject("the token audience is not the API server's", claims.subject)
        sa = store.peek(SERVICE_ACCOUNTS, claims.namespace, claims.service_account)
        if sa is None or sa["metadata"]["uid"] != claims.service_account_uid:
            return self._reject(f"service account {claims.namespace}/{claims.service_account} no longer exists",
                                claims.subject)
        if claims.pod is not None:
            pod = store.peek(PODS, claims.namespace, claims.pod.name)
            if pod is None or pod["metadata"]["uid"] != claims.pod.uid or "deletionTimestamp" in pod["metadata"]:
                return self._reject(f"the pod {claims.pod.name} the token is bound to is gone", claims.subject)
        extra = {}
        if claims.pod is not None:
            extra = {"authentication.kubernetes.io/pod-name": [claims.pod.name],
                     "authentication.kubernetes.io/pod-uid": [claims.pod.uid]}
        return User.service_account(claims.namespace, claims.service_account, extra)

    def _reject(self, why: str, subject: str) -> None:
        self.trace.add(self.clock.now, "kube-apiserver", "authentication", "rejected bearer token (401)", why,
                       token_subject=subject[:80])
