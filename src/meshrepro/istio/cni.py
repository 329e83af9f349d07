"""istio-cni for ambient: the chained CNI plugin the kubelet runs at sandbox creation, and the node agent.

- Up to 1.20 (node-level capture, cni/pkg/ambient): the plugin adds the pod IP to the node's ipset
  `ztunnel-pods-ips`; the agent keeps the node rules that mark those pods' packets and route them through
  the istioout/istioin tunnels into the node's shared ztunnel. Capture therefore starts before any init
  container, whether or not ztunnel knows the pod.
- From 1.21 (in-pod, cni/pkg/nodeagent): the plugin pushes the pod's netns to the agent and returns only when
  the agent has written the in-pod rules and ztunnel acknowledged the pod; without a ztunnel the add fails
  (`no ztunnel connection`) and the kubelet retries the sandbox.
Which pods are captured is `redirection_enabled`, the version's PodRedirectionEnabled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any

import simpy

from meshrepro.istio import ztunnel_log as zlog
from meshrepro.istio.iptables import (
    INBOUND_TUN,
    OUTBOUND_TUN,
    ZTUNNEL_PODS_IPSET,
    CaptureConfig,
    IpRoute,
    IpRule,
    ambient_inpod_rules,
    ambient_node_routes,
    ambient_node_rules,
    ambient_pod_route,
    inpod_probe_host_rules,
    inpod_probe_set,
    sidecar_rules,
    ztunnel_pod_rules,
)
from meshrepro.istio.versions import IstioVersion, flags
from meshrepro.istio.ztunnel import PodInfo, Ztunnel
from meshrepro.kube.client import Client
from meshrepro.kube.cni import CNIError, CNIResult
from meshrepro.kube.kubelet import Kubelet
from meshrepro.kube.store import Obj, ResourceKey, Store, WatchEvent
from meshrepro.net.stack import NetNamespace, Network, PolicyRule, TunnelRoute, veth_name
from meshrepro.runtime.process import Output
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

DATAPLANE_MODE = "istio.io/dataplane-mode"
REDIRECTION = "ambient.istio.io/redirection"
SIDECAR_STATUS = "sidecar.istio.io/status"
PODS = ResourceKey("", "pods")
NAMESPACES = ResourceKey("", "namespaces")
ACK_TIME = 0.002  # the ZDS round trip over the node's unix socket


class IstioCniPlugin:
    """The `istio-cni` entry install-cni chains after the primary plugin in the node's conflist."""

    type = "istio-cni"
    name = "istio-cni"

    def __init__(self, agent: CniAgent) -> None:
        self.agent = agent

    def add(self, pod: Obj, netns: NetNamespace, previous: CNIResult) -> Generator[simpy.Event, Any, CNIResult | CNIError]:
        error = yield from self.agent.cmd_add(pod, netns, previous.ips)
        if error:
            return CNIError(self.type, self.name, error)
        return previous

    def delete(self, pod: Obj, netns: NetNamespace) -> None:
        self.agent.remove(pod["metadata"].get("uid", ""), netns.addresses)


