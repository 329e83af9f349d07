"""busybox wget: its stderr lines, the notty status bar, and its one exit code for failures."""

from __future__ import annotations

from netfakes import Server, net_host, run

from meshrepro.net.errors import NetErrorKind as K
from meshrepro.net.http import Response
from meshrepro.runtime.programs.wget import make_wget, progress_line, smart_ulltoa5, wget

BODY = "<html>hello</html>\n" * 32  # 608 bytes


def cluster() -> object:
    return net_host(files={"/tmp/.keep": ""}, names={"nginx": ["10.96.0.5"], "web": ["10.96.0.6"]},
                    routes={("10.96.0.5", 80): Server(lambda r: Response(200 if r.path == "/" else 404,
                                                                         {"Server": "nginx"}, BODY.encode())),
                            ("10.96.0.6", 80): K.RESET, ("10.96.0.7", 80): K.EOF, ("10.1.1.1", 80): K.TIMEOUT,
                            ("10.96.0.8", 80): Server(hang=True)})


def test_download_to_stdout() -> None:
    result = run(cluster(), wget, "wget -O - http://nginx")
    assert (result.status, result.stdout) == (0, BODY)
    assert result.stderr == ("Connecting to nginx (10.96.0.5:80)\nwriting to stdout\n"
                             "-                    100% |********************************|   608  0:00:00 ETA\n"
                             "written to stdout\n")


def test_quiet_and_request_shape() -> None:
    host = cluster()
    result = run(host, wget, "wget -qO- nginx:80/")
    assert (result.stdout, result.stderr) == (BODY, "")
    request = host.network.requests[-1]
    assert request.headers == {"Host": "nginx:80", "User-Agent": "Wget", "Connection": "close"}


def test_save_to_file() -> None:
    host = cluster()
    result = run(host, wget, "wget -O /tmp/index.html http://nginx/")
    assert host.fs.read("/tmp/index.html") == BODY
    assert result.stderr.splitlines()[1:] == [
        "saving to '/tmp/index.html'", "index.html           100% |********************************|   608  0:00:00 ETA",
        "'/tmp/index.html' saved"]


def test_failures_exit_1_with_busybox_words() -> None:
    host = cluster()
    cases = {
        "wget -q -O - http://nope": "wget: bad address 'nope'\n",
        "wget -q -O - http://nginx:81": "wget: can't connect to remote host (10.96.0.5): Connection refused\n",
        "wget -q -O - http://nginx/missing": "wget: server returned error: HTTP/1.1 404 Not Found\n",
        "wget -q -O - http://web": "wget: error getting response: Connection reset by peer\n",
        "wget -q -O - http://10.96.0.7": "wget: error getting response\n",
    }
    for command, stderr in cases.items():
        result = run(host, wget, command)
        assert (result.status, result.stderr) == (1, stderr), command


def test_timeouts() -> None:
    host = cluster()
    dropped = run(host, wget, "wget -q -T 5 -O - http://10.1.1.1")
    assert (dropped.status, dropped.stderr, dropped.elapsed) == (1, "wget: download timed out\n", 5.0)
    kernel = run(host, make_wget("musl"), "wget -q -O - http://10.1.1.1")
    assert (kernel.stderr, kernel.elapsed) == ("wget: can't connect to remote host (10.1.1.1): Operation timed out\n",
                                               127.0)
    hung = run(host, wget, "wget -q -T 2 -O - http://10.96.0.8")
    assert (hung.stderr, hung.elapsed) == ("wget: download timed out\n", 2.0)


def test_server_response_lines() -> None:
    result = run(cluster(), wget, "wget -S -q -O - http://nginx")
    assert result.stderr == "  HTTP/1.1 200 OK\n  Server: nginx\n  Content-Length: 608\n  \n"


def test_status_bar_pieces() -> None:
    assert [smart_ulltoa5(n) for n in (615, 99999, 123456, 5_000_000, 150_000_000)] == [
        "  615", "99999", " 120k", "4882k", " 143M"]
    assert progress_line("-", 0) == "-                        0 --:--:-- ETA\n"
