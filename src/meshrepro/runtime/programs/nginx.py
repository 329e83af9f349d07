"""nginx as the official `nginx` image runs it: the docker-entrypoint lines, the notices, the default
page on port 80, and access log lines in the `combined` format the image configures (plus
`$http_x_forwarded_for`)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.runtime.process import Process, ProgramRun

VERSION = "1.25.3"  # nginx:latest in January 2024
WELCOME = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n<style>\nhtml { color-scheme: light dark; }\n"
    "body { width: 35em; margin: 0 auto;\nfont-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n"
    "<body>\n<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is successfully installed and\n"
    "working. Further configuration is required.</p>\n\n<p>For online documentation and support please refer to\n"
    '<a href="http://nginx.org/">nginx.org</a>.<br/>\nCommercial support is available at\n'
    '<a href="http://nginx.com/">nginx.com</a>.</p>\n\n<p><em>Thank you for using nginx.</em></p>\n</body>\n</html>\n'
)
NOT_FOUND = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
    f"<hr><center>nginx/{VERSION}</center>\r\n</body>\r\n</html>\r\n"
)
ENTRYPOINT_LINES = (
    "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration\n"
    "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/\n"
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh\n"
    "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf\n"
    "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf\n"
    "/docker-entrypoint.sh: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh\n"
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh\n"
    "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh\n"
    "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
)


def docker_entrypoint(proc: Process) -> ProgramRun:
    """/docker-entrypoint.sh: configuration notes, then exec of its arguments."""
    args = proc.argv[1:]
    if args and args[0] in ("nginx", "nginx-debug"):
        proc.stdout.write(ENTRYPOINT_LINES)
    if not args:
        return 0
    program = proc.host.find_program(args[0], proc.env.get("PATH", ""))
    if program is None:
        proc.stderr.write(f"/docker-entrypoint.sh: exec: line 47: {args[0]}: not found\n")
        return 127
    return (yield from program(proc.child(args)))


def nginx(proc: Process) -> ProgramRun:
    """`nginx -g 'daemon off;'`: serve until stopped."""
    wall = proc.clock.wall().strftime("%Y/%m/%d %H:%M:%S")
    notice = f"{wall} [notice] 1#1: "
    proc.stderr.write(
        f'{notice}using the "epoll" event method\n{notice}nginx/{VERSION}\n'
        f"{notice}built by gcc 12.2.0 (Debian 12.2.0-14) \n{notice}OS: Linux 6.5.0-14-generic\n"
        f"{notice}getrlimit(RLIMIT_NOFILE): 1048576:1048576\n{notice}start worker processes\n"
        f"{notice}start worker process 29\n")

    def handle(peer: Peer, request: Request) -> Generator[simpy.Event, Any, Response]:
        path = request.path
        if path in ("/", "/index.html"):
            response = Response(200, {"Server": f"nginx/{VERSION}", "Content-Type": "text/html"}, WELCOME.encode())
        else:
            response = Response(404, {"Server": f"nginx/{VERSION}", "Content-Type": "text/html"}, NOT_FOUND.encode())
        stamp = proc.clock.wall().strftime("%d/%b/%Y:%H:%M:%S +0000")
        agent = request.header("User-Agent", "-") or "-"
        proc.stdout.write(f'{peer.address[0]} - - [{stamp}] "{request.method} {request.target} HTTP/1.1" '
                          f'{response.status} {len(response.body)} "-" "{agent}" "-"\n')
        return response
        yield  # pragma: no cover

    proc.host.network.listen(80, HttpListener("nginx", handle))
    try:
        yield proc.clock.env.event()  # runs until the container is stopped
    except simpy.Interrupt:
        # SIGTERM: nginx shuts down gracefully and exits 0.
        proc.stderr.write(f"{proc.clock.wall().strftime('%Y/%m/%d %H:%M:%S')} [notice] 1#1: signal 15 (SIGTERM) "
                          f"received, exiting\n")
    finally:
        proc.host.network.unlisten(80)
    return 0
