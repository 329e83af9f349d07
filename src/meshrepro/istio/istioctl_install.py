"""`istioctl install` and `istioctl uninstall`: what they print, ask, create, wait for and delete.

Sources (istio/istio at each tag): operator/cmd/mesh/install.go, uninstall.go, shared.go (Confirm);
operator/pkg/helmreconciler/{reconciler,apply,wait,prune,common}.go (<=1.23) and operator/pkg/install,
operator/pkg/uninstall (1.24+); operator/pkg/util/progress/progress.go; operator/version/version.go (EOL);
istioctl/pkg/install/k8sversion/version.go.

Components install concurrently, each after the ones it depends on (Pilot after Base; CNI and gateways after
Pilot; from 1.21 Ztunnel after CNI), apply their objects, then poll until their Deployments and DaemonSets are
ready (immediately, then every 2 s, up to --readiness-timeout). The progress bar is drawn as a terminal shows it
once done: one line per finished component on stderr, without colours.
Simplifications: server-side apply is a create-or-merge-patch; the ready check of a Deployment's new
ReplicaSet matches it by pod template.
"""

from __future__ import annotations

import re
from datetime import datetime

from meshrepro.istio.charts import NAMESPACE
from meshrepro.istio.install import (
    ICONS,
    ComponentManifest,
    Installation,
    NotModelled,
    RenderError,
    merge_inputs,
    owner_labels,
    render,
)
from meshrepro.istio.istioctl_cli import (
    CommandError,
    Ctx,
    Obj,
    Wait,
    confirm,
    control_plane_versions,
    get_json,
    go_duration,
    istiod_pods,
    kind_info,
    not_found,
    not_modelled,
    object_path,
    request,
)
from meshrepro.runtime.fs import FsError
from meshrepro.runtime.programs.kubectl.errors import GoError, StatusError
from meshrepro.runtime.programs.kubectl.flags import Flag
from meshrepro.runtime.programs.kubectl.rest import RestClient

INSTALL_FLAGS = (
    Flag("filename", "f", kind="array", default=[]), Flag("readiness-timeout", kind="duration", default=300.0),
    Flag("skip-confirmation", "y", kind="bool", default=False), Flag("force", kind="bool", default=False),
    Flag("verify", kind="bool", default=False), Flag("set", "s", kind="array", default=[]), Flag("charts", default=""),
    Flag("manifests", "d", default=""), Flag("revision", "r", default=""), Flag("dry-run", kind="bool", default=False),
)
UNINSTALL_FLAGS = (
    Flag("purge", kind="bool", default=False), Flag("revision", "r", default=""), Flag("filename", "f", default=""),
    Flag("skip-confirmation", "y", kind="bool", default=False), Flag("force", kind="bool", default=False),
    Flag("set", "s", kind="array", default=[]), Flag("manifests", "d", default=""),
    Flag("verbose", "v", kind="bool", default=False), Flag("dry-run", kind="bool", default=False),
)
# operator/version/version.go: (OperatorCodeBaseVersion, EOL year, EOL month) per minor; 1.27.0 still says 1.26.0
_EOL = {19: ("1.19.0", 2024, 4), 20: ("1.20.0", 2024, 7), 21: ("1.21.0", 2024, 10), 22: ("1.22.0", 2025, 1),
        23: ("1.23.0", 2025, 4), 24: ("1.24.0", 2025, 7), 25: ("1.25.0", 2025, 10), 26: ("1.26.0", 2026, 2),
        27: ("1.26.0", 2026, 2)}
# istioctl/pkg/install/k8sversion/version.go MinK8SVersion per minor
_MIN_KUBERNETES = {18: 23, 19: 25, 20: 25, 21: 26, 22: 26, 23: 26, 24: 28, 25: 28, 26: 29, 27: 29}
# pkg/art/istio-ascii.txt (1.23+), printed with `%v\n`
ART = ("        |\\          \n        | \\         \n        |  \\        \n        |   \\       \n"
       "      /||    \\      \n     / ||     \\     \n    /  ||      \\    \n   /   ||       \\   \n"
       "  /    ||        \\  \n /     ||         \\ \n/______||__________\\\n____________________\n"
       "  \\__       _____/  \n     \\_____/        \n")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
