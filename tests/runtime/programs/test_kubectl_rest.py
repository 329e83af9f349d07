"""Connection failures, client-go retries, klog lines and kubectl's final error line."""

from __future__ import annotations

from test_kubectl_support import kubectl, make_host

EOF_LINE = ('memcache.go:265] couldn\'t get current server API group list: '
            'Get "https://10.96.0.1:443/api?timeout=32s": EOF')


def test_eof_retries_ten_times_per_discovery_and_prints_five_lines_ten_seconds_apart() -> None:
    host = make_host("eof")
    run = kubectl(host, "get", "pods")
    lines = run.stderr.splitlines()
    assert len(lines) == 6
    assert lines[0] == f"E0118 09:57:10.011000       8 {EOF_LINE}"
    assert [line[:21] for line in lines[:5]] == [
        "E0118 09:57:10.011000", "E0118 09:57:20.022000", "E0118 09:57:30.033000", "E0118 09:57:40.044000",
        "E0118 09:57:50.055000"]
    assert all(line.endswith(EOF_LINE) for line in lines[:5])
    assert lines[5] == "Unable to connect to the server: EOF"
    assert run.status == 1 and run.stdout == ""
    assert len(host.network.dials) == 55  # 5 discovery reads x 11 attempts
    assert 50 <= run.elapsed < 51


def test_refused_is_not_retried() -> None:
    host = make_host("refused")
    run = kubectl(host, "get", "pods")
    lines = run.stderr.splitlines()
    assert lines[0].endswith('couldn\'t get current server API group list: Get "https://10.96.0.1:443/api?timeout=32s":'
                             ' dial tcp 10.96.0.1:443: connect: connection refused')
    assert len(lines) == 6
    assert lines[5] == ("The connection to the server 10.96.0.1:443 was refused - did you specify the right host "
                        "or port?")
    assert run.elapsed < 0.1 and len(host.network.dials) == 5


def test_reset_wraps_the_previous_attempt_error() -> None:
    host = make_host("reset")
    run = kubectl(host, "get", "pods")
    last = run.stderr.splitlines()[-1]
    assert last == ('error: Get "https://10.96.0.1:443/api?timeout=32s": read tcp 10.244.0.7:51288->10.96.0.1:443: '
                    'read: connection reset by peer - error from a previous attempt: read tcp '
                    '10.244.0.7:51287->10.96.0.1:443: read: connection reset by peer')


def test_dial_timeout_takes_thirty_seconds_per_line() -> None:
    host = make_host("timeout")
    run = kubectl(host, "get", "pods")
    lines = run.stderr.splitlines()
    assert lines[-1] == "Unable to connect to the server: dial tcp 10.96.0.1:443: i/o timeout"
    assert lines[0].startswith("E0118 09:57:30.")
    assert run.elapsed == 150


def test_tls_handshake_timeout() -> None:
    host = make_host("tls-hang")
    run = kubectl(host, "get", "pods")
    assert run.stderr.splitlines()[-1] == "Unable to connect to the server: net/http: TLS handshake timeout"
    assert run.elapsed == 50.005  # five 10 s handshake timeouts plus five 1 ms dials


def test_no_config_outside_a_pod_goes_to_localhost_8080() -> None:
    host = make_host(in_pod=False)
    run = kubectl(host, "get", "pods", env={"HOME": "/root"})
    lines = run.stderr.splitlines()
    assert len(lines) == 6
    assert lines[0].endswith('Get "http://localhost:8080/api?timeout=32s": dial tcp 127.0.0.1:8080: connect: '
                             'connection refused')
    assert lines[5] == ("The connection to the server localhost:8080 was refused - did you specify the right host "
                        "or port?")


def test_structured_error_lines_from_1_31() -> None:
    host = make_host("eof")
    run = kubectl(host, "get", "pods", version="1.31.0")
    first = run.stderr.splitlines()[0]
    assert first.endswith('memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: '
                          'Get \\"https://10.96.0.1:443/api?timeout=32s\\": EOF"')


def test_401_in_discovery() -> None:
    from test_kubectl_support import status_response
    host = make_host()
    host.network.server.overrides[("GET", "/api")] = lambda r: status_response(401, "Unauthorized", "Unauthorized")
    run = kubectl(host, "get", "pods")
    lines = run.stderr.splitlines()
    assert lines[0].endswith("couldn't get current server API group list: the server has asked for the client to "
                             "provide credentials")
    assert len(lines) == 6
    assert lines[5] == ("error: You must be logged in to the server (the server has asked for the client to provide "
                        "credentials)")


def test_unknown_ca_and_san_mismatch() -> None:
    host = make_host(files={"/var/run/secrets/kubernetes.io/serviceaccount/ca.crt": "garbage"})
    run = kubectl(host, "get", "pods")
    lines = run.stderr.splitlines()
    assert lines[0].endswith("config.go:529] Expected to load root CA config from "
                             "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt, but got err: error creating pool "
                             "from /var/run/secrets/kubernetes.io/serviceaccount/ca.crt: data does not "
                             "contain any valid RSA or ECDSA certificates")
    assert lines[-1] == ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate "
                         "signed by unknown authority")


def test_headers_and_keep_alive() -> None:
    host = make_host()
    host.network.server.objects["/api/v1/namespaces/default/pods/a"] = {"metadata": {"name": "a"}}
    run = kubectl(host, "get", "pods")
    assert run.status == 0
    requests = host.network.server.requests
    assert [r.target for r in requests] == ["/api?timeout=32s", "/apis?timeout=32s",
                                            "/api/v1/namespaces/default/pods?limit=500"]
    first = requests[0]
    assert first.header("User-Agent") == "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
    assert first.header("Accept") == ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                                      "application/json")
    assert first.header("Authorization") == "Bearer eyJhbGciOiJSUzI1NiJ9.token"
    assert first.header("Kubectl-Command") == "kubectl get"
    assert requests[2].header("Accept").startswith("application/json;as=Table;v=v1;g=meta.k8s.io,")
    assert len(host.network.dials) == 1  # one kept-alive connection
    assert host.network.handshakes[0].server_name == "10.96.0.1"
