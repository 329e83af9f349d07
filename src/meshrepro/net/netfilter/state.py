"""The mutable state of one packet during its walk: what matches read and targets rewrite."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from meshrepro.net.netfilter.addr import Interfaces
from meshrepro.net.netfilter.ipset import IPSets

if TYPE_CHECKING:  # model imports the matches, which import this module
    from meshrepro.net.netfilter.model import Matched

# conntrack states as bits of one mask (names and print order as libxt_conntrack prints them)
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")
CT_BIT = {name: 1 << index for index, name in enumerate(CT_STATES)}

# netfilter hooks as bits (kernel NF_INET_* order)
PRE, IN, FWD, OUT, POST = 1, 2, 4, 8, 16
ALL_HOOKS = PRE | IN | FWD | OUT | POST
HOOK_BIT = {"PREROUTING": PRE, "INPUT": IN, "FORWARD": FWD, "OUTPUT": OUT, "POSTROUTING": POST}


class Walk:
    """One first packet: addresses as ints, devices, socket owner, marks, conntrack state."""

    __slots__ = (
        "ct",
        "ctmark",
        "dport",
        "dst",
        "gid",
        "hook",
        "ifs",
        "iif",
        "ipsets",
        "mark",
        "oif",
        "proto",
        "reject_with",
        "rng",
        "sport",
        "src",
        "tproxy",
        "tracked",
        "trail",
        "uid",
    )

    def __init__(self, proto: str, src: int, sport: int, dst: int, dport: int, iif: str, oif: str,
                 uid: int | None, gid: int | None, mark: int, ctmark: int, ct: int, ifs: Interfaces,
                 rng: random.Random, ipsets: IPSets) -> None:
        self.proto = proto
        self.src = src
        self.sport = sport
        self.dst = dst
        self.dport = dport
        self.iif = iif
        self.oif = oif
        self.uid = uid  # None: no socket (forwarded or received packets)
        self.gid = gid
        self.mark = mark
        self.ctmark = ctmark
        self.ct = ct  # CT_BIT mask
        self.tracked = not ct & CT_BIT["UNTRACKED"]
        self.hook = ""
        self.ifs = ifs
        self.rng = rng
        self.ipsets = ipsets
        self.tproxy: tuple[int, int] | None = None
        self.reject_with: str | None = None
        self.trail: list[Matched] = []
