"""The istio-proxy sidecar on a small network: two sidecar pods (client, server) and one pod outside the mesh, with
istio-iptables' rules in the sidecar pods, and istiod's configuration computed from a hand-built store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from meshrepro.istio.envoy import run_sidecar, wait_main
from meshrepro.istio.envoy_log import (
    AccessLogEntry,
    UpstreamFailure,
    access_log_line,
    connect_failure,
    envoy_text_log_format,
    go_duration,
)
from meshrepro.istio.iptables import CaptureConfig, sidecar_rules
from meshrepro.istio.peerauth import PEER_AUTHENTICATIONS
from meshrepro.istio.sidecar_config import (
    CONFIG_MAPS,
    ENDPOINT_SLICES,
    PODS,
    SERVICES,
    SidecarConfig,
    sidecar_config,
)
from meshrepro.kube.store import Store
from meshrepro.net.errors import NetError, NetErrorKind
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.net.stack import NamespaceView, NetNamespace, Network, Wait
from meshrepro.net.tls import Certificate
from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.process import Process, Transcript
from meshrepro.sim.clock import Clock

CLIENT_IP, SERVER_IP, OUTSIDE_IP, VIP, PLAIN_VIP, EMPTY_VIP = (
    "10.244.0.7", "10.244.0.9", "10.244.0.20", "10.96.0.50", "10.96.0.60", "10.96.0.70")


@dataclass
class PodHost:
    clock: Clock
    network: NamespaceView
    hostname: str
    fs: FileSystem = field(default_factory=FileSystem)
    pid: int = 1

    def find_program(self, name: str, path: str) -> Any:
        return None

    def next_pid(self) -> int:
        self.pid += 1
        return self.pid


def echo(name: str) -> Any:
    def handler(peer: Peer, request: Request) -> Wait:
        headers = {"Server": "echo", "X-Peer": peer.address[0], "X-App": name,
                   "X-Client-Cert": request.header("x-forwarded-client-cert")}
        return Response(200, headers, b"hello")
        yield  # pragma: no cover
    return handler


def _pod(name: str, ip: str, *, sidecar: bool, sa: str, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": dict(labels)}
    if sidecar:
        meta["labels"]["security.istio.io/tlsMode"] = "istio"
        meta["annotations"] = {"sidecar.istio.io/status": "{}"}
    return {"metadata": meta, "spec": {"serviceAccountName": sa, "containers": [{"name": "app"}]},
            "status": {"podIP": ip}}


def _slice(service: str, port_name: str, port: int, endpoints: list[tuple[str, str]]) -> dict[str, Any]:
    return {"metadata": {"name": f"{service}-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"name": port_name, "port": port}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "namespace": "default", "name": pod}}
                          for pod, ip in endpoints]}


class Istiod:
    """The lead's istiod stand-in: config computed from the store, only while `running`."""

    def __init__(self, store: Store, version: tuple[int, int, int]) -> None:
        self.store = store
        self.version = version
        self.running = True

    def config_for(self, namespace: str, pod_name: str) -> SidecarConfig | None:
        return sidecar_config(self.store, self.version, namespace, pod_name)

    def __call__(self) -> Istiod | None:
        return self if self.running else None


