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

from meshrepro.istio.iptables import ambient_inpod_rules
from meshrepro.net.netfilter import Interfaces, NfPacket, Ruleset, evaluate

TARGET = 20_000


def run(connections: int) -> float:
    ruleset = Ruleset.parse(ambient_inpod_rules((1, 24, 0), dns_capture=True))
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
