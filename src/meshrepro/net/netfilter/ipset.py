"""A small `ipset` model: hash:ip and hash:net sets, one registry per network namespace."""

from __future__ import annotations

from meshrepro.net.netfilter.addr import int_to_ip, ip_to_int, parse_cidr

TYPES = ("hash:ip", "hash:net")


class IPSetError(ValueError):
    """What `ipset` prints for a bad command (the caller adds `ipset v7.17: `)."""


class IPSet:
    def __init__(self, name: str, kind: str) -> None:
        if kind not in TYPES:
            raise IPSetError(f"Syntax error: typename '{kind}' is unknown")
        self.name = name
        self.kind = kind
        self._ips: set[int] = set()
        self._nets: dict[int, set[int]] = {}  # mask -> networks; hash:net tests each prefix length present

    def _entry(self, entry: str) -> tuple[int, int]:
        try:
            network, mask, _ = parse_cidr(entry)
        except ValueError as exc:
            raise IPSetError(f"Syntax error: cannot parse {entry}: resolving to IPv4 address failed") from exc
        if self.kind == "hash:ip" and mask != 0xFFFFFFFF:
            raise IPSetError(f"Syntax error: plain IP address must be supplied: {entry}")
        return network, mask

    def add(self, entry: str) -> None:
        network, mask = self._entry(entry)
        if self.kind == "hash:ip":
            self._ips.add(network)
        else:
            self._nets.setdefault(mask, set()).add(network)

    def delete(self, entry: str) -> None:
        network, mask = self._entry(entry)
        if self.kind == "hash:ip":
            self._ips.discard(network)
        elif mask in self._nets:
            self._nets[mask].discard(network)
            if not self._nets[mask]:
                del self._nets[mask]

    def contains(self, ip: int) -> bool:
        if self.kind == "hash:ip":
            return ip in self._ips
        return any(ip & mask in networks for mask, networks in self._nets.items())

    def test(self, address: str) -> bool:
        return self.contains(ip_to_int(address))

    def members(self) -> list[str]:
        """Entries in `ipset list` style (hash:net entries with their prefix)."""
        if self.kind == "hash:ip":
            return [int_to_ip(ip) for ip in sorted(self._ips)]
        return [f"{int_to_ip(n)}/{mask.bit_count()}" for mask, nets in sorted(self._nets.items()) for n in sorted(nets)]


class IPSets:
    """The sets of one network namespace, by name."""

    def __init__(self) -> None:
        self.sets: dict[str, IPSet] = {}

    def create(self, name: str, kind: str, *, exist_ok: bool = False) -> IPSet:
        if name in self.sets:
            if exist_ok and self.sets[name].kind == kind:
                return self.sets[name]
            raise IPSetError("Set cannot be created: set with the same name already exists")
        self.sets[name] = IPSet(name, kind)
        return self.sets[name]

    def destroy(self, name: str) -> None:
        if self.sets.pop(name, None) is None:
            raise IPSetError("The set with the given name does not exist")

    def get(self, name: str) -> IPSet | None:
        return self.sets.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.sets
