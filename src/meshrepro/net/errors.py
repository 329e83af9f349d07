"""Connection-level failures as values. Each program renders them in its own words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NetErrorKind(str, Enum):
    REFUSED = "refused"  # RST in answer to SYN: nobody listens, or a REJECT rule
    EOF = "eof"  # the peer accepted, then closed without answering
    RESET = "reset"  # the peer reset an established connection
    TIMEOUT = "timeout"  # dial timed out: packets dropped or no route answered
    UNREACHABLE = "unreachable"  # no route to host / network unreachable
    NXDOMAIN = "nxdomain"  # the name does not exist
    DNS_FAILURE = "dns_failure"  # no DNS server answered


@dataclass(frozen=True)
class NetError:
    kind: NetErrorKind
    remote: tuple[str, int]  # address as dialled (ip, port); for DNS errors ("name", 0)
    local: tuple[str, int] | None = None  # our socket, once it existed
    name: str = ""  # the host name, for DNS errors


@dataclass(frozen=True)
class TLSFailure:
    """A handshake the client refused; `reason` is Go's x509/tls wording after `tls: failed to verify certificate: `."""

    reason: str