CRD_POLL, CRD_TIMEOUT, RESOURCE_POLL = 0.5, 60.0, 2.0  # [helmreconciler/wait.go]


# ---------------------------------------------------------------- install


def install(ctx: Ctx, args: list[str]) -> Wait:
    o, f = ctx.opts, ctx.flags
    if args:
        raise CommandError(f"accepts 0 arg(s), received {len(args)}")  # cobra.ExactArgs(0)
    if "revision" in o.changed and not _DNS1123_LABEL.fullmatch(o["revision"]):
        raise CommandError(f"invalid revision specified: {o['revision']}")
    for name in ("revision", "manifests", "charts", "verify", "dry-run"):  # --force only skips validation
        if name in o.changed and o[name] not in ("", False):
            raise not_modelled(f"`istioctl install --{name}`")
    client = ctx.client()
    if f.istioctl_install_art:
        ctx.err(ART + "\n")
    yield from _check_kubernetes_version(ctx, client)
    _eol_warning(ctx)
    installation = _render(ctx, [part for value in o["filename"] for part in value.split(",") if part])
    yield from _version_diff_warning(ctx, client)
    if not o["skip-confirmation"] and not _confirm_install(ctx, installation):
        ctx.err("Cancelled.\n")
        return 1
    previous = yield from _previous_install_exists(client)
    yield from _create_namespace(ctx, client)
    errors = yield from _install_components(ctx, installation, float(o["readiness-timeout"]))
    if errors:
        if f.istioctl_installer_rewrite:
            raise CommandError(f"failed to install manifests: {_multierror(errors)}")
        raise CommandError("failed to install manifests: errors occurred during operation")
    _progress(ctx, "✔ Installation complete")
    if not f.install_state_dropped:
        yield from _save_installed_state(ctx, client, installation)
    pilot = installation.component("Pilot") is not None
    if not f.istioctl_installer_rewrite and (not previous or pilot):  # ProcessDefaultWebhook
        if not f.istioctl_default_message:
            ctx.err("Making this installation the default for injection and validation.\n")
        elif f.istioctl_default_message_cluster_wide:
            ctx.err("Made this installation the default for cluster-wide operations.\n")
        else:
            ctx.err("Made this installation the default for injection and validation.\n")
    if f.istioctl_ambient_install_message and installation.profile == "ambient":
        ctx.err("The ambient profile has been installed successfully, enjoy Istio without sidecars!\n")
    return 0


def _render(ctx: Ctx, filenames: list[str]) -> Installation:
    files: list[tuple[str, str]] = []
    prefix = "generate config: merge inputs: " if ctx.flags.istioctl_installer_rewrite else "generate config: "
    for name in filenames:
        if name == "-":
            files.append(("-", ctx.proc.stdin))
            continue
        try:
            files.append((name, ctx.proc.host.fs.read(name.strip(), uid=ctx.proc.uid, gid=ctx.proc.gid,
                                                      cwd=ctx.proc.cwd)))
        except FsError as exc:
            raise CommandError(f"{prefix}open {name}: {exc.strerror}") from None
    try:
        return render(ctx.version, merge_inputs(ctx.version, files, list(ctx.opts["set"])))
    except RenderError as err:
        raise CommandError(str(err)) from None
    except NotModelled as err:
        raise not_modelled(f"`istioctl install` with {err}") from None


def _check_kubernetes_version(ctx: Ctx, client: RestClient) -> Wait:
    """IsK8VersionSupported: GET /version; an older minor than the release supports only warns (stdout)."""
    try:
        result = yield from client.request("GET", "/version", timeout=32.0)
        info = result.into()
    except GoError as err:
        raise CommandError(f"check minimum supported Kubernetes version: error getting Kubernetes version: "
                           f"{err}") from None
    minor = int(re.sub(r"\D.*", "", str(info.get("minor", "0"))) or 0)
    minimum = _MIN_KUBERNETES[ctx.version[1]]
    if minor < minimum:
        ctx.out(f"\nThe Kubernetes version {info.get('gitVersion', '')} is not supported by Istio {ctx.tag}. The "
                f"minimum supported Kubernetes version is 1.{minimum}.\nProceeding with the installation, but you "
                "might experience problems. See https://istio.io/latest/docs/setup/platform-setup/ for a list of "
                "supported versions.\n\n")


