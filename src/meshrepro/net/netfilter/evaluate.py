"""The first packet of a connection through the netfilter hooks, in kernel order.

Locally generated:  raw, mangle, nat, filter OUTPUT -> mangle, nat POSTROUTING, and when the route is
                    local (lo) the packet comes back in: raw, mangle PREROUTING -> mangle, filter INPUT.
Arriving:           raw, mangle, nat PREROUTING -> routing -> mangle, filter, nat INPUT (local) or
                    mangle, filter FORWARD -> mangle, nat POSTROUTING (forwarded).
nat chains see only a connection's first packet (conntrack NEW); later packets reuse its binding,
which is also why the looped-back half of a local connection skips nat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from meshrepro.net.netfilter.addr import Interfaces, int_to_ip, ip_to_int, is_loopback
from meshrepro.net.netfilter.ipset import IPSets
from meshrepro.net.netfilter.model import Chain
from meshrepro.net.netfilter.ruleset import Ruleset
from meshrepro.net.netfilter.state import CT_BIT, Walk
from meshrepro.net.netfilter.targets import (
    ACCEPT,
    CONTINUE,
    DROP,
    FINAL,
    GOTO,
    JUMP,
    REJECT,
    REJECT_ERRNO,
    RETURN,
    VERDICT_NAMES,
)

Address = tuple[str, int]
HookPath = Literal["output", "prerouting"]
Stage = tuple[str, str]  # (table, built-in chain)

OUTPUT: tuple[Stage, ...] = (("raw", "OUTPUT"), ("mangle", "OUTPUT"), ("nat", "OUTPUT"), ("filter", "OUTPUT"))
POSTROUTING: tuple[Stage, ...] = (("mangle", "POSTROUTING"), ("nat", "POSTROUTING"))
PREROUTING: tuple[Stage, ...] = (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"))
INPUT: tuple[Stage, ...] = (("mangle", "INPUT"), ("filter", "INPUT"), ("nat", "INPUT"))
FORWARD: tuple[Stage, ...] = (("mangle", "FORWARD"), ("filter", "FORWARD"), *POSTROUTING)
_NO_IPSETS = IPSets()


@dataclass(frozen=True)
class NfPacket:
    """The first packet of a connection as netfilter sees it."""

    protocol: str  # tcp | udp | icmp
    source: Address
    destination: Address
    interfaces: Interfaces  # of the namespace whose rules run
    in_interface: str = ""  # arriving packets: the device (default: the namespace's default device)
    out_interface: str = ""  # local packets: the route's device (default: lo when local, else default)
    uid: int | None = None  # owner of the sending socket (output path only)
    gid: int | None = None
    mark: int = 0
    connmark: int = 0
    ctstate: str = "NEW"  # NEW | ESTABLISHED | RELATED | INVALID | UNTRACKED


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One step that decided something: a rule that matched, or a chain policy / routing drop (index 0)."""

    hook: str
    table: str
    chain: str
    index: int  # 1-based, as `iptables -L --line-numbers` counts
    rule: str

    def __str__(self) -> str:
        where = f"{self.table} {self.chain} #{self.index}" if self.index else f"{self.table} {self.chain}".strip()
        return f"[{self.hook}] {where}: {self.rule}"


@dataclass(frozen=True)
class Outcome:
    verdict: Literal["ACCEPT", "DROP", "REJECT"]
    source: Address  # after SNAT/MASQUERADE
    destination: Address  # after DNAT/REDIRECT (TPROXY leaves it alone; see `tproxy`)
    route: Literal["local", "forward", "out"]  # delivered in this namespace, forwarded, or sent out
    mark: int
    connmark: int
    tproxy: Address | None  # TPROXY: the listener address/port the packet is handed to
    reject_with: str | None
    trail: tuple[TrailEntry, ...]

    @property
    def errno(self) -> str | None:
        """What the client's connect() fails with (REJECT) - ETIMEDOUT is the caller's for DROP."""
        return REJECT_ERRNO[self.reject_with] if self.reject_with else None


def evaluate(ruleset: Ruleset, packet: NfPacket, hook_path: HookPath, *, rng: random.Random,
             ipsets: IPSets | None = None) -> Outcome:
    ifs = packet.interfaces
    src, dst = ip_to_int(packet.source[0]), ip_to_int(packet.destination[0])
    ct = CT_BIT[packet.ctstate]
    route: Literal["local", "forward", "out"]
    if hook_path == "output":
        w = Walk(packet.protocol, src, packet.source[1], dst, packet.destination[1], "",
                 packet.out_interface or ifs.route(dst), packet.uid, packet.gid, packet.mark, packet.connmark,
                 ct, ifs, rng, ipsets or _NO_IPSETS)
        verdict, route = _output(ruleset, w, dst)
    else:
        w = Walk(packet.protocol, src, packet.source[1], dst, packet.destination[1],
                 packet.in_interface or ifs.default_device, "", None, None, packet.mark, packet.connmark,
                 ct, ifs, rng, ipsets or _NO_IPSETS)
        verdict, route = _prerouting(ruleset, w)
    return Outcome(
        verdict=VERDICT_NAMES[verdict],  # type: ignore[arg-type]
        source=(int_to_ip(w.src), w.sport), destination=(int_to_ip(w.dst), w.dport), route=route,
        mark=w.mark, connmark=w.ctmark,
        tproxy=(int_to_ip(w.tproxy[0]), w.tproxy[1]) if w.tproxy else None,
        reject_with=w.reject_with if verdict == REJECT else None,
        trail=tuple(TrailEntry(*entry) for entry in w.trail),
    )


