"""ztunnel's proxying decisions on a small network: source lookup (and its wait), HBONE, passthrough, policies."""

from __future__ import annotations

from typing import Any

from meshrepro.istio.iptables import ambient_inpod_rules
from meshrepro.istio.istiod import STATIC_STRICT_POLICY, MeshService, Policy, Snapshot
from meshrepro.istio.workload import Workload
from meshrepro.istio.ztunnel import PodInfo, Ztunnel
from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import NetNamespace, Network, Wait
from meshrepro.runtime.process import Buffer
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

CLIENT_IP, SERVER_IP, OUTSIDE_IP = "10.244.0.7", "10.244.0.9", "10.244.0.20"


def hello(peer: Peer, request: Request) -> Wait:
    return Response(200, {"X-Peer": peer.address[0]}, b"hello")
    yield  # pragma: no cover


class Mesh:
    """Two ambient pods and one outside pod on one node, a ztunnel serving both ambient pods in-pod."""

    def __init__(self, version: tuple[int, int, int]) -> None:
        self.clock = Clock(seed=2)
        self.network = Network(self.clock)
        self.log = Buffer()
        ztunnel_ns = self.network.add_namespace("pod:istio-system/ztunnel", ["10.244.0.2"], "pod ztunnel")
        self.ztunnel = Ztunnel(self.clock, self.network, Trace(), version, "node", "ztunnel-abcde", ztunnel_ns,
                               self.log)
        self.ztunnel.start()
        self.client = self._pod("client", CLIENT_IP)
        self.server = self._pod("server", SERVER_IP)
        self.server.listen(80, HttpListener("server app", hello))
        outside = self.network.add_namespace("pod:test/outside", [OUTSIDE_IP], "pod test/outside")
        outside.listen(80, HttpListener("outside app", hello))
        self.outside = outside

    def _pod(self, name: str, ip: str) -> NetNamespace:
        ns = self.network.add_namespace(f"pod:default/{name}", [ip], f"pod default/{name}")
        if self.ztunnel.inpod:
            ns.ruleset.restore(ambient_inpod_rules(self.ztunnel.version, dns_capture=False))
            self.ztunnel.add_pod(PodInfo(f"uid-{name}", name, "default", "sa"), ns)
        return ns

    def workload(self, name: str, ip: str, hbone: bool = True) -> Workload:
        return Workload(f"Kubernetes//Pod/default/{name}", name, "default", "node", (ip,), "sa", status="HEALTHY",
                        tunnel_protocol="HBONE" if hbone else "TCP",
                        services=("default/server.default.svc.cluster.local",) if name == "server" else (),
                        service_ports=(("default/server.default.svc.cluster.local", 8080, 80),)
                        if name == "server" else ())

    def push(self, *workloads: Workload, policies: dict[str, tuple[Policy, ...]] | None = None) -> None:
        service = MeshService("default", "server", "server.default.svc.cluster.local", ("10.96.0.50",), ((8080, 80),))
        self.ztunnel.on_push(Snapshot(1, tuple(workloads), (service,), policies or {}))

    def get(self, source: NetNamespace, ip: str, port: int, at: float = 0.0) -> dict[str, Any]:
        result: dict[str, Any] = {}

        def client() -> Wait:
            yield self.clock.timeout(at)
            conn = yield from self.network.dial(source, ip, port)
            if isinstance(conn, NetError):
                result["error"] = conn.kind
                return
            start = self.clock.now
            response = yield from conn.exchange(Request("GET", "/"))
            result["waited"] = self.clock.now - start
            result["response"] = response
            conn.close()

        self.clock.env.run(until=self.clock.env.process(client()))
        return result


def test_unknown_source_is_accepted_then_dropped_before_the_wait_existed() -> None:
    mesh = Mesh((1, 21, 0))
    mesh.push(mesh.workload("server", SERVER_IP))
    result = mesh.get(mesh.client, OUTSIDE_IP, 80)
    assert isinstance(result["response"], NetError) and result["response"].kind is NetErrorKind.EOF
    assert f"err=unknown source: {CLIENT_IP}" in mesh.log.getvalue()


