"""The connection walk: routing, hooks, listeners, the stub resolver."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response
from meshrepro.net.netfilter.addr import ip_to_int
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import DnsQuery, DnsReply, Network, ResolverConfig, TunnelRoute
from meshrepro.sim.clock import Clock


def _run(clock: Clock, generator: Generator[simpy.Event, Any, Any]) -> Any:
    process = clock.process(generator)
    clock.env.run(until=process)
    return process.value


def _hello(peer: Peer, request: Request) -> Generator[simpy.Event, Any, Response]:
    return Response(200, body=f"hello {peer.address[0]}".encode())
    yield  # pragma: no cover


def _network() -> tuple[Clock, Network]:
    clock = Clock(seed=1)
    return clock, Network(clock)


def test_connection_to_a_listener_is_established_and_records_its_hops() -> None:
    """A dial to an address some namespace owns reaches the listener bound there."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a", node="n1")
    server = network.add_namespace("b", ["10.244.0.6"], "pod b", node="n1")
    server.listen(80, HttpListener("web", _hello))
    conn = _run(clock, network.dial(client, "10.244.0.6", 80))
    response = _run(clock, conn.exchange(Request("GET", "/")))
    assert response.body == b"hello 10.244.0.5"
    record = network.connections[0]
    assert record.outcome == "established"
    assert [h.component for h in record.hops] == ["routing", "web"]


def test_no_listener_means_refused_at_once() -> None:
    """The kernel answers a SYN to a closed port with RST: refused, no time passes."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    network.add_namespace("b", ["10.244.0.6"], "pod b")
    result = _run(clock, network.dial(client, "10.244.0.6", 81))
    assert isinstance(result, NetError) and result.kind is NetErrorKind.REFUSED
    assert clock.now == 0


def test_unowned_address_times_out_after_the_dial_timeout() -> None:
    """Packets to an address nobody owns are dropped; the client waits its dial timeout."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    result = _run(clock, network.dial(client, "10.9.9.9", 443, timeout=30))
    assert isinstance(result, NetError) and result.kind is NetErrorKind.TIMEOUT
    assert clock.now == 30


def test_node_rules_dnat_a_virtual_ip_for_traffic_from_its_pods() -> None:
    """A pod's packets cross into its node's PREROUTING, where kube-proxy-style DNAT rewrites them."""
    clock, network = _network()
    network.add_namespace("node:n1", ["172.18.0.2"], "node n1", node="n1").ruleset.restore(
        "*nat\n-A PREROUTING -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.6:8080\n"
        "COMMIT\n")
    client = network.add_namespace("a", ["10.244.0.5"], "pod a", node="n1")
    server = network.add_namespace("b", ["10.244.0.6"], "pod b", node="n1")
    server.listen(8080, HttpListener("web", _hello))
    conn = _run(clock, network.dial(client, "10.96.0.20", 80))
    assert not isinstance(conn, NetError)
    record = network.connections[0]
    assert record.final == ("10.244.0.6", 8080)
    assert any("DNAT --to-destination 10.244.0.6:8080" in h.detail for h in record.hops)


