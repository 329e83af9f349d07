"""Fakes for the kubectl tests: a network whose peer is a tiny API server or a failure mode."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from meshrepro.net.errors import NetError, NetErrorKind, TLSFailure
from meshrepro.net.http import Request, Response
from meshrepro.net.tls import Certificate, ClientTLS
from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.process import Process, Transcript
from meshrepro.runtime.programs.kubectl import make_kubectl
from meshrepro.sim.clock import Clock

CA = Certificate("kubernetes", "kubernetes", "1", is_ca=True)
SERVER = Certificate("kube-apiserver", "kubernetes", "2", dns_names=("kubernetes", "kubernetes.default",
                     "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"),
                     ip_addresses=("10.96.0.1", "127.0.0.1"), issuer_serial="1")
SA = "/var/run/secrets/kubernetes.io/serviceaccount"
POD_ENV = {"HOME": "/", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
           "PATH": "/usr/bin:/bin"}
POD_FILES = {f"{SA}/token": "eyJhbGciOiJSUzI1NiJ9.token", f"{SA}/ca.crt": CA.pem(), f"{SA}/namespace": "default",
             "/etc/resolv.conf": "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                                 "nameserver 10.96.0.10\noptions ndots:5\n", "/.kube/.keep": ""}

Handler = Callable[[Request], Response]


def json_response(obj: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(status, {"Content-Type": content_type}, json.dumps(obj).encode())


def status_response(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details or {}, "code": code}
    return json_response(body, code)


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def _res(resource: str, kind: str, namespaced: bool = True, short: list[str] | None = None,
         categories: list[str] | None = None, group: str = "", version: str = "v1") -> dict[str, Any]:
    return {"resource": resource, "responseKind": {"group": group, "version": version, "kind": kind},
            "scope": "Namespaced" if namespaced else "Cluster", "singularResource": kind.lower(),
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": short or [], "categories": categories or []}


CORE = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2beta1", "metadata": {},
        "items": [{"metadata": {"creationTimestamp": None}, "versions": [{"version": "v1", "resources": [
            _res("pods", "Pod", short=["po"], categories=["all"]), _res("namespaces", "Namespace", False, ["ns"]),
            _res("services", "Service", short=["svc"], categories=["all"]),
            _res("configmaps", "ConfigMap", short=["cm"]), _res("events", "Event", short=["ev"]),
            _res("serviceaccounts", "ServiceAccount", short=["sa"])],
            "freshness": "Current"}]}]}
APIS = {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2beta1", "metadata": {},
        "items": [{"metadata": {"name": "apps", "creationTimestamp": None}, "versions": [{"version": "v1", "resources": [
            _res("deployments", "Deployment", short=["deploy"], categories=["all"], group="apps")],
            "freshness": "Current"}]}]}


def pod(name: str, *, init: bool = True, node: str = "kind-control-plane", labels: dict[str, str] | None = None,
        created: str = "2024-01-18T09:57:05Z") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "nginx", "image": "nginx"}], "nodeName": node,
                            "serviceAccountName": "default"}
    if init:
        spec["initContainers"] = [{"name": "init-kubectl", "image": "bitnami/kubectl",
                                   "command": ["sh", "-c", "sleep 15; kubectl get pods"]}]
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": "nginx"},
                         "creationTimestamp": created},
            "spec": spec, "status": {"phase": "Pending", "podIP": "10.244.0.7", "hostIP": "172.18.0.2"}}


def pod_table(pods: list[dict[str, Any]]) -> dict[str, Any]:
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0},
               {"name": "Ready", "type": "string", "priority": 0}, {"name": "Status", "type": "string", "priority": 0},
               {"name": "Restarts", "type": "string", "priority": 0}, {"name": "Age", "type": "string", "priority": 0},
               {"name": "IP", "type": "string", "priority": 1}, {"name": "Node", "type": "string", "priority": 1}]
    rows = [{"cells": [p["metadata"]["name"], "0/1", "Init:0/1", "0", "16s", "10.244.0.7", "kind-control-plane"],
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": p["metadata"]}}
            for p in pods]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "100"},
            "columnDefinitions": columns, "rows": rows}


@dataclass
class FakeApiServer:
    """Objects by path; answers GET (Table or JSON), POST, PATCH, DELETE; records every request."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    overrides: dict[tuple[str, str], Handler] = field(default_factory=dict)

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        override = self.overrides.get((request.method, request.path))
        if override is not None:
            return override(request)
        if request.path == "/api":
            return json_response(CORE, content_type=AGGREGATED)
        if request.path == "/apis":
            return json_response(APIS, content_type=AGGREGATED)
        if request.path == "/version":
            return json_response({"major": "1", "minor": "29", "gitVersion": "v1.29.2",
                                  "gitCommit": "4b8e819355d791d96b7e9d9efe4cbafae2311c88"})
        if request.method == "GET":
            return self._get(request)
        if request.method == "POST":
            obj = json.loads(request.body)
            if not (obj.get("metadata") or {}).get("name"):  # reviews: echo with an empty status
                return json_response(obj, 201)
            path = f"{request.path}/{obj['metadata']['name']}"
            if path in self.objects:
                return status_response(409, "AlreadyExists", f'{request.path.rsplit("/", 1)[-1]} '
                                       f'"{obj["metadata"]["name"]}" already exists')
            self.objects[path] = obj
            return json_response(obj, 201)
        if request.method == "PATCH":
            obj = self.objects.get(request.path)
            if obj is None:
                return self._not_found(request.path)
            _merge(obj, json.loads(request.body))
            return json_response(obj)
        if request.method == "DELETE":
            if self.objects.pop(request.path, None) is None:
                return self._not_found(request.path)
            return json_response({"kind": "Status", "status": "Success"})
        return status_response(405, "MethodNotAllowed", "method not allowed")

    def _get(self, request: Request) -> Response:
        table = "as=Table" in request.header("Accept")
        if request.path in self.objects:
            obj = self.objects[request.path]
            return json_response(pod_table([obj]) if table else obj)
        prefix = request.path + "/"
        items = [o for p, o in sorted(self.objects.items()) if p.startswith(prefix) and "/" not in p[len(prefix):]]
        if request.path == "/api/v1/pods":  # every namespace
            items = [o for p, o in sorted(self.objects.items()) if "/pods/" in p]
        if items or request.path.endswith(("/pods", "/deployments", "/services")):
            selector = request.query.get("labelSelector", [""])[0]
            if selector:
                wanted = dict(part.split("=", 1) for part in selector.split(","))
                items = [o for o in items if all(o["metadata"].get("labels", {}).get(k) == v
                                                 for k, v in wanted.items())]
            if table:
                return json_response(pod_table(items))
            return json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"},
                                  "items": items})
        return self._not_found(request.path)

    @staticmethod
    def _not_found(path: str) -> Response:
        parts = path.split("/")
        return status_response(404, "NotFound", f'{parts[-2]} "{parts[-1]}" not found',
                               {"name": parts[-1], "kind": parts[-2]})


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