class Mesh:
    def __init__(self, version: tuple[int, int, int], *, istiod: bool = True, mesh: dict[str, Any] | None = None,
                 strict: bool = False, server_listens: bool = True) -> None:
        self.version = version
        self.clock = Clock(seed=3)
        self.network = Network(self.clock)
        self.store = Store()
        self.root = Certificate("cluster.local", "cluster.local", "0a1b", organizations=("cluster.local",),
                                is_ca=True)
        self.store.put(CONFIG_MAPS, {"metadata": {"name": "istio", "namespace": "istio-system"},
                                     "data": {"mesh": yaml.safe_dump({"accessLogFile": "/dev/stdout", **(mesh or {})})}})
        self.store.put(CONFIG_MAPS, {"metadata": {"name": "istio-ca-root-cert", "namespace": "default"},
                                     "data": {"root-cert.pem": self.root.pem()}})
        for pod in (_pod("client", CLIENT_IP, sidecar=True, sa="client", labels={"app": "client"}),
                    _pod("server", SERVER_IP, sidecar=True, sa="server", labels={"app": "server"}),
                    _pod("outside", OUTSIDE_IP, sidecar=False, sa="default", labels={"app": "outside"})):
            self.store.put(PODS, pod)
        for name, vip, port, target in (("server", VIP, 8080, 80), ("plain", PLAIN_VIP, 8080, 9090),
                                        ("empty", EMPTY_VIP, 8080, 80)):
            selector = {"app": {"plain": "outside", "empty": "nothing"}.get(name, name)}
            self.store.put(SERVICES, {"metadata": {"name": name, "namespace": "default"},
                                      "spec": {"clusterIP": vip, "clusterIPs": [vip], "selector": selector,
                                               "ports": [{"name": "http", "port": port, "targetPort": target}]}})
        self.store.put(ENDPOINT_SLICES, _slice("server", "http", 80, [("server", SERVER_IP)]))
        self.store.put(ENDPOINT_SLICES, _slice("plain", "http", 9090, [("outside", OUTSIDE_IP)]))
        self.store.put(ENDPOINT_SLICES, _slice("empty", "http", 80, []))
        if strict:
            self.store.put(PEER_AUTHENTICATIONS, {"metadata": {"name": "default", "namespace": "default"},
                                                  "spec": {"mtls": {"mode": "STRICT"}}})
        self.istiod = Istiod(self.store, version)
        self.istiod.running = istiod
        self.client = self._ns("client", CLIENT_IP, sidecar=True)
        self.server = self._ns("server", SERVER_IP, sidecar=True)
        self.outside = self._ns("outside", OUTSIDE_IP, sidecar=False)
        if server_listens:
            self.server.listen(80, HttpListener("server app", echo("server")))
        self.outside.listen(80, HttpListener("outside app", echo("outside")))
        self.outside.listen(8080, HttpListener("outside app 8080", echo("outside")))
        self.logs: dict[str, Transcript] = {}
        self.procs: dict[str, Any] = {}
        self.codes: dict[str, int] = {}
        for name, ns in (("client", self.client), ("server", self.server)):
            self.logs[name] = Transcript(self.clock)
            self.procs[name] = self.clock.process(self._run(name, ns))

    def _ns(self, name: str, ip: str, *, sidecar: bool) -> NetNamespace:
        ns = self.network.add_namespace(f"pod:default/{name}", [ip], f"pod default/{name}")
        if sidecar:
            ns.ruleset.restore(sidecar_rules(CaptureConfig(), self.version))
        return ns

    def process(self, name: str, ns: NetNamespace, argv: list[str], transcript: Transcript) -> Process:
        host = PodHost(self.clock, NamespaceView(ns, 1337, 1337), name)
        return Process(host=host, argv=argv, env={"POD_NAME": name, "POD_NAMESPACE": "default"},
                       stdout=transcript.stream("stdout"), stderr=transcript.stream("stderr"), uid=1337, gid=1337)

    def _run(self, name: str, ns: NetNamespace) -> Wait:
        proc = self.process(name, ns, ["pilot-agent", "proxy", "sidecar"], self.logs[name])
        code = yield from run_sidecar(self.version, proc, self.istiod)
        self.codes[name] = code

    def log(self, name: str) -> str:
        return self.logs[name].text()

    def request(self, source: NetNamespace, ip: str, port: int, *, at: float = 2.0, host: str = "",
                method: str = "GET", path: str = "/") -> dict[str, Any]:
        result: dict[str, Any] = {}

        def client() -> Wait:
            if at > self.clock.now:
                yield self.clock.timeout(at - self.clock.now)
            conn = yield from self.network.dial(source, ip, port)
            if isinstance(conn, NetError):
                result["error"] = conn.kind
                return
            answer = yield from conn.exchange(Request(method, path, {"Host": host or f"{ip}:{port}",
                                                                     "User-Agent": "curl/8.5.0"}))
            result["response"] = answer
            conn.close()

        self.clock.env.run(until=self.clock.env.process(client()))
        return result


