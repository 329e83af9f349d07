"""Listeners that programs and components bind: HTTP(S) servers and port forwarders."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.net.errors import NetError, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.stack import ConnectionRecord, NetNamespace, Network, Wait
from meshrepro.net.tls import Certificate, ClientTLS, ServerTLS


@dataclass
class Peer:
    """What a server knows about its client."""

    address: tuple[str, int]
    tls: bool = False
    certificate: Certificate | None = None  # a verified client certificate


Handler = Callable[[Peer, Request], Generator[simpy.Event, Any, Response]]


def verify_server(tls: ClientTLS, server: Certificate) -> TLSFailure | None:
    """Go's crypto/tls verification, in its order: chain first, then the host name."""
    if tls.insecure:
        return None
    if not any(server.signed_by(ca) for ca in tls.trusted):
        return TLSFailure("x509: certificate signed by unknown authority")
    if not server.matches_host(tls.server_name):
        return TLSFailure(f"x509: certificate is valid for {server.valid_for_text()}, not {tls.server_name}")
    return None


class HttpListener:
    """An HTTP or HTTPS server: each request goes to `handler`."""

    def __init__(self, name: str, handler: Handler, tls: ServerTLS | None = None) -> None:
        self.name = name
        self.handler = handler
        self.tls = tls

    def accept(self, record: ConnectionRecord) -> Wait:
        record.hop(self.name, f"accepted on {record.final[0]}:{record.final[1]}" if record.final else "accepted")
        return _HttpSession(self, Peer(record.seen_source or record.source))
        yield  # pragma: no cover - makes this a generator


class _HttpSession:
    def __init__(self, listener: HttpListener, peer: Peer) -> None:
        self.listener = listener
        self.peer = peer

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait:
        server_tls = self.listener.tls
        if server_tls is None:
            return TLSFailure("tls: first record does not look like a TLS handshake")
        failure = verify_server(tls, server_tls.certificate)
        if failure is not None:
            return failure
        self.peer.tls = True
        client_ca = server_tls.client_ca
        if tls.certificate is not None and client_ca is not None and tls.certificate.signed_by(client_ca):
            self.peer.certificate = tls.certificate
        record.hop(self.listener.name, "TLS handshake completed",
                   f"client certificate CN={self.peer.certificate.common_name}" if self.peer.certificate else "")
        return None
        yield  # pragma: no cover

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait:
        response: Response = yield from self.listener.handler(self.peer, request)
        return response

    def close(self) -> None:
        pass


class ForwardListener:
    """A userspace forwarder (docker-proxy for kind's published ports): a new connection to a fixed target."""

    def __init__(self, name: str, network: Network, from_ns: NetNamespace, target: tuple[str, int]) -> None:
        self.name = name
        self.network = network
        self.from_ns = from_ns
        self.target = target

    def accept(self, record: ConnectionRecord) -> Wait:
        upstream = yield from self.network.dial(self.from_ns, self.target[0], self.target[1])
        if isinstance(upstream, NetError):
            record.hop(self.name, f"upstream {self.target[0]}:{self.target[1]} failed: {upstream.kind.value}",
                       f"connection #{self.network.connections[-1].id}")
            return upstream
        record.hop(self.name, f"forwarded to {self.target[0]}:{self.target[1]}", f"connection #{upstream.record.id}")
        return _ForwardSession(upstream)


class _ForwardSession:
    def __init__(self, upstream: Any) -> None:
        self.upstream = upstream

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait:
        return (yield from self.upstream.handshake(tls))

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait:
        return (yield from self.upstream.exchange(request))

    def close(self) -> None:
        self.upstream.close()
