"""istio/iptables.py: rule text per Istio version, against upstream goldens, and its behaviour."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from meshrepro.istio.iptables import (
    ZTUNNEL_PODS_IPSET,
    CaptureConfig,
    IpRoute,
    IpRule,
    ambient_inpod_rules,
    ambient_node_routes,
    ambient_node_rules,
    ambient_pod_route,
    ambient_tunnels,
    sidecar_rules,
    ztunnel_pod_routes,
    ztunnel_pod_rules,
)
from meshrepro.net.netfilter import Interfaces, IPSets, NfPacket, Ruleset, evaluate

TESTDATA = Path(__file__).parent / "testdata"
TABLES = ("mangle", "nat", "raw")
POD_IP = "10.244.0.7"
POD = Interfaces.pod([POD_IP])


def golden(name: str) -> str:
    """A stored upstream golden in restore form: IPv4 part only; command form (`iptables -t T ...`, istio
    <= 1.23) is grouped by table in mangle/nat/raw order, each table's -N lines first, command order kept."""
    lines = [line for line in (TESTDATA / name).read_text().splitlines()
             if line and not line.startswith("#") and line not in ("iptables-save", "ip6tables-save")]
    if not lines[0].startswith("iptables "):  # restore form (1.24+); the stored cases have no IPv6 half
        return "\n".join(lines) + "\n"
    new: dict[str, list[str]] = {t: [] for t in TABLES}
    rules: dict[str, list[str]] = {t: [] for t in TABLES}
    for line in lines:
        _, _, table, rest = line.split(" ", 3)
        (new if rest.startswith("-N ") else rules)[table].append(rest)
    text = []
    for table in TABLES:
        if new[table] or rules[table]:
            text += [f"* {table}", *new[table], *rules[table], "COMMIT"]
    return "\n".join(text) + "\n"


# run_test.go constructTestConfig: InboundPortsInclude and OutboundIPRangesInclude default to "" there
BASE = {"inbound_ports_include": "", "outbound_ip_ranges_include": "", "inbound_ports_exclude": ""}
CASES = {
    "empty": CaptureConfig(**BASE),
    "ip-range": CaptureConfig(**{**BASE, "outbound_ip_ranges_exclude": "1.1.0.0/16",
                                 "outbound_ip_ranges_include": "9.9.0.0/16"}, redirect_dns=True, proxy_gid="1,2",
                              proxy_uid="3,4", dns_servers=("127.0.0.53",)),
    "ipnets": CaptureConfig(**{**BASE, "outbound_ip_ranges_include": "10.0.0.0/8"}),
    "inbound-ports-include": CaptureConfig(**{**BASE, "inbound_ports_include": "32000,31000"}),
    "outbound-ports-include": CaptureConfig(**{**BASE, "outbound_ports_include": "32000,31000"}),
    "loopback-outbound-iprange": CaptureConfig(**{**BASE, "outbound_ip_ranges_include": "127.1.2.3/32"},
                                               redirect_dns=True, proxy_gid="1,2", proxy_uid="3,4",
                                               dns_servers=("127.0.0.53",)),
}
TAGS = {"1.22.0": (1, 22, 0), "1.23.0": (1, 23, 0), "1.24.0": (1, 24, 0)}


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("case", CASES)
def test_sidecar_matches_upstream_golden(case: str, tag: str) -> None:
    assert sidecar_rules(CASES[case], TAGS[tag]) == golden(f"sidecar-{case}-{tag}.golden")


@pytest.mark.parametrize("tag,version", [("1.21.0", (1, 21, 0)), ("1.23.0", (1, 23, 0)), ("1.24.0", (1, 24, 0))])
def test_inpod_matches_upstream_golden(tag: str, version: tuple[int, int, int]) -> None:
    got = ambient_inpod_rules(version, dns_capture=True)  # the goldens set RedirectDNS=true
    assert sorted(got.splitlines()) == sorted(golden(f"inpod-default-{tag}.golden").splitlines())
    if version >= (1, 24, 0):  # restore-form golden: order is upstream's own
        assert got == golden(f"inpod-default-{tag}.golden")