def test_the_wait_lets_a_late_push_through() -> None:
    mesh = Mesh((1, 22, 2))
    mesh.clock.env.process(_later(mesh, 2.0, lambda: mesh.push(mesh.workload("client", CLIENT_IP))))
    result = mesh.get(mesh.client, OUTSIDE_IP, 80)
    assert isinstance(result["response"], Response) and result["response"].status == 200
    assert 1.99 < result["waited"] < 2.1


def test_the_wait_gives_up_after_five_seconds_with_a_reset() -> None:
    mesh = Mesh((1, 23, 0))
    result = mesh.get(mesh.client, OUTSIDE_IP, 80)
    assert isinstance(result["response"], NetError) and result["response"].kind is NetErrorKind.RESET
    assert 4.99 < result["waited"] < 5.01
    log = mesh.log.getvalue()
    assert "timed out waiting for workload from xds" in log
    assert f'error="unknown source: {CLIENT_IP}"' in log


def test_from_124_the_source_is_found_by_its_workload_info_not_its_ip() -> None:
    mesh = Mesh((1, 24, 0))
    moved = Workload("Kubernetes//Pod/default/client", "client", "default", "node", ("10.244.0.99",), "sa")
    mesh.push(moved)
    result = mesh.get(mesh.client, OUTSIDE_IP, 80)
    assert isinstance(result["response"], Response)
    assert "failed to fetch information" not in mesh.log.getvalue()


def test_service_vip_goes_over_hbone_to_the_target_port() -> None:
    mesh = Mesh((1, 24, 0))
    mesh.push(mesh.workload("client", CLIENT_IP), mesh.workload("server", SERVER_IP))
    result = mesh.get(mesh.client, "10.96.0.50", 8080)
    assert isinstance(result["response"], Response) and result["response"].status == 200
    # ztunnel connects to the app with the original source address
    assert result["response"].headers["X-Peer"] == CLIENT_IP
    log = mesh.log.getvalue()
    assert "dst.addr=10.244.0.9:15008 dst.hbone_addr=10.244.0.9:80" in log
    assert 'direction="inbound"' in log and 'direction="outbound"' in log


def test_unknown_destination_is_passed_through_in_plaintext() -> None:
    mesh = Mesh((1, 22, 3))
    mesh.push(mesh.workload("client", CLIENT_IP))
    result = mesh.get(mesh.client, OUTSIDE_IP, 80)
    assert isinstance(result["response"], Response)
    assert f"dst.addr={OUTSIDE_IP}:80 direction=\"outbound\"" in mesh.log.getvalue()


def test_strict_rejects_plaintext_but_not_hbone() -> None:
    mesh = Mesh((1, 24, 0))
    server = mesh.workload("server", SERVER_IP)
    strict = {server.uid: (Policy("istio-system", STATIC_STRICT_POLICY),)}
    mesh.push(mesh.workload("client", CLIENT_IP), server, policies=strict)
    plaintext = mesh.get(mesh.outside, SERVER_IP, 80)
    assert isinstance(plaintext["response"], NetError) and plaintext["response"].kind is NetErrorKind.RESET
    assert "explicitly denied by: istio-system/istio_converted_static_strict" in mesh.log.getvalue()
    meshed = mesh.get(mesh.client, SERVER_IP, 80, at=1.0)
    assert isinstance(meshed["response"], Response)


def test_permissive_by_default_logs_the_inbound_plaintext() -> None:
    mesh = Mesh((1, 22, 3))
    mesh.push(mesh.workload("server", SERVER_IP))
    result = mesh.get(mesh.outside, SERVER_IP, 80)
    assert isinstance(result["response"], Response)
    assert f"src.addr={OUTSIDE_IP}" in mesh.log.getvalue() and 'direction="inbound"' in mesh.log.getvalue()


def test_readiness_waits_for_the_first_push() -> None:
    mesh = Mesh((1, 22, 3))
    node = mesh.network.add_namespace("node:node", ["172.18.0.2"], "node")
    before = mesh.get(node, "10.244.0.2", 15021)
    mesh.push()
    after = mesh.get(node, "10.244.0.2", 15021)
    assert (before["response"].status, after["response"].status) == (503, 200)


def _later(mesh: Mesh, delay: float, action: Any) -> Wait:
    yield mesh.clock.timeout(delay)
    action()
