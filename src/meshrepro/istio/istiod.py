"""istiod's ambient side: the workload index it builds from pods, Services and PeerAuthentications, and the
debounced pushes of that index to every connected ztunnel (the WDS `istio.workload.Address` feed).

Which pods become workloads is the crux of istio/istio#48854 and changed three times; each rule is a flag
of `istio.versions` read here, never a version comparison:
- before `istiod_publishes_pending_pods` (1.21.2): phase Running only, never hostNetwork;
- from it: Running or Pending; the krt index (`ambient_index_krt`, 1.22.0) also requires a pod IP;
- from `istiod_publishes_nonterminal_pods` (1.24.0): any phase but Succeeded/Failed, with an IP.
The legacy index (before krt) ignores a pod update unless labels, annotations, phase or readiness changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import simpy

from meshrepro.istio.peerauth import PEER_AUTHENTICATIONS, effective_mtls
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.workload import Workload
from meshrepro.kube.client import Client
from meshrepro.kube.store import Obj, ResourceKey, Store, WatchEvent
from meshrepro.net.tls import Certificate
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

PODS = ResourceKey("", "pods")
NAMESPACES = ResourceKey("", "namespaces")
SERVICES = ResourceKey("", "services")
CONFIG_MAPS = ResourceKey("", "configmaps")
ROOT_CERT_CONFIG_MAP = "istio-ca-root-cert"
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

# pilot/pkg/features: PILOT_DEBOUNCE_AFTER=100ms (quiet period), PILOT_DEBOUNCE_MAX=10s.
DEBOUNCE_AFTER = 0.1
DEBOUNCE_MAX = 10.0
# From the push to ztunnel applying it on a kind node. ztunnel#1147's commit message reports the
# pod->ztunnel propagation exceeding 500 ms "~100% of the time" on kind, so a push lands after ~0.5 s.
PUSH_LATENCY = 0.5
STATIC_STRICT_POLICY = "istio_converted_static_strict"  # pilot/.../ambient/policies.go staticStrictPolicyName
REDIRECTION_ANNOTATION = "ambient.istio.io/redirection"


@dataclass(frozen=True)
class MeshService:
    namespace: str
    name: str
    hostname: str  # <name>.<namespace>.svc.cluster.local
    vips: tuple[str, ...]
    ports: tuple[tuple[int, int | str], ...]  # (service port, target port or its name)


@dataclass(frozen=True)
class Policy:
    """A ztunnel authorization policy; PeerAuthentication STRICT becomes a DENY of requests without a peer
    identity (`NotPrincipals: Presence`) on all ports or on the listed ones."""

    namespace: str
    name: str
    action: str = "DENY"
    ports: tuple[int, ...] = ()  # empty: every port

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def denies(self, port: int, has_identity: bool) -> bool:
        return not has_identity and (not self.ports or port in self.ports)


@dataclass(frozen=True)
class Snapshot:
    """One push: everything a ztunnel knows after applying it."""

    version: int
    workloads: tuple[Workload, ...]
    services: tuple[MeshService, ...]
    policies: dict[str, tuple[Policy, ...]] = field(default_factory=dict)  # workload uid -> policies


class Subscriber(Protocol):
    name: str

    def on_push(self, snapshot: Snapshot) -> None: ...


class Istiod:
    def __init__(self, clock: Clock, store: Store, client: Client, trace: Trace, version: IstioVersion, *, ambient: bool,
                 root_namespace: str = "istio-system", cluster_id: str = "Kubernetes",
                 trust_domain: str = "cluster.local") -> None:
        self.clock = clock
        self.store = store
        self.client = client
        self.trace = trace
        self.version = version
        # istiod's self-signed root (O=<trust domain>), published to every namespace as istio-ca-root-cert
        self.root_cert = Certificate("", "", f"{clock.rng.getrandbits(64):016x}", organizations=(trust_domain,),
                                     is_ca=True)
        self.flags = flags(version)
        self.ambient = ambient  # PILOT_ENABLE_AMBIENT(_CONTROLLERS): without it there is no workload index
        self.root_namespace = root_namespace
        self.cluster_id = cluster_id
        self.trust_domain = trust_domain
        self.workloads: dict[tuple[str, str], Workload] = {}
        self._seen: dict[tuple[str, str], tuple[Any, ...]] = {}  # the legacy index's change filter
        self._converted: set[tuple[str, str, str]] = set()  # (workload, policy, PeerAuthentication) traced
        self._ignored: set[tuple[tuple[str, str], str]] = set()  # (pod, IP) updates the legacy index skipped, traced
        self.subscribers: list[Subscriber] = []
        self._pushed = 0
        self._dirty_since: float | None = None
        self._last_change = 0.0
        self._pusher: simpy.Process | None = None
        self._watches: list[tuple[Callable[[WatchEvent], None], ResourceKey]] = []
        self.running = False
        self.started = 0.0

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.running = True
        self.started = self.clock.now  # sidecars get their first config a push later
        self.store.watch(self._on_namespace, NAMESPACES)
        self._watches.append((self._on_namespace, NAMESPACES))
        for namespace in list(self.store.iter(NAMESPACES)):
            self._publish_root_cert(namespace)
        if not self.ambient:
            return
        for key, handler in ((PODS, self._on_pod), (NAMESPACES, self._on_config), (SERVICES, self._on_config),
                             (PEER_AUTHENTICATIONS, self._on_config)):
            self.store.watch(handler, key)
            self._watches.append((handler, key))
        for pod in list(self.store.iter(PODS)):
            self._on_pod(WatchEvent("ADDED", PODS, pod))

    def stop(self) -> None:
        self.running = False
        for handler, key in self._watches:
            self.store.unwatch(handler, key)
        self._watches.clear()
        for subscriber in list(self.subscribers):
            self.subscribers.remove(subscriber)

    def connect(self, subscriber: Subscriber) -> None:
        """A ztunnel opened its xDS stream: it gets the full state at once, then every push."""
        if subscriber not in self.subscribers:
            self.subscribers.append(subscriber)
        if self.ambient:
            self.clock.env.process(self._deliver([subscriber], self._snapshot()))

    def disconnect(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)

    # -- the namespace controller: the mesh's root certificate in every namespace ----------

    def _on_namespace(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self._publish_root_cert(event.object)

    def _publish_root_cert(self, namespace: Obj) -> None:
        """pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go; system namespaces are skipped
        (inject.IgnoredNamespaces)."""
        name = namespace["metadata"]["name"]
        if name in IGNORED_NAMESPACES or (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        if self.store.peek(CONFIG_MAPS, name, ROOT_CERT_CONFIG_MAP) is not None:
            return
        self.client.create("v1", "configmaps", name, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CERT_CONFIG_MAP, "namespace": name,
                         "labels": {"istio.io/config": "true"}},
            "data": {"root-cert.pem": self.root_cert.pem()}})

    # -- the workload index --------------------------------------------------------------

    def _on_pod(self, event: WatchEvent) -> None:
        pod = event.object
        meta = pod["metadata"]
        ident = (meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            self._seen.pop(ident, None)
            if self.workloads.pop(ident, None) is not None:
                self._changed(f"pod {ident[0]}/{ident[1]} deleted")
            return
        if not self.flags.ambient_index_krt:
            # istio<=1.21 ambientindex.go handlePod: recompute only when these fields changed.
            status = pod.get("status") or {}
            seen = (repr(meta.get("labels")), repr(meta.get("annotations")), status.get("phase"), _ready(pod))
            if self._seen.get(ident) == seen:
                stale = self.workloads.get(ident)
                ip = status.get("podIP")
                if stale is not None and ip and ip not in stale.addresses and (ident, ip) not in self._ignored:
                    self._ignored.add((ident, ip))
                    self.trace.add(self.clock.now, "istiod", f"Pod {ident[0]}/{ident[1]}", "ignored pod update",
                                   f"status.podIP {ip} set, but the workload is recomputed only when labels, "
                                   f"annotations, phase or readiness change; ztunnel keeps addresses "
                                   f"{', '.join(stale.addresses) or 'none'}", flag="ambient_index_krt",
                                   istio=".".join(map(str, self.version)))
                return
            self._seen[ident] = seen
        workload = self._workload(pod)
        previous = self.workloads.get(ident)
        if workload is None:
            if previous is not None:
                del self.workloads[ident]
                self._changed(f"pod {ident[0]}/{ident[1]} no longer a workload")
            return
        if workload != previous:
            self.workloads[ident] = workload
            self.trace.add(self.clock.now, "istiod", f"Pod {ident[0]}/{ident[1]}", "indexed workload",
                           f"phase {(pod.get('status') or {}).get('phase')}, addresses "
                           f"{', '.join(workload.addresses) or 'none'}, status {workload.status}, "
                           f"protocol {workload.tunnel_protocol}")
            self._changed(f"workload {ident[0]}/{ident[1]}")

    def _workload(self, pod: Obj) -> Workload | None:
        """The pod as a workload, or None when this release's filter leaves it out (traced with the reason)."""
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        phase = status.get("phase", "Pending")
        subject = f"Pod {meta.get('namespace')}/{meta['name']}"
        if self.flags.istiod_publishes_nonterminal_pods:
            skip = "phase is terminal" if phase in ("Succeeded", "Failed") else ""
            flag = "istiod_publishes_nonterminal_pods"
        elif self.flags.istiod_publishes_pending_pods:
            skip = ("the pod uses the host network" if spec.get("hostNetwork")
                    else f"phase {phase} is neither Running nor Pending" if phase not in ("Running", "Pending") else "")
            flag = "istiod_publishes_pending_pods"
        else:
            skip = ("the pod uses the host network" if spec.get("hostNetwork")
                    else f"phase {phase} is not Running" if phase != "Running" else "")
            flag = "istiod_publishes_pending_pods"
        addresses = tuple(ip["ip"] for ip in status.get("podIPs") or []) or (
            (status["podIP"],) if status.get("podIP") else ())
        if not skip and not addresses and self.flags.ambient_index_krt:
            skip, flag = "the pod has no IP yet", "ambient_index_krt"
        if skip:
            self.trace.add(self.clock.now, "istiod", subject, "not published to ztunnel", skip, flag=flag,
                           istio=".".join(map(str, self.version)))
            return None
        namespace = meta.get("namespace", "")
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        services = [s for s in self._services() if s.service.namespace == namespace and s.selector
                    and _selects(s.selector, labels)]
        return Workload(
            uid=f"{self.cluster_id}//Pod/{namespace}/{meta['name']}", name=meta["name"], namespace=namespace,
            node=spec.get("nodeName", ""), addresses=addresses,
            service_account=spec.get("serviceAccountName") or "default",
            status="HEALTHY" if _ready(pod) else "UNHEALTHY",
            tunnel_protocol="HBONE" if annotations.get(REDIRECTION_ANNOTATION) == "enabled" else "TCP",
            trust_domain=self.trust_domain,
            canonical_name=labels.get("service.istio.io/canonical-name") or labels.get("app") or _workload_name(pod),
            canonical_revision=labels.get("service.istio.io/canonical-revision") or labels.get("version") or "latest",
            workload_name=_workload_name(pod),
            services=tuple(f"{s.service.namespace}/{s.service.hostname}" for s in services),
            service_ports=tuple((f"{s.service.namespace}/{s.service.hostname}", port, _target(pod, target))
                                for s in services for port, target in s.service.ports),
            pod_uid=meta.get("uid", ""))

    def _on_config(self, event: WatchEvent) -> None:
        meta = event.object["metadata"]
        kind = event.object.get("kind") or str(event.key)
        if event.key == SERVICES:  # the services a pod belongs to are part of its workload
            for pod in list(self.store.iter(PODS, meta.get("namespace"))):
                ident = (pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
                workload = self._workload(pod) if ident in self.workloads else None
                if workload is not None:
                    self.workloads[ident] = workload
        self._changed(f"{kind} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " "))

    def _services(self) -> list[_SelectingService]:
        found = []
        for svc in self.store.iter(SERVICES):
            spec = svc.get("spec") or {}
            vips = tuple(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None")
            meta = svc["metadata"]
            ports = tuple((p["port"], p.get("targetPort", p["port"])) for p in spec.get("ports") or []
                          if p.get("protocol", "TCP") == "TCP")
            service = MeshService(meta.get("namespace", ""), meta["name"],
                                  f"{meta['name']}.{meta.get('namespace', '')}.svc.cluster.local", vips, ports)
            found.append(_SelectingService(service, spec.get("selector") or {}))
        return found

    # -- PeerAuthentication -> ztunnel policies ------------------------------------------

    def _policies(self, workloads: list[Workload]) -> dict[str, tuple[Policy, ...]]:
        """pilot/.../ambient/policies.go: with any PeerAuthentication present, STRICT workloads get the static
        DENY-without-identity policy; port-level STRICT becomes converted_peer_authentication_<name>."""
        pas = list(self.store.iter(PEER_AUTHENTICATIONS))
        if not pas or not self.flags.ambient_peer_authentication:
            return {}
        out: dict[str, tuple[Policy, ...]] = {}
        labels_of = {(p["metadata"].get("namespace", ""), p["metadata"]["name"]): p["metadata"].get("labels") or {}
                     for p in self.store.iter(PODS)}
        for workload in workloads:
            labels = labels_of.get((workload.namespace, workload.name), {})
            mtls = effective_mtls(pas, root_namespace=self.root_namespace, namespace=workload.namespace,
                                  labels=labels)
            mode, port_modes, name, decided_by = mtls.mode, dict(mtls.port_modes), mtls.workload_policy, mtls.decided_by
            policies: list[Policy] = []
            if mode == "STRICT":
                policies.append(Policy(self.root_namespace, STATIC_STRICT_POLICY))
                self._trace_conversion(workload, f"{self.root_namespace}/{STATIC_STRICT_POLICY}", decided_by)
            strict_ports = tuple(sorted(p for p, m in port_modes.items() if m == "STRICT"))
            if strict_ports and mode != "STRICT":
                policies.append(Policy(workload.namespace, f"converted_peer_authentication_{name}", ports=strict_ports))
            if policies:
                out[workload.uid] = tuple(policies)
        return out

    def _trace_conversion(self, workload: Workload, policy: str, peer_authentication: str) -> None:
        key = (workload.uid, policy, peer_authentication)
        if key not in self._converted:
            self._converted.add(key)
            self.trace.add(self.clock.now, "istiod", f"Pod {workload.namespace}/{workload.name}",
                           "converted PeerAuthentication", f"{peer_authentication} mtls.mode STRICT -> DENY policy "
                           f"{policy} (requests without a peer identity)", flag="ambient_peer_authentication",
                           peer_authentication=peer_authentication, policy=policy)

    # -- pushes --------------------------------------------------------------------------

    def _changed(self, what: str) -> None:
        now = self.clock.now
        self._last_change = now
        if self._dirty_since is None:
            self._dirty_since = now
        if self._pusher is None or not self._pusher.is_alive:
            self._pusher = self.clock.env.process(self._debounce())

    def _debounce(self) -> Any:
        """pilot/pkg/xds/discovery.go debounce: push after DEBOUNCE_AFTER of quiet, or DEBOUNCE_MAX at most.
        The push is sent concurrently; changes during it start the next debounce."""
        while self._dirty_since is not None:
            wake = min(self._last_change + DEBOUNCE_AFTER, self._dirty_since + DEBOUNCE_MAX)
            if self.clock.now < wake:
                yield self.clock.timeout(wake - self.clock.now)
                continue
            self._dirty_since = None
            if self.running and self.subscribers:
                self.clock.env.process(self._deliver(list(self.subscribers), self._snapshot()))

    def _snapshot(self) -> Snapshot:
        self._pushed += 1
        workloads = sorted(self.workloads.values(), key=lambda w: w.uid)
        return Snapshot(self._pushed, tuple(workloads), tuple(s.service for s in self._services()),
                        self._policies(workloads))

    def _deliver(self, subscribers: list[Subscriber], snapshot: Snapshot) -> Any:
        yield self.clock.timeout(PUSH_LATENCY)
        for subscriber in subscribers:
            if subscriber in self.subscribers:
                self.trace.add(self.clock.now, "istiod", subscriber.name, "pushed workloads",
                               f"push {snapshot.version}: {len(snapshot.workloads)} workloads, "
                               f"{len(snapshot.services)} services")
                subscriber.on_push(snapshot)



@dataclass(frozen=True)
class _SelectingService:
    service: MeshService
    selector: dict[str, str]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """A Service selector or matchLabels: every pair present."""
    return all(labels.get(key) == value for key, value in selector.items())


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _workload_name(pod: Obj) -> str:
    """The Deployment's name for a ReplicaSet pod (the template hash stripped), else the owner's or the pod's."""
    meta = pod["metadata"]
    owners = meta.get("ownerReferences") or []
    if not owners:
        return meta["name"]
    owner = owners[0]
    name: str = owner.get("name", meta["name"])
    template_hash = (meta.get("labels") or {}).get("pod-template-hash")
    if owner.get("kind") == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
        return name[: -len(template_hash) - 1]
    return name


def _target(pod: Obj, target: int | str) -> int:
    """A named targetPort resolves against the pod's container ports, as kube-proxy and istiod do."""
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return 0