def test_sidecar_default_matches_plugin_golden_shape() -> None:
    # the injector's defaults (-b '*', -i '*', -d 15090,15021,15020): tests/net/netfilter_samples.SIDECAR minus the
    # istio-cni plugin's extra `-p tcp --dport 15020 -j RETURN` outbound exclusion and its 15020/15021/15090 order
    text = sidecar_rules(CaptureConfig.from_annotations({}), (1, 22, 0))
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in text
    assert "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT" in text
    for port in ("15020", "15021", "15090"):
        assert f"-A ISTIO_INBOUND -p tcp --dport {port} -j RETURN" in text


ALL = [(1, 20, 0), (1, 21, 0), (1, 22, 0), (1, 23, 0), (1, 24, 0)]
CONFIGS = [CaptureConfig(), CaptureConfig(redirect_dns=True, capture_all_dns=True),
           CaptureConfig.from_annotations({"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32",
                                           "traffic.sidecar.istio.io/excludeOutboundPorts": "5555,6666"})]


@pytest.mark.parametrize("version", ALL)
@pytest.mark.parametrize("config", CONFIGS)
def test_sidecar_parses_and_round_trips(config: CaptureConfig, version: tuple[int, int, int]) -> None:
    saved = Ruleset.parse(sidecar_rules(config, version)).save()
    assert Ruleset.parse(saved).save() == saved


@pytest.mark.parametrize("version", ALL[1:])
@pytest.mark.parametrize("dns", [False, True])
def test_inpod_parses_and_round_trips(version: tuple[int, int, int], dns: bool) -> None:
    saved = Ruleset.parse(ambient_inpod_rules(version, dns)).save()
    assert Ruleset.parse(saved).save() == saved


def test_inpod_before_121_is_an_error() -> None:
    with pytest.raises(ValueError, match="no in-pod"):
        ambient_inpod_rules((1, 20, 0), False)


def out(rules: str, dst: tuple[str, int], *, uid: int | None = 1000, proto: str = "tcp", mark: int = 0):
    return evaluate(Ruleset.parse(rules), NfPacket(proto, (POD_IP, 40000), dst, POD, uid=uid, gid=uid, mark=mark),
                    "output", rng=random.Random(1))


@pytest.mark.parametrize("version", ALL)
def test_sidecar_behaviour(version: tuple[int, int, int]) -> None:
    rules = sidecar_rules(CaptureConfig(), version)
    assert out(rules, ("10.96.0.1", 443)).destination[1] == 15001
    assert out(rules, ("10.96.0.1", 443), uid=1337).destination == ("10.96.0.1", 443)
    assert out(rules, ("10.96.0.10", 53), proto="udp").destination == ("10.96.0.10", 53)  # no DNS capture
    excluded = sidecar_rules(CaptureConfig.from_annotations(
        {"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.96.0.1/32"}), version)
    assert "-A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN" in excluded
    assert out(excluded, ("10.96.0.1", 443)).destination == ("10.96.0.1", 443)
    assert out(excluded, ("10.96.0.2", 443)).destination[1] == 15001
    port = sidecar_rules(CaptureConfig.from_annotations({"traffic.sidecar.istio.io/excludeOutboundPorts": "443"}),
                         version)
    assert out(port, ("10.96.0.1", 443)).destination == ("10.96.0.1", 443)
    dns = sidecar_rules(CaptureConfig(redirect_dns=True, capture_all_dns=True), version)
    assert out(dns, ("10.96.0.10", 53), proto="udp").destination[1] == 15053
    assert out(dns, ("10.96.0.10", 53), proto="udp", uid=1337).destination == ("10.96.0.10", 53)


@pytest.mark.parametrize("version", ALL[1:])
def test_inpod_behaviour(version: tuple[int, int, int]) -> None:
    for dns in (False, True):
        rules = ambient_inpod_rules(version, dns)
        assert out(rules, ("10.96.0.1", 443)).destination[1] == 15001
        assert out(rules, ("10.96.0.1", 443), uid=1337).destination[1] == 15001  # uid is no exemption
        assert out(rules, ("10.96.0.1", 443), mark=0x539).destination == ("10.96.0.1", 443)
        udp = out(rules, ("10.96.0.10", 53), proto="udp").destination
        assert udp[1] == (15053 if dns else 53)


