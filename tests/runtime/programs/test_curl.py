"""curl's words, exit codes, trace and meter for each outcome the network can give."""

from __future__ import annotations

import pytest
from netfakes import Server, net_host, run

from meshrepro.net.errors import NetErrorKind as K
from meshrepro.net.errors import TLSFailure
from meshrepro.net.http import Response
from meshrepro.runtime.programs.curl import make_curl

CURL = make_curl("8.5.0")
DEBIAN_CURL = make_curl("7.88.1")
BODY = b"x" * 615
HEADER = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
          "                                 Dload  Upload   Total   Spent    Left  Speed\n")
ZERO = "\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
UNKNOWN_CA = TLSFailure("x509: certificate signed by unknown authority")


def nginx(**kw: object) -> Server:
    return Server(lambda request: Response(200 if request.path == "/" else 404,
                                           {"Server": "nginx/1.25.3", "Content-Type": "text/html"}, BODY), **kw)


def cluster() -> object:
    return net_host(files={"/tmp/.keep": ""}, names={"nginx": ["10.96.0.5"], "web": ["10.96.0.6"], "api": ["10.96.0.1"], "gone": K.NXDOMAIN,
                           "nodns": K.DNS_FAILURE},
                    routes={("10.96.0.5", 80): nginx(delay=0.0003), ("10.96.0.6", 80): K.EOF,
                            ("10.96.0.7", 80): K.RESET, ("10.1.1.1", 80): K.TIMEOUT,
                            ("10.96.0.1", 443): Server(tls=UNKNOWN_CA),
                            ("10.96.0.8", 443): Server(tls=TLSFailure("x509: certificate is valid for a, not b")),
                            ("10.96.0.9", 443): Server(tls=TLSFailure("tls: first record does not look like a TLS handshake")),
                            ("10.96.0.10", 443): Server(tls=K.RESET), ("10.96.0.11", 443): Server(tls=K.EOF),
                            ("10.96.0.12", 80): Server(hang=True)})


def test_success_prints_body_and_meter_from_simulated_time() -> None:
    result = run(cluster(), CURL, "curl nginx")
    assert (result.status, result.stdout) == (0, BODY.decode())
    # 615 bytes in 300 us: 2050000 B/s average; the "current" speed uses whole ms (0 -> 1).
    assert result.stderr == (HEADER + ZERO + "\r100   615  100   615    0     0  2001k      0 --:--:-- --:--:-- "
                             "--:--:--  600k\n")
    assert result.elapsed == pytest.approx(0.0003)


def test_refused_is_7_with_the_8x_wording_and_silent_hides_it() -> None:
    host = cluster()
    assert run(host, CURL, "curl -sS nginx:81").stderr == (
        "curl: (7) Failed to connect to nginx port 81 after 0 ms: Couldn't connect to server\n")
    quiet = run(host, CURL, "curl -s nginx:81")
    assert (quiet.status, quiet.output) == (7, "")


def test_refused_before_786_used_strerror() -> None:
    old = make_curl("7.81.0")
    assert run(cluster(), old, "curl -sS nginx:81").stderr == (
        "curl: (7) Failed to connect to nginx port 81 after 0 ms: Connection refused\n")


def test_unknown_host_is_6() -> None:
    result = run(cluster(), CURL, "curl -sS gone")
    assert (result.status, result.stderr) == (6, "curl: (6) Could not resolve host: gone\n")


def test_kernel_syn_timeout_is_28_with_couldnt_connect_after_127_s() -> None:
    result = run(cluster(), CURL, "curl -sS 10.1.1.1")
    assert result.status == 28
    assert result.stderr == "curl: (28) Failed to connect to 10.1.1.1 port 80 after 127000 ms: Couldn't connect to server\n"
    assert result.elapsed == 127.0


def test_connect_timeout_reaches_the_baller_but_max_time_the_multi_loop() -> None:
    host = cluster()
    connect = run(host, CURL, "curl -sS --connect-timeout 5 10.1.1.1")
    assert connect.stderr == "curl: (28) Failed to connect to 10.1.1.1 port 80 after 5000 ms: Timeout was reached\n"
    assert connect.elapsed == 5.0
    overall = run(host, CURL, "curl -sS -m 2 10.1.1.1")
    assert (overall.status, overall.stderr) == (28, "curl: (28) Connection timed out after 2000 milliseconds\n")


def test_meter_prints_a_line_per_second_of_waiting() -> None:
    result = run(cluster(), CURL, "curl -m 2 10.1.1.1")
    assert result.stderr == (HEADER + ZERO + ZERO.replace("--:--:-- --:--:--     0", " 0:00:01 --:--:--     0")
                             + ZERO.replace("--:--:-- --:--:--     0", " 0:00:02 --:--:--     0") + "\n"
                             "curl: (28) Connection timed out after 2000 milliseconds\n")


def test_eof_after_request_is_empty_reply_52_and_reset_is_56() -> None:
    host = cluster()
    assert run(host, CURL, "curl -sS web").stderr == "curl: (52) Empty reply from server\n"
    reset = run(host, CURL, "curl -sS 10.96.0.7")
    assert (reset.status, reset.stderr) == (56, "curl: (56) Recv failure: Connection reset by peer\n")


def test_hanging_server_hits_max_time_as_operation_timeout() -> None:
    result = run(cluster(), CURL, "curl -sS -m 3 10.96.0.12")
    assert (result.status, result.elapsed) == (28, 3.0)
    assert result.stderr == "curl: (28) Operation timed out after 3000 milliseconds with 0 bytes received\n"