def _eol_warning(ctx: Ctx) -> None:
    """IsEOL [operator/version/version.go]: the simulated date is at or after the release's EOL month."""
    if not ctx.flags.istioctl_eol_warning:
        return
    codebase, year, month = _EOL[ctx.version[1]]
    now: datetime = ctx.proc.clock.wall()
    if now.year > year or (now.year == year and now.month >= month):
        ctx.out(f"WARNING: Istio {codebase} may be out of support (EOL) already: see "
                "https://istio.io/latest/docs/releases/supported-releases/ for supported releases\n")


def _version_diff_warning(ctx: Ctx, client: RestClient) -> Wait:
    """detectIstioVersionDiff: an installed control plane of another release is an upgrade or downgrade."""
    try:
        pods = yield from istiod_pods(ctx, client)
    except GoError:
        return
    installed = sorted(v for v in control_plane_versions(pods).values() if v)
    if not installed or installed[-1] == ctx.tag:
        return
    current = installed[-1]
    direction = "upgraded" if current < ctx.tag else "downgraded"  # Go compares the strings
    ctx.err(f"WARNING: Istio is being {direction} from {current} to {ctx.tag}.\n"
            "         Running this command will overwrite it; use revisions to upgrade alongside the existing "
            "version.\n         Before upgrading, you may wish to use 'istioctl x precheck' to check for upgrade "
            "warnings.\n")


def _confirm_install(ctx: Ctx, installation: Installation) -> bool:
    f, profile = ctx.flags, installation.profile
    names = [c.user_facing for c in installation.components]
    if f.istioctl_installer_rewrite:
        prompt = f'This will install the Istio {ctx.tag} profile "{profile}" into the cluster. Proceed? (y/N)'
    elif f.istioctl_prompt_lists_components:
        prompt = (f'This will install the Istio {ctx.tag} "{profile}" profile (with components: '
                  f"{_human_join(names)}) into the cluster. Proceed? (y/N)")
    else:
        quoted = " ".join(f'"{n}"' for n in names)
        prompt = (f"This will install the Istio {ctx.tag} {profile} profile with [{quoted}] components into the "
                  "cluster. Proceed? (y/N)")
    return confirm(ctx, prompt)


def _human_join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return ", ".join(names[:-1]) + ", and " + names[-1]