def test_reject_rule_is_refused_and_drop_times_out() -> None:
    """REJECT answers at once (refused); DROP leaves the client waiting its timeout."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    network.add_namespace("b", ["10.244.0.6"], "pod b")
    client.ruleset.restore("*filter\n-A OUTPUT -p tcp --dport 80 -j REJECT\n-A OUTPUT -p tcp --dport 81 -j DROP\n"
                           "COMMIT\n")
    refused = _run(clock, network.dial(client, "10.244.0.6", 80))
    assert isinstance(refused, NetError) and refused.kind is NetErrorKind.REFUSED and clock.now == 0
    dropped = _run(clock, network.dial(client, "10.244.0.6", 81, timeout=5))
    assert isinstance(dropped, NetError) and dropped.kind is NetErrorKind.TIMEOUT and clock.now == 5


def test_output_redirect_delivers_to_a_local_listener_and_owner_match_exempts() -> None:
    """An istio-iptables-style REDIRECT sends app traffic to 15001; uid 1337's traffic goes through."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    server = network.add_namespace("b", ["10.244.0.6"], "pod b")
    server.listen(80, HttpListener("web", _hello))
    client.listen(15001, HttpListener("proxy", _hello))
    client.ruleset.restore("*nat\n-A OUTPUT -p tcp -m owner --uid-owner 1337 -j RETURN\n"
                           "-A OUTPUT -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    _run(clock, network.dial(client, "10.244.0.6", 80, uid=1000))
    _run(clock, network.dial(client, "10.244.0.6", 80, uid=1337))
    assert network.connections[0].final == ("127.0.0.1", 15001)
    assert network.connections[1].final == ("10.244.0.6", 80)


class _Zone:
    name = "dns"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def answer(self, message: DnsQuery, record: Any) -> DnsReply:
        self.asked.append(message.name)
        if message.name == "kubernetes.default.svc.cluster.local.":
            return DnsReply("NOERROR", ("10.96.0.1",))
        return DnsReply("NXDOMAIN")


def test_resolver_walks_the_search_list_before_the_absolute_name() -> None:
    """With ndots:5 a two-label name is tried with every search domain first, in order."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    dns = network.add_namespace("dns", ["10.244.0.2"], "coredns")
    zone = _Zone()
    dns.listen(53, zone, protocol="udp")
    client.resolver = ResolverConfig(["10.244.0.2"], ["default.svc.cluster.local", "svc.cluster.local",
                                                      "cluster.local"], ndots=5)
    assert _run(clock, client.view().resolve("kubernetes.default")) == ["10.96.0.1"]
    assert zone.asked == ["kubernetes.default.default.svc.cluster.local.", "kubernetes.default.svc.cluster.local."]


def test_resolver_without_an_answering_server_fails_after_its_timeouts() -> None:
    """No DNS listener: every try times out (5 s x 2 attempts), then a DNS failure."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    client.resolver = ResolverConfig(["10.244.0.99"], [], ndots=1)
    result = _run(clock, client.view().resolve("example.com"))
    assert isinstance(result, NetError) and result.kind is NetErrorKind.DNS_FAILURE
    assert clock.now == 10


def test_a_name_with_a_trailing_dot_skips_the_search_list() -> None:
    """`kubernetes.default.svc.cluster.local.` is asked as given, once."""
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    dns = network.add_namespace("dns", ["10.244.0.2"], "coredns")
    zone = _Zone()
    dns.listen(53, zone, protocol="udp")
    client.resolver = ResolverConfig(["10.244.0.2"], ["default.svc.cluster.local"], ndots=5)
    assert _run(clock, client.view().resolve("kubernetes.default.svc.cluster.local.")) == ["10.96.0.1"]
    assert zone.asked == ["kubernetes.default.svc.cluster.local."]


def test_an_ip_literal_needs_no_lookup() -> None:
    clock, network = _network()
    client = network.add_namespace("a", ["10.244.0.5"], "pod a")
    client.resolver = ResolverConfig(nameservers=["10.96.0.10"], search=["svc.cluster.local"])
    view = client.view()
    assert _run(clock, view.resolve("10.96.0.1")) == ["10.96.0.1"]
    assert _run(clock, view.resolve("fd00::1")) == ["fd00::1"]
    assert isinstance(_run(clock, view.resolve("10.96.0.1.nip")), NetError)  # a name: looked up, unanswered
    assert network.connections  # ... through the resolver


def test_tunnel_routes_match_by_longest_prefix() -> None:
    route = TunnelRoute(101, "10.244.0.0/16", "istioout", "ztunnel")
    host = TunnelRoute(101, "10.244.1.7/32", "istioout", "ztunnel")
    assert route.covers(ip_to_int("10.244.3.4")) == 16 and route.covers(ip_to_int("10.245.0.1")) == -1
    assert host.covers(ip_to_int("10.244.1.7")) == 32 and host.covers(ip_to_int("10.244.1.8")) == -1
    assert TunnelRoute(101, "0.0.0.0/0", "eth0", None).covers(ip_to_int("8.8.8.8")) == 0