def test_tls_failures_in_openssl_words() -> None:
    host = cluster()
    untrusted = run(host, CURL, "curl -sS https://api")
    assert untrusted.status == 60
    assert untrusted.stderr.startswith("curl: (60) SSL certificate problem: unable to get local issuer certificate\n"
                                       "More details here: https://curl.se/docs/sslcerts.html\n\n")
    assert run(host, CURL, "curl -sS https://10.96.0.8").stderr.startswith(
        "curl: (60) SSL: no alternative certificate subject name matches target host name '10.96.0.8'\n")
    assert run(host, CURL, "curl -sS https://10.96.0.9").stderr == (
        "curl: (35) OpenSSL/3.1.4: error:0A00010B:SSL routines::wrong version number\n")
    assert run(host, DEBIAN_CURL, "curl -sS https://10.96.0.11").stderr == (
        "curl: (35) OpenSSL/3.0.11: error:0A000126:SSL routines::unexpected eof while reading\n")
    assert run(host, CURL, "curl -sS https://10.96.0.10").stderr == (
        "curl: (35) OpenSSL SSL_connect: Connection reset by peer in connection to 10.96.0.10:443 \n")


def test_insecure_skips_verification() -> None:
    host = cluster()
    host.network.routes[("10.96.0.1", 443)] = Server(tls=UNKNOWN_CA, reply=lambda r: Response(200, {}, b"ok"))
    result = run(host, CURL, "curl -sk https://api/version")
    assert (result.status, result.stdout) == (0, "ok")
    assert host.network.tls_seen[-1].server_name == "api" and host.network.tls_seen[-1].insecure


def test_verbose_trace_8_5_0() -> None:
    result = run(cluster(), CURL, "curl -sv nginx")
    assert result.stderr == (
        "* Host nginx:80 was resolved.\n* IPv6: (none)\n* IPv4: 10.96.0.5\n*   Trying 10.96.0.5:80...\n"
        "* Connected to nginx (10.96.0.5) port 80\n"
        "> GET / HTTP/1.1\r\n> Host: nginx\r\n> User-Agent: curl/8.5.0\r\n> Accept: */*\r\n> \r\n"
        "< HTTP/1.1 200 OK\r\n< Server: nginx/1.25.3\r\n< Content-Type: text/html\r\n< Content-Length: 615\r\n"
        "< \r\n{ [615 bytes data]\n* Connection #0 to host nginx left intact\n")


def test_verbose_refused_7_88_1_has_connection_ids() -> None:
    result = run(cluster(), DEBIAN_CURL, "curl -sv nginx:81")
    assert result.stderr == (
        "*   Trying 10.96.0.5:81...\n* connect to 10.96.0.5 port 81 failed: Connection refused\n"
        "* Failed to connect to nginx port 81 after 0 ms: Couldn't connect to server\n* Closing connection 0\n")


def test_verbose_refused_8_5_0_names_the_local_address_and_meter_interleaves() -> None:
    result = run(cluster(), CURL, "curl -v 10.96.0.5:81")
    assert result.stderr == (
        "*   Trying 10.96.0.5:81...\n" + HEADER + ZERO +
        "* connect to 10.96.0.5 port 81 from 10.244.0.7 port 40000 failed: Connection refused\n"
        "* Failed to connect to 10.96.0.5 port 81 after 0 ms: Couldn't connect to server\n" + ZERO + "\n"
        "* Closing connection\ncurl: (7) Failed to connect to 10.96.0.5 port 81 after 0 ms: Couldn't connect to server\n")


def test_write_out_fail_include_head_and_output_file() -> None:
    host = cluster()
    code = run(host, CURL, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{remote_ip}\\n", "nginx"])
    assert (code.stdout, code.stderr) == ("200 10.96.0.5\n", "")
    failed = run(host, CURL, ["curl", "-s", "-w", "%{http_code}", "nginx:81"])
    assert (failed.status, failed.stdout) == (7, "000")
    missing = run(host, CURL, "curl -sSf nginx/nope")
    assert (missing.status, missing.stdout, missing.stderr) == (
        22, "", "curl: (22) The requested URL returned error: 404\n")
    head = run(host, CURL, "curl -sI nginx")
    assert head.stdout == ("HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nContent-Type: text/html\r\n"
                           "Content-Length: 615\r\n\r\n")
    assert host.network.requests[-1].method == "HEAD"
    saved = run(host, CURL, "curl -s -o /tmp/page nginx")
    assert saved.stdout == "" and host.fs.read("/tmp/page") == BODY.decode()
    unwritable = run(host, CURL, "curl -S -o /nope/page 10.96.0.5")
    assert unwritable.status == 23
    # The file is opened at the first body write, in the middle of the meter's lines.
    assert unwritable.stderr == (HEADER + ZERO + "Warning: Failed to open the file /nope/page: No such file or "
                                 "directory\n" + ZERO + "\ncurl: (23) Failure writing output to destination\n")


def test_request_options_shape_the_request() -> None:
    host = cluster()
    run(host, CURL, ["curl", "-s", "-X", "PUT", "-H", "Accept:", "-H", "X-Test: 1", "-d", "a=b", "nginx:80/x?y=1"])
    request = host.network.requests[-1]
    assert (request.method, request.target, request.body) == ("PUT", "/x?y=1", b"a=b")
    assert request.headers == {"Host": "nginx", "User-Agent": "curl/8.5.0", "X-Test": "1", "Content-Length": "3",
                               "Content-Type": "application/x-www-form-urlencoded"}


def test_usage_errors() -> None:
    host = cluster()
    assert run(host, CURL, "curl").stderr == (
        "curl: (2) no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n")
    bad = run(host, CURL, "curl --bogus nginx")
    assert (bad.status, bad.stderr.splitlines()[0]) == (2, "curl: option --bogus: is unknown")