def test_from_annotations_flags() -> None:
    c = CaptureConfig.from_annotations({
        "traffic.sidecar.istio.io/includeOutboundIPRanges": "10.0.0.0/8",
        "traffic.sidecar.istio.io/excludeInboundPorts": "3306",
        "traffic.sidecar.istio.io/includeInboundPorts": "1111,2222",
        "traffic.sidecar.istio.io/excludeOutboundPorts": "5555",
    })
    assert (c.outbound_ip_ranges_include, c.inbound_ports_exclude, c.inbound_ports_include,
            c.outbound_ports_exclude) == ("10.0.0.0/8", "15090,15021,3306,15020", "1111,2222", "5555")  # excludeInboundPort appends the status port
    assert CaptureConfig.from_annotations({"status.sidecar.istio.io/port": "0"}).inbound_ports_exclude == "15090,15021"


@pytest.mark.parametrize("key,word", [("excludeOutboundIPRanges", "excludeIPRanges"),
                                      ("includeOutboundIPRanges", "includeIPRanges")])
def test_from_annotations_rejects_bad_cidr(key: str, word: str) -> None:
    with pytest.raises(ValueError, match=rf"^{word} invalid: failed parsing cidr '10\.96\.0\.1/33'"):
        CaptureConfig.from_annotations({f"traffic.sidecar.istio.io/{key}": "10.96.0.1/33"})
    with pytest.raises(ValueError, match=rf"^{word} invalid: failed parsing cidr '10\.96\.0\.1'"):
        CaptureConfig.from_annotations({f"traffic.sidecar.istio.io/{key}": "10.96.0.1"})


# -- <= 1.20 node-level ambient capture ----------------------------------------------------------------------------
# istio@1.20.0:cni/pkg/ambient/net_linux.go CreateRulesOnNode / CreateRulesWithinNodeProxyNS; the simulated node gives
# the ztunnel pod its own host-side veth (`vethzt`), as real CNIs do (one veth per pod).
NODE_LEVEL = [(1, 18, 0), (1, 19, 0), (1, 20, 0), (1, 20, 2)]
ZT_IP, APP_IP, HOST_IP = "10.244.0.3", "10.244.0.14", "10.244.0.1"
NODE = Interfaces({"eth0": ("172.18.0.2",), "vethapp": (HOST_IP,), "vethzt": (HOST_IP,),
                   "istioin": ("192.168.126.1",), "istioout": ("192.168.127.1",)},
                  routes=[(f"{APP_IP}/32", "vethapp"), (f"{ZT_IP}/32", "vethzt")])
ZTUNNEL_NS = Interfaces({"eth0": (ZT_IP,), "pistioin": ("192.168.126.2",), "pistioout": ("192.168.127.2",)})
KUBE_PROXY = """* nat
-N KUBE-SERVICES
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 172.18.0.2:6443
COMMIT
"""


def node_ruleset(version: tuple[int, int, int], dns: bool = False) -> tuple[Ruleset, IPSets]:
    sets = IPSets()
    sets.create(ZTUNNEL_PODS_IPSET, "hash:ip").add(APP_IP)  # ipset/ipset_linux.go CreateSet: hash:ip, comments
    rules = Ruleset.parse(KUBE_PROXY)
    rules.restore(ambient_node_rules(version, ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP, capture_dns=dns),
                  noflush=True, ipsets=sets)
    return rules, sets


def node_in(rules: Ruleset, sets: IPSets, src: str, dst: tuple[str, int], device: str, proto: str = "tcp"):
    return evaluate(rules, NfPacket(proto, (src, 40000), dst, NODE, in_interface=device), "prerouting",
                    rng=random.Random(1), ipsets=sets)