def response(result: dict[str, Any]) -> Response:
    answer = result.get("response")
    assert isinstance(answer, Response), result
    return answer


def access_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[")]


# -- readiness -----------------------------------------------------------------------------------------------------


def test_without_istiod_nothing_listens_and_readiness_fails_until_the_first_push() -> None:
    mesh = Mesh((1, 22, 0), istiod=False)
    # the app's outbound connection is redirected to 15001, where nothing listens yet
    assert mesh.request(mesh.client, VIP, 8080, at=3.0) == {"error": NetErrorKind.REFUSED}
    probe = mesh.request(mesh.outside, CLIENT_IP, 15021, path="/healthz/ready", at=4.0)
    assert response(probe).status == 503
    log = mesh.log("client")
    assert "Envoy proxy is NOT ready: config not received from XDS server (is Istiod running?): cds updates: 0 " \
           "successful, 0 rejected; lds updates: 0 successful, 0 rejected" in log
    assert "\twarn\tca\tca request failed, starting attempt 1 in " in log
    assert "\terror\tcitadelclient\tfailed to sign CSR: create certificate: rpc error: code = Unavailable" in log
    assert "\twarn\tsds\tfailed to warm certificate: failed to generate workload certificate: " in log
    assert "connected to upstream XDS server" not in log
    mesh.istiod.running = True
    later = mesh.request(mesh.outside, CLIENT_IP, 15021, path="/healthz/ready", at=40.0)
    assert response(later).status == 200
    log = mesh.log("client")
    assert "\tinfo\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012\tid=1" in log
    assert "\tinfo\tReadiness succeeded in " in log
    assert log.index("Readiness succeeded in") < log.index("\tinfo\tEnvoy proxy is ready")
    assert response(mesh.request(mesh.client, VIP, 8080, at=41.0, host="server:8080")).status == 200


def test_startup_lines_and_the_connected_line_per_release() -> None:
    mesh = Mesh((1, 21, 0))
    mesh.clock.run_until(1.0)
    log = mesh.log("client")
    assert "\tinfo\tVersion 1.21.0-2ca3e986a683fbdb82dffcd7b2e8d02076a42468-Clean\n" in log
    assert "\tinfo\tProxy role\tips=[10.244.0.7] type=sidecar id=client.default domain=default.svc.cluster.local" in log
    assert "\tinfo\txdsproxy\tInitializing with upstream address \"istiod.istio-system.svc:15012\" and cluster " \
           "\"Kubernetes\"" in log
    assert log.rstrip("\n").endswith("connected to upstream XDS server: istiod.istio-system.svc:15012")  # no id label


# -- outbound ------------------------------------------------------------------------------------------------------


def test_mtls_between_two_sidecars() -> None:
    mesh = Mesh((1, 22, 0))
    answer = response(mesh.request(mesh.client, VIP, 8080, host="server:8080"))
    assert answer.status == 200 and answer.body == b"hello"
    assert answer.header("server") == "envoy"  # the outbound HCM overwrites it
    assert answer.header("x-envoy-upstream-service-time") != ""
    # the server's Envoy connected to the app from 127.0.0.6 and forwarded the client's identity
    assert answer.header("x-peer") == "127.0.0.6"
    cert = answer.header("x-client-cert")
    assert cert.startswith("By=spiffe://cluster.local/ns/default/sa/server;Hash=")
    assert cert.endswith("URI=spiffe://cluster.local/ns/default/sa/client")
    (outbound,) = access_lines(mesh.log("client"))
    assert '"GET / HTTP/1.1" 200 - via_upstream - "-" 0 5 ' in outbound
    assert f'"server:8080" "{SERVER_IP}:80" outbound|8080||server.default.svc.cluster.local {CLIENT_IP}:' in outbound
    assert outbound.endswith(f"{VIP}:8080 {CLIENT_IP}:{outbound.split(f'{VIP}:8080 {CLIENT_IP}:')[1].split()[0]} - "
                             "default")
    (inbound,) = access_lines(mesh.log("server"))
    assert f'"{SERVER_IP}:80" inbound|80|| 127.0.0.6:' in inbound
    assert inbound.endswith(" outbound_.8080_._.server.default.svc.cluster.local default")


def test_an_endpoint_without_a_sidecar_gets_plaintext_and_a_connect_failure_is_retried() -> None:
    mesh = Mesh((1, 18, 0))
    answer = response(mesh.request(mesh.client, PLAIN_VIP, 8080, host="plain:8080"))  # nothing listens on 9090
    assert answer.status == 503
    assert answer.body == (b"upstream connect error or disconnect/reset before headers. retried and the latest reset "
                           b"reason: connection failure, transport failure reason: delayed connect error: 111")
    assert list(answer.headers) == ["content-length", "content-type", "date", "server"]
    (line,) = access_lines(mesh.log("client"))
    assert '" 503 UF,URX upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} - ' \
           '"delayed_connect_error:_111" 0 145 ' not in line  # the retried body is longer than the plain one
    assert ' 503 UF,URX upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} - ' \
           '"delayed_connect_error:_111" 0 ' in line
    assert f'"{OUTSIDE_IP}:9090" outbound|8080||plain.default.svc.cluster.local - ' in line
    mesh = Mesh((1, 20, 0))
    answer = response(mesh.request(mesh.client, PLAIN_VIP, 8080, host="plain:8080"))
    assert b"reset reason: remote connection failure, transport failure reason: delayed connect error: 111" in answer.body


def test_no_healthy_upstream() -> None:
    mesh = Mesh((1, 22, 0))
    answer = response(mesh.request(mesh.client, EMPTY_VIP, 8080, host="empty:8080"))
    assert (answer.status, answer.body, answer.header("server")) == (503, b"no healthy upstream", "envoy")
    (line,) = access_lines(mesh.log("client"))
    assert ' 503 UH no_healthy_upstream - "-" 0 19 ' in line


def test_unknown_destinations_pass_through_with_allow_any() -> None:
    mesh = Mesh((1, 22, 0))
    tcp = response(mesh.request(mesh.client, OUTSIDE_IP, 80))  # no HTTP route table on 80: tcp_proxy
    assert tcp.status == 200 and tcp.header("server") == "echo"
    http = response(mesh.request(mesh.client, OUTSIDE_IP, 8080, host="example.com", at=3.0))  # route 8080: allow_any
    assert http.status == 200 and http.header("server") == "envoy"
    lines = access_lines(mesh.log("client"))
    # tcp_proxy logs when the connection closes
    assert '"- - -" 0 - - - "-" ' in lines[0] and f'"{OUTSIDE_IP}:80" PassthroughCluster {CLIENT_IP}:' in lines[0]
    assert '"example.com" "10.244.0.20:8080" PassthroughCluster' in lines[1] and lines[1].endswith(" - allow_any")


def test_registry_only_blocks_unknown_destinations() -> None:
    mesh = Mesh((1, 22, 0), mesh={"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}})
    tcp = mesh.request(mesh.client, OUTSIDE_IP, 80)
    assert tcp == {"response": NetError(NetErrorKind.RESET, (OUTSIDE_IP, 80), (CLIENT_IP, tcp["response"].local[1]))}
    http = response(mesh.request(mesh.client, OUTSIDE_IP, 8080, host="example.com", at=3.0))
    assert (http.status, http.body) == (502, b"")
    known = response(mesh.request(mesh.client, VIP, 8080, host="server:8080", at=4.0))
    assert known.status == 200
    lines = access_lines(mesh.log("client"))
    assert any(f'"- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" BlackHoleCluster - {OUTSIDE_IP}:80 ' in line
               for line in lines)
    assert any(' 502 - direct_response - "-" 0 0 ' in line and line.endswith(" - block_all") for line in lines)


# -- inbound -------------------------------------------------------------------------------------------------------


def test_strict_resets_plaintext_and_keeps_mtls() -> None:
    mesh = Mesh((1, 22, 0), strict=True)
    plaintext = mesh.request(mesh.outside, SERVER_IP, 80)
    error = plaintext["response"]
    assert isinstance(error, NetError) and error.kind is NetErrorKind.RESET
    (line,) = access_lines(mesh.log("server"))
    assert line.endswith(f'"- - -" 0 NR filter_chain_not_found - "-" 0 0 0 - "-" "-" "-" "-" "-" - - '
                         f'{SERVER_IP}:80 {OUTSIDE_IP}:{line.split(OUTSIDE_IP + ":")[1].split()[0]} - -')
    assert response(mesh.request(mesh.client, VIP, 8080, host="server", at=3.0)).status == 200


def test_permissive_accepts_plaintext_from_outside_the_mesh() -> None:
    mesh = Mesh((1, 22, 0))
    answer = response(mesh.request(mesh.outside, SERVER_IP, 80))
    assert answer.status == 200
    assert answer.header("server") == "istio-envoy"  # the inbound HCM's server name
    assert answer.header("x-peer") == "127.0.0.6" and answer.header("x-client-cert") == ""
    (line,) = access_lines(mesh.log("server"))
    assert f'"{SERVER_IP}:80" inbound|80|| 127.0.0.6:' in line and line.endswith(" - default")


def test_app_not_listening_inbound_503_is_retried_until_1_24() -> None:
    for version, flags, status_line in (((1, 23, 0), "URX", "retried"), ((1, 24, 0), "-", "once")):
        mesh = Mesh(version, server_listens=False)
        answer = response(mesh.request(mesh.client, VIP, 8080, host="server:8080"))
        assert answer.status == 503 and answer.header("server") == "envoy"
        assert answer.body.endswith(b"reset reason: remote connection failure, transport failure reason: delayed "
                                    b"connect error: 111")
        (outbound,) = access_lines(mesh.log("client"))
        assert f" 503 {flags} via_upstream " in outbound, status_line
        inbound = access_lines(mesh.log("server"))
        assert len(inbound) == (3 if flags == "URX" else 1)
        assert " 503 UF upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}" \
               ' - "delayed_connect_error:_111" 0 152 ' in inbound[0]


def test_inbound_traffic_policy_localhost_needs_an_app_on_localhost() -> None:
    mesh = Mesh((1, 22, 0), mesh={"inboundTrafficPolicy": {"mode": "LOCALHOST"}}, server_listens=False)
    mesh.server.listen(80, HttpListener("server app on localhost", echo("server")), ip="127.0.0.1")
    answer = response(mesh.request(mesh.outside, SERVER_IP, 80))
    assert answer.status == 200 and answer.header("x-peer") == "127.0.0.1"
    older = Mesh((1, 21, 2), mesh={"inboundTrafficPolicy": {"mode": "LOCALHOST"}}, server_listens=False)
    older.server.listen(80, HttpListener("server app on localhost", echo("server")), ip="127.0.0.1")
    assert response(older.request(older.outside, SERVER_IP, 80)).status == 503  # the pod IP: nothing there


# -- the agent -----------------------------------------------------------------------------------------------------


def test_quitquitquit_ends_the_container_after_the_drain() -> None:
    for version, order in (((1, 20, 0), ["Agent draining Proxy\n", "Aborted proxy instance", "Envoy aborted normally"]),
                           ((1, 22, 0), ["Agent draining Proxy for termination", "Envoy aborted normally",
                                         "Aborted proxy instance"])):
        mesh = Mesh(version)
        denied = response(mesh.request(mesh.outside, CLIENT_IP, 15020, method="POST", path="/quitquitquit"))
        assert denied.status == 403
        wrong = response(mesh.request(mesh.client, "127.0.0.1", 15020, path="/quitquitquit", at=2.5))
        assert wrong.status == 405
        ok = response(mesh.request(mesh.client, "127.0.0.1", 15020, method="POST", path="/quitquitquit", at=3.0))
        assert (ok.status, ok.body) == (200, b"OK")
        mesh.clock.env.run(until=mesh.procs["client"])
        assert mesh.codes["client"] == 0
        assert 7.99 < mesh.clock.now < 8.01  # terminationDrainDuration 5s
        log = mesh.log("client")
        assert "handling /quitquitquit, notifying pilot-agent to exit" in log
        assert "Graceful termination period is 5s, starting..." in log
        positions = [log.index(text) for text in order]
        assert positions == sorted(positions), version
        assert log.rstrip("\n").endswith("\tinfo\tAgent has successfully terminated")
        assert mesh.request(mesh.outside, CLIENT_IP, 15021, path="/healthz/ready", at=9.0) == {
            "error": NetErrorKind.REFUSED}


def test_wait_polls_until_ready_and_fails_after_its_timeout() -> None:
    mesh = Mesh((1, 22, 0), istiod=False)
    out = Transcript(mesh.clock)
    proc = mesh.process("client", mesh.client, ["pilot-agent", "wait", "--timeoutSeconds=3"], out)
    task = mesh.clock.process(wait_main(mesh.version, proc))
    mesh.clock.env.run(until=task)
    assert task.value == 255
    assert out.text("stdout").splitlines()[0].endswith("\tinfo\tWaiting for Envoy proxy to be ready (timeout: 3 "
                                                      "seconds)...")
    assert out.text("stderr") == ("Error: timeout waiting for Envoy proxy to become ready. Last error: HTTP status "
                                  "code 503\n")
    assert mesh.clock.now == 3.0
    # with istiod back, the default 60 s wait ends as soon as Envoy is ready
    mesh.istiod.running = True
    out = Transcript(mesh.clock)
    proc = mesh.process("client", mesh.client, ["pilot-agent", "wait"], out)
    task = mesh.clock.process(wait_main(mesh.version, proc))
    mesh.clock.env.run(until=task)
    assert task.value == 0
    assert out.text("stdout").splitlines()[-1].endswith("\tinfo\tEnvoy is ready!")
    assert mesh.clock.now < 3.0 + 35  # at most Envoy's xDS back-off ceiling


# -- formats -------------------------------------------------------------------------------------------------------


def test_access_log_format_per_release() -> None:
    assert "%UPSTREAM_CLUSTER% " in envoy_text_log_format((1, 22, 3))
    assert "%UPSTREAM_CLUSTER_RAW% " in envoy_text_log_format((1, 23, 0))
    from datetime import UTC, datetime

    entry = AccessLogEntry(datetime(2024, 1, 18, 9, 57, 3, 123456, tzinfo=UTC), "GET", "/status/200", "HTTP/1.1",
                           200, details="via_upstream", bytes_sent=5, duration_ms=3, upstream_service_time="2",
                           user_agent="curl/8.5.0", request_id="3a7c", authority="server:8080",
                           upstream_host="10.244.0.9:80", upstream_cluster="outbound|8080||server.default.svc.cluster.local",
                           upstream_local="10.244.0.7:40000", downstream_local="10.96.0.50:8080",
                           downstream_remote="10.244.0.7:39000", route="default")
    expected = ('[2024-01-18T09:57:03.123Z] "GET /status/200 HTTP/1.1" 200 - via_upstream - "-" 0 5 3 2 "-" '
                '"curl/8.5.0" "3a7c" "server:8080" "10.244.0.9:80" outbound|8080||server.default.svc.cluster.local '
                '10.244.0.7:40000 10.96.0.50:8080 10.244.0.7:39000 - default')
    assert access_log_line((1, 22, 3), entry) == expected == access_log_line((1, 23, 0), entry)


def test_connect_failure_wording_per_release() -> None:
    refused = NetError(NetErrorKind.REFUSED, ("10.0.0.1", 80))
    old, new = connect_failure((1, 19, 0), refused), connect_failure((1, 20, 0), refused)
    assert old.details == "upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111}"
    assert len(old.body(retried=False)) == 145  # the content-length istio/istio#41090 shows
    assert new.details == "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"
    assert len(new.body(retried=False)) == 152  # istio/istio#51267
    assert connect_failure((1, 22, 0), NetError(NetErrorKind.EOF, ("10.0.0.1", 80))) == UpstreamFailure(
        "connection termination", flag="UC")
    assert go_duration(5) == "5s" and go_duration(0.1047194) == "104.7194ms" and go_duration(61.5) == "1m1.5s"
