"""The kernel as the oracle: random rule sets loaded with the real iptables-restore into two network
namespaces, real TCP connections through them, and the evaluator's prediction for each connection.

Rules are generated so that only a connection's first packet decides its fate (every DROP/REJECT
carries `--ctstate NEW`, DROP policies let RELATED,ESTABLISHED through, marks are set only where all
packets of a connection get them): that is what the evaluator models. Skips without root or tools.
"""

from __future__ import annotations

import random

import netns_oracle
import pytest
from netns_oracle import CLIENT_ADDRESS, CLIENT_DEVICE, SERVER_ADDRESSES, SERVER_DEVICE

from meshrepro.net.netfilter import Interfaces, NfPacket, Ruleset, evaluate

CLIENT_PORTS = [8080, 15001]
SERVER_PORTS = [8080, 8081, 8082]
DIAL_PORTS = [8080, 8081, 8082, 8083, 15001]
UIDS = [0, 1000, 1337]
TIMEOUT = 0.25
CASES = 125
CONNECTIONS_PER_CASE = 8  # 1,000 packet/rule-set cases against the kernel
CLIENT_IFS = Interfaces({"lo": ["127.0.0.1"], CLIENT_DEVICE: [CLIENT_ADDRESS]})
SERVER_IFS = Interfaces({"lo": ["127.0.0.1"], SERVER_DEVICE: list(SERVER_ADDRESSES)})
NEW = "-m conntrack --ctstate NEW"
CIDRS = ["10.250.0.1/32", "10.250.0.2/32", "10.250.0.3/32", "10.250.0.0/24", "127.0.0.1/32", "127.0.0.0/8",
         "10.0.0.0/8", "10.250.0.2/31"]


@pytest.fixture(scope="module")
def pair():
    reason = netns_oracle.unavailable()
    if reason:
        pytest.skip(reason)
    namespaces = netns_oracle.NetnsPair(CLIENT_PORTS, SERVER_PORTS)
    yield namespaces
    namespaces.close()


