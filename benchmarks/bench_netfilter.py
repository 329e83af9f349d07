"""Connections per second through ambient in-pod redirection (target: >= 20,000, DESIGN.md section 6).

    python benchmarks/bench_netfilter.py [--connections N]

Each connection is one evaluation of its first packet: outbound from an app container to a
service (REDIRECTed to ztunnel's 15001, then back in through lo), and inbound to the pod
(REDIRECTed to 15006), through the istio 1.24 in-pod rule set with DNS capture on (about 20 rules).
"""

from __future__ import annotations

import argparse
import random
import time

from meshrepro.net.netfilter import Interfaces, NfPacket, Ruleset, evaluate

TARGET = 20_000
AMBIENT_RULES = """\
*mangle
:ISTIO_PRERT - [0:0]
:ISTIO_OUTPUT - [0:0]
-A PREROUTING -j ISTIO_PRERT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
COMMIT
*nat
:ISTIO_PRERT - [0:0]
:ISTIO_OUTPUT - [0:0]
-A OUTPUT -j ISTIO_OUTPUT
-A PREROUTING -j ISTIO_PRERT
-A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT
-A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT
-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark 0x539/0xfff -m udp --dport 53 -j REDIRECT --to-port 15053
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp --dport 53 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15053
-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
COMMIT
*raw
:ISTIO_PRERT - [0:0]
:ISTIO_OUTPUT - [0:0]
-A PREROUTING -j ISTIO_PRERT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -p udp -m mark --mark 0x539/0xfff -m udp --dport 53 -j CT --zone 1
-A ISTIO_PRERT -p udp -m mark ! --mark 0x539/0xfff -m udp --sport 53 -j CT --zone 1
COMMIT
"""


def run(connections: int) -> float:
    ruleset = Ruleset.parse(AMBIENT_RULES)
    pod = Interfaces.pod(["10.244.0.5"])
    rng = random.Random(1)
    packets = [
        (NfPacket("tcp", ("10.244.0.5", 40000 + i % 20000), (f"10.96.0.{1 + i % 200}", 443), pod, uid=1000, gid=1000),
         "output") if i % 2 == 0 else
        (NfPacket("tcp", (f"10.244.1.{1 + i % 200}", 40000), ("10.244.0.5", 8080), pod, in_interface="eth0"),
         "prerouting")
        for i in range(connections)
    ]
    started = time.perf_counter()
    for packet, path in packets:
        evaluate(ruleset, packet, path, rng=rng)  # type: ignore[arg-type]
    return connections / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100_000)
    args = parser.parse_args()
    best = max(run(args.connections) for _ in range(3))
    verdict = "ok" if best >= TARGET else "BELOW TARGET"
    print(f"netfilter ambient in-pod: {best:,.0f} connections/s (target {TARGET:,}) {verdict}")


if __name__ == "__main__":
    main()
