"""What every istioctl command shares: its errors, its flags, and its Kubernetes client.

istioctl loads the kubeconfig the way kubectl does (pkg/kube/util.go BuildClientCmd: clientcmd loading rules with
ClusterDefaults) and talks to the API server through client-go, so it reuses kubectl's config loader and REST
client (runtime/programs/kubectl/config.py, rest.py) with the client-go release it vendors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshrepro.istio.kinds import KINDS
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.workload import Workload
from meshrepro.manifests.kinds import BUILTIN, KindInfo
from meshrepro.runtime.process import Process
from meshrepro.runtime.programs.kubectl.config import ConfigLoader, Overrides
from meshrepro.runtime.programs.kubectl.errors import GoError, StatusError
from meshrepro.runtime.programs.kubectl.flags import Flag, FlagSet, Parsed
from meshrepro.runtime.programs.kubectl.rest import RestClient, Result
from meshrepro.runtime.programs.kubectl.versions import KubectlVersion, lookup

Wait = Generator[simpy.Event, Any, Any]
Obj = dict[str, Any]
ZtunnelWorkloads = Callable[[str, str], "list[Workload] | None"]
# istiod pod (namespace, name) -> the proxies connected to it as (proxy id, Istio version), or None when its
# debug endpoint does not answer (istioctl version's data plane line; port-forward to :15014/debug/syncz)
ProxyVersions = Callable[[str, str], "list[tuple[str, str]] | None"]

# The Kubernetes client libraries each release vendors (istio/istio go.mod k8s.io/client-go), as the
# kubectl release of that minor; 1.25+ use 0.32/0.33, served here by the newest modelled client.
_CLIENT_GO = {18: "1.27", 19: "1.28", 20: "1.28", 21: "1.29", 22: "1.30", 23: "1.30"}
_NEWEST_CLIENT_GO = "1.31"
EXIT_INCORRECT_USAGE = 64  # [istioctl/cmd/sysexits.go ExitIncorrectUsage]


class CommandError(Exception):
    """An error istioctl prints as `Error: <text>` before exiting with `code`."""

    def __init__(self, text: str, code: int = 1) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def not_modelled(what: str) -> CommandError:
    return CommandError(f"meshrepro: {what} is real istioctl usage that meshrepro does not model yet")


class _PflagSet(FlagSet):
    """kubectl's pflag parser with istioctl's flags only, and pflag's bare error texts."""

    def __init__(self, command_path: str, known: tuple[Flag, ...]) -> None:
        self.command_path = command_path
        self.flags = {f.name: f for f in known}
        self.short = {f.shorthand: f for f in known if f.shorthand}

    def _fail(self, message: str) -> Any:
        return CommandError(message, EXIT_INCORRECT_USAGE)  # SetFlagErrorFunc -> CommandParseError


def parse_flags(command_path: str, known: tuple[Flag, ...], argv: list[str]) -> Parsed:
    return _PflagSet(command_path, known).parse(argv)


@dataclass
class Ctx:
    """One istioctl invocation."""

    proc: Process
    version: IstioVersion
    opts: Parsed
    ztunnel_workloads: ZtunnelWorkloads
    proxy_versions: ProxyVersions | None = None
    _loader: ConfigLoader | None = field(default=None, init=False)
    _clients: list[RestClient] = field(default_factory=list, init=False)

    @property
    def flags(self) -> Any:
        return flags(self.version)

    @property
    def tag(self) -> str:
        return ".".join(str(part) for part in self.version)

    @property
    def istio_namespace(self) -> str:
        return str(self.opts["istioNamespace"] or "istio-system")

    def out(self, text: str) -> None:
        self.proc.stdout.write(text)

    def err(self, text: str) -> None:
        self.proc.stderr.write(text)

    def client(self) -> RestClient:
        """A client with its own connection (Go's transport opens one per concurrent request)."""
        if self._loader is None:
            self._loader = ConfigLoader(self.proc, Overrides(kubeconfig=str(self.opts["kubeconfig"] or ""),
                                                             context=str(self.opts["context"] or "")))
        client = RestClient(self.proc, self._loader.client_config(), client_go(self.version),
                            self.proc.argv[0].rsplit("/", 1)[-1])
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def client_go(version: IstioVersion) -> KubectlVersion:
    return lookup(_CLIENT_GO.get(version[1], _NEWEST_CLIENT_GO))


def request(client: RestClient, method: str, path: str, query: list[tuple[str, str]] | None = None,
            body: Obj | None = None, content_type: str = "application/json") -> Wait:
    """One call; a transport failure raises the URLError, an HTTP failure comes back in the Result."""
    raw = json.dumps(body).encode() if body is not None else None
    result: Result = yield from client.request(method, path, query=query, body=raw,
                                               content_type=content_type if raw is not None else "")
    return result


def get_json(client: RestClient, path: str, query: list[tuple[str, str]] | None = None) -> Wait:
    """GET and decode; a failed status raises its StatusError."""
    result = yield from request(client, "GET", path, query)
    return result.into()


def not_found(err: GoError | None) -> bool:
    return isinstance(err, StatusError) and err.reason == "NotFound"


def kind_info(obj: Obj) -> KindInfo:
    """The resource an object is served as: built-in kinds from the kind table, Istio ones from their CRDs."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    for info in BUILTIN:
        if info.api_version == api_version and info.kind == kind:
            return info
    istio = next((k for k in KINDS if k.group == group and k.kind == kind), None)
    if istio is None:
        raise CommandError(f"meshrepro: istioctl cannot map {api_version} {kind}")
    return KindInfo(group, version, kind, istio.plural, True, custom=True)


def object_path(info: KindInfo, namespace: str, name: str = "") -> str:
    base = "/api/v1" if not info.group else f"/apis/{info.group}/{info.version}"
    if info.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    return f"{base}/{info.plural}" + (f"/{name}" if name else "")


def pod_ready(pod: Obj) -> bool:
    """CheckPodReady [pkg/kube/util.go]: Running with every container ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return all(c.get("ready") for c in status.get("containerStatuses") or [])


def go_duration(seconds: float) -> str:
    """time.Duration.String for whole seconds: 5m0s, 30s, 1h0m0s."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def confirm(ctx: Ctx, prompt: str) -> bool:
    """Confirm [operator/cmd/mesh/shared.go]: print the prompt, read a word per line with fmt.Scanln; a read
    error (no input, an empty line) means no; anything but y/yes/n/no asks again."""
    lines = ctx.proc.stdin.splitlines()
    while True:
        ctx.out(f"{prompt} ")
        if not lines:
            return False
        words = lines.pop(0).split()
        if len(words) != 1:
            return False
        if words[0].upper() in ("Y", "YES"):
            return True
        if words[0].upper() in ("N", "NO"):
            return False


def istiod_pods(ctx: Ctx, client: RestClient) -> Wait:
    """GetIstioPods(app=istiod, status.phase=Running) in the Istio namespace [pkg/kube/client.go]."""
    listing = yield from get_json(client, f"/api/v1/namespaces/{ctx.istio_namespace}/pods",
                                  [("fieldSelector", "status.phase=Running"), ("labelSelector", "app=istiod")])
    return list(listing.get("items") or [])


def control_plane_versions(pods: list[Obj]) -> dict[str, str]:
    """GetIstioVersions: what each ready istiod answers on :15014/version, by pod name. meshrepro has no
    port-forward, so the answer is the release of the image the pod runs (the binary reports its own build)."""
    versions = {}
    for pod in pods:
        if not pod_ready(pod):
            continue
        containers = (pod.get("spec") or {}).get("containers") or []
        image = next((c.get("image", "") for c in containers if c.get("name") == "discovery"), "")
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        versions[pod["metadata"]["name"]] = tag.removesuffix("-distroless").removesuffix("-debug")
    return versions