def _output(ruleset: Ruleset, w: Walk, dst: int) -> tuple[int, Literal["local", "out"]]:
    verdict = _stages(ruleset, w, OUTPUT[:3])
    device = w.oif
    if verdict == ACCEPT and w.dst != dst:
        device = w.ifs.route(w.dst)  # nat OUTPUT changed the destination: ip_route_me_harder routes again
        if is_loopback(w.src) and device != "lo":
            reason = (f"no route from {int_to_ip(w.src)} to {int_to_ip(w.dst)} via {device}: "
                      "a loopback source cannot leave lo (dropped)")
            w.trail.append(("OUTPUT", "", "", 0, reason))
            return DROP, "out"
    if verdict == ACCEPT:  # the rest of the OUTPUT hook still sees the device of the first route (-o)
        verdict = _stages(ruleset, w, OUTPUT[3:])
    w.oif = device
    if verdict == ACCEPT:
        verdict = _stages(ruleset, w, POSTROUTING)
    if device != "lo":
        return verdict, "out"
    if verdict == ACCEPT:  # loopback: the same packet enters this namespace again through lo
        w.iif, w.oif = "lo", ""
        verdict = _stages(ruleset, w, (PREROUTING[0], PREROUTING[1], *INPUT), nat=False)
    return verdict, "local"


def _prerouting(ruleset: Ruleset, w: Walk) -> tuple[int, Literal["local", "forward"]]:
    verdict = _stages(ruleset, w, PREROUTING)
    if verdict != ACCEPT:
        return verdict, "local" if w.ifs.is_local(w.dst) else "forward"
    if is_loopback(w.dst) and w.iif != "lo" and not w.ifs.route_localnet:
        reason = f"martian destination {int_to_ip(w.dst)} arriving on {w.iif}: dropped by routing (route_localnet=0)"
        w.trail.append(("PREROUTING", "", "", 0, reason))
        return DROP, "local"
    if w.tproxy is not None or w.ifs.is_local(w.dst):  # TPROXY relies on its fwmark route to lo
        return _stages(ruleset, w, INPUT), "local"
    w.oif = w.ifs.route(w.dst)
    return _stages(ruleset, w, FORWARD), "forward"


def _stages(ruleset: Ruleset, w: Walk, stages: tuple[Stage, ...], nat: bool = True) -> int:
    tables = ruleset.tables
    for table_name, chain_name in stages:
        table = tables.get(table_name)
        if table is None:
            continue
        if table_name == "nat" and not (nat and w.tracked and w.ct & CT_BIT["NEW"]):
            continue
        chain = table.chains[chain_name]
        if not chain.rules and chain.policy == "ACCEPT":
            continue
        w.hook = chain_name
        verdict = _traverse(table.name, table.chains, chain_name, w)
        if verdict != ACCEPT:
            return verdict
    return ACCEPT


def _traverse(table: str, chains: dict[str, Chain], builtin: str, w: Walk) -> int:
    """One table's built-in chain, with jumps (-j), gotos (-g) and returns, as ipt_do_table runs it."""
    chain = chains[builtin]
    rules = chain.rules
    i = 0
    stack: list[tuple[Chain, int]] = []
    while True:
        if i < len(rules):
            rule = rules[i]
            i += 1
            for check in rule.checks:
                if not check(w):
                    break
            else:
                w.trail.append((w.hook, table, chain.name, i, rule.display(chain.name)))
                target = rule.target
                kind = target.kind
                if kind == CONTINUE:
                    if target.apply is not None:
                        target.apply(w)
                elif kind == JUMP or kind == GOTO:
                    if kind == JUMP:
                        stack.append((chain, i))
                    chain = chains[target.chain]  # type: ignore[index]  # jumps always name a chain
                    rules, i = chain.rules, 0
                elif kind == RETURN:
                    if not stack:
                        break
                    chain, i = stack.pop()
                    rules = chain.rules
                elif kind == FINAL:
                    return target.apply(w)  # type: ignore[misc,return-value]
                else:
                    if kind == REJECT:
                        w.reject_with = target.reject_with
                    return kind
            continue
        if not stack:  # fell off the end of the built-in chain
            break
        chain, i = stack.pop()
        rules = chain.rules
    policy = chains[builtin].policy
    if policy == "ACCEPT":
        return ACCEPT
    w.trail.append((w.hook, table, builtin, 0, f"policy {policy}"))
    return DROP