class Generator:
    """Random rule sets that the kernel accepts, one section per table."""

    def __init__(self, rng: random.Random, side: str) -> None:
        self.rng = rng
        self.side = side  # "client": OUTPUT-side chains; "server": PREROUTING/INPUT chains

    def criteria(self, table: str, chain: str, proto_needed: bool) -> list[str]:
        r = self.rng
        out: list[str] = []
        neg = lambda: "! " if r.random() < 0.3 else ""
        if r.random() < 0.35:
            out.append(f"{neg()}-s {r.choice(CIDRS)}")
        if r.random() < 0.5:
            out.append(f"{neg()}-d {r.choice(CIDRS)}")
        if r.random() < 0.25:
            device = r.choice(["lo", CLIENT_DEVICE if self.side == "client" else SERVER_DEVICE])
            flag = "-i" if chain in ("PREROUTING", "INPUT") else "-o"
            out.append(f"{neg()}{flag} {device}")
        tcp = proto_needed or r.random() < 0.6
        if tcp:
            out.append("-p tcp")
            roll = r.random()
            if roll < 0.3:
                out.append(f"{neg()}--dport {r.choice(DIAL_PORTS)}")
            elif roll < 0.4:
                out.append(f"-m tcp {neg()}--dport 8081:8083")
            elif roll < 0.5:
                out.append(f"-m multiport {neg()}--dports {','.join(map(str, r.sample(DIAL_PORTS, 2)))}")
            elif roll < 0.6 and self.side == "client":
                out.append(f"{neg()}--sport 40000:{r.choice([40100, 45000, 65000])}")
        if self.side == "client" and chain in ("OUTPUT", "POSTROUTING") and r.random() < 0.35:
            kind = r.choice(["uid", "gid"])
            out.append(f"-m owner {neg()}--{kind}-owner {r.choice(UIDS)}")
        if table != "nat" and r.random() < 0.25:
            out.append(f"-m mark {neg()}--mark {r.choice(['0x1', '0x2/0x2', '0x0/0xff'])}")
        if table == "mangle" and r.random() < 0.15:
            out.append(f"-m connmark {neg()}--mark 0x7/0xf")
        if r.random() < 0.2:
            out.append(f"-m addrtype {neg()}--dst-type LOCAL")
        if table == "nat" and r.random() < 0.2:
            out.append(r.choice(["-m statistic --mode nth --every 2 --packet 1",
                                 "-m statistic --mode nth --every 3 --packet 0",
                                 "-m statistic --mode random --probability 1.0",
                                 "-m statistic --mode random --probability 0.0"]))
        if r.random() < 0.1:
            out.append('-m comment --comment "generated rule"')
        return out

    def target(self, table: str, chain: str, user_chains: list[str]) -> tuple[str, bool]:
        """A target allowed here, and whether it needs -p tcp."""
        r = self.rng
        choices = ["ACCEPT", "RETURN"] + [f"-j {c}" for c in user_chains] + [f"-g {c}" for c in user_chains]
        if table in ("raw", "mangle"):
            choices += ["MARK --set-mark 0x1", "MARK --or-mark 0x2", "MARK --set-xmark 0x0/0xff"]
        if table == "mangle":
            choices += ["CONNMARK --set-xmark 0x7/0xf", "CONNMARK --save-mark", "CONNMARK --restore-mark"]
        if table == "filter":
            choices += ["DROP", "REJECT", "REJECT --reject-with tcp-reset",
                        "REJECT --reject-with icmp-host-unreachable"] * 2
        if table == "nat" and chain == "OUTPUT":
            dests = [CLIENT_ADDRESS, *SERVER_ADDRESSES, "127.0.0.1"]
            choices += [f"DNAT --to-destination {r.choice(dests)}:{r.choice(DIAL_PORTS)}",
                        f"DNAT --to-destination {r.choice(dests)}", "REDIRECT",
                        f"REDIRECT --to-ports {r.choice(DIAL_PORTS)}"] * 2
        if table == "nat" and chain == "PREROUTING":
            dests = [*SERVER_ADDRESSES, "127.0.0.1"]  # 127.0.0.1 from outside: a martian, dropped
            choices += [f"DNAT --to-destination {r.choice(dests)}:{r.choice(SERVER_PORTS + [8083])}",
                        f"REDIRECT --to-ports {r.choice(SERVER_PORTS)}", "REDIRECT"] * 2
        choice = r.choice(choices)
        text = choice if choice.startswith("-") else f"-j {choice}"
        needs_tcp = "tcp-reset" in choice or "--to-ports" in choice or "DNAT" in choice and choice.count(":") == 1
        return text, needs_tcp

    def rule(self, table: str, chain: str, user_chains: list[str]) -> str:
        target, needs_tcp = self.target(table, chain, user_chains)
        criteria = self.criteria(table, chain, needs_tcp)
        if target in ("-j DROP",) or target.startswith("-j REJECT"):
            criteria.insert(0, NEW)  # only first packets may be refused (see module docstring)
        if table == "nat" and self.rng.random() < 0.15:
            criteria.append(f"-m conntrack {self.rng.choice(['', '! '])}--ctstate DNAT")
        if chain.startswith("U") and self.rng.random() < 0.2:
            target = "-j RETURN"
        return f"-A {chain} {' '.join(criteria)} {target}"

    def table(self, table: str, builtins: list[str]) -> str:
        lines = [f"*{table}"]
        body: list[str] = []
        for builtin in builtins:
            policy = "DROP" if table == "filter" and self.rng.random() < 0.2 else "ACCEPT"
            lines.append(f":{builtin} {policy} [0:0]")
            if policy == "DROP":
                body.append(f"-A {builtin} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            users = [f"U{builtin[:3]}{n}" for n in range(self.rng.randint(0, 2))]
            lines += [f":{u} - [0:0]" for u in users]
            for _ in range(self.rng.randint(1, 4)):
                body.append(self.rule(table, builtin, users))
            for index, user in enumerate(users):  # user chains only jump forward: no loops
                for _ in range(self.rng.randint(1, 3)):
                    body.append(self.rule(table, user, users[index + 1:]))
        return "\n".join(lines + body + ["COMMIT"]) + "\n"

    def ruleset(self) -> str:
        if self.side == "client":
            chains = {"raw": ["OUTPUT"], "mangle": ["OUTPUT", "POSTROUTING"], "nat": ["OUTPUT", "POSTROUTING"],
                      "filter": ["OUTPUT", "INPUT"]}
        else:
            chains = {"raw": ["PREROUTING"], "mangle": ["PREROUTING", "INPUT"], "nat": ["PREROUTING"],
                      "filter": ["INPUT"]}
        return "".join(self.table(t, [c for c in chains[t] if self.rng.random() < 0.8]) for t in chains)


def predict(client: Ruleset, server: Ruleset, dial: dict, rng: random.Random, trail: list[str]) -> str:
    """The fate of one connection by the evaluator alone; `trail` collects its explanation."""
    ip, port = dial["ip"], dial["port"]
    source = "127.0.0.1" if ip.startswith("127.") else CLIENT_ADDRESS
    out = evaluate(client, NfPacket("tcp", (source, dial["sport"]), (ip, port), CLIENT_IFS, uid=dial["uid"],
                                    gid=dial["gid"]), "output", rng=rng)
    trail += [f"client {entry}" for entry in out.trail]
    if out.verdict != "ACCEPT":
        return "timeout" if out.verdict == "DROP" else str(out.errno)
    if out.route == "local":
        return _deliver("client", CLIENT_PORTS, out.destination)
    assert out.destination[0] in SERVER_ADDRESSES, out
    inbound = evaluate(server, NfPacket("tcp", out.source, out.destination, SERVER_IFS, in_interface=SERVER_DEVICE),
                       "prerouting", rng=rng)
    trail += [f"server {entry}" for entry in inbound.trail]
    if inbound.verdict != "ACCEPT":
        return "timeout" if inbound.verdict == "DROP" else str(inbound.errno)
    if inbound.route == "forward":
        return "timeout"  # a fresh namespace does not forward (net.ipv4.ip_forward=0)
    return _deliver("server", SERVER_PORTS, inbound.destination)


def _deliver(label: str, ports: list[int], destination: tuple[str, int]) -> str:
    return f"connected {label} {destination[0]}:{destination[1]}" if destination[1] in ports else "ECONNREFUSED"


def test_kernel_agrees_with_evaluator(pair):
    rng = random.Random(20240118)
    sport = 40000
    compared, outcomes = 0, set()
    for case in range(CASES):
        texts = {"client": Generator(rng, "client").ruleset(), "server": Generator(rng, "server").ruleset()}
        rulesets = {}
        for side, text in texts.items():
            ns = pair.client if side == "client" else pair.server
            loaded = pair.load(ns, text)
            assert loaded.returncode == 0, f"case {case}: iptables-restore refused:\n{loaded.stderr}\n{text}"
            rulesets[side] = Ruleset.parse(text)
            real = netns_oracle.tables_of(pair.save(ns))
            mine = netns_oracle.tables_of(rulesets[side].save())
            assert mine == real, f"case {case}: {side} render differs from iptables-save\n{text}"
        for _ in range(CONNECTIONS_PER_CASE):
            sport += 1
            dial = {"ip": rng.choice([*SERVER_ADDRESSES, CLIENT_ADDRESS, "127.0.0.1"]),
                    "port": rng.choice(DIAL_PORTS), "sport": sport, "uid": rng.choice(UIDS), "gid": rng.choice(UIDS)}
            trail: list[str] = []
            expected = predict(rulesets["client"], rulesets["server"], dial, random.Random(0), trail)
            actual = pair.connect(**dial, timeout=TIMEOUT)
            assert actual == expected, (f"case {case}: {dial}\n" + "\n".join(trail)
                                        + f"\n{texts['client']}\n{texts['server']}")
            compared += 1
            outcomes.add(actual.split(" ")[0] if actual.startswith("connected") else actual)
    assert compared == CASES * CONNECTIONS_PER_CASE >= 1000
    assert {"connected", "timeout", "ECONNREFUSED", "EHOSTUNREACH"} <= outcomes  # the generator covers all fates
