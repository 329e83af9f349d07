"""A tiny PKI: certificates as PEM blocks whose body encodes the fields a client verifies.

Real key material is irrelevant to every behaviour meshrepro reproduces; what matters is which
CA signed a certificate, its names and its validity window, so that is what a certificate holds.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import asdict, dataclass, field

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


CLIENT_HELLO_BYTES = 517  # a TLS ClientHello as Go sends it: what a proxy counts as received before the handshake


@dataclass(frozen=True)
class Certificate:
    common_name: str
    issuer: str  # common name of the signing CA
    serial: str  # unique per certificate; CAs are recognised by (common_name, serial)
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    is_ca: bool = False
    issuer_serial: str = ""
    not_before: str = ""  # RFC 3339
    not_after: str = ""

    def pem(self) -> str:
        body = base64.b64encode(json.dumps(asdict(self), sort_keys=True).encode()).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([_BEGIN, *lines, _END]) + "\n"

    def signed_by(self, ca: Certificate) -> bool:
        return ca.is_ca and self.issuer == ca.common_name and self.issuer_serial == ca.serial

    def matches_host(self, host: str) -> bool:
        """Go's VerifyHostname: IPs against IP SANs, names against DNS SANs (one-label wildcards)."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            for name in self.dns_names:
                if name == host or (name.startswith("*.") and host.split(".", 1)[-1] == name[2:]):
                    return True
            return False
        return host in self.ip_addresses

    def valid_for_text(self) -> str:
        """The list in Go's `x509: certificate is valid for a, b, not c`."""
        return ", ".join((*self.dns_names, *self.ip_addresses))


def parse_pem_bundle(text: str) -> list[Certificate] | None:
    """Every certificate in `text`; None when the text holds no parseable certificate."""
    certs: list[Certificate] = []
    inside, body = False, []
    for line in text.splitlines():
        line = line.strip()
        if line == _BEGIN:
            inside, body = True, []
        elif line == _END and inside:
            inside = False
            try:
                fields = json.loads(base64.b64decode("".join(body)))
                fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
                certs.append(Certificate(**fields))
            except (ValueError, TypeError):
                return None
        elif inside:
            body.append(line)
    return certs or None


@dataclass(frozen=True)
class ClientTLS:
    """What a TLS client presents and trusts."""

    server_name: str  # SNI / the name verified against the certificate
    trusted: tuple[Certificate, ...] = ()  # empty: the system roots, which know no cluster CA
    insecure: bool = False
    certificate: Certificate | None = None


@dataclass(frozen=True)
class ServerTLS:
    certificate: Certificate
    client_ca: Certificate | None = None  # verify client certificates against this CA
    extra: dict[str, str] = field(default_factory=dict)
