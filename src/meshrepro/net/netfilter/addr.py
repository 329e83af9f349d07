"""IPv4 addresses as integers, and the interfaces of one network namespace.

Rules and packets compare addresses as ints: converting once at parse time (rules) or through a cache
(packets) keeps the per-packet work to integer masks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

LOOPBACK_NET = 0x7F000000  # 127.0.0.0/8: the kernel's `local` table routes all of it to lo
LOOPBACK_MASK = 0xFF000000
_INT_CACHE: dict[str, int] = {}
_TEXT_CACHE: dict[int, str] = {}


def ip_to_int(text: str) -> int:
    """Dotted IPv4 text to int; ValueError for anything else (hostnames, IPv6)."""
    value = _INT_CACHE.get(text)
    if value is None:
        value = int(ipaddress.IPv4Address(text))
        if len(_INT_CACHE) < 65536:  # bounded: packet addresses come from a finite simulated cluster
            _INT_CACHE[text] = value
    return value


def int_to_ip(value: int) -> str:
    text = _TEXT_CACHE.get(value)
    if text is None:
        text = f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
        if len(_TEXT_CACHE) < 65536:  # bounded, like _INT_CACHE
            _TEXT_CACHE[value] = text
    return text


def parse_cidr(text: str) -> tuple[int, int, str]:
    """`a.b.c.d[/len|/mask]` -> (network, mask, canonical text) as iptables stores it (host bits cleared)."""
    address, _, suffix = text.partition("/")
    base = ip_to_int(address)
    if not suffix:
        length = 32
    elif suffix.isdigit():
        length = int(suffix)
        if length > 32:
            raise ValueError(f"invalid mask `{suffix}' specified")
    else:
        network = ipaddress.IPv4Network(f"0.0.0.0/{suffix}")  # dotted masks must be contiguous here
        length = network.prefixlen
    mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
    return base & mask, mask, f"{int_to_ip(base & mask)}/{length}"


def is_loopback(ip: int) -> bool:
    return ip & LOOPBACK_MASK == LOOPBACK_NET


class Interfaces:
    """A namespace's devices and addresses (first address of a device is its primary).

    Build it once per namespace: evaluation asks it which addresses are local and where a
    destination is routed (lo when local, else the first non-lo device: the default route).
    """

    def __init__(self, devices: Mapping[str, Sequence[str]], *, route_localnet: bool = False,
                 routes: Sequence[tuple[str, str]] = ()) -> None:
        self.devices = {name: tuple(addresses) for name, addresses in devices.items()}
        self.devices.setdefault("lo", ("127.0.0.1",))
        self._primary = {name: ip_to_int(a[0]) for name, a in self.devices.items() if a}
        self._local = frozenset(ip_to_int(a) for addresses in self.devices.values() for a in addresses)
        self.default_device = next((name for name in self.devices if name != "lo"), "")
        self.route_localnet = route_localnet  # net.ipv4.conf.*.route_localnet: 127/8 routable from outside
        # Routes besides the default one: (cidr, device), longest prefix first (a node's routes to its pods' veths).
        self._routes = sorted(((*parse_cidr(cidr)[:2], device) for cidr, device in routes), key=lambda r: -r[1])

    @classmethod
    def pod(cls, addresses: Sequence[str], device: str = "eth0") -> Interfaces:
        return cls({"lo": ("127.0.0.1",), device: tuple(addresses)})

    def is_local(self, ip: int) -> bool:
        return ip in self._local or ip & LOOPBACK_MASK == LOOPBACK_NET

    def primary(self, device: str) -> int | None:
        return self._primary.get(device)

    def route(self, ip: int) -> str:
        if self.is_local(ip):
            return "lo"
        for network, mask, device in self._routes:
            if ip & mask == network:
                return device
        return self.default_device