def _previous_install_exists(client: RestClient) -> Wait:
    """revtag.PreviousInstallExists: a sidecar injector webhook is already there."""
    try:
        listing = yield from get_json(client, "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                                      [("labelSelector", "app=sidecar-injector")])
    except GoError:
        return False
    return bool(listing.get("items"))


def _create_namespace(ctx: Ctx, client: RestClient) -> Wait:
    result = yield from request(client, "POST", "/api/v1/namespaces",
                                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    err = result.error()
    if err is not None and not (isinstance(err, StatusError) and err.reason == "AlreadyExists"):
        raise CommandError(f"failed to create namespace {NAMESPACE}: {err}")


def _progress(ctx: Ctx, line: str) -> None:
    ctx.err(line + "\n")


def _dependencies(ctx: Ctx) -> dict[str, tuple[str, ...]]:
    """ComponentDependencies inverted: each component's parents."""
    parents = {"Pilot": ("Base",), "Cni": ("Pilot",), "IngressGateways": ("Pilot",), "EgressGateways": ("Pilot",)}
    if ctx.flags.istioctl_ztunnel_after_cni:
        parents["Ztunnel"] = ("Cni",)
    return parents


def _install_components(ctx: Ctx, installation: Installation, timeout: float) -> Wait:
    clock = ctx.proc.clock
    done = {c.name: clock.env.event() for c in installation.components}
    parents = _dependencies(ctx)
    errors: list[str] = []

    def run(component: ComponentManifest) -> Wait:
        for parent in parents.get(component.name, ()):
            if parent in done:
                yield done[parent]
        client = ctx.client()
        try:
            yield from _apply_all(ctx, client, component)
            yield from _wait_ready(ctx, client, component, timeout)
        except CommandError as err:
            _progress(ctx, f"✘ {component.user_facing} encountered an error: {err.text}")
            errors.append(err.text)
        else:
            icon = f" {ICONS[component.name]}" if ctx.flags.istioctl_component_icons else ""
            _progress(ctx, f"✔ {component.user_facing} installed{icon}")
        done[component.name].succeed()

    yield clock.env.all_of([clock.process(run(c)) for c in installation.components])
    return errors


def _apply_all(ctx: Ctx, client: RestClient, component: ComponentManifest) -> Wait:
    for obj in component.objects:
        err = yield from apply_object(client, obj)
        if err is not None:
            meta = obj["metadata"]
            if ctx.flags.istioctl_installer_rewrite:
                raise CommandError(f"failed to update resource with server-side apply for obj "
                                   f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}: {err}")
            raise CommandError(str(err))


def apply_object(client: RestClient, obj: Obj) -> Wait:
    """Create the object, or merge it into the live one; the API error or None."""
    info = kind_info(obj)
    meta = obj["metadata"]
    namespace = str(meta.get("namespace", ""))
    path = object_path(info, namespace, meta["name"])
    current = yield from request(client, "GET", path)
    if not_found(current.error()):
        created = yield from request(client, "POST", object_path(info, namespace), body=obj)
        return created.error()
    if current.error() is not None:
        return current.error()
    patched = yield from request(client, "PATCH", path, body=obj, content_type="application/merge-patch+json")
    return patched.error()


def _wait_ready(ctx: Ctx, client: RestClient, component: ComponentManifest, timeout: float) -> Wait:
    crds = [o["metadata"]["name"] for o in component.objects if o["kind"] == "CustomResourceDefinition"]
    if crds:
        yield from _wait_crds(ctx, client, crds)
    watched = [o for o in component.objects if o["kind"] in ("Deployment", "DaemonSet")]
    clock = ctx.proc.clock
    deadline = clock.now + timeout
    ready, not_ready, debug = yield from _resources_ready(client, watched)
    if ready:
        return
    while clock.now + RESOURCE_POLL <= deadline:  # PollUntilContextTimeout(2s, timeout, immediate=false)
        yield ctx.proc.sleep(RESOURCE_POLL)
        ready, not_ready, debug = yield from _resources_ready(client, watched)
        if ready:
            return
    yield ctx.proc.sleep(max(0.0, deadline - clock.now))
    # wait.go builds "  <id> (<debug>)", or "  <debug>" (empty) when there is none
    lines = [f"  {name} ({debug[name]})" if name in debug else "  " for name in not_ready]
    raise CommandError(f"failed to wait for resource: resources not ready after {go_duration(timeout)}: context "
                       "deadline exceeded\n" + "\n".join(lines))


def _wait_crds(ctx: Ctx, client: RestClient, names: list[str]) -> Wait:
    """waitForCRDs: every CRD Established, polled each 0.5 s (not at once) for up to 60 s."""
    waited = 0.0
    while waited < CRD_TIMEOUT:
        yield ctx.proc.sleep(CRD_POLL)
        waited += CRD_POLL
        established = True
        for name in names:
            try:
                crd = yield from get_json(client, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            except GoError as err:
                raise CommandError(f"failed to verify CRD creation: {err}") from None
            conditions = (crd.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                established = False
                break
        if established:
            return
    raise CommandError("failed to verify CRD creation: context deadline exceeded")


def _resources_ready(client: RestClient, objects: list[Obj]) -> Wait:
    """waitForResources: (ready, not-ready ids, debug info per id)."""
    not_ready: list[str] = []
    debug: dict[str, str] = {}
    for obj in objects:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        ident = f"{obj['kind']}/{ns}/{name}"
        try:
            live = yield from get_json(client, object_path(kind_info(obj), ns, name))
            if obj["kind"] == "Deployment":
                new_rs = yield from _new_replicaset(client, live)
                if new_rs is None:
                    return False, not_ready, debug  # GetAllReplicaSets found no new ReplicaSet yet
                if int((new_rs.get("status") or {}).get("readyReplicas", 0)) < int(live["spec"].get("replicas", 1)):
                    not_ready.append(ident)
                    reason = yield from _pod_failure_reason(client, ns, live)
                    if reason:
                        debug[ident] = reason
            elif not _daemonset_ready(live):
                not_ready.append(ident)
        except GoError as err:
            raise CommandError(f"failed to wait for resource: {err}") from None
    return not not_ready, not_ready, debug


def _selector_query(workload: Obj) -> list[tuple[str, str]]:
    labels = (workload["spec"].get("selector") or {}).get("matchLabels") or {}
    return [("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(labels.items())))]


def _new_replicaset(client: RestClient, deployment: Obj) -> Wait:
    """FindNewReplicaSet: the owned ReplicaSet whose template is the Deployment's (pod-template-hash aside)."""
    ns = deployment["metadata"]["namespace"]
    listing = yield from get_json(client, f"/apis/apps/v1/namespaces/{ns}/replicasets", _selector_query(deployment))
    for rs in listing.get("items") or []:
        owners = rs["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == deployment["metadata"]["uid"] for o in owners):
            continue
        template = dict(rs["spec"].get("template") or {})
        meta = dict(template.get("metadata") or {})
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"}
        if {**template, "metadata": meta} == deployment["spec"].get("template"):
            return rs
    return None


def _pod_failure_reason(client: RestClient, ns: str, deployment: Obj) -> Wait:
    """extractPodFailureReason: the newest pod's waiting container, or its Ready condition's message."""
    listing = yield from get_json(client, f"/api/v1/namespaces/{ns}/pods", _selector_query(deployment))
    pods = sorted(listing.get("items") or [], key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    for pod in pods:
        status = pod.get("status") or {}
        for container in status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting is not None:
                return f"container failed to start: {waiting.get('reason', '')}: {waiting.get('message', '')}"
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "False":
                return str(condition.get("message", ""))
    return ""


def _daemonset_ready(ds: Obj) -> bool:
    """daemonsetsReady [helmreconciler/wait.go]."""
    status, spec = ds.get("status") or {}, ds.get("spec") or {}
    if status.get("observedGeneration") != ds["metadata"].get("generation"):
        return False
    strategy = (spec.get("updateStrategy") or {}).get("type")
    desired = int(status.get("desiredNumberScheduled", 0))
    if strategy == "OnDelete" and int(status.get("updatedNumberScheduled", 0)) != desired:
        return False
    if strategy == "RollingUpdate":
        return desired > 0 and int(status.get("numberReady", 0)) >= desired
    return True


def _multierror(errors: list[str]) -> str:
    """istiomultierror's format: one error as is, several as a `* ` list."""
    if len(errors) == 1:
        return errors[0]
    return f"{len(errors)} errors occurred:\n\t" + "\n\t".join(f"* {e}" for e in errors) + "\n\n"


def _save_installed_state(ctx: Ctx, client: RestClient, installation: Installation) -> Wait:
    """saveIOPToCluster (<=1.20): the merged IstioOperator, as `installed-state`, not reconciled."""
    iop = {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
           "metadata": {"name": "installed-state", "namespace": NAMESPACE,
                        "annotations": {"install.istio.io/ignoreReconcile": "true"},
                        "labels": {k: v for k, v in owner_labels(ctx.version, "").items()
                                   if k != "operator.istio.io/component"}},
           "spec": installation.spec}
    err = yield from apply_object(client, iop)
    if err is not None:
        raise CommandError(f"failed to install manifests: {err}")


# ---------------------------------------------------------------- uninstall

# Resource types pruned, in order [helmreconciler/prune.go (<=1.23), uninstall/prune.go (1.24+)]
_NAMESPACED = [("apps/v1", "Deployment", "deployments"), ("apps/v1", "DaemonSet", "daemonsets"),
               ("v1", "Service", "services"), ("v1", "ConfigMap", "configmaps"), ("v1", "Pod", "pods"),
               ("v1", "Secret", "secrets"), ("v1", "ServiceAccount", "serviceaccounts"),
               ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
               ("rbac.authorization.k8s.io/v1", "Role", "roles")]
_AUTOSCALER = ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
_BUDGET = ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
_CLUSTER = [("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations"),
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings"),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions"),
            ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "network-attachment-definitions")]


def uninstall(ctx: Ctx, args: list[str]) -> Wait:
    o, f = ctx.opts, ctx.flags
    if not (o["revision"] or o["filename"] or o["purge"] or any(s.startswith("revision=") for s in o["set"])):
        raise CommandError("at least one of the --revision (or --set revision=<revision>), --filename or --purge "
                           "flags must be set")
    if args:
        raise CommandError("istioctl uninstall does not take arguments")
    if not o["purge"] or o["revision"] or o["filename"] or o["dry-run"]:
        raise not_modelled("`istioctl uninstall` without --purge (or with --revision, --filename, --dry-run)")
    client = ctx.client()
    if not f.istioctl_installer_rewrite:
        try:
            yield from _check_kubernetes_version(ctx, client)
        except CommandError as err:  # l.LogAndFatal: the message on stderr and os.Exit(-1)
            ctx.err(err.text + "\n")
            return 255
    targets = yield from _pruned_resources(ctx, client)
    message = "All Istio resources will be pruned from the cluster\n"
    if o["skip-confirmation"]:
        ctx.out(message + "\n")
    elif not confirm(ctx, message + "Proceed? (y/N)"):
        ctx.err("Cancelled.\n")
        return 1
    errors: list[str] = []
    seen: set[str] = set()
    for api_version, obj in targets:
        name = _removed_name(ctx, api_version, obj)
        if name in seen:
            continue
        seen.add(name)
        info = kind_info({"apiVersion": api_version, "kind": obj["kind"]})
        meta = obj["metadata"]
        result = yield from request(client, "DELETE", object_path(info, meta.get("namespace", ""), meta["name"]))
        err = result.error()
        if not_found(err):
            ctx.out(f"object: {name} is not being deleted because it no longer exists\n")
        elif err is not None:
            errors.append(str(err))
        else:
            ctx.out(f"  Removed {name}.\n")
    if errors:
        raise CommandError(f"failed to delete control plane resources by revision: {_multierror(errors)}")
    _progress(ctx, "✔ Uninstall complete")
    return 0


def _pruned_resources(ctx: Ctx, client: RestClient) -> Wait:
    """GetPrunedResources with purge: every object of the pruned types carrying operator.istio.io/component."""
    kinds = list(_NAMESPACED)
    kinds += [_BUDGET, _AUTOSCALER] if ctx.flags.istioctl_installer_rewrite else [_AUTOSCALER, _BUDGET]
    if ctx.flags.istioctl_installer_rewrite:
        kinds.append(("networking.istio.io/v1alpha3", "EnvoyFilter", "envoyfilters"))
    kinds += _CLUSTER
    found: list[tuple[str, Obj]] = []
    if not ctx.flags.install_state_dropped:  # getIstioOperatorCR lists every IstioOperator first
        found += yield from _list(client, "install.istio.io/v1alpha1", "IstioOperator", "istiooperators", "")
    for api_version, kind, plural in kinds:
        found += yield from _list(client, api_version, kind, plural, "operator.istio.io/component")
    return found


def _list(client: RestClient, api_version: str, kind: str, plural: str, selector: str) -> Wait:
    group, _, version = api_version.rpartition("/")
    path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
    result = yield from request(client, "GET", path, [("labelSelector", selector)] if selector else None)
    if result.error() is not None:
        return []  # a type the cluster does not serve is skipped
    return [(api_version, {"kind": kind, **item}) for item in result.into().get("items") or []]


def _removed_name(ctx: Ctx, api_version: str, obj: Obj) -> str:
    meta = obj["metadata"]
    ns, kind = str(meta.get("namespace", "")), obj["kind"]
    if ctx.flags.istioctl_installer_rewrite:  # `%v/%s.%s` of GroupVersionKind, name, namespace
        group, _, version = api_version.rpartition("/")
        return f"{group}/{version}, Kind={kind}/{meta['name']}.{ns}"
    if kind in ("ClusterRole", "ClusterRoleBinding"):  # object.Hash clears their namespace
        ns = ""
    return f"{kind}:{ns}:{meta['name']}"
