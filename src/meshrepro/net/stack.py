"""The connection walk: one `dial()` serves every program, and records every hop it takes.

A connection's first packet runs the sender's iptables OUTPUT rules; a pod's packet then crosses
its veth into the node and runs the node's PREROUTING rules (where kube-proxy's DNAT sits); it is
routed to the namespace owning the destination, whose PREROUTING rules run in turn, and delivered
to the listener bound there, or refused. Mesh components add rules and listeners; they never add
a second walk.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Generator
from dataclasses import dataclass, field
from functools import cached_property
from types import GeneratorType
from typing import Any, NamedTuple, Protocol

import simpy

from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.netfilter import Interfaces, IPSets, Matched, NfPacket, Ruleset, evaluate
from meshrepro.net.netfilter.addr import ip_to_int, parse_cidr
from meshrepro.net.tls import ClientTLS
from meshrepro.sim.clock import Clock

Address = tuple[str, int]
Wait = Generator[simpy.Event, Any, Any]

ANY = "0.0.0.0"
MAX_FORWARDS = 8  # hops before a routing loop is declared (a TTL, in effect)
ROUND_TRIP = 0.0003  # seconds a request/response pair spends on the wire inside one kind node


@dataclass
class Hop:
    component: str  # who handled the packet: "iptables in node kind-control-plane", "routing", "kube-apiserver"
    action: str  # what it did: "nat KUBE-SERVICES #1", "no listener on 10.244.0.5:81/tcp", "accepted on ..."
    detail: str = ""  # the rule, object or reason behind it

    def to_dict(self) -> dict[str, str]:
        return {"component": self.component, "action": self.action, "detail": self.detail}


@dataclass(slots=True)
class ConnectionRecord:
    id: int
    time: float
    protocol: str
    source: Address
    source_owner: str
    destination: Address  # as dialled
    final: Address | None = None  # after translation
    seen_source: Address | None = None  # the source the receiver sees (after SNAT/MASQUERADE)
    original_destination: Address | None = None  # SO_ORIGINAL_DST: before the receiver's REDIRECT/TPROXY
    outcome: str = "pending"  # established | closed | refused | eof | reset | timeout | unreachable
    # (component, action, detail) hops and (component, rules matched) pairs, turned into Hops when read.
    # Every connection of a run is kept: a tuple of tuples of strings is cheap to make and, unlike a list,
    # the garbage collector stops tracking it, so a full collection does not walk every record's steps.
    steps: tuple[tuple[str, str, str] | tuple[str, tuple[Matched, ...]], ...] = ()
    end: float | None = None

    def hop(self, component: str, action: str, detail: str = "") -> None:
        self.steps += ((component, action, detail),)

    def rules(self, component: str, matched: tuple[Matched, ...]) -> None:
        """The rules that matched in one namespace (an Outcome's `matched`), formatted when someone reads them."""
        if matched:
            self.steps += ((component, matched),)

    @property
    def hops(self) -> list[Hop]:
        hops: list[Hop] = []
        for step in self.steps:
            if len(step) == 3:
                hops.append(Hop(*step))  # type: ignore[arg-type]
            else:
                component, matched = step
                hops += [Hop(component, f"{table} {chain}" + (f" #{index}" if index else " policy"), rule)
                         for _, table, chain, index, rule in matched]  # type: ignore[misc]
        return hops


class Session(Protocol):
    """The server side of one accepted connection."""

    def handshake(self, tls: ClientTLS, record: ConnectionRecord) -> Wait: ...

    def exchange(self, request: Request, record: ConnectionRecord) -> Wait: ...

    def close(self) -> None: ...


class Listener(Protocol):
    name: str

    def accept(self, record: ConnectionRecord) -> Wait:
        """Return a Session, or a NetError (e.g. EOF when the peer accepts then closes)."""
        ...


class DatagramListener(Protocol):
    name: str

    def answer(self, message: Any, record: ConnectionRecord) -> Any | None:
        """Reply to one datagram, or None to stay silent (a generator when the reply takes time)."""
        ...


@dataclass
class ResolverConfig:
    nameservers: list[str]
    search: list[str] = field(default_factory=list)
    ndots: int = 1
    hosts: dict[str, str] = field(default_factory=dict)  # /etc/hosts: name -> address
    timeout: float = 5.0  # glibc and Go defaults: 5 s per try, 2 attempts
    attempts: int = 2


class DnsQuery(NamedTuple):  # NamedTuples: immutable, and cheaper to make than frozen dataclasses
    name: str  # fully qualified, with trailing dot
    qtype: str = "A"


class DnsReply(NamedTuple):
    rcode: str  # NOERROR | NXDOMAIN | SERVFAIL
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRule:
    """`ip rule add priority P [fwmark MARK/MASK] lookup TABLE` (table None: the main table)."""

    priority: int
    table: int | None
    mark: int | None = None
    mask: int = 0xFFFFFFFF


@dataclass(frozen=True)
class TunnelRoute:
    """A route in a policy table that hands packets to another namespace: a tunnel device (geneve) or a
    gateway in a neighbour namespace. How istio-cni <=1.20 steered pod traffic into the node's ztunnel."""

    table: int
    destination: str  # CIDR
    device: str  # the device in this namespace (istioout, istioin, a veth)
    peer: str | None  # the namespace at the far end; None: an ordinary route (normal delivery)
    peer_device: str = ""  # the device packets arrive on there (pistioout, pistioin, eth0)

    def covers(self, ip: int) -> int:
        """The prefix length if the route matches `ip`, else -1."""
        network, mask = self._network
        return mask.bit_count() if ip & mask == network else -1

    @cached_property
    def _network(self) -> tuple[int, int]:  # parsed once: policy routing asks on every packet
        network, mask, _ = parse_cidr(self.destination)
        return network, mask


class NetNamespace:
    """One network namespace: its addresses, listeners, output hooks and resolver."""

    def __init__(self, network: Network, name: str, addresses: list[str], owner: str, node: str | None) -> None:
        self.network = network
        self.name = name
        self.addresses = addresses
        self.owner = owner
        self.node = node
        # The namespace's iptables rules (kube-proxy's on nodes, istio's in pods) and ipsets.
        self.ruleset = Ruleset()
        self.ipsets = IPSets()
        self._interfaces: Interfaces | None = None
        self.devices: dict[str, list[str]] = {}  # set for nodes (eth0 plus the pods' veths); pods get eth0
        self.routes: list[tuple[str, str]] = []  # (cidr, device) besides the default route
        self.policy_rules: list[PolicyRule] = []  # checked after PREROUTING, lowest priority first
        self.tunnel_routes: list[TunnelRoute] = []
        self.veth: str | None = None  # for pods: the name of the node side of their veth
        self._interfaces_for = -1
        self.listeners: dict[tuple[str, str, int], Listener | DatagramListener] = {}
        self.resolver: ResolverConfig | None = None
        self._next_port = 32768 + network.clock.rng.randrange(0, 28000)

    @property
    def primary(self) -> str:
        return self.addresses[0] if self.addresses else "127.0.0.1"

    @property
    def interfaces(self) -> Interfaces:
        """Pods have eth0 (their veth end); nodes and the host eth0 on the kind network."""
        if self._interfaces is None or self._interfaces_for != len(self.addresses):
            if self.devices:
                self._interfaces = Interfaces(self.devices, routes=self.routes)
            elif self.addresses:
                self._interfaces = Interfaces.pod(self.addresses)
            else:
                self._interfaces = Interfaces({"lo": ("127.0.0.1",)})
            self._interfaces_for = len(self.addresses)
        return self._interfaces

    def is_local(self, address: str) -> bool:
        return address in self.addresses or address.startswith("127.")

    def ephemeral_port(self) -> int:
        """Linux picks local ports from 32768-60999; sequential from a seeded start keeps runs reproducible."""
        port = self._next_port
        self._next_port = 32768 if self._next_port >= 60999 else self._next_port + 1
        return port

    def listen(self, port: int, listener: Listener | DatagramListener, ip: str = ANY, protocol: str = "tcp") -> None:
        self.listeners[(protocol, ip, port)] = listener

    def unlisten(self, port: int, ip: str = ANY, protocol: str = "tcp") -> None:
        self.listeners.pop((protocol, ip, port), None)

    def listener_for(self, protocol: str, ip: str, port: int) -> Listener | DatagramListener | None:
        return self.listeners.get((protocol, ip, port)) or self.listeners.get((protocol, ANY, port))

    def tunnel_for(self, mark: int, destination: str) -> tuple[PolicyRule, TunnelRoute] | None:
        """Policy routing: the first rule whose mark matches and whose table has a route for the destination
        decides; a lookup that finds nothing falls through to the next rule, as in the kernel."""
        ip = ip_to_int(destination)
        for rule in sorted(self.policy_rules, key=lambda r: r.priority):
            if rule.mark is not None and mark & rule.mask != rule.mark:
                continue
            if rule.table is None:
                return None
            routes = [(r.covers(ip), r) for r in self.tunnel_routes if r.table == rule.table]
            best = max((m for m in routes if m[0] >= 0), key=lambda m: m[0], default=None)
            if best is not None:
                return (rule, best[1]) if best[1].peer is not None else None
        return None

    def view(self, uid: int = 0, gid: int = 0) -> NamespaceView:
        return NamespaceView(self, uid, gid)


class Network:
    """Every namespace, the routes between them, and the record of every connection."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.namespaces: dict[str, NetNamespace] = {}
        self._by_address: dict[str, NetNamespace] = {}
        self.connections: list[ConnectionRecord] = []

    def add_namespace(self, name: str, addresses: list[str], owner: str, node: str | None = None) -> NetNamespace:
        ns = NetNamespace(self, name, addresses, owner, node)
        self.namespaces[name] = ns
        for address in addresses:
            self._by_address[address] = ns
        return ns

    def remove_namespace(self, name: str) -> None:
        ns = self.namespaces.pop(name, None)
        if ns is not None:
            for address in ns.addresses:
                if self._by_address.get(address) is ns:
                    del self._by_address[address]

    def assign(self, ns: NetNamespace, address: str) -> None:
        """Give a namespace one more address (IPAM during sandbox setup)."""
        ns.addresses.append(address)
        self._by_address[address] = ns

    def owner_of(self, address: str) -> NetNamespace | None:
        return self._by_address.get(address)

    # -- the walk -------------------------------------------------------------------------

    def dial(self, ns: NetNamespace, ip: str, port: int, *, protocol: str = "tcp", timeout: float = 30.0,
             uid: int = 0, gid: int = 0, mark: int = 0, source_ip: str | None = None, owner: str | None = None
             ) -> Wait:
        """Open a connection from `ns`; returns a ClientConnection or a NetError after the time it takes.

        `mark` is the socket's SO_MARK (proxies mark their own sockets so capture rules skip them);
        `source_ip` binds a transparent socket to an address the namespace does not own (IP_TRANSPARENT)."""
        source = (source_ip or self._source_address(ns, ip), ns.ephemeral_port())
        record = ConnectionRecord(len(self.connections) + 1, self.clock.now, protocol, source, owner or ns.owner,
                                  (ip, port))
        self.connections.append(record)
        target = self._route(ns, record, uid, gid, mark)
        if record.seen_source is None:
            record.seen_source = record.source
        if isinstance(target, NetError):
            return (yield from self._fail(record, target, timeout))
        dest_ns, final = target
        record.final = final
        listener = dest_ns.listener_for(protocol, final[0], final[1])
        if listener is None:
            record.hop(f"netns {dest_ns.owner}", f"no listener on {final[0]}:{final[1]}/{protocol}",
                       "the kernel answers the SYN with RST")
            return (yield from self._fail(record, NetError(NetErrorKind.REFUSED, (ip, port), record.source), timeout))
        if protocol == "udp":
            record.hop(listener.name, f"received datagram on {final[0]}:{final[1]}")
            record.outcome = "delivered"
            return DatagramSocket(self, record, listener)  # type: ignore[arg-type]
        accepted = yield from listener.accept(record)  # type: ignore[union-attr]
        if isinstance(accepted, NetError):
            return (yield from self._fail(record, NetError(accepted.kind, (ip, port), record.source), timeout))
        record.outcome = "established"
        return ClientConnection(self, record, accepted)

    def _source_address(self, ns: NetNamespace, destination: str) -> str:
        """The kernel's choice: the primary address of the device the destination is routed through."""
        if destination.startswith("127."):
            return "127.0.0.1"
        if ns.devices:
            device = ns.interfaces.route(ip_to_int(destination))
            addresses = ns.devices.get(device) or []
            if addresses:
                return addresses[0]
        return ns.primary

    def _route(self, ns: NetNamespace, record: ConnectionRecord, uid: int, gid: int, mark: int
               ) -> tuple[NetNamespace, Address] | NetError:
        """The first packet's path: the sender's OUTPUT rules, its node's PREROUTING rules (packets from
        pods cross the veth into the node), then the receiver's PREROUTING rules."""
        source, destination = record.source, record.destination
        outcome = self._netfilter(ns, "output", record, source, destination, uid=uid, gid=gid, mark=mark)
        if isinstance(outcome, NetError):
            return outcome
        source, destination, local, _ = outcome
        if local is not None:
            return ns, local
        current = ns
        node = self.namespaces.get(f"node:{ns.node}") if ns.node is not None else None
        if node is not None and node is not ns:
            # The mark does not cross the veth: the kernel scrubs it when a packet changes namespace.
            arrived = self._prerouting(node, record, source, destination, veth_name(ns))
            if isinstance(arrived, NetError):
                return arrived
            current, source, destination, local = arrived
            if local is not None:
                return current, local
        for _ in range(MAX_FORWARDS):
            owner = self.owner_of(destination[0])
            if owner is None:
                record.hop("routing", f"no host owns {destination[0]}", "packets are dropped; the client waits")
                return NetError(NetErrorKind.TIMEOUT, record.destination, record.source)
            if owner is current:
                return owner, destination
            node = self.namespaces.get(f"node:{owner.node}") if owner.node is not None else None
            if node is not None and node is not owner and current.node != owner.node:
                # A pod on another node: the packet enters that node on eth0 and runs its rules first.
                record.hop("routing", f"delivered to {node.owner}", f"{destination[0]} is in node {owner.node}'s "
                                                                     "pod range")
                arrived = self._prerouting(node, record, source, destination, "eth0")
            else:
                record.hop("routing", f"delivered to {owner.owner}", f"{destination[0]} is an address of {owner.name}")
                arrived = self._prerouting(owner, record, source, destination, "")
            if isinstance(arrived, NetError):
                return arrived
            current, source, destination, local = arrived
            if local is not None:
                return current, local
            # DNATed elsewhere (a node port to a pod) or tunnelled on: the receiver forwards it
        record.hop("routing", "forwarding loop", "the packet's TTL runs out")
        return NetError(NetErrorKind.TIMEOUT, record.destination, record.source)

    def _prerouting(self, ns: NetNamespace, record: ConnectionRecord, source: Address, destination: Address,
                    in_interface: str) -> tuple[NetNamespace, Address, Address, Address | None] | NetError:
        """A packet arriving in `ns`: its PREROUTING rules, then policy routing by mark into a tunnel."""
        for _ in range(MAX_FORWARDS):
            if ns.ruleset.empty and not ns.policy_rules:  # most pods: no rules to run, no tunnel to take
                record.seen_source = source
                return ns, source, destination, None
            outcome = self._netfilter(ns, "prerouting", record, source, destination, in_interface=in_interface)
            if isinstance(outcome, NetError):
                return outcome
            source, destination, local, mark = outcome
            record.seen_source = source
            found = ns.tunnel_for(mark, destination[0]) if local is None and ns.policy_rules else None
            peer = self.namespaces.get(found[1].peer or "") if found is not None else None
            if found is None or peer is None:
                return ns, source, destination, local
            rule, route = found
            record.hop("routing", f"ip rule {rule.priority}" + (f" fwmark {mark:#x}" if rule.mark is not None else "")
                       + f" -> table {route.table}: {route.destination} dev {route.device}",
                       f"to {peer.owner}, arriving on {route.peer_device}")
            ns, in_interface = peer, route.peer_device
        record.hop("routing", "tunnel loop", "the packet's TTL runs out")
        return NetError(NetErrorKind.TIMEOUT, record.destination, record.source)

    def _netfilter(self, ns: NetNamespace, path: str, record: ConnectionRecord, source: Address,
                   destination: Address, *, uid: int | None = None, gid: int | None = None, in_interface: str = "",
                   mark: int = 0) -> tuple[Address, Address, Address | None, int] | NetError:
        """Run one namespace's rules; returns (source, destination, local delivery address or None, mark)."""
        if ns.ruleset.empty:
            local = destination if path == "output" and ns.is_local(destination[0]) else None
            return source, destination, local, mark
        packet = NfPacket(record.protocol, source, destination, ns.interfaces, in_interface, "", uid, gid, mark)
        outcome = evaluate(ns.ruleset, packet, "output" if path == "output" else "prerouting",  # type: ignore[arg-type]
                           rng=self.clock.rng, ipsets=ns.ipsets)
        component = f"iptables in {ns.owner}"
        record.rules(component, outcome.matched)
        if outcome.verdict == "DROP":
            return NetError(NetErrorKind.TIMEOUT, record.destination, record.source)
        if outcome.verdict == "REJECT":
            kind = NetErrorKind.REFUSED if outcome.errno in (None, "ECONNREFUSED") else NetErrorKind.UNREACHABLE
            return NetError(kind, record.destination, record.source)
        if outcome.destination != destination:
            record.hop(component, f"destination {destination[0]}:{destination[1]} -> "
                                  f"{outcome.destination[0]}:{outcome.destination[1]}", "NAT")
        if outcome.route == "local":
            delivered = outcome.tproxy or outcome.destination
            if delivered != destination:
                record.original_destination = destination
            return outcome.source, outcome.destination, delivered, outcome.mark
        return outcome.source, outcome.destination, None, outcome.mark

    def _fail(self, record: ConnectionRecord, error: NetError, timeout: float) -> Wait:
        record.outcome = error.kind.value
        if error.kind is NetErrorKind.TIMEOUT:
            yield self.clock.timeout(timeout)
        record.end = self.clock.now
        return error


class ClientConnection:
    """The client's end of an established TCP connection (implements runtime.process.Connection)."""

    def __init__(self, network: Network, record: ConnectionRecord, session: Session) -> None:
        self.network = network
        self.record = record
        self.session = session
        self.local = record.source
        self.remote = record.destination
        self.open = True

    def handshake(self, tls: ClientTLS) -> Wait:
        result: NetError | TLSFailure | None = yield from self.session.handshake(tls, self.record)
        if isinstance(result, NetError):
            self._closed(result.kind.value)
            return NetError(result.kind, self.remote, self.local)
        if isinstance(result, TLSFailure):
            self.record.hop("tls client", "rejected the server certificate", result.reason)
            self._closed("tls_failed")
        return result

    def exchange(self, request: Request) -> Wait:
        if not self.open:
            return NetError(NetErrorKind.RESET, self.remote, self.local)
        yield self.network.clock.timeout(ROUND_TRIP)
        result: Response | NetError = yield from self.session.exchange(request, self.record)
        if isinstance(result, NetError):
            self._closed(result.kind.value)
            return NetError(result.kind, self.remote, self.local)
        return result

    def close(self) -> None:
        if self.open:
            self.session.close()
            self._closed("closed")

    def _closed(self, outcome: str) -> None:
        self.open = False
        if self.record.outcome in ("established", "pending"):
            self.record.outcome = outcome
        self.record.end = self.network.clock.now


class DatagramSocket:
    """A connected UDP socket: each query is one datagram and at most one reply."""

    def __init__(self, network: Network, record: ConnectionRecord, listener: DatagramListener) -> None:
        self.network = network
        self.record = record
        self.listener = listener

    def query(self, message: Any, timeout: float) -> Wait:
        reply = self.listener.answer(message, self.record)
        if isinstance(reply, GeneratorType):  # a forwarding server answers after its own upstream query
            reply = yield from reply
        if reply is None:
            yield self.network.clock.timeout(timeout)
            self.record.outcome = "timeout"
            return None
        return reply


class NamespaceView:
    """The network as a process in one namespace sees it (implements runtime.process.Network)."""

    def __init__(self, ns: NetNamespace, uid: int, gid: int) -> None:
        self.ns = ns
        self.uid = uid
        self.gid = gid

    def dial(self, ip: str, port: int, timeout: float = 30.0) -> Wait:
        # Network.dial's generator itself, not one wrapping it: one frame less on every step.
        return self.ns.network.dial(self.ns, ip, port, timeout=timeout, uid=self.uid, gid=self.gid)

    def listen(self, port: int, listener: Listener) -> None:
        self.ns.listen(port, listener)

    def unlisten(self, port: int) -> None:
        self.ns.unlisten(port)

    def resolve(self, name: str) -> Wait:
        """The stub resolver: /etc/hosts, then the search list (ndots), then the name as given."""
        absolute = name.endswith(".")  # a trailing dot: the name as given, no search list
        name = name.rstrip(".")
        if _is_address(name):
            return [name]
        config = self.ns.resolver
        if config is None:
            return NetError(NetErrorKind.DNS_FAILURE, (name, 0), name=name)
        if name in config.hosts:
            return [config.hosts[name]]
        for candidate in [name + "."] if absolute else _candidates(name, config):
            answer = yield from self._query(candidate, config)
            if isinstance(answer, NetError):
                return NetError(answer.kind, (name, 0), name=name)
            if answer.rcode == "NOERROR" and answer.addresses:
                return list(answer.addresses)
        return NetError(NetErrorKind.NXDOMAIN, (name, 0), name=name)

    def _query(self, fqdn: str, config: ResolverConfig) -> Wait:
        for _ in range(config.attempts):
            for server in config.nameservers:
                sock = yield from self.ns.network.dial(self.ns, server, 53, protocol="udp", timeout=config.timeout,
                                                       uid=self.uid, gid=self.gid)
                if isinstance(sock, NetError):
                    continue  # refused (ICMP port unreachable) or dropped: try the next server
                reply = yield from sock.query(DnsQuery(fqdn), config.timeout)
                if reply is not None:
                    return reply
        return NetError(NetErrorKind.DNS_FAILURE, (fqdn, 0), name=fqdn)


def _is_address(name: str) -> bool:
    """An IP literal needs no lookup. Only digits and dots (IPv4) or a colon (IPv6) can be one, which spares
    ordinary names the exception ipaddress raises."""
    if ":" not in name and not name.replace(".", "").isdigit():
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _candidates(name: str, config: ResolverConfig) -> list[str]:
    absolute = name + "."
    searched = [f"{name}.{domain}." for domain in config.search]
    if name.count(".") >= config.ndots:
        return [absolute, *searched]
    return [*searched, absolute]


def veth_name(ns: NetNamespace) -> str:
    """The node-side name of a pod's veth (kindnet names them veth + 8 hex digits)."""
    if ns.veth is None:
        ns.veth = "veth" + hashlib.sha1(ns.name.encode()).hexdigest()[:8]
    return ns.veth