def test_node_rules_text_120() -> None:
    text = ambient_node_rules((1, 20, 0), ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP)
    lines = text.splitlines()
    # initializeLists: -N then -I <builtin> -j <chain>, ahead of kube-proxy's jumps
    assert lines[:11] == ["* mangle", "-N ztunnel-PREROUTING", "-N ztunnel-POSTROUTING", "-N ztunnel-OUTPUT",
                          "-N ztunnel-INPUT", "-N ztunnel-FORWARD", "-I PREROUTING -j ztunnel-PREROUTING",
                          "-I POSTROUTING -j ztunnel-POSTROUTING", "-I OUTPUT -j ztunnel-OUTPUT",
                          "-I INPUT -j ztunnel-INPUT", "-I FORWARD -j ztunnel-FORWARD"]
    # the outbound capture rule, last of appendRules2
    mangle_end = lines.index("COMMIT")
    assert lines[mangle_end - 1] == ("-A ztunnel-PREROUTING -p tcp -m set --match-set ztunnel-pods-ips src -j MARK "
                                     "--set-mark 0x100/0x100")
    assert ("-A ztunnel-OUTPUT -m owner --socket-exists -p tcp -m set --match-set ztunnel-pods-ips dst --source "
            "10.244.0.1 -j MARK --set-mark 0x220") in lines
    assert "-A ztunnel-PREROUTING -i vethzt ! --source 10.244.0.3 -j MARK --set-mark 0x210/0x210" in lines
    assert lines[-5:] == ["* filter", "-N ztunnel-FORWARD", "-I FORWARD -j ztunnel-FORWARD",
                          "-A ztunnel-FORWARD -m mark --mark 0x100/0x100 -j ACCEPT", "COMMIT"]


def test_node_rules_differ_118_119() -> None:
    old = ambient_node_rules((1, 18, 0), ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP)
    assert "-A ztunnel-OUTPUT --source 10.244.0.1 -j MARK --set-mark 0x220" in old.splitlines()
    assert "* filter" not in old  # filter ztunnel-FORWARD arrived in 1.19 (istio/istio#45471)
    assert "* filter" in ambient_node_rules((1, 19, 0), ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP)


@pytest.mark.parametrize("version", NODE_LEVEL)
@pytest.mark.parametrize("dns", [False, True])
def test_node_rules_parse_and_round_trip(version: tuple[int, int, int], dns: bool) -> None:
    sets = IPSets()
    sets.create(ZTUNNEL_PODS_IPSET, "hash:ip")
    text = ambient_node_rules(version, ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP, capture_dns=dns)
    saved = Ruleset.parse(text, ipsets=sets).save()
    assert Ruleset.parse(saved, ipsets=sets).save() == saved
    saved = Ruleset.parse(ztunnel_pod_rules(version, ZT_IP)).save()
    assert Ruleset.parse(saved).save() == saved


@pytest.mark.parametrize("version", NODE_LEVEL)
def test_node_marks_enrolled_pod_outbound(version: tuple[int, int, int]) -> None:
    rules, sets = node_ruleset(version)
    # a TCP SYN from the enrolled pod to the kubernetes Service: outbound mark, and nat ACCEPT skips KUBE-SERVICES
    out = node_in(rules, sets, APP_IP, ("10.96.0.1", 443), "vethapp")
    assert out.verdict == "ACCEPT"
    assert out.mark == 0x100
    assert out.destination == ("10.96.0.1", 443)
    assert any("--match-set ztunnel-pods-ips src" in str(hop) for hop in out.trail)
    # a pod outside the ipset is left to kube-proxy
    other = node_in(rules, sets, "10.244.0.20", ("10.96.0.1", 443), "vethapp")
    assert (other.mark, other.destination) == (0, ("172.18.0.2", 6443))
    # UDP from the enrolled pod: conn-skip mark, no capture (and no DNS capture unless asked)
    udp = node_in(rules, sets, APP_IP, ("10.96.0.10", 53), "vethapp", proto="udp")
    assert (udp.mark, udp.destination) == (0x220, ("10.96.0.10", 53))
    # ztunnel's own connections (from its veth, its IP) are skipped; what it sends for a pod (original source)
    # gets the proxy mark
    zt = node_in(rules, sets, ZT_IP, ("10.96.0.1", 443), "vethzt")
    assert zt.mark == 0x220 and zt.destination == ("172.18.0.2", 6443)
    assert node_in(rules, sets, APP_IP, ("10.244.1.9", 15008), "vethzt").mark == 0x210
    # packets out of the tunnels are skipped
    assert node_in(rules, sets, APP_IP, ("10.244.0.20", 80), "istioin").mark == 0x200


