"""The evaluator on the rule sets meshrepro installs: sidecar, ambient in-pod, kube-proxy, host probes."""

from __future__ import annotations

import random
import shlex
from collections import Counter

import pytest
from netfilter_samples import AMBIENT_121_COMMANDS, AMBIENT_124, AMBIENT_DNS_LINES, KUBE_PROXY, SIDECAR

from meshrepro.net.netfilter import Interfaces, IPSets, NfPacket, Ruleset, evaluate

POD = Interfaces.pod(["10.244.0.5"])
NODE = Interfaces({"eth0": ["172.18.0.2"]})


def out(ruleset: Ruleset, dst: tuple[str, int], *, proto: str = "tcp", uid: int = 1000, gid: int = 1000,
        mark: int = 0, ifs: Interfaces = POD, src: str = "10.244.0.5", seed: int = 1, ipsets: IPSets | None = None):
    packet = NfPacket(proto, (src, 40000), dst, ifs, uid=uid, gid=gid, mark=mark)
    return evaluate(ruleset, packet, "output", rng=random.Random(seed), ipsets=ipsets)


def inbound(ruleset: Ruleset, dst: tuple[str, int], *, src: str = "10.244.0.9", ifs: Interfaces = POD,
            device: str = "eth0", proto: str = "tcp"):
    packet = NfPacket(proto, (src, 40000), dst, ifs, in_interface=device)
    return evaluate(ruleset, packet, "prerouting", rng=random.Random(1))


# -- sidecar (istio-iptables) -------------------------------------------------------------------------

def test_sidecar_app_traffic_goes_to_envoy_outbound():
    outcome = out(Ruleset.parse(SIDECAR), ("10.96.0.1", 443))
    assert (outcome.verdict, outcome.destination, outcome.route) == ("ACCEPT", ("127.0.0.1", 15001), "local")
    assert [(e.table, e.chain, e.index) for e in outcome.trail] == [
        ("nat", "OUTPUT", 1), ("nat", "ISTIO_OUTPUT", 10), ("nat", "ISTIO_REDIRECT", 1)]
    assert outcome.trail[-1].rule == "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001"


def test_sidecar_envoy_uid_1337_returns():
    outcome = out(Ruleset.parse(SIDECAR), ("10.96.0.1", 443), uid=1337, gid=1337)
    assert outcome.destination == ("10.96.0.1", 443) and outcome.route == "out"
    assert outcome.trail[-1].rule == "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN"


@pytest.mark.parametrize("exclusion", ["-d 10.96.0.1/32 -j RETURN", "-p tcp --dport 443 -j RETURN"])
def test_sidecar_exclusions(exclusion):
    ruleset = Ruleset.parse(SIDECAR)
    ruleset.execute(["-t", "nat", "-I", "ISTIO_OUTPUT", "1", *shlex.split(exclusion)])
    outcome = out(ruleset, ("10.96.0.1", 443))
    assert outcome.destination == ("10.96.0.1", 443)
    assert outcome.trail[-1].index == 1 and outcome.trail[-1].chain == "ISTIO_OUTPUT"
    assert out(ruleset, ("10.96.0.10", 80)).destination == ("127.0.0.1", 15001)


def test_sidecar_inbound_goes_to_15006_except_15008():
    ruleset = Ruleset.parse(SIDECAR)
    assert inbound(ruleset, ("10.244.0.5", 8080)).destination == ("10.244.0.5", 15006)
    hbone = inbound(ruleset, ("10.244.0.5", 15008))
    assert hbone.destination == ("10.244.0.5", 15008) and hbone.route == "local"


def test_sidecar_pod_calling_itself_through_envoy():
    # the app dialling its own pod IP leaves via lo and is not captured; envoy's same call is re-entered inbound
    ruleset = Ruleset.parse(SIDECAR)
    assert out(ruleset, ("10.244.0.5", 8080)).destination == ("10.244.0.5", 8080)
    assert out(ruleset, ("10.244.0.5", 8080), uid=1337).destination == ("127.0.0.1", 15006)


