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
from typing import Literal, NamedTuple

from meshrepro.net.netfilter.addr import Interfaces, int_to_ip, ip_to_int, is_loopback
from meshrepro.net.netfilter.ipset import IPSets
from meshrepro.net.netfilter.model import Chain, Matched, TrailEntry
from meshrepro.net.netfilter.ruleset import Ruleset, Stage
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

OUTPUT: tuple[Stage, ...] = (("raw", "OUTPUT"), ("mangle", "OUTPUT"), ("nat", "OUTPUT"), ("filter", "OUTPUT"))
POSTROUTING: tuple[Stage, ...] = (("mangle", "POSTROUTING"), ("nat", "POSTROUTING"))
PREROUTING: tuple[Stage, ...] = (("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("nat", "PREROUTING"))
INPUT: tuple[Stage, ...] = (("mangle", "INPUT"), ("filter", "INPUT"), ("nat", "INPUT"))
FORWARD: tuple[Stage, ...] = (("mangle", "FORWARD"), ("filter", "FORWARD"), *POSTROUTING)
OUTPUT_NAT, OUTPUT_FILTER = OUTPUT[:3], OUTPUT[3:]  # routing runs again between them when nat moved the packet
LOOPED_BACK: tuple[Stage, ...] = (PREROUTING[0], PREROUTING[1], *INPUT)  # a local packet re-entering through lo
_NO_IPSETS = IPSets()
_NEW = CT_BIT["NEW"]


class NfPacket(NamedTuple):
    """The first packet of a connection as netfilter sees it (a NamedTuple: immutable and cheap to build,
    the connection walk makes one per namespace it crosses)."""

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


class Outcome(NamedTuple):
    verdict: Literal["ACCEPT", "DROP", "REJECT"]
    source: Address  # after SNAT/MASQUERADE
    destination: Address  # after DNAT/REDIRECT (TPROXY leaves it alone; see `tproxy`)
    route: Literal["local", "forward", "out"]  # delivered in this namespace, forwarded, or sent out
    mark: int
    connmark: int
    tproxy: Address | None  # TPROXY: the listener address/port the packet is handed to
    reject_with: str | None
    matched: tuple[Matched, ...]  # what `trail` reads, as plain tuples

    @property
    def trail(self) -> tuple[TrailEntry, ...]:
        """The rules that matched, in order, and the policy or routing step that dropped the packet."""
        return tuple(TrailEntry(*entry) for entry in self.matched)

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
        VERDICT_NAMES[verdict],  # type: ignore[arg-type]
        _address(packet.source, src, w.src, w.sport), _address(packet.destination, dst, w.dst, w.dport), route,
        w.mark, w.ctmark, (int_to_ip(w.tproxy[0]), w.tproxy[1]) if w.tproxy else None,
        w.reject_with if verdict == REJECT else None, tuple(w.trail),
    )


def _address(given: Address, ip: int, now_ip: int, now_port: int) -> Address:
    """The packet's address after the walk; the caller's own tuple when NAT left it alone (most packets)."""
    return given if ip == now_ip and given[1] == now_port else (int_to_ip(now_ip), now_port)


def _output(ruleset: Ruleset, w: Walk, dst: int) -> tuple[int, Literal["local", "out"]]:
    verdict = _stages(ruleset, w, OUTPUT_NAT)
    device = w.oif
    if verdict == ACCEPT and w.dst != dst:
        device = w.ifs.route(w.dst)  # nat OUTPUT changed the destination: ip_route_me_harder routes again
        if is_loopback(w.src) and device != "lo":
            reason = (f"no route from {int_to_ip(w.src)} to {int_to_ip(w.dst)} via {device}: "
                      "a loopback source cannot leave lo (dropped)")
            w.trail.append(("OUTPUT", "", "", 0, reason))
            return DROP, "out"
    if verdict == ACCEPT:  # the rest of the OUTPUT hook still sees the device of the first route (-o)
        verdict = _stages(ruleset, w, OUTPUT_FILTER)
    w.oif = device
    if verdict == ACCEPT:
        verdict = _stages(ruleset, w, POSTROUTING)
    if device != "lo":
        return verdict, "out"
    if verdict == ACCEPT:  # loopback: the same packet enters this namespace again through lo
        w.iif, w.oif = "lo", ""
        verdict = _stages(ruleset, w, LOOPED_BACK, nat=False)
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
    for table, chains, chain in ruleset.plan(stages):
        if table == "nat" and not (nat and w.tracked and w.ct & _NEW):
            continue
        w.hook = chain.name
        verdict = _traverse(table, chains, chain, w)
        if verdict != ACCEPT:
            return verdict
    return ACCEPT


def _traverse(table: str, chains: dict[str, Chain], builtin: Chain, w: Walk) -> int:
    """One table's built-in chain, with jumps (-j), gotos (-g) and returns, as ipt_do_table runs it."""
    hook, trail = w.hook, w.trail
    stack: list[tuple[Chain, int]] = []
    chain, i = builtin, 0
    while True:
        rules = chain.compiled(hook, table)
        jump: Chain | None = None
        while i < len(rules):
            checks, kind, target, entry = rules[i]
            i += 1
            for check in checks:
                if not check(w):
                    break
            else:
                trail.append(entry)
                if kind == CONTINUE:
                    if target.apply is not None:
                        target.apply(w)
                    continue
                if kind == FINAL:
                    return target.apply(w)  # type: ignore[misc,return-value]
                if kind == JUMP or kind == GOTO:
                    callee = chains[target.chain]  # type: ignore[index]  # jumps always name a chain
                    if kind == JUMP:
                        if not callee.rules:  # an empty chain returns at once (kube-proxy leaves several)
                            continue
                        stack.append((chain, i))
                    jump = callee
                elif kind != RETURN:  # a verdict
                    if kind == REJECT:
                        w.reject_with = target.reject_with
                    return kind
                break  # leave this chain
        if jump is not None:
            chain, i = jump, 0
        elif stack:  # RETURN, or fell off the end of a user chain
            chain, i = stack.pop()
        else:  # ... of the built-in chain
            break
    if builtin.policy == "ACCEPT":
        return ACCEPT
    trail.append((hook, table, builtin.name, 0, f"policy {builtin.policy}"))
    return DROP
