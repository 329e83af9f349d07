"""iptables-restore text in, iptables-save text out, and the inputs iptables itself refuses."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netfilter_samples import (
    AMBIENT_121_COMMANDS,
    AMBIENT_124,
    ISTIO_TPROXY_GOLDEN,
    ISTIO_TPROXY_MANGLE_SAVED,
    KUBE_PROXY,
    SIDECAR,
)

from meshrepro.net.netfilter import IPSets, NetfilterSyntaxError, Ruleset


def test_istio_tproxy_golden_renders_as_iptables_save_did():
    ruleset = Ruleset.parse(ISTIO_TPROXY_GOLDEN)
    assert ruleset.save("mangle") == ISTIO_TPROXY_MANGLE_SAVED
    nat = ruleset.save("nat")
    assert "-A ISTIO_OUTPUT_DNS -d 127.0.0.53/32 -p tcp -m tcp --dport 53 -j REDIRECT --to-ports 15053\n" in nat
    assert "-A ISTIO_OUTPUT_DNS -d 127.0.0.53/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053\n" in nat
    raw = ruleset.save("raw")
    assert "-A ISTIO_OUTPUT_DNS -p udp -m udp --sport 15053 -m owner --uid-owner 1337 -j CT --zone 2\n" in raw


@pytest.mark.parametrize("text", [ISTIO_TPROXY_GOLDEN, SIDECAR, AMBIENT_124, KUBE_PROXY])
def test_save_is_a_fixed_point(text):
    saved = Ruleset.parse(text).save()
    assert Ruleset.parse(saved).save() == saved


def test_kube_proxy_rules_come_back_unchanged():
    assert Ruleset.parse(KUBE_PROXY).save() == KUBE_PROXY


def test_istio_cni_command_form_builds_the_same_tables():
    ruleset = Ruleset()
    for line in AMBIENT_121_COMMANDS.splitlines():
        ruleset.execute(shlex.split(line)[1:])
    assert ruleset.rules("mangle", "ISTIO_PRERT")[2] == (
        "-A ISTIO_PRERT -p tcp -m tcp --dport 15008 -m mark ! --mark 0x3/0xfff "
        "-j TPROXY --on-port 15008 --on-ip 0.0.0.0 --tproxy-mark 0x111/0xfff")
    assert ruleset.rules("nat", "ISTIO_OUTPUT")[-1] == (
        "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x3/0xfff -j REDIRECT --to-ports 15001")


def test_commands_edit_chains():
    ruleset = Ruleset.parse("*filter\n:X - [0:0]\n-A OUTPUT -j X\n-A X -p tcp --dport 1 -j DROP\nCOMMIT\n")
    ruleset.execute(["-I", "X", "1", "-p", "tcp", "--dport", "2", "-j", "ACCEPT"])
    ruleset.execute(["-t", "filter", "-D", "X", "-p", "tcp", "-m", "tcp", "--dport", "1", "-j", "DROP"])
    assert ruleset.rules("filter", "X") == ["-A X -p tcp -m tcp --dport 2 -j ACCEPT"]
    ruleset.execute(["-F", "X"])
    with pytest.raises(NetfilterSyntaxError, match="Too many links"):
        ruleset.execute(["-X", "X"])
    ruleset.execute(["-D", "OUTPUT", "1"])
    ruleset.execute(["-X", "X"])
    ruleset.execute(["-P", "OUTPUT", "DROP"])
    assert ruleset.save() == "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\nCOMMIT\n"


def test_restore_replaces_a_table_unless_noflush():
    ruleset = Ruleset.parse("*nat\n-A OUTPUT -p tcp -j REDIRECT --to-ports 1\nCOMMIT\n")
    ruleset.restore("*nat\n-A OUTPUT -p udp -j REDIRECT --to-ports 2\nCOMMIT\n", noflush=True)
    assert len(ruleset.rules("nat", "OUTPUT")) == 2
    ruleset.restore("*nat\nCOMMIT\n")
    assert ruleset.rules("nat", "OUTPUT") == []


def test_canonical_forms():
    ruleset = Ruleset.parse(
        "*mangle\n"
        "-A OUTPUT -s 10.1.2.3/8,192.168.0.1 -p 6 --sport 5 -j MARK --and-mark 0x4000\n"
        "-A OUTPUT -m addrtype --dst-type LOCAL,UNICAST -m conntrack --ctstate DNAT,NEW -j CONNMARK --save-mark --mask 0xff\n"
        "-A OUTPUT -p tcp -m statistic --mode random --probability 0.5 -m comment --comment 'x' -j LOG --log-level info\n"
        "COMMIT\n")
    assert ruleset.rules("mangle", "OUTPUT") == [
        "-A OUTPUT -s 10.0.0.0/8 -p tcp -m tcp --sport 5 -j MARK --set-xmark 0x0/0xffffbfff",
        "-A OUTPUT -s 192.168.0.1/32 -p tcp -m tcp --sport 5 -j MARK --set-xmark 0x0/0xffffbfff",
        ("-A OUTPUT -m addrtype --dst-type UNICAST,LOCAL -m conntrack --ctstate NEW,DNAT "
         "-j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff"),
        ("-A OUTPUT -p tcp -m statistic --mode random --probability 0.50000000000 -m comment --comment \"\\'x\\'\" "
         "-j LOG --log-level 6"),
    ]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("*filter\n-A OUTPUT -m bogus -j ACCEPT\nCOMMIT\n", 2, "Couldn't load match `bogus'"),
    ("*filter\n-A OUTPUT -j BOGUS\nCOMMIT\n", 2, "Couldn't load target `BOGUS'"),
    ("*filter\n-A OUTPUT -p tcp --frobnicate 1 -j ACCEPT\nCOMMIT\n", 2, "unknown option \"--frobnicate\""),
    ("*filter\n-A OUTPUT --dport 80 -j ACCEPT\nCOMMIT\n", 2, "unknown option \"--dport\""),
    ("*filter\n-A OUTPUT -j ACCEPT --reject-with tcp-reset\nCOMMIT\n", 2, "unknown option \"--reject-with\""),
    ("*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", 2, "Chain 'NOPE' does not exist"),
    ("*filter\n-A OUTPUT -j ACCEPT\n", 3, "COMMIT expected"),
    ("*filter\n-A OUTPUT -p tcp -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", 2, "only valid in the nat table"),
    ("*nat\n-A POSTROUTING -p tcp -j REDIRECT --to-ports 1\nCOMMIT\n", 2, "REDIRECT is not allowed in POSTROUTING"),
    ("*nat\n-A PREROUTING -m owner --uid-owner 1 -j ACCEPT\nCOMMIT\n", 2, "owner match is not allowed"),
    ("*nat\n:X - [0:0]\n-A POSTROUTING -j X\n-A X -p tcp -j DNAT --to-destination 1.1.1.1\nCOMMIT\n", 4,
     "DNAT is not allowed in chain X, which is reached from POSTROUTING"),
    ("*filter\n:A - [0:0]\n:B - [0:0]\n-A OUTPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n", 6, "jumps back"),
    ("*filter\n-A OUTPUT -j REDIRECT --to-ports 1\nCOMMIT\n", 2, "Need TCP, UDP"),
    ("*filter\n-A OUTPUT -m set --match-set missing dst -j DROP\nCOMMIT\n", 2, "Set missing doesn't exist"),
    ("*filter\n-A OUTPUT -m owner --uid-owner nobody -j DROP\nCOMMIT\n", 2, "not a numeric user"),
    ("*filter\n-A OUTPUT -i eth0 -j DROP\nCOMMIT\n", 2, "Can't use -i with OUTPUT"),
    ("*filter\n-A OUTPUT -s example.com -j DROP\nCOMMIT\n", 2, "host/network `example.com' not found"),
    ("*security\nCOMMIT\n", 1, "unable to initialize table 'security'"),
    ("*filter\n-A OUTPUT -m comment --comment \"open -j ACCEPT\nCOMMIT\n", 2, "unterminated"),
])
def test_refused_input_names_the_line(text, line, message):
    with pytest.raises(NetfilterSyntaxError, match=message) as error:
        Ruleset.parse(text, ipsets=IPSets())
    assert error.value.line == line
    assert str(error.value).startswith(f"line {line}: ")


def test_a_refused_restore_changes_nothing():
    ruleset = Ruleset.parse(SIDECAR)
    before = ruleset.save()
    with pytest.raises(NetfilterSyntaxError):
        ruleset.restore("*mangle\n-A OUTPUT -j ACCEPT\nCOMMIT\n*nat\n-A OUTPUT -j NOPE\nCOMMIT\n")
    assert ruleset.save() == before


FRAGMENTS = st.lists(st.sampled_from([
    "-s 10.0.0.0/8", "! -d 127.0.0.1/32", "-o lo", "! -o eth0", "-p tcp --dport 80", "-p udp -m udp ! --sport 1:9",
    "-p tcp -m multiport --dports 53,15008", "-m owner ! --uid-owner 1337", "-m mark --mark 0x539/0xfff",
    "-m connmark ! --mark 0x111", "-m conntrack --ctstate NEW", "-m addrtype ! --dst-type LOCAL",
    "-m comment --comment \"a b\"", "-m statistic --mode nth --every 3 --packet 2",
]), max_size=5)
TARGETS = st.sampled_from(["-j ACCEPT", "-j RETURN", "-j DROP", "-j REJECT --reject-with icmp-host-unreachable",
                           "-j MARK --set-mark 0x10/0xff", "-j CONNMARK --restore-mark", "-j LOG --log-prefix p",
                           "-j X", "-g X", ""])


@settings(max_examples=200, deadline=None)
@given(rules=st.lists(st.tuples(FRAGMENTS, TARGETS), max_size=6))
def test_render_round_trips(rules):
    lines = []
    for fragments, target in rules:
        seen: set[str] = set()
        kept = []
        for fragment in fragments:  # one of each option, one -p per rule
            key = "-p" if "-p " in fragment else fragment.removeprefix("! ").split()[0]
            if key not in seen:
                seen.add(key)
                kept.append(fragment)
        lines.append(f"-A OUTPUT {' '.join(kept)} {target}")
    text = "*filter\n:X - [0:0]\n" + "\n".join(lines) + "\nCOMMIT\n"
    saved = Ruleset.parse(text).save()
    assert Ruleset.parse(saved).save() == saved
    assert saved.count("\n-A OUTPUT") == len(lines)