# -- ambient in-pod (istio-cni) --------------------------------------------------------------------------

def test_ambient_outbound_from_any_uid_goes_to_ztunnel():
    ruleset = Ruleset.parse(AMBIENT_124)
    for uid in (0, 1000, 1337):  # capture is by mark, not uid: runAsUser 1337 does not escape it
        outcome = out(ruleset, ("10.96.0.1", 443), uid=uid)
        assert outcome.destination == ("127.0.0.1", 15001)
    nat = [entry.rule for entry in outcome.trail if entry.table == "nat"]
    assert nat[-1].endswith("-m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001")


def test_ambient_ztunnel_mark_is_exempt():
    outcome = out(Ruleset.parse(AMBIENT_124), ("10.244.0.9", 15008), mark=0x539)
    assert outcome.destination == ("10.244.0.9", 15008) and outcome.mark == 0x539


def test_ambient_dns_capture_only_when_enabled():
    on = Ruleset.parse(AMBIENT_124)
    off = Ruleset.parse("\n".join(l for l in AMBIENT_124.splitlines() if not any(d in l for d in AMBIENT_DNS_LINES)))
    assert out(on, ("10.96.0.10", 53), proto="udp").destination == ("127.0.0.1", 15053)
    assert out(on, ("10.96.0.10", 53), proto="tcp").destination == ("127.0.0.1", 15053)
    assert out(off, ("10.96.0.10", 53), proto="udp").destination == ("10.96.0.10", 53)
    assert out(off, ("10.96.0.10", 53), proto="tcp").destination == ("127.0.0.1", 15001)


def test_ambient_inbound_and_probes():
    ruleset = Ruleset.parse(AMBIENT_124)
    assert inbound(ruleset, ("10.244.0.5", 8080)).destination == ("10.244.0.5", 15006)
    assert inbound(ruleset, ("10.244.0.5", 15008)).destination == ("10.244.0.5", 15008)
    probe = inbound(ruleset, ("10.244.0.5", 8080), src="169.254.7.127")
    assert probe.destination == ("10.244.0.5", 8080)
    assert probe.trail[-1].rule == "-A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT"


def test_ambient_121_tproxy_hands_inbound_to_15006_with_mark():
    ruleset = Ruleset()
    for line in AMBIENT_121_COMMANDS.splitlines():
        ruleset.execute(shlex.split(line)[1:])
    outcome = inbound(ruleset, ("10.244.0.5", 8080))
    assert outcome.tproxy == ("10.244.0.5", 15006) and outcome.destination == ("10.244.0.5", 8080)
    assert outcome.mark == 0x111 and outcome.route == "local"
    assert inbound(ruleset, ("10.244.0.5", 15008)).tproxy == ("10.244.0.5", 15008)
    # ztunnel (mark 0x3 in this golden) dialling out is not captured; the app is, to 127.0.0.1:15001
    assert out(ruleset, ("10.96.0.1", 443), mark=0x3).destination == ("10.96.0.1", 443)
    assert out(ruleset, ("10.96.0.1", 443)).destination == ("127.0.0.1", 15001)


# -- kube-proxy -----------------------------------------------------------------------------------------

def test_kube_proxy_clusterip_to_node_apiserver():
    outcome = inbound(Ruleset.parse(KUBE_PROXY), ("10.96.0.1", 443), ifs=NODE, device="veth1")
    assert outcome.destination == ("172.18.0.2", 6443) and outcome.route == "local"
    assert outcome.mark == 0  # from a pod (10.244/16): no masquerade mark
    chains = [e.chain for e in outcome.trail]
    assert chains == ["PREROUTING", "KUBE-SERVICES", "KUBE-SVC-NPX46M4PTMTKRN6Y", "KUBE-SEP-YIL6JZP7A3QYXJU2"]


