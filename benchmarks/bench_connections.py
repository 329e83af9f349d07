"""Connections per second through kube-proxy's iptables rules, cluster DNS and ambient redirection
(DESIGN.md §6: at least 20,000 simulated connections per second).

    python benchmarks/bench_connections.py [--count 20000]

A kind cluster with a two-replica nginx Deployment behind a Service; a busybox pod then opens
COUNT connections to the Service's ClusterIP (pod OUTPUT → node PREROUTING: KUBE-SERVICES,
KUBE-SVC, KUBE-SEP with its statistic match → DNAT → the nginx listener), and resolves COUNT names
through the pod's resolver (search path, UDP to 10.96.0.10 through kube-proxy to CoreDNS).
The pod is then enrolled in ambient the way istio-cni 1.24 does it (its in-pod rules, DNS capture
on) and does both again: TCP is REDIRECTed to ztunnel's outbound port 15001 and DNS to 15053 in the
pod's own netns, where stand-ins listen (CoreDNS's answers on 15053; ztunnel itself is not run).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator
from typing import Any

from meshrepro.backends.sim import Machine
from meshrepro.istio.iptables import ambient_inpod_rules
from meshrepro.kube.cluster import ClusterSpec
from meshrepro.kube.dns import ClusterZone, CoreDNSListener
from meshrepro.net.errors import NetError
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

TARGET = 20_000

OBJECTS = [
    ("apps/v1", "deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}}}),
    ("v1", "services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    ("v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"}, "spec": {
        "containers": [{"name": "busybox", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}),
]


def _no_requests(peer: Peer, request: Request) -> Generator[Any, Any, Response]:
    raise AssertionError("the benchmark only opens and closes connections")
    yield  # pragma: no cover - makes this a generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    clock = Clock()
    machine = Machine(clock, Trace(), (1, 29), "1.29")
    cluster = machine.create_cluster(ClusterSpec())
    clock.run_until(5)  # the namespace's default ServiceAccount must exist before pods are admitted
    for api_version, resource, obj in OBJECTS:
        cluster.client.create(api_version, resource, "default", obj)
    clock.run_until(60)
    client_ns = machine.network.namespaces["pod:default/client"]
    service_ip = cluster.client.get("v1", "services", "default", "web")["spec"]["clusterIP"]
    view = client_ns.view(0, 0)

    def connect_all() -> Generator[Any, Any, int]:
        failures = 0
        for _ in range(args.count):
            conn = yield from view.dial(service_ip, 80)
            if isinstance(conn, NetError):
                failures += 1
            else:
                conn.close()
        return failures

    def resolve_all() -> Generator[Any, Any, int]:
        failures = 0
        for _ in range(args.count):
            answer = yield from view.resolve("web")
            failures += isinstance(answer, NetError)
        return failures

    def measure(label: str, work: Callable[[], Generator[Any, Any, int]]) -> None:
        machine.network.connections.clear()
        started = time.perf_counter()
        process = clock.process(work())
        clock.env.run(until=process)
        elapsed = time.perf_counter() - started
        rate = args.count / elapsed
        verdict = "ok" if rate >= TARGET else "BELOW TARGET"
        print(f"{label}: {rate:,.0f}/s ({process.value} failed; target {TARGET:,}/s: {verdict})")

    measure("connections to a ClusterIP through kube-proxy", connect_all)
    measure("DNS lookups of a Service's short name", resolve_all)
    client_ns.ruleset.restore(ambient_inpod_rules((1, 24, 0), dns_capture=True))
    client_ns.listen(15001, HttpListener("ztunnel", _no_requests))
    client_ns.listen(15053, CoreDNSListener(ClusterZone(cluster.store)), protocol="udp")
    measure("connections from an ambient pod, redirected to ztunnel's 15001", connect_all)
    measure("DNS lookups from an ambient pod, captured to ztunnel's 15053", resolve_all)


if __name__ == "__main__":
    main()
