"""Real Linux network namespaces as an oracle for the netfilter evaluator (root only).

Two namespaces joined by a veth pair: a client (10.250.0.1 on mrc0) and a server (10.250.0.2 and
10.250.0.3 on mrs0). Each runs listeners that answer with "<label> <local address>:<port>", so a
connection reports where the kernel delivered it. Connections are made by a runner in the client
namespace that forks one child per connection, drops to the requested uid/gid, binds the requested
source port, connects and reports `connected <label> <ip>:<port>`, `timeout` or an errno name.
Nothing leaves the namespaces created here, and `close()` deletes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

CLIENT_ADDRESS = "10.250.0.1"
SERVER_ADDRESSES = ("10.250.0.2", "10.250.0.3")
CLIENT_DEVICE, SERVER_DEVICE = "mrc0", "mrs0"

LISTENER = r"""
import selectors, socket, sys
label, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for port in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        host, port = conn.getsockname()
        try:
            conn.sendall(f"{label} {host}:{port}\n".encode())
        except OSError:
            pass
        conn.close()
"""

RUNNER = r"""
import errno, json, os, socket, sys
print("ready", flush=True)
for line in sys.stdin:
    case = json.loads(line)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(case["gid"])
            os.setuid(case["uid"])
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", case["sport"]))
            s.settimeout(case["timeout"])
            s.connect((case["ip"], case["port"]))
            out = "connected " + s.recv(200).decode().strip()
        except socket.timeout:
            out = "timeout"
        except OSError as exc:
            out = errno.errorcode.get(exc.errno, str(exc.errno))
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 1000).decode()
    os.close(r)
    os.waitpid(pid, 0)
    print(json.dumps(out), flush=True)
"""


def unavailable() -> str | None:
    """Why the oracle cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in ("ip", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install -y iproute2 iptables)"
    probe = f"mr-test-probe-{uuid.uuid4().hex[:6]}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False).returncode != 0:
        return "cannot create network namespaces here"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


class NetnsPair:
    def __init__(self, client_ports: list[int], server_ports: list[int]) -> None:
        tag = uuid.uuid4().hex[:8]
        self.client, self.server = f"mr-test-{tag}-c", f"mr-test-{tag}-s"
        self.processes: list[subprocess.Popen[str]] = []
        self.namespaces: list[str] = []
        try:
            self._setup(client_ports, server_ports)
        except BaseException:
            self.close()
            raise

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def _setup(self, client_ports: list[int], server_ports: list[int]) -> None:
        for ns in (self.client, self.server):
            self._ip("netns", "add", ns)
            self.namespaces.append(ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
            # the kernel rate-limits ICMP errors per peer: REJECT answers would turn into timeouts
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0",
                            "net.ipv4.icmp_msgs_per_sec=100000"], check=True, capture_output=True)
        self._ip("-n", self.client, "link", "add", CLIENT_DEVICE, "type", "veth", "peer", "name", SERVER_DEVICE,
                 "netns", self.server)
        self._ip("-n", self.client, "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", CLIENT_DEVICE)
        for address in SERVER_ADDRESSES:  # the first one added stays the device's primary address
            self._ip("-n", self.server, "addr", "add", f"{address}/24", "dev", SERVER_DEVICE)
        self._ip("-n", self.client, "link", "set", CLIENT_DEVICE, "up")
        self._ip("-n", self.server, "link", "set", SERVER_DEVICE, "up")
        self._spawn(self.client, ["-c", LISTENER, "client", *map(str, client_ports)])
        self._spawn(self.server, ["-c", LISTENER, "server", *map(str, server_ports)])
        self.runner = self._spawn(self.client, ["-c", RUNNER])

    def _spawn(self, ns: str, args: list[str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(["ip", "netns", "exec", ns, "python3", *args], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    def load(self, ns: str, text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, text=True,
                              capture_output=True, check=False)

    def save(self, ns: str) -> str:
        return subprocess.run(["ip", "netns", "exec", ns, "iptables-save"], text=True, capture_output=True,
                              check=True).stdout

    def connect(self, ip: str, port: int, *, sport: int, uid: int, gid: int, timeout: float) -> str:
        assert self.runner.stdin is not None and self.runner.stdout is not None
        case = {"ip": ip, "port": port, "sport": sport, "uid": uid, "gid": gid, "timeout": timeout}
        self.runner.stdin.write(json.dumps(case) + "\n")
        self.runner.stdin.flush()
        return json.loads(self.runner.stdout.readline())

    def close(self) -> None:
        for process in self.processes:  # only the processes started here, by their own handles
            process.kill()
            process.wait()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.namespaces = []


def tables_of(save_text: str) -> dict[str, list[str]]:
    """iptables-save output by table, without comments and counters, for comparing renders."""
    tables: dict[str, list[str]] = {}
    current: list[str] = []
    for line in save_text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], [])
        current.append(line)
    # an empty table (built-in chains, ACCEPT policies, no rules) is listed by legacy iptables and
    # dropped by iptables-nft: not a difference
    empty = {name for name, lines in tables.items()
             if all(l.startswith(("*", "COMMIT")) or (l.startswith(":") and " ACCEPT " in l) for l in lines)}
    return {name: lines for name, lines in tables.items() if name not in empty}