def test_kube_proxy_masquerades_node_traffic_to_a_pod():
    # the node itself calling a service backed by pods: marked in KUBE-SVC, masqueraded on the way out
    outcome = out(Ruleset.parse(KUBE_PROXY), ("10.96.0.10", 53), proto="udp", ifs=NODE, src="172.18.0.2", uid=0)
    assert outcome.destination[0] in ("10.244.0.2", "10.244.0.3", "10.244.0.4")
    assert outcome.source == ("172.18.0.2", 40000) and outcome.route == "out"
    assert "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000" in [entry.rule for entry in outcome.trail]
    assert outcome.trail[-1].rule.endswith("-j MASQUERADE --random-fully")
    assert outcome.mark == 0  # KUBE-POSTROUTING clears the bit with --xor-mark before masquerading


def test_kube_proxy_spreads_over_endpoints_by_probability():
    ruleset = Ruleset.parse(KUBE_PROXY)
    rng = random.Random(7)
    counts = Counter(
        evaluate(ruleset, NfPacket("udp", ("10.244.0.7", 40000), ("10.96.0.10", 53), NODE, in_interface="veth1"),
                 "prerouting", rng=rng).destination[0] for _ in range(3000))
    assert set(counts) == {"10.244.0.2", "10.244.0.3", "10.244.0.4"}
    assert all(900 < n < 1100 for n in counts.values()), counts


def test_kube_proxy_rejects_service_without_endpoints():
    outcome = inbound(Ruleset.parse(KUBE_PROXY), ("10.96.200.7", 80), ifs=NODE, device="veth1")
    assert (outcome.verdict, outcome.errno, outcome.route) == ("REJECT", "ECONNREFUSED", "forward")
    assert outcome.trail[-1].rule.endswith("has no endpoints\" -m tcp --dport 80 -j REJECT "
                                           "--reject-with icmp-port-unreachable")


def test_kube_proxy_nodeport_on_local_address():
    outcome = inbound(Ruleset.parse(KUBE_PROXY), ("172.18.0.2", 30080), ifs=NODE, src="172.18.0.1")
    assert outcome.destination == ("172.18.0.2", 6443) and outcome.route == "local"
    assert outcome.trail[1].rule.startswith("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports")


# -- host probe SNAT (ipset) and the kernel details the oracle pinned down --------------------------------

def test_host_probe_snat_uses_the_ipset():
    sets = IPSets()
    sets.create("istio-inpod-probes-v4", "hash:ip").add("10.244.0.5")
    ruleset = Ruleset.parse("*nat\n:ISTIO_POSTRT - [0:0]\n-A POSTROUTING -j ISTIO_POSTRT\n"
                            "-A ISTIO_POSTRT -m owner --socket-exists -p tcp -m set --match-set "
                            "istio-inpod-probes-v4 dst -j SNAT --to-source 169.254.7.127\nCOMMIT\n", ipsets=sets)
    kubelet = out(ruleset, ("10.244.0.5", 8080), ifs=NODE, src="172.18.0.2", uid=0, ipsets=sets)
    assert kubelet.source == ("169.254.7.127", 40000)
    other = out(ruleset, ("10.244.0.6", 8080), ifs=NODE, src="172.18.0.2", uid=0, ipsets=sets)
    assert other.source == ("172.18.0.2", 40000)


def test_ipset_hash_net():
    sets = IPSets()
    nets = sets.create("nets", "hash:net")
    nets.add("10.244.0.0/16")
    nets.add("192.168.1.7")
    assert nets.test("10.244.3.4") and nets.test("192.168.1.7") and not nets.test("192.168.1.8")
    nets.delete("10.244.0.0/16")
    assert not nets.test("10.244.3.4") and nets.members() == ["192.168.1.7/32"]


def test_nth_counts_first_packets_and_nat_skips_established():
    ruleset = Ruleset.parse("*nat\n-A OUTPUT -p tcp -m statistic --mode nth --every 3 --packet 1 "
                            "-j DNAT --to-destination 10.0.0.9\nCOMMIT\n")
    hits = [out(ruleset, ("10.0.0.1", 80)).destination[0] == "10.0.0.9" for _ in range(6)]
    assert hits == [False, True, False, False, True, False]
    established = evaluate(ruleset, NfPacket("tcp", ("10.244.0.5", 1), ("10.0.0.1", 80), POD, uid=0,
                                             ctstate="ESTABLISHED"), "output", rng=random.Random(1))
    assert established.destination == ("10.0.0.1", 80) and established.trail == ()


