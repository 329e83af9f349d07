"""Istio behaviour that changed between releases: one named flag per behaviour.

Code asks `flags(version).<name>` and never compares version strings. Every flag names the release
that introduced the behaviour and the upstream change (istio/istio unless istio/ztunnel is named), so
a reader can check it. Releases are full (major, minor, patch) because several behaviours arrived in
patch releases (1.21.2, 1.22.2).

ztunnel flags use the Istio release number: Istio 1.X.Y ships ztunnel 1.X.Y (the tags match; that
every patch release ships the matching ztunnel is UNCONFIRMED).

Backports: a flag holds for every release >= `since`. When a change reached an older minor through a
backport, `since` is the first patch release that carries it (every later minor has it too); the
change text names both the main PR and the backport.
"""

from __future__ import annotations

from meshrepro.sim.versions import Flag, Flags

IstioVersion = tuple[int, int, int]  # (major, minor, patch), e.g. (1, 22, 2)


# name -> when the behaviour holds. Keep sorted by name.
TABLE: dict[str, Flag] = {
    "ambient_dns_capture_default": Flag(
        (1, 25, 0), "istio/istio#54638 (Promote ambient DNS capture)",
        "ambient DNS capture is on by default (istio-cni `ambient.dnsCapture: true`, AMBIENT_DNS_CAPTURE): "
        "UDP/TCP 53 from an enrolled pod goes to ztunnel's DNS proxy on 15053; before, the chart default was "
        "`false` (1.21-1.24) and in <=1.20 capture needed ISTIO_META_DNS_CAPTURE=true on ztunnel, unset by "
        "the charts"),
    "ambient_dns_capture_pod_annotation": Flag(
        (1, 25, 0), "istio/istio#54935 (release-1.25 backport #54938)",
        "the pod annotation `ambient.istio.io/dns-capture: \"true\"/\"false\"` overrides the global DNS "
        "capture setting for that pod"),
    "ambient_index_krt": Flag(
        (1, 22, 0), "istio/istio#49162 (ambient: rewrite controller using `krt`)",
        "istiod's ambient workload index recomputes a pod's workload on every pod update; before, "
        "handlePod ignored an update unless labels, annotations, status.phase or readiness changed, so an "
        "update that only sets status.podIP was not re-published"),
    "ambient_inpod_redirect_not_tproxy": Flag(
        (1, 24, 0), "istio/istio#52622 (Move ambient to REDIRECT mode instead of tproxy)",
        "in-pod rules send inbound TCP with nat REDIRECT to 15006 (15008 left alone) and capture TCP/53 "
        "too, instead of mangle TPROXY; 1.23.1+ carry the REDIRECT path via backport #52911 but keep "
        "`ambient-tproxy-redirection` defaulting to true"),
    "ambient_inpod_redirection": Flag(
        (1, 21, 0), "istio/istio#48253 (release-1.21 #49028, Initial merge of Solo out-of-tree inpod CNI)",
        "ambient capture is in-pod: the istio-cni plugin pushes the pod's netns to the node agent, which "
        "writes iptables inside the pod netns and waits for ztunnel's ack (per-pod listeners); before, "
        "node-level capture: host ipset `ztunnel-pods-ips`, policy routing through istioout/istioin "
        "tunnels to one shared ztunnel per node (cni/pkg/ambient, removed in 1.21.0)"),
    "ambient_peer_authentication": Flag(
        (1, 19, 0), "istio/istio#45453 (Ambient support for PeerAuthentication)",
        "istiod converts PeerAuthentication for ztunnel: STRICT workloads get the DENY policy "
        "istio-system/istio_converted_static_strict (requests without a peer identity); before, ztunnel "
        "ignored PeerAuthentication (#42696)"),
    "ambient_pod_label_enrollment": Flag(
        (1, 22, 0), "istio/istio#50804 (release-1.22 backport #50850)",
        "the pod label `istio.io/dataplane-mode=ambient` enrolls a pod in an unlabelled namespace and "
        "`istio.io/dataplane-mode=none` opts it out; the opt-out annotation "
        "`ambient.istio.io/redirection: disabled` is no longer honoured (before: namespace label only, "
        "annotation opt-out)"),
    "istioctl_ztunnel_config": Flag(
        (1, 22, 0), "istio/istio#50347 (Split istioctl pc ztunnel info into zc) + #50378 (experimental)",
        "ztunnel configuration is shown by `istioctl x ztunnel-config` (alias `zc`) and "
        "`istioctl proxy-config workload` is gone; before, `istioctl proxy-config workload` showed it"),
    "istioctl_ztunnel_config_top_level": Flag(
        (1, 23, 0), "istio/istio#51188 (istioctl: promote ztunnel-config)",
        "`istioctl ztunnel-config` is a top-level command and `istioctl x ztunnel-config` no longer "
        "exists"),
    "istiod_publishes_nonterminal_pods": Flag(
        (1, 24, 0), "istio/istio#52191 (ambient: make HostNetwork pods work)",
        "istiod publishes a pod to ztunnel in any non-terminal phase (not Succeeded/Failed) once it has an "
        "IP, hostNetwork pods and phase Unknown included; before: Running or Pending, never hostNetwork"),
    "istiod_publishes_pending_pods": Flag(
        (1, 21, 2), "istio/istio#49767 commit 011bbc9f (in 1.22.0), backported to 1.21.2 as #50312 "
        "commit fb3734a1",
        "istiod publishes a Pending pod (e.g. init containers running) to ztunnel, status UNHEALTHY; "
        "before, only phase Running (#48854). 1.22+ require a pod IP; the 1.21.2 legacy index builds it "
        "with the addresses it has (see ambient_index_krt)"),
    "native_sidecar_pod_annotation": Flag(
        (1, 24, 0), "istio/istio#53490 (native-sidecars: add per-pod opt-in/out annotation)",
        "the pod annotation `sidecar.istio.io/nativeSidecar: \"true\"/\"false\"` overrides "
        "ENABLE_NATIVE_SIDECARS for that pod"),
    "native_sidecars_default_auto": Flag(
        (1, 27, 0), "istio/istio#56428 (release-1.27 #56918, Support native sidecar by default)",
        "ENABLE_NATIVE_SIDECARS defaults to `auto`: istio-proxy is injected as a native sidecar when the "
        "pod's node runs kubelet >= 1.33 (DetectNativeSidecar); before, default `false`"),
    "native_sidecars_supported": Flag(
        (1, 19, 0), "istio/istio#45959 (Add support for SidecarContainers native Kubernetes support)",
        "istiod's ENABLE_NATIVE_SIDECARS=true injects istio-proxy as an init container with "
        "restartPolicy: Always, after istio-init/istio-validation and before the app's init containers "
        "(default off)"),
    "sidecar_dns_own_chain": Flag(
        (1, 25, 0), "istio/istio (ISTIO_OUTPUT_DNS chain; upstream PR not identified)",
        "DNS rules live in their own chain ISTIO_OUTPUT_DNS (nat and raw) - NOT MODELLED here"),
    "sidecar_dns_udp_via_istio_output": Flag(
        (1, 23, 0), "istio/istio#50328 (Idempotency for istio-iptables apply flow)",
        "DNS UDP rules go through `-A OUTPUT -p udp -j ISTIO_OUTPUT` (nat and raw) instead of being appended to "
        "the built-in OUTPUT chains, and an explicit include-CIDR list no longer ends ISTIO_OUTPUT with "
        "`-j RETURN` (goldens ip-range.golden 1.22.0 vs 1.23.0)"),
    "ztunnel_access_logs": Flag(
        (1, 22, 0), "istio/ztunnel#874 (Initial access logs implementation)",
        "ztunnel logs target `access`: `connection complete` (info; error level with error=\"…\" on "
        "failure) and an early `connection failed` warn with src.addr, dst.addr, direction, error; "
        "before, outbound failures were `warn!(dur=…, err=…, \"failed\")` in span outbound{id=…}"),
    "ztunnel_istio_log_format": Flag(
        (1, 22, 0), "istio/ztunnel#871 (Move log format to standard Istio format)",
        "ztunnel logs in the Istio format `<ts>\\t<level>\\t<scope>[:<spans>]\\t<message>\\t<k=v …>`; "
        "before, the Rust tracing default `<ts>  <LEVEL> <spans>: <target>: <message> <k=v>`"),
    "ztunnel_source_by_workload_info": Flag(
        (1, 24, 0), "istio/ztunnel#1218 (Fetch local workload directly, rather than based on IP)",
        "ztunnel finds the source (local) workload by its ZDS WorkloadInfo, not the source IP; on failure "
        "the error reads `failed to fetch information about local workload: <sa>.<ns> (<pod>)` instead of "
        "`unknown source: <ip>`, and the wait times out with `timed out waiting for workload "
        "'<sa>.<ns> (<pod>)' from xds` instead of `timed out waiting for workload from xds`"),
    "ztunnel_waits_for_source_workload": Flag(
        (1, 22, 2), "istio/ztunnel#1092 + #1146 (500ms -> 5s), in 1.22.2 as backports #1111 + #1147",
        "ztunnel's outbound path waits up to 5 s (hard-coded) for an unknown source workload to arrive "
        "from xds before failing; before, it failed at once"),
}

SUPPORTED: list[IstioVersion] = [
    (1, 18, 0),
    (1, 19, 0),
    (1, 20, 0),
    (1, 20, 2),
    (1, 21, 0),
    (1, 21, 1),
    (1, 21, 2),
    (1, 22, 0),
    (1, 22, 1),
    (1, 22, 2),
    (1, 22, 3),
    (1, 23, 0),
    (1, 24, 0),
    (1, 25, 0),
    (1, 26, 0),
    (1, 27, 0),
]
DEFAULT_VERSION: IstioVersion = (1, 22, 0)


def flags(version: IstioVersion) -> Flags:
    return Flags("Istio", TABLE, version)


def parse_version(text: str) -> IstioVersion:
    """'1.20.2' or 'v1.20.2' -> (1, 20, 2). A full release is required: '1.20' is an error."""
    parts = text.strip().removeprefix("v").split(".")
    if len(parts) != 3 or not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(f"not an Istio version (want MAJOR.MINOR.PATCH, e.g. 1.22.2): {text!r}")
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch
