"""The `istioctl` program: `make_istioctl(version, ztunnel_workloads)` returns the istioctl of that release.

Modelled: `install` (alias `apply`), `uninstall --purge`, `version`, and the ztunnel workload table
(`istioctl proxy-config workload <pod>` up to 1.21, `istioctl x ztunnel-config workload` in 1.22,
`istioctl ztunnel-config workload` from 1.23). Other real commands fail with a meshrepro message; unknown ones with
cobra's error (exit 64, istioctl/cmd/sysexits.go). Errors print as `Error: <text>` on stderr, exit 1.

What istioctl reads through a port-forward (istiod's :15014, ztunnel's :15000) comes from the callables the
machine passes in, or for the control plane version from the release of the image a ready istiod runs.
Sources: istioctl/cmd/root.go, pkg/version/cobra.go, istioctl/pkg/version, istioctl/pkg/proxyconfig (<=1.21),
istioctl/pkg/ztunnelconfig (1.22+), istioctl/pkg/writer/ztunnel/configdump/workload.go, at each release tag.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from meshrepro.istio.istioctl_cli import (
    EXIT_INCORRECT_USAGE,
    CommandError,
    Ctx,
    Obj,
    ProxyVersions,
    Wait,
    ZtunnelWorkloads,
    control_plane_versions,
    get_json,
    istiod_pods,
    not_modelled,
    parse_flags,
    pod_ready,
)
from meshrepro.istio.istioctl_install import INSTALL_FLAGS, UNINSTALL_FLAGS, install, uninstall
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.workload import Workload
from meshrepro.runtime.process import Process, Program
from meshrepro.runtime.programs.cobra import find_command, suggestions
from meshrepro.runtime.programs.kubectl.errors import GoError
from meshrepro.runtime.programs.kubectl.flags import Flag
from meshrepro.runtime.programs.kubectl.rest import RestClient
from meshrepro.runtime.tabwriter import TabWriter

Runner = Callable[[Ctx, list[str]], Wait]

# cli.AddRootFlags and the log options every command inherits [istioctl/pkg/cli/options.go, pkg/log]
ROOT_FLAGS = (
    Flag("kubeconfig", "c", default=""), Flag("context", default=""),
    Flag("istioNamespace", "i", default="istio-system"), Flag("namespace", "n", default=""),
    Flag("vklog", kind="int", default=0), Flag("log_as_json", kind="bool", default=False),
    Flag("log_caller", default=""), Flag("log_output_level", default=""), Flag("log_stacktrace_level", default=""),
    Flag("log_target", kind="array", default=[]),
)
VERSION_FLAGS = (Flag("short", "s", kind="bool", default=True), Flag("output", "o", default=""),
                 Flag("remote", kind="bool", default=True), Flag("revision", "r", default=""))
# cobra's Run for `version` sets short and remote to true [istioctl/pkg/version/version.go]
WORKLOAD_FLAGS = (Flag("output", "o", default="short"), Flag("address", default=""), Flag("node", default=""),
                  Flag("verbose", kind="bool", default=True), Flag("file", "f", default=""),
                  Flag("proxy-admin-port", kind="int", default=15000))
ZC_WORKLOAD_FLAGS = (*WORKLOAD_FLAGS, Flag("workload-namespace", default=""), Flag("workload-node", default=""))

# Real istioctl commands meshrepro does not run (root.go at 1.18-1.27; per-release differences not tracked).
UNMODELLED_COMMANDS = frozenset({
    "admin", "analyze", "bug-report", "completion", "create-remote-secret", "dashboard", "help", "kube-inject",
    "manifest", "operator", "options", "profile", "proxy-status", "remote-clusters", "tag", "upgrade", "validate",
    "verify-install", "waypoint",
})
_UNMODELLED_ALIASES = frozenset({"ps", "d", "dash", "v"})  # proxy-status, dashboard, validate


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...] = ()
    run: Runner | None = None
    flags: tuple[Flag, ...] = ()
    children: tuple[Command, ...] = ()
    hidden: bool = False

    def child(self, word: str) -> Command | None:
        return next((c for c in self.children if word == c.name or word in c.aliases), None)


def make_istioctl(version: IstioVersion, ztunnel_workloads: ZtunnelWorkloads,
                  proxy_versions: ProxyVersions | None = None) -> Program:
    """`ztunnel_workloads(namespace, pod)` answers for a ztunnel's config dump (None: no answer);
    `proxy_versions(namespace, istiod pod)` for istiod's debug/syncz (None, or not given: no answer)."""
    tree = command_tree(version)

    def istioctl(proc: Process) -> Generator[simpy.Event, Any, int]:
        return (yield from _main(proc, version, tree, ztunnel_workloads, proxy_versions))

    return istioctl


def command_tree(version: IstioVersion) -> Command:
    f = flags(version)
    workload = Command("workload", ("workloads", "w"), _ztunnel_workloads, ZC_WORKLOAD_FLAGS)
    zc = Command("ztunnel-config", ("zc",), children=(workload,))
    pc_children: tuple[Command, ...] = ()
    if not f.istioctl_ztunnel_config:
        pc_children = (Command("workload", ("workloads", "w"), _ztunnel_workloads, WORKLOAD_FLAGS, hidden=True),)
    children = [Command("install", ("apply",), install, INSTALL_FLAGS),
                Command("uninstall", (), uninstall, UNINSTALL_FLAGS),
                Command("version", (), _version, VERSION_FLAGS),
                Command("proxy-config", ("pc",), children=pc_children),
                Command("experimental", ("x", "exp"),
                        children=(zc,) if f.istioctl_ztunnel_config and not f.istioctl_ztunnel_config_top_level
                        else ())]
    if f.istioctl_ztunnel_config_top_level:
        children.append(zc)
    return Command("istioctl", children=tuple(children))


def _main(proc: Process, version: IstioVersion, tree: Command, ztunnel_workloads: ZtunnelWorkloads,
          proxy_versions: ProxyVersions | None) -> Generator[simpy.Event, Any, int]:
    ctx: Ctx | None = None
    try:
        path, command, rest = _find(tree, list(proc.argv[1:]))
        if command is tree and not rest:
            proc.stdout.write("Istio configuration command line utility for service operators to\n"
                              "debug and diagnose their Istio mesh.\n")
            return 0
        if any(arg in ("-h", "--help") for arg in rest):
            raise not_modelled(f"`{' '.join(path)} --help`")
        if command.run is None:
            raise _no_subcommand(path, command, rest)
        opts = parse_flags(" ".join(path), (*ROOT_FLAGS, *command.flags), rest)
        ctx = Ctx(proc, version, opts, ztunnel_workloads, proxy_versions)
        code: int = yield from command.run(ctx, opts.args)
        return code
    except CommandError as err:
        proc.stderr.write(f"Error: {err.text}\n")
        return err.code
    except GoError as err:  # a configuration or API error that reached cobra unwrapped
        proc.stderr.write(f"Error: {err}\n")
        return 1
    finally:
        if ctx is not None:
            ctx.close()


def _find(tree: Command, argv: list[str]) -> tuple[list[str], Command, list[str]]:
    """cobra's Find: the command path from the leading words, skipping root flags' values."""
    takes_value = {f"--{f.name}" for f in ROOT_FLAGS if f.kind != "bool"} | {
        f"-{f.shorthand}" for f in ROOT_FLAGS if f.shorthand and f.kind != "bool"}
    found = [tree]

    def descend(word: str) -> bool:
        child = found[-1].child(word)
        if child is not None:
            found.append(child)
        return child is not None

    _, rest = find_command(argv, takes_value, descend)
    return ["istioctl", *(c.name for c in found[1:])], found[-1], rest


def _no_subcommand(path: list[str], command: Command, rest: list[str]) -> CommandError:
    words = [a for a in rest if not a.startswith("-")]
    if len(path) == 1 and words:
        if words[0] in UNMODELLED_COMMANDS | _UNMODELLED_ALIASES:
            return not_modelled(f"`istioctl {words[0]}`")
        known = [c.name for c in command.children if not c.hidden] + sorted(UNMODELLED_COMMANDS)
        # legacyArgs [cobra args.go], then ExecuteC's usage hint
        return CommandError(f'unknown command "{words[0]}" for "istioctl"{suggestions(words[0], known)}\n'
                            "Run 'istioctl --help' for usage.", EXIT_INCORRECT_USAGE)
    if words:
        return not_modelled(f"`{' '.join(path)} {words[0]}` (a subcommand this release may not have; cobra then "
                            "prints the help)")
    return not_modelled(f"`{' '.join(path)}` without a subcommand (it prints help)")


# ---------------------------------------------------------------- version


def _version(ctx: Ctx, args: list[str]) -> Wait:
    """pkg/version/cobra.go with istioctl's remote getters; short form only."""
    o = ctx.opts
    if o["output"] not in ("", "yaml", "json"):
        raise CommandError("--output must be 'yaml' or 'json'")
    if o["output"] or not o["short"] or o["revision"]:
        raise not_modelled("`istioctl version` with -o, --short=false or --revision")
    if not o["remote"]:
        ctx.out(f"{ctx.tag}\n")
        return 0
    remote: dict[str, str] | None = None
    proxies: list[tuple[str, str]] | None = None
    try:
        client = ctx.client()
        pods = yield from _remote_pods(ctx, client)
        remote = control_plane_versions(pods)
        if not remote:
            remote = None
            ctx.err(('no running Istio pods in namespace "{}"\n' if ctx.flags.istioctl_version_no_running_pods
                     else 'no ready Istio pods in "{}"\n').format(ctx.istio_namespace))
        proxies = _proxy_infos(ctx, pods)
    except GoError as err:
        ctx.err(f"{err}\n")
    if remote is None:
        ctx.out(f"{ctx.tag}\n")
    else:
        ctx.out(f"client version: {ctx.tag}\n")
        if len(set(remote.values())) == 1:  # coalesceVersions
            ctx.out(f"control plane version: {next(iter(remote.values()))}\n")
        else:
            for pod in pods:
                if pod["metadata"]["name"] in remote:
                    component = (pod["metadata"].get("labels") or {}).get("istio", "")
                    ctx.out(f"{component} version: {remote[pod['metadata']['name']]}\n")
    if proxies is not None:
        ctx.out(f"data plane version: {_render_proxy_versions(proxies)}\n")
    return 0


def _remote_pods(ctx: Ctx, client: RestClient) -> Wait:
    try:
        pods = yield from istiod_pods(ctx, client)
    except GoError as err:
        raise GoError(f"unable to retrieve Pods: {err}") from None
    return pods


def _proxy_infos(ctx: Ctx, pods: list[Obj]) -> list[tuple[str, str]] | None:
    """GetProxyInfo: istiod's debug/syncz from every running istiod; any failure drops the data plane line."""
    if ctx.proxy_versions is None or not pods:
        return None
    found: list[tuple[str, str]] = []
    for pod in pods:
        answer = ctx.proxy_versions(pod["metadata"]["namespace"], pod["metadata"]["name"])
        if answer is None:
            return None
        found += answer
    return found


def _render_proxy_versions(proxies: list[tuple[str, str]]) -> str:
    if not proxies:
        return "none"
    counts: dict[str, int] = {}
    for _, version in proxies:
        counts[version] = counts.get(version, 0) + 1
    return ", ".join(f"{version} ({counts[version]} proxies)" for version in sorted(counts))


# ---------------------------------------------------------------- ztunnel workloads


def _ztunnel_workloads(ctx: Ctx, args: list[str]) -> Wait:
    o, f = ctx.opts, ctx.flags
    zc = f.istioctl_ztunnel_config
    if o["file"]:
        raise not_modelled("`--file` (a saved ztunnel config dump)")
    if o["output"] not in ("short", "json", "yaml"):
        raise CommandError(f'output format "{o["output"]}" not supported')
    if o["output"] != "short":
        raise not_modelled("the ztunnel workload dump (-o json|yaml)")
    if zc and sum(1 for given in (o["file"], len(args) == 1, o["node"]) if given) > 1:
        raise CommandError("at most one of --file, --node, or pod name must be passed")
    if not zc and len(args) != 1:
        raise CommandError("workload requires pod name or --file parameter")
    client = ctx.client()
    if zc and o["node"]:
        pod, namespace = yield from _pod_on_node(ctx, client, o["node"])
    else:
        pod, namespace = yield from _infer_pod(ctx, client, args[0] if args else "daemonset/ztunnel")
    if not (yield from _is_ztunnel_pod(client, pod, namespace)):
        proxies = "Ztunnel proxies" if zc else "ztunnel proxies"
        raise CommandError(f"workloads command is only supported by {proxies}: {pod}")
    workloads = ctx.ztunnel_workloads(namespace, pod)
    if workloads is None:
        raise CommandError(f"failed to execute command on {pod}.{namespace} {'Ztunnel' if zc else 'ztunnel'}: "
                           "meshrepro: its admin endpoint (:15000/config_dump) did not answer")
    node_filter = o["workload-node"] if zc else o["node"]
    chosen = [w for w in workloads if _matches(w, o["address"], node_filter, o["workload-namespace"] if zc else "")]
    ctx.out(workload_table(ctx.version, chosen, bool(o["verbose"])))
    return 0


def _matches(workload: Workload, address: str, node: str, namespace: str) -> bool:
    """WorkloadFilter.Verify: case-insensitive address, node and namespace filters."""
    if namespace and workload.namespace.lower() != namespace.lower():
        return False
    if address and address.lower() not in (a.lower() for a in workload.addresses):
        return False
    return not (node and workload.node.lower() != node.lower())


def workload_table(version: IstioVersion, workloads: list[Workload], verbose: bool) -> str:
    """PrintWorkloadSummary: sorted by namespace.name then node, Go's tabwriter (0, 8, 1, ' ', 0)."""
    f = flags(version)
    name = "POD NAME" if f.istioctl_ztunnel_config else "NAME"
    address = "ADDRESS" if f.istioctl_workloads_address_column else "IP"
    if not f.istioctl_workloads_namespace_first:
        head = ["NAME", "NAMESPACE", address, "NODE"]
    elif f.istioctl_workloads_network_column and verbose:
        head = ["NAMESPACE", name, "NETWORK", address, "NODE"]
    else:
        head = ["NAMESPACE", name, address, "NODE"]
    if verbose:
        head += ["WAYPOINT", "PROTOCOL"]
    writer = TabWriter(minwidth=0, padding=1, remember_widths=False)
    writer.write("\t".join(head) + "\n")
    for w in sorted(workloads, key=lambda w: (f"{w.namespace}.{w.name}", w.node)):
        ip = w.addresses[0] if w.addresses else ""
        first = [w.namespace, w.name] if f.istioctl_workloads_namespace_first else [w.name, w.namespace]
        network = [""] if "NETWORK" in head else []
        cells = [*first, *network, ip, w.node] + (["None", w.tunnel_protocol] if verbose else [])
        writer.write("\t".join(cells) + "\n")
    writer.flush()
    return writer.getvalue()


_TYPES = {"daemonset": "daemonsets", "daemonsets": "daemonsets", "ds": "daemonsets", "deployment": "deployments",
          "deployments": "deployments", "deploy": "deployments"}


def _infer_pod(ctx: Ctx, client: RestClient, name: str) -> Wait:
    """InferPodInfoFromTypedResource [istioctl/pkg/util/handlers/handlers.go]: `pod[.ns]` or `type/name[.ns]`,
    the first pod of a workload in kubectl logs' order (assigned, running, ready, more restarts, older)."""
    resource, namespace = _split_namespace(name, ctx.istio_namespace)
    if "/" not in resource:
        return resource, namespace
    kind, _, workload = resource.partition("/")
    if kind in ("pod", "pods", "po"):
        return workload, namespace
    plural = _TYPES.get(kind.lower())
    if plural is None:
        raise not_modelled(f"a {kind} as the pod to ask")
    try:
        owner = yield from get_json(client, f"/apis/apps/v1/namespaces/{namespace}/{plural}/{workload}")
    except GoError as err:
        raise CommandError(f'failed retrieving: {err} in the "{namespace}" namespace') from None
    pods = yield from _selected_pods(client, namespace, owner)
    if not pods:
        yield ctx.proc.sleep(2.0)  # GetFirstPod waits up to 2 s for one to appear
        pods = yield from _selected_pods(client, namespace, owner)
    if not pods:
        raise CommandError(f'no pods match "{resource}"')
    return min(pods, key=_logging_order)["metadata"]["name"], namespace


def _split_namespace(name: str, default: str) -> tuple[str, str]:
    """inferNsInfo: a `.namespace` suffix after the last `/`."""
    slash = name.rfind("/")
    dot = name.rfind(".")
    if dot > slash:
        return name[:dot], name[dot + 1:]
    return name, default


def _selected_pods(client: RestClient, namespace: str, owner: Obj) -> Wait:
    labels = (owner["spec"].get("selector") or {}).get("matchLabels") or {}
    listing = yield from get_json(client, f"/api/v1/namespaces/{namespace}/pods",
                                  [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(labels.items())))])
    return list(listing.get("items") or [])


def _logging_order(pod: Obj) -> tuple[Any, ...]:
    """podutils.ByLogging, without the ready-time comparison."""
    status = pod.get("status") or {}
    phase = {"Running": 0, "Unknown": 1, "Pending": 2}.get(status.get("phase", ""), 3)
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    return (not pod["spec"].get("nodeName"), phase, not pod_ready(pod), -restarts,
            pod["metadata"].get("creationTimestamp") or "~")


def _pod_on_node(ctx: Ctx, client: RestClient, node: str) -> Wait:
    """PodOnNodeFromDaemonset: the ztunnel DaemonSet's pod on that node."""
    namespace = ctx.istio_namespace
    try:
        daemonset = yield from get_json(client, f"/apis/apps/v1/namespaces/{namespace}/daemonsets/ztunnel")
    except GoError as err:
        raise CommandError(str(err)) from None
    for pod in (yield from _selected_pods(client, namespace, daemonset)):
        if pod["spec"].get("nodeName") == node:
            return pod["metadata"]["name"], namespace
    raise CommandError("no pods found")


def _is_ztunnel_pod(client: RestClient, pod: str, namespace: str) -> Wait:
    """IsZtunnelPod [istioctl/pkg/util/ambient/util.go]: label app=ztunnel, else a `ztunnel` name prefix."""
    result = yield from client.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    if result.error() is not None:
        return pod.startswith("ztunnel")
    labels = (result.into().get("metadata") or {}).get("labels") or {}
    return labels["app"] == "ztunnel" if "app" in labels else pod.startswith("ztunnel")
