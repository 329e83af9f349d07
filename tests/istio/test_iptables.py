"""istio/iptables.py: rule text per Istio version, against upstream goldens, and its behaviour."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from meshrepro.istio.iptables import CaptureConfig, ambient_inpod_rules, sidecar_rules
from meshrepro.net.netfilter import Interfaces, NfPacket, Ruleset, evaluate

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
            c.outbound_ports_exclude) == ("10.0.0.0/8", "15090,15021,15020,3306", "1111,2222", "5555")
    assert CaptureConfig.from_annotations({"status.sidecar.istio.io/port": "0"}).inbound_ports_exclude == "15090,15021"


@pytest.mark.parametrize("key,word", [("excludeOutboundIPRanges", "excludeIPRanges"),
                                      ("includeOutboundIPRanges", "includeIPRanges")])
def test_from_annotations_rejects_bad_cidr(key: str, word: str) -> None:
    with pytest.raises(ValueError, match=rf"^{word} invalid: failed parsing cidr '10\.96\.0\.1/33'"):
        CaptureConfig.from_annotations({f"traffic.sidecar.istio.io/{key}": "10.96.0.1/33"})
    with pytest.raises(ValueError, match=rf"^{word} invalid: failed parsing cidr '10\.96\.0\.1'"):
        CaptureConfig.from_annotations({f"traffic.sidecar.istio.io/{key}": "10.96.0.1"})