class CniAgent:
    """The istio-cni-node pod on one node: installs the plugin, owns capture, and watches pods on its node."""

    def __init__(self, clock: Clock, network: Network, store: Store, client: Client, trace: Trace,
                 version: IstioVersion, kubelet: Kubelet, log: Output, env: dict[str, str],
                 ztunnel_of: Callable[[], Ztunnel | None]) -> None:
        self.clock = clock
        self.network = network
        self.store = store
        self.client = client
        self.trace = trace
        self.version = version
        self.flags = flags(version)
        self.kubelet = kubelet
        self.node_ns = kubelet.node_ns
        self.log = log
        self.ztunnel_of = ztunnel_of
        # install-cni writes CNI_NETWORK_CONFIG (the chart's istio-cni-config) into the node's conflist
        network_config = json.loads(env.get("CNI_NETWORK_CONFIG") or "{}")
        self.ambient = bool(network_config.get("ambient_enabled"))
        self.exclude_namespaces = list((network_config.get("kubernetes") or {}).get("exclude_namespaces") or [])
        dns = env.get("AMBIENT_DNS_CAPTURE")
        self.dns_capture = dns == "true" if dns is not None else self.flags.ambient_dns_capture_default
        self.plugin = IstioCniPlugin(self)
        self.enrolled: dict[str, list[str]] = {}  # pod uid -> its IPs
        self._node_rules_for: str | None = None  # the ztunnel IP the <=1.20 node rules point at

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """install-cni writes the plugin into the conflist; the agent starts its informers."""
        self.kubelet.cni_chain.append(self.plugin)
        if not self.ambient:
            return
        self.store.watch(self._on_pod, PODS)
        self.store.watch(self._on_namespace, NAMESPACES)
        if self.flags.ambient_inpod_redirection:
            self.node_ns.ruleset.restore(inpod_probe_host_rules(self.version), noflush=True)
        for pod in list(self.store.iter(PODS)):
            self._reconcile(pod)

    def stop(self) -> None:
        """On SIGTERM install-cni removes its conflist entry and the agent its node rules."""
        if self.plugin in self.kubelet.cni_chain:
            self.kubelet.cni_chain.remove(self.plugin)
        if not self.ambient:
            return
        self.store.unwatch(self._on_pod, PODS)
        self.store.unwatch(self._on_namespace, NAMESPACES)
        self.node_ns.policy_rules = []
        self.node_ns.tunnel_routes = []

    # -- enrollment ----------------------------------------------------------------------

    def redirection_enabled(self, pod: Obj) -> tuple[bool, str]:
        """PodRedirectionEnabled of this release, with the reason (cni/pkg/util/podutil.go)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        namespace = meta.get("namespace", "")
        labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
        if namespace in self.exclude_namespaces:
            return False, f"namespace {namespace} is excluded"
        if namespace == "istio-system" and labels.get("app") == "ztunnel":
            return False, "ztunnel pods are never captured"
        if SIDECAR_STATUS in annotations:
            return False, "the pod has a sidecar (sidecar.istio.io/status)"
        if spec.get("hostNetwork"):
            return False, "the pod uses the host network"
        ns = self.store.peek(NAMESPACES, "", namespace) or {}
        ns_mode = ((ns.get("metadata") or {}).get("labels") or {}).get(DATAPLANE_MODE)
        if self.flags.ambient_pod_label_enrollment:
            if labels.get(DATAPLANE_MODE) == "none":
                return False, f"pod label {DATAPLANE_MODE}=none"
            if labels.get(DATAPLANE_MODE) == "ambient":
                return True, f"pod label {DATAPLANE_MODE}=ambient"
        elif annotations.get(REDIRECTION) == "disabled":
            return False, f"pod annotation {REDIRECTION}=disabled"
        if ns_mode == "ambient":
            return True, f"namespace {namespace} label {DATAPLANE_MODE}=ambient"
        return False, f"neither the namespace nor the pod is labelled {DATAPLANE_MODE}=ambient"

    def cmd_add(self, pod: Obj, netns: NetNamespace, ips: list[str]) -> Generator[simpy.Event, Any, str]:
        """The plugin's cmdAdd (cni/pkg/plugin/plugin.go): excluded namespaces, then ambient, then the sidecar
        redirect; returns the error text the kubelet reports, or ''."""
        meta = pod["metadata"]
        subject = f"Pod {meta.get('namespace')}/{meta['name']}"
        if meta.get("namespace") in self.exclude_namespaces:
            self._plugin_log(pod, "pod namespace excluded")
            return ""
        enabled, reason = self.redirection_enabled(pod) if self.ambient else (False, "ambient is not enabled")
        if not enabled:
            self.trace.add(self.clock.now, "istio-cni", subject, "no ambient capture", reason)
            return self._sidecar_redirect(pod, netns)
        if not self.flags.ambient_inpod_redirection:
            self._add_to_ipset(pod, ips)
            self.trace.add(self.clock.now, "istio-cni", subject, "captured at sandbox creation",
                           f"{reason}; pod IP {', '.join(ips)} added to node ipset {ZTUNNEL_PODS_IPSET}",
                           flag="ambient_inpod_redirection")
            return ""
        error = yield from self._add_inpod(pod, netns, ips, reason)
        return error

    def _sidecar_redirect(self, pod: Obj, netns: NetNamespace) -> str:
        """The plugin's sidecar branch: istio-iptables' rules from the pod's annotations, written into the
        pod's netns before any container runs (so istio-init is not injected; istio-validation checks them)."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        containers = [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
        proxy = next((c for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
                      if c["name"] == "istio-proxy"), None)
        annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
        inject = labels.get("sidecar.istio.io/inject", annotations.get("sidecar.istio.io/inject", ""))
        if "istio-init" in containers:
            return self._plugin_log(pod, "excluded due to being already injected with istio-init container")
        if proxy is None:
            return self._plugin_log(pod, "excluded because it does not have istio-proxy container "
                                         f"(have [{' '.join(sorted(set(containers)))}])")
        if inject.lower() in ("false", "0", "f"):
            return self._plugin_log(pod, "excluded due to inject-disabled annotation")
        if "sidecar.istio.io/status" not in annotations:
            return self._plugin_log(pod, "excluded due to not containing sidecar annotation")
        config = plugin_capture_config(annotations, proxy)
        if isinstance(config, str):
            self._plugin_log(pod, f"redirect failed due to bad params: {config}", level="error")
            return config
        netns.ruleset.restore(sidecar_rules(config, self.version))
        self.trace.add(self.clock.now, "istio-cni", f"Pod {meta.get('namespace')}/{meta['name']}",
                       "sidecar redirect written at sandbox creation",
                       "istio-iptables rules from the pod's annotations, before any init container runs")
        return ""

    def _plugin_log(self, pod: Obj, message: str, level: str = "info") -> str:
        meta = pod["metadata"]
        self.write([zlog.cni_plugin_line(self.version, self.clock.wall(), meta.get("namespace", ""), meta["name"],
                                         message, level)])
        return ""

    def remove(self, uid: str, ips: list[str]) -> None:
        self.enrolled.pop(uid, None)
        if not self.flags.ambient_inpod_redirection:
            members = self.node_ns.ipsets.get(ZTUNNEL_PODS_IPSET)
            for ip in ips:
                if members is not None:
                    members.delete(ip)
                self.node_ns.tunnel_routes = [r for r in self.node_ns.tunnel_routes if r.destination != f"{ip}/32"]
            return
        probes = self.node_ns.ipsets.get(inpod_probe_set(self.version))
        for ip in ips:
            if probes is not None:
                probes.delete(ip)
        ztunnel = self.ztunnel_of()
        if ztunnel is not None:
            ztunnel.remove_pod(uid)

    def _add_to_ipset(self, pod: Obj, ips: list[str], *, via_plugin: bool = True) -> None:
        """<=1.20 AddPodToMesh: the ipset entry and the per-pod route into the istioin tunnel."""
        meta = pod["metadata"]
        members = self.node_ns.ipsets.create(ZTUNNEL_PODS_IPSET, "hash:ip", exist_ok=True)
        for ip in ips:
            self.write(zlog.cni_pod_added(self.version, self.clock.wall(), namespace=meta.get("namespace", ""),
                                          name=meta["name"], uid=meta.get("uid", ""), pod_ip=ip,
                                          host_ip=self.host_ip, via_plugin=via_plugin))
            members.add(ip)
            route = ambient_pod_route(self.version, ip, host_ip=self.host_ip)
            self.node_ns.tunnel_routes.append(self._route(route))
        self.enrolled[meta.get("uid", "")] = list(ips)

    @property
    def host_ip(self) -> str:
        """GetHostIP: the node's address in its pod CIDR (kindnet's .1 on the pod veths)."""
        return (self.node_ns.devices.get("veth") or [self.kubelet.node_ip])[0]

    def _route(self, route: IpRoute) -> TunnelRoute:
        """An `ip route` of the node-level rules: the tunnels (and table 102's gateway) lead into ztunnel."""
        ztunnel = self.network.owner_of(self._node_rules_for or "")
        into_ztunnel = route.device in (INBOUND_TUN, OUTBOUND_TUN) or (
            route.via is not None and route.via == self._node_rules_for)
        peer_device = "p" + route.device if route.device in (INBOUND_TUN, OUTBOUND_TUN) else "eth0"
        return TunnelRoute(route.table, route.destination if "/" in route.destination else f"{route.destination}/32",
                           route.device, ztunnel.name if into_ztunnel and ztunnel is not None else None, peer_device)

    def _add_inpod(self, pod: Obj, netns: NetNamespace, ips: list[str], reason: str
                   ) -> Generator[simpy.Event, Any, str]:
        meta = pod["metadata"]
        subject = f"Pod {meta.get('namespace')}/{meta['name']}"
        ztunnel = self.ztunnel_of()
        self.write(zlog.cni_pod_added(self.version, self.clock.wall(), namespace=meta.get("namespace", ""),
                                      name=meta["name"], uid=meta.get("uid", ""), pod_ip=ips[0] if ips else "",
                                      service_account=_service_account(pod), ztunnel_connected=ztunnel is not None))
        probes = self.node_ns.ipsets.create(inpod_probe_set(self.version), "hash:ip", exist_ok=True)
        for ip in ips:
            probes.add(ip)
        netns.ruleset.restore(ambient_inpod_rules(self.version, self.dns_capture))
        if ztunnel is None:
            # The plugin's error ends with the agent's http.Error body newline; the kubelet event trims nothing,
            # but one line reads better and kubectl describe trims it anyway.
            error = zlog.cni_plugin_add_error(self.version).rstrip("\n")
            self.write(zlog.cni_add_failed(self.version, self.clock.wall(), namespace=meta.get("namespace", ""),
                                           name=meta["name"]))
            self.trace.add(self.clock.now, "istio-cni", subject, "sandbox refused", "no ztunnel on this node",
                           flag="ambient_inpod_redirection")
            return error
        yield self.clock.timeout(ACK_TIME)
        ztunnel.add_pod(PodInfo(meta.get("uid", ""), meta["name"], meta.get("namespace", ""), _service_account(pod)),
                        netns)
        self.enrolled[meta.get("uid", "")] = list(ips)
        self._annotate(pod)
        self.trace.add(self.clock.now, "istio-cni", subject, "captured at sandbox creation",
                       f"{reason}; in-pod rules written and ztunnel acknowledged the pod",
                       flag="ambient_inpod_redirection")
        return ""

    def _annotate(self, pod: Obj) -> None:
        """The status annotation that tells istiod the pod is captured (HBONE)."""
        meta = pod["metadata"]
        current = self.store.peek(PODS, meta.get("namespace", ""), meta["name"])
        if current is None or (current["metadata"].get("annotations") or {}).get(REDIRECTION) == "enabled":
            return
        self.client.patch("v1", "pods", meta.get("namespace", ""), meta["name"],
                          {"metadata": {"annotations": {REDIRECTION: "enabled"}}})

    # -- the informer: pods already running, label changes, the <=1.20 annotation ------

    def _on_pod(self, event: WatchEvent) -> None:
        if event.type != "DELETED":
            self._reconcile(event.object)

    def _on_namespace(self, event: WatchEvent) -> None:
        name = event.object["metadata"]["name"]
        for pod in list(self.store.iter(PODS, name)):
            self._reconcile(pod)

    def _reconcile(self, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        if spec.get("nodeName") != self.kubelet.node_name:
            return
        if not self.flags.ambient_inpod_redirection and meta.get("namespace") == "istio-system" \
                and (meta.get("labels") or {}).get("app") == "ztunnel" and status.get("podIP"):
            self._install_node_rules(status["podIP"], pod)
        enabled, _ = self.redirection_enabled(pod)
        uid = meta.get("uid", "")
        ip = status.get("podIP")
        if enabled and uid in self.enrolled:
            if not self.flags.ambient_inpod_redirection:
                self._annotate(pod)  # the <=1.20 informer annotates pods the plugin captured
            return
        if enabled and ip and status.get("phase") in ("Pending", "Running"):
            self._enroll_existing(pod, ip)
        elif not enabled and uid in self.enrolled:
            self.remove(uid, self.enrolled[uid])

    def _enroll_existing(self, pod: Obj, ip: str) -> None:
        """A running pod that became enabled (e.g. its namespace was just labelled): no restart needed."""
        if not self.flags.ambient_inpod_redirection:
            self._add_to_ipset(pod, [ip], via_plugin=False)
            self._annotate(pod)
            return
        netns = self.network.owner_of(ip)
        if netns is not None:
            self.clock.env.process(self._add_inpod(pod, netns, [ip], "the pod became enabled"))

    def _install_node_rules(self, ztunnel_ip: str, ztunnel_pod: Obj) -> None:
        """<=1.20: the host rules, tunnels and policy routes steering ipset members into this node's ztunnel."""
        if self._node_rules_for == ztunnel_ip:
            return
        ztunnel_ns = self.network.owner_of(ztunnel_ip)
        if ztunnel_ns is None:
            return
        self._node_rules_for = ztunnel_ip
        veth = veth_name(ztunnel_ns)
        self.node_ns.ipsets.create(ZTUNNEL_PODS_IPSET, "hash:ip", exist_ok=True)
        self.node_ns.ruleset.restore(ambient_node_rules(self.version, ztunnel_ip, ztunnel_veth=veth,
                                                        host_ip=self.host_ip), noflush=True)
        ztunnel_ns.ruleset.restore(ztunnel_pod_rules(self.version, ztunnel_ip))
        rules: list[PolicyRule] = []
        routes = [self._route(ambient_pod_route(self.version, ip, host_ip=self.host_ip))
                  for ips in self.enrolled.values() for ip in ips]
        for entry in ambient_node_routes(self.version, ztunnel_ip, ztunnel_veth=veth):
            if isinstance(entry, IpRule):
                mark, _, mask = (entry.fwmark or "").partition("/")
                rules.append(PolicyRule(entry.priority, None if entry.goto is not None else entry.table,
                                        int(mark, 16) if mark else None, int(mask, 16) if mask else 0xFFFFFFFF))
            else:
                routes.append(self._route(entry))
        self.node_ns.policy_rules = rules
        self.node_ns.tunnel_routes = routes

    def write(self, lines: list[str]) -> None:
        for line in lines:
            self.log.write(line + "\n")



def _service_account(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("serviceAccountName") or "default"


# cni/pkg/plugin/redirect.go: annotation -> default when absent (NewRedirect)
_PLUGIN_DEFAULTS = {"includeOutboundIPRanges": "*", "excludeOutboundIPRanges": "", "excludeInboundPorts": "15020",
                    "includeInboundPorts": "*", "excludeOutboundPorts": "15020", "includeOutboundPorts": "",
                    "kubevirtInterfaces": "", "excludeInterfaces": ""}


def plugin_capture_config(annotations: Mapping[str, str], proxy: Obj) -> CaptureConfig | str:
    """NewRedirect: the plugin reads the pod's annotations itself (defaults differ from the injector's:
    port 15020 is excluded outbound too), appends 15020,15021,15090 to the inbound exclusions, and takes DNS
    capture from the istio-proxy container's ISTIO_META_DNS_CAPTURE. Returns the error text on a bad value."""
    values = {name: annotations.get("traffic.sidecar.istio.io/" + name, default)
              for name, default in _PLUGIN_DEFAULTS.items()}
    mode = annotations.get("sidecar.istio.io/interceptionMode", "REDIRECT")
    if mode not in ("REDIRECT", "TPROXY"):
        return (f"annotation value error for value redirectMode; annotationFound = true: "
                f"interceptionMode invalid: {mode}")
    excluded = [p.strip() for p in values["excludeInboundPorts"].split(",") if p.strip()]
    inbound_exclude = ",".join(dict.fromkeys([*excluded, "15020", "15021", "15090"]))
    env = {e.get("name"): e.get("value", "") for e in proxy.get("env") or []}
    user = ((proxy.get("securityContext") or {}).get("runAsUser")) or 1337
    group = ((proxy.get("securityContext") or {}).get("runAsGroup")) or 1337
    try:
        config = CaptureConfig.from_annotations(
            {}, include_ip_ranges=values["includeOutboundIPRanges"], exclude_ip_ranges=values["excludeOutboundIPRanges"],
            include_inbound_ports=values["includeInboundPorts"], include_outbound_ports=values["includeOutboundPorts"],
            exclude_outbound_ports=values["excludeOutboundPorts"], interception_mode=mode,
            redirect_dns=env.get("ISTIO_META_DNS_CAPTURE", "").lower() == "true")
    except ValueError as err:
        return f"annotation value error: {err}"
    return replace(config, proxy_uid=str(user), proxy_gid=str(group), inbound_ports_exclude=inbound_exclude,
                   kube_virt_interfaces=values["kubevirtInterfaces"], exclude_interfaces=values["excludeInterfaces"])
