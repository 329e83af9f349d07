"""Rule targets (-j/-g): verdicts, chain jumps, NAT rewrites, marks, TPROXY, and no-op bookkeeping.

A target is parsed once into a `Target`: its canonical text, what kind of control flow it is, and
for rewrites an `apply(walk)` closure. NAT targets return the verdict the kernel gives after the
rewrite (ACCEPT, or DROP when there is no address to use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from meshrepro.net.netfilter.addr import int_to_ip
from meshrepro.net.netfilter.matches import (
    PORT_PROTOCOLS,
    Context,
    Opt,
    RuleError,
    mark_value,
    number,
    resolve_ip,
    save_string,
    single,
)
from meshrepro.net.netfilter.state import ALL_HOOKS, CT_BIT, FWD, IN, OUT, POST, PRE, Walk

# control-flow kinds
ACCEPT, DROP, REJECT, RETURN, JUMP, GOTO, CONTINUE, FINAL = range(8)
VERDICT_NAMES = {ACCEPT: "ACCEPT", DROP: "DROP", REJECT: "REJECT"}
LOOPBACK = 0x7F000001


class Target(NamedTuple):
    name: str
    kind: int
    text: str  # canonical, "" for a rule without target
    apply: Callable[[Walk], int | None] | None = None  # FINAL: returns a verdict; CONTINUE: mutates
    chain: str | None = None  # JUMP/GOTO
    reject_with: str | None = None
    table: str | None = None  # the only table the kernel accepts it in
    hooks: int = ALL_HOOKS


@dataclass(frozen=True)
class TargetSpec:
    name: str
    options: Mapping[str, int]
    build: Callable[[list[Opt], Context], Target]


def standard(name: str) -> Target:
    return Target(name, {"ACCEPT": ACCEPT, "DROP": DROP, "RETURN": RETURN}[name], f"-j {name}")


def chain_jump(chain: str, goto: bool) -> Target:
    return Target(chain, GOTO if goto else JUMP, f"-g {chain}" if goto else f"-j {chain}", chain=chain)


NO_TARGET = Target("", CONTINUE, "")

# -- REJECT ---------------------------------------------------------------------------------------------

REJECT_TYPES = {
    "icmp-net-unreachable": "icmp-net-unreachable", "net-unreach": "icmp-net-unreachable",
    "icmp-host-unreachable": "icmp-host-unreachable", "host-unreach": "icmp-host-unreachable",
    "icmp-port-unreachable": "icmp-port-unreachable", "port-unreach": "icmp-port-unreachable",
    "icmp-proto-unreachable": "icmp-proto-unreachable", "proto-unreach": "icmp-proto-unreachable",
    "icmp-net-prohibited": "icmp-net-prohibited", "net-prohib": "icmp-net-prohibited",
    "icmp-host-prohibited": "icmp-host-prohibited", "host-prohib": "icmp-host-prohibited",
    "icmp-admin-prohibited": "icmp-admin-prohibited", "admin-prohib": "icmp-admin-prohibited",
    "tcp-reset": "tcp-reset", "tcp-rst": "tcp-reset",
}
# what connect() returns for each (tcp_v4_err in SYN_SENT: every ICMP unreachable aborts the attempt)
REJECT_ERRNO = {
    "icmp-net-unreachable": "ENETUNREACH", "icmp-host-unreachable": "EHOSTUNREACH",
    "icmp-port-unreachable": "ECONNREFUSED", "icmp-proto-unreachable": "ENOPROTOOPT",
    "icmp-net-prohibited": "ENETUNREACH", "icmp-host-prohibited": "EHOSTUNREACH",
    "icmp-admin-prohibited": "EHOSTUNREACH", "tcp-reset": "ECONNREFUSED",
}


def _reject(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "REJECT")
    kind = REJECT_TYPES.get(found.get("reject-with", (False, ("icmp-port-unreachable",)))[1][0])
    if kind is None:
        raise RuleError(f"unknown reject type \"{found['reject-with'][1][0]}\"")
    if kind == "tcp-reset" and ctx.proto != "tcp":
        raise RuleError("REJECT --reject-with tcp-reset needs -p tcp")
    return Target("REJECT", REJECT, f"-j REJECT --reject-with {kind}", reject_with=kind, table="filter",
                  hooks=IN | FWD | OUT)


# -- NAT --------------------------------------------------------------------------------------------------

def _ports(text: str, ctx: Context) -> tuple[int, int]:
    if ctx.proto not in PORT_PROTOCOLS:
        raise RuleError("Need TCP, UDP, SCTP or DCCP with port specification")
    low, _, high = text.partition("-")
    lo, hi = number(low), number(high) if high else number(low)
    if not (0 < lo <= hi <= 65535):
        raise RuleError(f"Port \"{text}\" not valid")
    return lo, hi


def _pick(lo: int, hi: int, current: int, w: Walk) -> int:
    """The kernel keeps the original port when it lies in the range, else picks one in it."""
    if lo <= current <= hi:
        return current
    return lo if lo == hi else lo + w.rng.randrange(hi - lo + 1)


def _rewrite_destination(w: Walk, ip: int, ports: tuple[int, int] | None) -> None:
    port = w.dport if ports is None else _pick(ports[0], ports[1], w.dport, w)
    if (ip, port) != (w.dst, w.dport):  # conntrack flags DNAT only when the tuple really changed
        w.dst, w.dport = ip, port
        w.ct |= CT_BIT["DNAT"]


def _rewrite_source(w: Walk, ip: int, ports: tuple[int, int] | None) -> None:
    port = w.sport if ports is None else _pick(ports[0], ports[1], w.sport, w)
    if (ip, port) != (w.src, w.sport):
        w.src, w.sport = ip, port
        w.ct |= CT_BIT["SNAT"]


def _endpoint(text: str, ctx: Context) -> tuple[int, tuple[int, int] | None]:
    address, _, port = text.partition(":")
    if "-" in address:
        raise RuleError(f"address ranges are not supported here: \"{text}\"")
    return resolve_ip(address), _ports(port, ctx) if port else None


def _port_suffix(ports: tuple[int, int] | None, separator: str) -> str:
    if ports is None:
        return ""
    return f"{separator}{ports[0]}" if ports[0] == ports[1] else f"{separator}{ports[0]}-{ports[1]}"


def _flags(found: Mapping[str, object], names: tuple[str, ...]) -> str:
    return "".join(f" --{name}" for name in names if name in found)


def _dnat(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "DNAT")
    if "to-destination" not in found:
        raise RuleError("DNAT: option \"--to-destination\" is required")
    ip, ports = _endpoint(found["to-destination"][1][0], ctx)

    def apply(w: Walk) -> int:
        _rewrite_destination(w, ip, ports)
        return ACCEPT

    text = f"-j DNAT --to-destination {int_to_ip(ip)}{_port_suffix(ports, ':')}"
    return Target("DNAT", FINAL, text + _flags(found, ("random", "persistent")), apply, table="nat",
                  hooks=PRE | OUT)


def _redirect(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "REDIRECT")
    ports = _ports(found["to-ports"][1][0], ctx) if "to-ports" in found else None

    def apply(w: Walk) -> int:
        # nf_nat_redirect_ipv4: 127.0.0.1 for locally generated packets, else the incoming
        # device's primary address (no address: the packet is dropped)
        address = LOOPBACK if w.hook == "OUTPUT" else w.ifs.primary(w.iif)
        if address is None:
            return DROP
        _rewrite_destination(w, address, ports)
        return ACCEPT

    text = "-j REDIRECT" + _port_suffix(ports, " --to-ports ") + _flags(found, ("random",))
    return Target("REDIRECT", FINAL, text, apply, table="nat", hooks=PRE | OUT)


def _snat(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "SNAT")
    if "to-source" not in found:
        raise RuleError("SNAT: option \"--to-source\" is required")
    ip, ports = _endpoint(found["to-source"][1][0], ctx)

    def apply(w: Walk) -> int:
        _rewrite_source(w, ip, ports)
        return ACCEPT

    text = f"-j SNAT --to-source {int_to_ip(ip)}{_port_suffix(ports, ':')}"
    return Target("SNAT", FINAL, text + _flags(found, ("random", "random-fully", "persistent")), apply,
                  table="nat", hooks=POST | IN)


def _masquerade(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "MASQUERADE")
    ports = _ports(found["to-ports"][1][0], ctx) if "to-ports" in found else None

    def apply(w: Walk) -> int:
        address = w.ifs.primary(w.oif)  # the outgoing device's address
        if address is None:
            return DROP
        _rewrite_source(w, address, ports)
        return ACCEPT

    text = "-j MASQUERADE" + _port_suffix(ports, " --to-ports ") + _flags(found, ("random", "random-fully"))
    return Target("MASQUERADE", FINAL, text, apply, table="nat", hooks=POST)


# -- marks --------------------------------------------------------------------------------------------------

def _xmark(found: Mapping[str, tuple[bool, tuple[str, ...]]], module: str) -> tuple[int, int]:
    """libxt_MARK/CONNMARK: every form reduces to `mark = (mark & ~mask) ^ value`."""
    forms = [name for name in ("set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark") if name in found]
    if len(forms) != 1:
        raise RuleError(f"{module}: exactly one of --set-xmark/--set-mark/--and-mark/--or-mark/--xor-mark")
    value, mask = mark_value(found[forms[0]][1][0])
    if forms[0] == "set-mark":
        return value, value | mask
    if forms[0] == "and-mark":
        return 0, ~value & 0xFFFFFFFF
    if forms[0] == "or-mark":
        return value, value
    if forms[0] == "xor-mark":
        return value, 0
    return value, mask


_MARK_FORMS = {"set-xmark": 1, "set-mark": 1, "and-mark": 1, "or-mark": 1, "xor-mark": 1}


def _mark_target(opts: list[Opt], ctx: Context) -> Target:
    value, mask = _xmark(single(opts, "MARK"), "MARK")
    keep = ~mask & 0xFFFFFFFF

    def apply(w: Walk) -> None:
        w.mark = (w.mark & keep) ^ value

    return Target("MARK", CONTINUE, f"-j MARK --set-xmark 0x{value:x}/0x{mask:x}", apply)


def _connmark(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "CONNMARK")
    direction = next((d for d in ("save-mark", "restore-mark") if d in found), None)
    if direction is not None:
        default = found["mask"][1][0] if "mask" in found else "0xffffffff"
        nfmask = number(found.get("nfmask", (False, (default,)))[1][0]) & 0xFFFFFFFF
        ctmask = number(found.get("ctmask", (False, (default,)))[1][0]) & 0xFFFFFFFF
        if direction == "save-mark":
            def apply(w: Walk) -> None:
                w.ctmark = (w.ctmark & ~ctmask & 0xFFFFFFFF) ^ (w.mark & nfmask)
        else:
            def apply(w: Walk) -> None:
                w.mark = (w.mark & ~nfmask & 0xFFFFFFFF) ^ (w.ctmark & ctmask)
        text = f"-j CONNMARK --{direction} --nfmask 0x{nfmask:x} --ctmask 0x{ctmask:x}"
        return Target("CONNMARK", CONTINUE, text, apply)
    value, mask = _xmark(found, "CONNMARK")
    keep = ~mask & 0xFFFFFFFF

    def set_ct(w: Walk) -> None:
        w.ctmark = (w.ctmark & keep) ^ value

    return Target("CONNMARK", CONTINUE, f"-j CONNMARK --set-xmark 0x{value:x}/0x{mask:x}", set_ct)


def _tproxy(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "TPROXY")
    if ctx.proto not in ("tcp", "udp"):
        raise RuleError("TPROXY: can be used only in combination with -p tcp or -p udp")
    if "on-port" not in found:
        raise RuleError("TPROXY: option \"--on-port\" is required")
    port = number(found["on-port"][1][0])
    on_ip = resolve_ip(found["on-ip"][1][0]) if "on-ip" in found else 0
    value, mask = mark_value(found["tproxy-mark"][1][0]) if "tproxy-mark" in found else (0, 0)
    keep = ~mask & 0xFFFFFFFF

    def apply(w: Walk) -> int:
        # nf_tproxy_laddr4: --on-ip, else the incoming device's primary address, else the destination.
        # Whether a transparent listener takes it (or the kernel drops it) is the socket layer's call.
        w.tproxy = (on_ip or w.ifs.primary(w.iif) or w.dst, port or w.dport)
        w.mark = (w.mark & keep) ^ value
        return ACCEPT

    text = f"-j TPROXY --on-port {port} --on-ip {int_to_ip(on_ip)} --tproxy-mark 0x{value:x}/0x{mask:x}"
    return Target("TPROXY", FINAL, text, apply, table="mangle", hooks=PRE)


# -- bookkeeping targets: no effect on a first packet's fate beyond conntrack -------------------------------

def _untrack(w: Walk) -> None:
    w.ct = CT_BIT["UNTRACKED"]
    w.tracked = False


def _ct(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "CT")
    if "notrack" in found:
        return Target("CT", CONTINUE, "-j CT --notrack", _untrack, table="raw")
    if "zone" in found:  # zones separate conntrack tables; a first packet is NEW in any zone
        return Target("CT", CONTINUE, f"-j CT --zone {number(found['zone'][1][0])}", None, table="raw")
    raise RuleError("CT: supported options are --notrack and --zone")


def _notrack(opts: list[Opt], ctx: Context) -> Target:
    return Target("NOTRACK", CONTINUE, "-j NOTRACK", _untrack, table="raw")


LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4, "warn": 4,
              "notice": 5, "info": 6, "debug": 7}


def _log(opts: list[Opt], ctx: Context) -> Target:
    found = single(opts, "LOG")
    text = "-j LOG"
    if "log-prefix" in found:
        text += f" --log-prefix {save_string(found['log-prefix'][1][0])}"
    if "log-level" in found:
        raw = found["log-level"][1][0]
        level = LOG_LEVELS[raw] if raw in LOG_LEVELS else number(raw)
        if level != 4:  # iptables-save omits the default (warning)
            text += f" --log-level {level}"
    return Target("LOG", CONTINUE, text)


TARGETS: dict[str, TargetSpec] = {
    "REJECT": TargetSpec("REJECT", {"reject-with": 1}, _reject),
    "DNAT": TargetSpec("DNAT", {"to-destination": 1, "random": 0, "persistent": 0}, _dnat),
    "REDIRECT": TargetSpec("REDIRECT", {"to-ports": 1, "random": 0}, _redirect),
    "SNAT": TargetSpec("SNAT", {"to-source": 1, "random": 0, "random-fully": 0, "persistent": 0}, _snat),
    "MASQUERADE": TargetSpec("MASQUERADE", {"to-ports": 1, "random": 0, "random-fully": 0}, _masquerade),
    "MARK": TargetSpec("MARK", _MARK_FORMS, _mark_target),
    "CONNMARK": TargetSpec("CONNMARK", {**_MARK_FORMS, "save-mark": 0, "restore-mark": 0, "nfmask": 1,
                                        "ctmask": 1, "mask": 1}, _connmark),
    "TPROXY": TargetSpec("TPROXY", {"on-port": 1, "on-ip": 1, "tproxy-mark": 1}, _tproxy),
    "CT": TargetSpec("CT", {"notrack": 0, "zone": 1}, _ct),
    "NOTRACK": TargetSpec("NOTRACK", {}, _notrack),
    "LOG": TargetSpec("LOG", {"log-prefix": 1, "log-level": 1}, _log),
}