def test_filter_output_sees_the_first_routes_device():
    # nat OUTPUT moves a local destination onto eth0; filter OUTPUT's -o still sees lo (hook state)
    ruleset = Ruleset.parse("*nat\n-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.9\nCOMMIT\n"
                            "*filter\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -j DROP\nCOMMIT\n")
    outcome = out(ruleset, ("10.244.0.5", 80))
    assert (outcome.verdict, outcome.route, outcome.destination) == ("ACCEPT", "out", ("10.0.0.9", 80))


def test_routing_drops_martians_and_loopback_sources():
    ruleset = Ruleset.parse("*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 127.0.0.1\n"
                            "-A OUTPUT -p tcp -j DNAT --to-destination 10.0.0.9\nCOMMIT\n")
    martian = inbound(ruleset, ("10.244.0.5", 80))
    assert martian.verdict == "DROP" and "route_localnet=0" in martian.trail[-1].rule
    allowed = Interfaces({"eth0": ["10.244.0.5"]}, route_localnet=True)
    assert inbound(ruleset, ("10.244.0.5", 80), ifs=allowed).verdict == "ACCEPT"
    looped = out(ruleset, ("127.0.0.1", 80), src="127.0.0.1")
    assert looped.verdict == "DROP" and "loopback source" in looped.trail[-1].rule


def test_loopback_delivery_walks_input_and_policies_show_in_the_trail():
    ruleset = Ruleset.parse("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 15001 -j ACCEPT\nCOMMIT\n"
                            "*nat\n-A OUTPUT -p tcp -j REDIRECT --to-ports 15002\nCOMMIT\n")
    outcome = out(ruleset, ("10.96.0.1", 443))
    assert outcome.verdict == "DROP" and outcome.route == "local"
    assert str(outcome.trail[-1]) == "[INPUT] filter INPUT: policy DROP"


def test_compiled_chains_follow_every_change_to_the_rule_set():
    """The evaluator caches chains per committed table: iptables and iptables-restore must replace them."""
    ruleset = Ruleset.parse("*nat\n:X - [0:0]\n-A OUTPUT -j X\n-A X -p tcp -j REDIRECT --to-ports 15001\nCOMMIT\n")
    assert out(ruleset, ("10.96.0.1", 443)).destination == ("127.0.0.1", 15001)
    ruleset.execute(["-t", "nat", "-I", "X", "-p", "tcp", "--dport", "443", "-j", "RETURN"])
    returned = out(ruleset, ("10.96.0.1", 443))
    assert returned.destination == ("10.96.0.1", 443)
    assert [(e.chain, e.index, e.rule) for e in returned.trail] == [
        ("OUTPUT", 1, "-A OUTPUT -j X"), ("X", 1, "-A X -p tcp -m tcp --dport 443 -j RETURN")]
    ruleset.restore("*nat\n-F X\nCOMMIT\n", noflush=True)
    emptied = out(ruleset, ("10.96.0.1", 443))  # a jump to an empty chain comes straight back
    assert emptied.destination == ("10.96.0.1", 443)
    assert [(e.chain, e.index) for e in emptied.trail] == [("OUTPUT", 1)]
    ruleset.restore("*filter\n:OUTPUT DROP [0:0]\nCOMMIT\n", noflush=True)
    assert out(ruleset, ("10.96.0.1", 443)).verdict == "DROP"


def test_goto_an_empty_chain_returns_from_the_calling_chain():
    ruleset = Ruleset.parse("*filter\n:A - [0:0]\n:E - [0:0]\n-A OUTPUT -j A\n-A OUTPUT -j DROP\n"
                            "-A A -g E\n-A A -j ACCEPT\nCOMMIT\n")
    outcome = out(ruleset, ("10.96.0.1", 443))
    assert outcome.verdict == "DROP"
    assert [(e.chain, e.index) for e in outcome.trail] == [("OUTPUT", 1), ("A", 1), ("OUTPUT", 2)]