@dataclass
class FakeConnection:
    network: FakeNetwork
    local: tuple[str, int]
    remote: tuple[str, int]
    open: bool = True

    def handshake(self, tls: ClientTLS) -> Generator[Any, Any, NetError | TLSFailure | None]:
        mode = self.network.mode
        if mode in ("eof", "reset", "tls-hang"):
            if mode == "tls-hang":
                yield self.network.clock.timeout(3600)
            self.open = False
            kind = NetErrorKind.EOF if mode == "eof" else NetErrorKind.RESET
            return NetError(kind, self.remote, self.local)
        self.network.handshakes.append(tls)
        if not tls.insecure:
            if not any(SERVER.signed_by(ca) for ca in tls.trusted):
                return TLSFailure("x509: certificate signed by unknown authority")
            if not SERVER.matches_host(tls.server_name):
                return TLSFailure(f"x509: certificate is valid for {SERVER.valid_for_text()}, not {tls.server_name}")
        return None
        yield  # pragma: no cover

    def exchange(self, request: Request) -> Generator[Any, Any, Response | NetError]:
        yield self.network.clock.timeout(0.005)
        self.network.exchanges.append((self.local, request))
        return self.network.server.handle(request)

    def close(self) -> None:
        self.open = False


@dataclass
class FakeNetwork:
    clock: Clock
    server: FakeApiServer
    mode: str = "ok"  # ok | refused | eof | reset | timeout | tls-hang
    names: dict[str, str] = field(default_factory=lambda: {"kubernetes.default.svc": "10.96.0.1",
                                                           "kubernetes.default": "10.96.0.1"})
    dials: list[tuple[float, str, int]] = field(default_factory=list)
    handshakes: list[ClientTLS] = field(default_factory=list)
    exchanges: list[tuple[tuple[str, int], Request]] = field(default_factory=list)
    next_port: int = 51234

    def dial(self, ip: str, port: int, timeout: float = 30.0) -> Generator[Any, Any, Any]:
        self.dials.append((self.clock.now, ip, port))
        local = ("127.0.0.1" if ip.startswith("127.") else "10.244.0.7", self.next_port)
        self.next_port += 1
        if self.mode == "refused" or ip == "127.0.0.1" and port == 8080:
            return NetError(NetErrorKind.REFUSED, (ip, port), local)
        if self.mode == "timeout":
            yield self.clock.timeout(timeout)
            return NetError(NetErrorKind.TIMEOUT, (ip, port), local)
        yield self.clock.timeout(0.001)
        return FakeConnection(self, local, (ip, port))

    def resolve(self, name: str) -> Generator[Any, Any, Any]:
        yield self.clock.timeout(0.001)
        if name == "localhost":
            return ["127.0.0.1"]
        if name in self.names:
            return [self.names[name]]
        return NetError(NetErrorKind.NXDOMAIN, (name, 0), name=name)


@dataclass
class FakeHost:
    clock: Clock
    fs: FileSystem
    network: FakeNetwork
    hostname: str = "nginx-7c5ddbdf54-abcde"
    pid: int = 7

    def find_program(self, name: str, path: str) -> None:
        return None

    def next_pid(self) -> int:
        self.pid += 1
        return self.pid


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    elapsed: float
    transcript: Transcript


def make_host(mode: str = "ok", files: dict[str, str] | None = None, in_pod: bool = True) -> FakeHost:
    clock = Clock()
    base = dict(POD_FILES) if in_pod else {"/.kube/.keep": ""}
    base.update(files or {})
    fs = FileSystem({k: v for k, v in base.items() if v is not None})
    return FakeHost(clock, fs, FakeNetwork(clock, FakeApiServer(), mode))


def kubectl(host: FakeHost, *args: str, env: dict[str, str] | None = None, stdin: str = "",
            version: str = "1.29.2", pid: int = 8) -> Run:
    transcript = Transcript(host.clock)
    proc = Process(host=host, argv=["kubectl", *args], env=dict(POD_ENV if env is None else env),
                   stdout=transcript.stream("stdout"), stderr=transcript.stream("stderr"), stdin=stdin, pid=pid)
    start = host.clock.now
    done = host.clock.process(make_kubectl(version)(proc))
    host.clock.env.run(until=done)
    return Run(done.value, transcript.text("stdout"), transcript.text("stderr"), host.clock.now - start, transcript)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
