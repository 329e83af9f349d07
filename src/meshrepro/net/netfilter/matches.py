"""Rule criteria: the base ones (-s -d -i -o -p) and the match extensions (-m NAME ...).

Each criterion is parsed once into a `Part`: its canonical `iptables-save` text, the tests a packet
must pass (closures over ints, so evaluation does no parsing), and the hooks the kernel allows it in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from meshrepro.net.netfilter.addr import ip_to_int, parse_cidr
from meshrepro.net.netfilter.ipset import IPSets
from meshrepro.net.netfilter.state import ALL_HOOKS, CT_BIT, CT_STATES, OUT, POST, Walk

Test = Callable[[Walk], bool]
Opt = tuple[str, bool, tuple[str, ...]]  # option name, negated, arguments
PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "sctp": "sctp", "132": "sctp", "all": "all", "0": "all"}
PORT_PROTOCOLS = ("tcp", "udp", "sctp")
ALIASES = {"source-port": "sport", "destination-port": "dport", "source-ports": "sports",
           "destination-ports": "dports"}  # long option spellings iptables accepts


class RuleError(ValueError):
    """A rule iptables would refuse; the parser adds the line number."""


class Part(NamedTuple):
    name: str  # "-s", "-p", or the match module
    text: str  # canonical iptables-save text
    tests: tuple[Test, ...]
    hooks: int = ALL_HOOKS


@dataclass(frozen=True)
class Context:
    table: str
    chain: str
    proto: str | None  # the rule's -p when given without `!` (what port options and NAT ports need)
    ipsets: IPSets | None  # when given, -m set names must exist (iptables refuses unknown sets)


@dataclass(frozen=True)
class Module:
    name: str
    options: Mapping[str, int]  # long option -> number of arguments
    build: Callable[[list[Opt], Context], Part]


def resolve_option(options: Mapping[str, int], option: str) -> str | None:
    """getopt_long semantics: an exact name, or an unambiguous prefix of one (`--to-port`)."""
    if option in options:
        return ALIASES.get(option, option)
    candidates = [name for name in options if name.startswith(option)]
    if len(candidates) > 1:
        raise RuleError(f"option \"--{option}\" is ambiguous")
    if not candidates:
        return None
    return ALIASES.get(candidates[0], candidates[0])


def number(text: str) -> int:
    """strtoul(text, 0): 0x hex, leading-0 octal, decimal."""
    try:
        if text.lower().startswith("0x"):
            return int(text, 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text)
    except ValueError:
        raise RuleError(f"bad value \"{text}\"") from None


def mark_value(text: str) -> tuple[int, int]:
    """`value[/mask]` with the mask defaulting to all ones."""
    value, _, mask = text.partition("/")
    return number(value) & 0xFFFFFFFF, number(mask) & 0xFFFFFFFF if mask else 0xFFFFFFFF


def mark_text(value: int, mask: int) -> str:
    return f"0x{value:x}" if mask == 0xFFFFFFFF else f"0x{value:x}/0x{mask:x}"


def save_string(value: str) -> str:
    """xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with \\ escapes."""
    if value and all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        return value
    escaped = "".join("\\" + c if c in "\"\\'" else c for c in value)
    return f'"{escaped}"'


def _neg(negated: bool) -> str:
    return "! " if negated else ""


def single(opts: list[Opt], module: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    found: dict[str, tuple[bool, tuple[str, ...]]] = {}
    for name, negated, args in opts:
        if name in found:
            raise RuleError(f"{module}: \"--{name}\" may only be specified once")
        found[name] = (negated, args)
    return found


# -- base criteria ---------------------------------------------------------------------------------

def address(flag: str, negated: bool, value: str) -> Part:
    try:
        network, mask, text = parse_cidr(value)
    except ValueError:
        raise RuleError(f"host/network `{value}' not found") from None
    if flag == "-s":
        test: Test = (lambda w: (w.src & mask) != network) if negated else (lambda w: (w.src & mask) == network)
    else:
        test = (lambda w: (w.dst & mask) != network) if negated else (lambda w: (w.dst & mask) == network)
    if not mask:  # 0.0.0.0/0: iptables-save leaves it out; negated it matches nothing
        return Part(flag, f"! {flag} {text}", ((lambda w: False),)) if negated else Part(flag, "", ())
    return Part(flag, f"{_neg(negated)}{flag} {text}", (test,))


def interface(flag: str, negated: bool, name: str) -> Part:
    if not name or len(name) > 15:
        raise RuleError(f"Invalid interface name `{name}'")
    attr = "iif" if flag == "-i" else "oif"
    if name.endswith("+"):  # "eth+" matches every name starting with "eth"
        prefix = name[:-1]
        test: Test = lambda w: getattr(w, attr).startswith(prefix) != negated
    elif attr == "iif":
        test = (lambda w: w.iif != name) if negated else (lambda w: w.iif == name)
    else:
        test = (lambda w: w.oif != name) if negated else (lambda w: w.oif == name)
    return Part(flag, f"{_neg(negated)}{flag} {name}", (test,))


def protocol(negated: bool, value: str) -> Part:
    proto = PROTOCOLS.get(value.lower())
    if proto is None:
        raise RuleError(f"unknown protocol \"{value}\" specified")
    if proto == "all":
        return Part("-p", "! -p all" if negated else "", ((lambda w: False),) if negated else ())
    test: Test = (lambda w: w.proto != proto) if negated else (lambda w: w.proto == proto)
    return Part("-p", f"{_neg(negated)}-p {proto}", (test,))


# -- match extensions --------------------------------------------------------------------------------

def _port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition(":")
    try:
        lo = int(low) if low else 0
        hi = (int(high) if high else 65535) if sep else lo
    except ValueError:
        raise RuleError(f"invalid port/service `{text}' specified") from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535):
        raise RuleError(f"invalid port/service `{text}' specified")
    return (lo, hi) if lo <= hi else (hi, lo)


def _port_test(attr: str, lo: int, hi: int, negated: bool) -> Test:
    if attr == "sport":
        if lo == hi:
            return (lambda w: w.sport != lo) if negated else (lambda w: w.sport == lo)
        return lambda w: (lo <= w.sport <= hi) != negated
    if lo == hi:
        return (lambda w: w.dport != lo) if negated else (lambda w: w.dport == lo)
    return lambda w: (lo <= w.dport <= hi) != negated


def _range_text(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}:{hi}"


def _l4(proto: str) -> Callable[[list[Opt], Context], Part]:
    def build(opts: list[Opt], ctx: Context) -> Part:
        if ctx.proto != proto:
            raise RuleError(f"{proto} match: requires -p {proto}")
        found = single(opts, proto)
        texts, tests = [f"-m {proto}"], []
        for attr in ("sport", "dport"):
            if attr in found:
                negated, (value,) = found[attr]
                lo, hi = _port_range(value)
                if (lo, hi) != (0, 65535) or negated:
                    texts.append(f"{_neg(negated)}--{attr} {_range_text(lo, hi)}")
                    tests.append(_port_test(attr, lo, hi, negated))
        return Part(proto, " ".join(texts), tuple(tests))
    return build


def _multiport(opts: list[Opt], ctx: Context) -> Part:
    if ctx.proto not in PORT_PROTOCOLS:
        raise RuleError("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'")
    if len(opts) != 1:
        raise RuleError("multiport can only have one option")
    name, negated, (value,) = opts[0]
    ranges = [_port_range(item) for item in value.split(",")]
    if sum(1 if lo == hi else 2 for lo, hi in ranges) > 15:
        raise RuleError("too many ports specified")
    singles = frozenset(lo for lo, hi in ranges if lo == hi)
    spans = tuple((lo, hi) for lo, hi in ranges if lo != hi)

    def hit(port: int) -> bool:
        return port in singles or any(lo <= port <= hi for lo, hi in spans)

    if name == "sports":
        test: Test = lambda w: hit(w.sport) != negated
    elif name == "dports":
        test = lambda w: hit(w.dport) != negated
    else:
        test = lambda w: (hit(w.sport) or hit(w.dport)) != negated
    listed = ",".join(_range_text(lo, hi) for lo, hi in ranges)
    return Part("multiport", f"-m multiport {_neg(negated)}--{name} {listed}", (test,))


def _id_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise RuleError(f"\"{text}\" is not a numeric user or group id (names are not resolved here)")
    return int(low), int(high) if high else int(low)


def _owner(opts: list[Opt], ctx: Context) -> Part:
    found = single(opts, "owner")
    texts, checks = ["-m owner"], []
    if "socket-exists" in found:
        texts.append(f"{_neg(found['socket-exists'][0])}--socket-exists")
    for name, attr in (("uid-owner", "uid"), ("gid-owner", "gid")):
        if name in found:
            negated, (value,) = found[name]
            lo, hi = _id_range(value)
            checks.append((attr, lo, hi, negated))
            texts.append(f"{_neg(negated)}--{name} {value}")
    socket_negated = found.get("socket-exists", (False, ()))[0]
    # xt_owner: without a socket the rule matches only when every given option is negated
    no_socket = all(negated for negated, _ in found.values())

    def test(w: Walk) -> bool:
        if w.uid is None:
            return no_socket
        if socket_negated:
            return False
        for attr, lo, hi, negated in checks:
            value = w.uid if attr == "uid" else w.gid
            if (lo <= value <= hi) == negated:  # type: ignore[operator]
                return False
        return True

    return Part("owner", " ".join(texts), (test,), OUT | POST)


def _mark(attr: str) -> Callable[[list[Opt], Context], Part]:
    def build(opts: list[Opt], ctx: Context) -> Part:
        negated, (text,) = single(opts, attr)["mark"]
        value, mask = mark_value(text)
        if attr == "mark":
            test: Test = lambda w: ((w.mark & mask) == value) != negated
        else:
            test = lambda w: ((w.ctmark & mask) == value) != negated
        return Part(attr, f"-m {attr} {_neg(negated)}--mark {mark_text(value, mask)}", (test,))
    return build


def _state_mask(text: str) -> int:
    mask = 0
    for name in text.split(","):
        if name not in CT_BIT:
            raise RuleError(f"Bad ctstate \"{name}\"")
        mask |= CT_BIT[name]
    return mask


def _states(mask: int) -> str:
    return ",".join(name for name in CT_STATES if mask & CT_BIT[name])


def _conntrack(module: str, option: str) -> Callable[[list[Opt], Context], Part]:
    def build(opts: list[Opt], ctx: Context) -> Part:
        negated, (text,) = single(opts, module)[option]
        mask = _state_mask(text)
        if module == "state" and mask & (CT_BIT["SNAT"] | CT_BIT["DNAT"]):
            raise RuleError(f"Bad state \"{text}\"")
        test: Test = lambda w: bool(w.ct & mask) != negated
        return Part(module, f"-m {module} {_neg(negated)}--{option} {_states(mask)}", (test,))
    return build


def _set(opts: list[Opt], ctx: Context) -> Part:
    negated, (name, flags) = single(opts, "set")["match-set"]
    if ctx.ipsets is not None and name not in ctx.ipsets:
        raise RuleError(f"Set {name} doesn't exist.")
    first = flags.split(",")[0]
    if first not in ("src", "dst"):
        raise RuleError(f"You must specify (the comma separated list of) 'src' or 'dst': {flags}")

    def test(w: Walk) -> bool:
        ipset = w.ipsets.get(name)
        hit = ipset is not None and ipset.contains(w.src if first == "src" else w.dst)
        return hit != negated

    return Part("set", f"-m set {_neg(negated)}--match-set {name} {flags}", (test,))


ADDR_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
              "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")
_TYPE_BIT = {name: 1 << index for index, name in enumerate(ADDR_TYPES)}


def _address_type(ip: int, w: Walk) -> int:
    if w.ifs.is_local(ip):
        return _TYPE_BIT["LOCAL"]
    if ip == 0xFFFFFFFF:
        return _TYPE_BIT["BROADCAST"]
    if ip >> 28 == 0xE:
        return _TYPE_BIT["MULTICAST"]
    return _TYPE_BIT["UNICAST"]


def _addrtype(opts: list[Opt], ctx: Context) -> Part:
    found = single(opts, "addrtype")
    texts, tests = ["-m addrtype"], []
    for name in ("src-type", "dst-type"):
        if name not in found:
            continue
        negated, (value,) = found[name]
        mask = 0
        for kind in value.split(","):
            if kind.upper() not in _TYPE_BIT:
                raise RuleError(f"addrtype: invalid type \"{kind}\"")
            mask |= _TYPE_BIT[kind.upper()]
        attr = "src" if name == "src-type" else "dst"
        tests.append(lambda w, attr=attr, mask=mask, negated=negated:
                     bool(_address_type(getattr(w, attr), w) & mask) != negated)
        texts.append(f"{_neg(negated)}--{name} {','.join(t for t in ADDR_TYPES if mask & _TYPE_BIT[t])}")
    if len(texts) == 1:
        raise RuleError("addrtype: you must specify --src-type or --dst-type")
    return Part("addrtype", " ".join(texts), tuple(tests))


def _comment(opts: list[Opt], ctx: Context) -> Part:
    negated, (text,) = single(opts, "comment")["comment"]
    if negated or len(text) > 255:
        raise RuleError("comment: invalid comment")
    return Part("comment", f"-m comment --comment {save_string(text)}", ())


def _statistic(opts: list[Opt], ctx: Context) -> Part:
    found = single(opts, "statistic")
    mode = found.get("mode", (False, ("",)))[1][0]
    negated = any(neg for neg, _ in found.values())
    if mode == "random" and "probability" in found:
        probability = float(found["probability"][1][0])
        if not 0.0 <= probability <= 1.0:
            raise RuleError("statistic: --probability must be between 0 and 1")
        # The kernel keeps lround(p * 2^31) and iptables-save prints it back: 1/3 reads 0.33333333349.
        stored = int(probability * 0x80000000 + 0.5) / 0x80000000
        text = f"-m statistic --mode random {_neg(negated)}--probability {stored:.11f}"
        test: Test = lambda w: (w.rng.random() < stored) != negated
    elif mode == "nth" and "every" in found:
        every = number(found["every"][1][0])
        packet = number(found.get("packet", (False, ("0",)))[1][0])
        if every < 1 or packet >= every:
            raise RuleError("statistic: the --packet p must be 0 <= p <= n-1")
        count = [every - 1 - packet]  # xt_statistic: matches packets p, p+n, p+2n, ... counted from 0

        def test(w: Walk) -> bool:
            count[0] = 0 if count[0] == every - 1 else count[0] + 1
            return (count[0] == 0) != negated

        text = f"-m statistic --mode nth {_neg(negated)}--every {every} --packet {packet}"
    else:
        raise RuleError("statistic: --mode random needs --probability, --mode nth needs --every")
    return Part("statistic", text, (test,))


MODULES: dict[str, Module] = {
    "tcp": Module("tcp", {"sport": 1, "dport": 1, "source-port": 1, "destination-port": 1}, _l4("tcp")),
    "udp": Module("udp", {"sport": 1, "dport": 1, "source-port": 1, "destination-port": 1}, _l4("udp")),
    "multiport": Module("multiport", {"sports": 1, "dports": 1, "ports": 1, "source-ports": 1,
                                      "destination-ports": 1}, _multiport),
    "owner": Module("owner", {"uid-owner": 1, "gid-owner": 1, "socket-exists": 0}, _owner),
    "mark": Module("mark", {"mark": 1}, _mark("mark")),
    "connmark": Module("connmark", {"mark": 1}, _mark("connmark")),
    "conntrack": Module("conntrack", {"ctstate": 1}, _conntrack("conntrack", "ctstate")),
    "state": Module("state", {"state": 1}, _conntrack("state", "state")),
    "set": Module("set", {"match-set": 2}, _set),
    "addrtype": Module("addrtype", {"src-type": 1, "dst-type": 1}, _addrtype),
    "comment": Module("comment", {"comment": 1}, _comment),
    "statistic": Module("statistic", {"mode": 1, "probability": 1, "every": 1, "packet": 1}, _statistic),
}


def resolve_ip(text: str) -> int:
    """An address option value (DNAT/SNAT/TPROXY); RuleError when it is not IPv4."""
    try:
        return ip_to_int(text)
    except ValueError:
        raise RuleError(f"Bad IP address \"{text}\"") from None
