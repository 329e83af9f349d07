"""nc -z -v in the netcat-openbsd and busybox flavours, and an HTTP request piped through nc."""

from __future__ import annotations

from netfakes import Server, net_host, run

from meshrepro.net.errors import NetErrorKind as K
from meshrepro.net.http import Response
from meshrepro.runtime.programs.nc import make_nc_busybox, make_nc_openbsd, nc_busybox, nc_openbsd

SERVICES = "http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\nhttps\t\t443/tcp\n"


def cluster() -> object:
    return net_host(files={"/etc/services": SERVICES}, names={"nginx": ["10.96.0.5"], "nodns": K.DNS_FAILURE},
                    routes={("10.96.0.5", 80): Server(lambda r: Response(200, {"Server": "nginx"}, b"hi\n")),
                            ("10.96.0.5", 8080): Server(), ("10.96.0.6", 80): K.EOF, ("10.1.1.1", 80): K.TIMEOUT})


def test_openbsd_zero_io_success_and_failure() -> None:
    host = cluster()
    ok = run(host, nc_openbsd, "nc -zv nginx 80")
    assert (ok.status, ok.stderr) == (0, "Connection to nginx (10.96.0.5) 80 port [tcp/http] succeeded!\n")
    unnamed = run(host, nc_openbsd, "nc -z -v 10.96.0.5 8080")
    assert unnamed.stderr == "Connection to 10.96.0.5 8080 port [tcp/*] succeeded!\n"
    refused = run(host, nc_openbsd, "nc -zv nginx 81")
    assert (refused.status, refused.stderr) == (1, ("nc: connect to nginx (10.96.0.5) port 81 (tcp) failed: "
                                                   "Connection refused\n"))
    assert run(host, nc_openbsd, "nc -z nginx 81").output == ""


def test_openbsd_timeout_and_dns() -> None:
    host = cluster()
    timed = run(host, nc_openbsd, "nc -zv -w 3 10.1.1.1 80")
    assert (timed.status, timed.elapsed) == (1, 3.0)
    assert timed.stderr == "nc: connect to 10.1.1.1 port 80 (tcp) failed: Connection timed out\n"
    assert run(host, nc_openbsd, "nc -zv nope 80").stderr == (
        'nc: getaddrinfo for host "nope" port 80: Name or service not known\n')
    assert run(host, make_nc_openbsd("musl"), "nc -zv nodns 80").stderr == (
        'nc: getaddrinfo for host "nodns" port 80: Try again\n')


def test_busybox_verbosity_levels() -> None:
    host = cluster()
    ok = run(host, nc_busybox, "nc -zv nginx 80")
    assert (ok.status, ok.stderr) == (0, "nginx (10.96.0.5:80) open\n")
    quiet_refusal = run(host, nc_busybox, "nc -zv nginx 81")
    assert (quiet_refusal.status, quiet_refusal.stderr) == (1, "")  # one -v hides refusals
    loud = run(host, nc_busybox, "nc -zvv nginx 81")
    assert loud.stderr == "nc: nginx (10.96.0.5:81): Connection refused\nsent 0, rcvd 0\n"
    timed = run(host, make_nc_busybox("musl"), "nc -zv -w 2 10.1.1.1 80")
    assert (timed.status, timed.stderr, timed.elapsed) == (1, "nc: 10.1.1.1 (10.1.1.1:80): Operation timed out\n",
                                                          2.0)
    assert run(host, nc_busybox, "nc -zv nope 80").stderr == "nc: bad address 'nope'\n"


def test_http_request_through_stdin() -> None:
    host = cluster()
    result = run(host, nc_openbsd, "nc nginx 80", stdin="GET / HTTP/1.1\r\nHost: nginx\r\n\r\n")
    assert (result.status, result.stdout) == (0, "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nhi\n")
    assert host.network.requests[-1].headers == {"Host": "nginx"}
    closed = run(host, nc_busybox, "nc 10.96.0.6 80", stdin="GET / HTTP/1.1\r\n\r\n")
    assert (closed.status, closed.output) == (0, "")