def test_node_dns_capture() -> None:
    rules, sets = node_ruleset((1, 20, 0), dns=True)
    udp = node_in(rules, sets, APP_IP, ("10.96.0.10", 53), "vethapp", proto="udp")
    assert udp.destination == (ZT_IP, 15053)


@pytest.mark.parametrize("version", NODE_LEVEL)
def test_ztunnel_netns_tproxies_tunnel_traffic(version: tuple[int, int, int]) -> None:
    rules = Ruleset.parse(ztunnel_pod_rules(version, ZT_IP))

    def arrive(dst: tuple[str, int], device: str):
        return evaluate(rules, NfPacket("tcp", (APP_IP, 40000), dst, ZTUNNEL_NS, in_interface=device),
                        "prerouting", rng=random.Random(1))

    out = arrive(("10.96.0.1", 443), "pistioout")  # the outbound-marked SYN, through the istioout tunnel
    assert out.tproxy == ("127.0.0.1", 15001) and out.route == "local"
    assert out.mark & 0xFFF == 0x400 and out.destination == ("10.96.0.1", 443)
    assert arrive(("10.244.0.20", 15008), "pistioin").tproxy == ("127.0.0.1", 15008)
    assert arrive(("10.244.0.20", 80), "pistioin").tproxy == ("127.0.0.1", 15006)
    passing = arrive(("10.244.1.9", 80), "eth0")
    assert passing.tproxy is None and passing.mark == 0x4D3


def test_node_routes_and_tunnels() -> None:
    routes = ambient_node_routes((1, 20, 0), ZT_IP, ztunnel_veth="vethzt")
    rules = [r for r in routes if isinstance(r, IpRule)]
    assert [str(r) for r in rules] == ["ip rule add priority 100 fwmark 0x200/0x200 goto 32766",
                                       "ip rule add priority 101 fwmark 0x100/0x100 lookup 101",
                                       "ip rule add priority 102 fwmark 0x040/0x040 lookup 102",
                                       "ip rule add priority 103 lookup 100"]
    assert IpRoute(101, "0.0.0.0/0", "istioout", via="192.168.127.2") in routes
    assert str(IpRoute(102, "0.0.0.0/0", "vethzt", via=ZT_IP, onlink=True)) == (
        "ip route add 0.0.0.0/0 via 10.244.0.3 dev vethzt onlink table 102")
    assert str(ambient_pod_route((1, 20, 0), APP_IP, host_ip=HOST_IP)) == (
        "ip route add 10.244.0.14/32 via 192.168.126.2 dev istioin src 10.244.0.1 table 100")
    inside = [str(r) for r in ztunnel_pod_routes((1, 20, 0), HOST_IP)]
    assert inside[:3] == ["ip rule add priority 20000 fwmark 0x400/0xfff lookup 100",
                          "ip rule add priority 20003 fwmark 0x4d3/0xfff lookup 100",
                          "ip route add local 0.0.0.0/0 dev lo scope host table 100"]
    node, pod = ambient_tunnels((1, 20, 0), ZT_IP, HOST_IP)
    assert [(t.name, t.vni, t.remote, t.address) for t in node] == [
        ("istioin", 1000, ZT_IP, "192.168.126.1/30"), ("istioout", 1001, ZT_IP, "192.168.127.1/30")]
    assert [(t.name, t.remote, t.address) for t in pod] == [
        ("pistioin", HOST_IP, "192.168.126.2/30"), ("pistioout", HOST_IP, "192.168.127.2/30")]


@pytest.mark.parametrize("fn", [
    lambda v: ambient_node_rules(v, ZT_IP, ztunnel_veth="vethzt", host_ip=HOST_IP),
    lambda v: ztunnel_pod_rules(v, ZT_IP),
    lambda v: ambient_node_routes(v, ZT_IP, ztunnel_veth="vethzt"),
    lambda v: ztunnel_pod_routes(v, HOST_IP),
    lambda v: ambient_pod_route(v, APP_IP, host_ip=HOST_IP),
])
def test_node_level_is_gone_from_121(fn) -> None:
    with pytest.raises(ValueError, match="no node-level ambient capture"):
        fn((1, 21, 0))
