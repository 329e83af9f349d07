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
    "agent_csr_sign_failure_log": Flag(
        (1, 21, 0), "istio/istio#48353 (Remove `reconnectIfNeeded` and add loging for CSRSign failure)",
        "pilot-agent's CA client logs `failed to sign CSR: <err>` (scope citadelclient, error) when a certificate request "
        "to istiod fails; before, only the retry warnings and the SDS warm-up warning appeared"),
    "agent_drain_for_termination": Flag(
        (1, 21, 0), "istio/istio#47226 (Improve agent shutdown, with native sidecar support)",
        "pilot-agent's termination logs `Agent draining Proxy for termination` and waits for Envoy's exit before "
        "`Aborted proxy instance`; /quitquitquit cancels the agent's context instead of sending SIGTERM to itself; "
        "before, `Agent draining Proxy` and `Aborted proxy instance` before `Envoy aborted normally`"),
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
    "ambient_node_filter_forward_accept": Flag(
        (1, 19, 0), "istio/istio#45471 (ambient: add support for workload entries)",
        "<=1.20 node-level capture: istio-cni also creates filter chain ztunnel-FORWARD (jumped to from FORWARD) "
        "with `-m mark --mark 0x100/0x100 -j ACCEPT`, so kube-proxy's filter rules cannot reject outbound-marked "
        "packets to destinations without endpoints"),
    "ambient_node_probe_skip_socket_exists": Flag(
        (1, 20, 0), "istio/istio#46936 (Be more selective about hostIP skips)",
        "<=1.20 node-level capture: the mangle ztunnel-OUTPUT skip mark (0x220) for node-originated traffic needs "
        "`-m owner --socket-exists -p tcp -m set --match-set ztunnel-pods-ips dst --source <hostIP>`; before, "
        "`--source <hostIP>` alone"),
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
    "ambient_profile_distroless": Flag(
        (1, 20, 0), "istio/istio#47199 (Fix ambient CNI)",
        "the ambient profile runs istiod and ztunnel from `-distroless` images (values.pilot.variant and "
        "values.ztunnel.variant); install-cni keeps the default image"),
    "ambient_profile_distroless_cni": Flag(
        (1, 22, 0), "istio/istio#50275 (ambient: use distroless for cni as well)",
        "the ambient profile sets values.global.variant=distroless, so install-cni is distroless too"),
    "ambient_profile_single_enable_env": Flag(
        (1, 22, 0), "istio/istio#50360 (Split out HBONE enablement)",
        "the ambient profile sets istiod's PILOT_ENABLE_AMBIENT=true instead of PILOT_ENABLE_AMBIENT_CONTROLLERS, "
        "PILOT_ENABLE_HBONE, VERIFY_CERTIFICATE_AT_CLIENT and ENABLE_AUTO_SNI, and no longer sets the CNI's "
        "logLevel, privileged and excludeNamespaces"),
    "appprotocol_kubernetes_h2c": Flag(
        (1, 19, 0), "istio/istio#43988 (Support new AppProtocol \"standard\" ports)",
        "a Service port with appProtocol `kubernetes.io/h2c` is HTTP2 for Istio's protocol selection; before, an "
        "unknown name (sniffed)"),
    "appprotocol_kubernetes_ws": Flag(
        (1, 24, 0), "istio/istio#53164 (Bump gateway API to 1.2.0-rc1)",
        "appProtocol `kubernetes.io/ws` is HTTP and `kubernetes.io/wss` HTTPS; before, unknown names (sniffed)"),
    "authorizationpolicy_one_target_kind": Flag(
        (1, 24, 0), "istio/istio crd-all.gen.yaml at 1.24.0 (istio/api sync; upstream PR not identified)",
        "the AuthorizationPolicy CRD rejects more than one of selector, targetRef and targetRefs (`only one of "
        "targetRefs or selector can be set`)"),
    "authorizationpolicy_target_ref": Flag(
        (1, 20, 0), "istio/istio crd-all.gen.yaml at 1.20.0 (istio/api sync; upstream PR not identified)",
        "AuthorizationPolicy has `targetRef` (policy attachment to a Gateway)"),
    "cni_agent_add_log_labels": Flag(
        (1, 22, 2), "istio/istio#51713 (release-1.22 #51734, cni: properly cleanup completed pods)",
        "the istio-cni node agent logs `adding pod to the mesh` with labels `ns=<ns> name=<pod>` and, once ztunnel "
        "is connected, `sending pod add to ztunnel` with uid/name/namespace/serviceAccount labels; before, "
        "`in pod mode - adding pod <ns>/<pod> to ztunnel ` and (1.22.0-1.22.1) `About to send added pod: <uid> to "
        "ztunnel: <proto text>`"),
    "cni_agent_logs_unenrolled_pod": Flag(
        (1, 23, 0), "istio/istio#52320 (also in 1.22.4+ as #52333; 1.22.4 is not in SUPPORTED)",
        "on a partial add the node agent also logs `pod: <ns>/<pod> was not enrolled and is unhealthy: <err>` "
        "and leaves the pod out of the probe ipset"),
    "cni_agent_scope_cni_agent": Flag(
        (1, 22, 2), "istio/istio#51341 (release-1.22 commit bce4b605, Fix bug with initial snapshot create)",
        "the istio-cni node agent (in-pod) logs under scope `cni-agent`; before, scope `ambient`"),
    "cni_agent_zds_add_log": Flag(
        (1, 22, 0), "istio/istio#50359 (Ambient CNI: propagate Kubernetes pod info to ztunnel)",
        "the node agent logs the ZDS add it sends to ztunnel at info (`About to send added pod: ...`, replaced "
        "by `sending pod add to ztunnel` under cni_agent_add_log_labels); before, at debug (not printed)"),
    "cni_excludes_only_kube_system": Flag(
        (1, 22, 0), "istio/istio#50337 (CNI: enable sidecars in istio-system)",
        "the istio-cni chart's default excludeNamespaces is [kube-system]; before, [istio-system, kube-system]"),
    "cni_plugin_error_has_agent_message": Flag(
        (1, 22, 3), "istio/istio#51847 (release-1.22 #51860, cni: expose error messages to client)",
        "the CNI plugin's error (and so kubelet's FailedCreatePodSandBox event) reads `unable to push CNI event "
        "(status code 500): <agent error>` with the agent's http.Error body (ends in a newline), and the agent logs "
        "`failed to handle add event: <err>` with ns/name labels; before, `unable to push CNI event, error was "
        "500` and `Failed to handle add event: <err>`"),
    "cni_plugin_log_labels": Flag(
        (1, 22, 2), "istio/istio#51546 (release-1.22 #51555, cni: fix k/v pairs in UDS logging from plugin)",
        "plugin log lines relayed over the UDS log socket keep their labels (e.g. `pod=<ns>/<pod>`) and the "
        "plugin's own timestamp; before, only the message"),
    "cni_plugin_scope_cni_plugin": Flag(
        (1, 23, 0), "istio/istio#51074 (Simplify CNI logging config)",
        "CNI plugin lines relayed by the node agent appear under scope `cni-plugin`; before, scope `cni`"),
    "crd_cel_validation": Flag(
        (1, 23, 0), "istio/istio#51316 (istio/client-go update bringing istio/api's CEL rules into the CRDs)",
        "the Istio CRDs carry x-kubernetes-validations: the API server rejects e.g. a PeerAuthentication whose "
        "portLevelMtls has no selector (`portLevelMtls requires selector`); before, only istiod's validating "
        "webhook did"),
    "crd_networking_v1_storage": Flag(
        (1, 27, 0), "istio/istio crd-all.gen.yaml at 1.27.0 (istio/api sync; upstream PR not identified)",
        "networking.istio.io CRDs store v1 instead of v1beta1"),
    "crd_v1_apis": Flag(
        (1, 22, 0), "istio/istio crd-all.gen.yaml at 1.22.0 (istio/api v1 promotion; upstream PR not identified)",
        "networking.istio.io, PeerAuthentication and Telemetry are served as v1 too; AuthorizationPolicy gains the "
        "short name `ap` and the Action column"),
    "envoy_access_log_upstream_cluster_raw": Flag(
        (1, 23, 0), "istio/istio#52384 (release-1.23 #52410, Use UPSTREAM_CLUSTER_RAW for access log format)",
        "the default text access log format uses %UPSTREAM_CLUSTER_RAW% instead of %UPSTREAM_CLUSTER%; with no "
        "outboundClusterStatName both print the cluster name (`outbound|80||svc.ns.svc.cluster.local`)"),
    "envoy_remote_connection_failure": Flag(
        (1, 20, 0), "Envoy 1.28 (Istio 1.20's proxy; upstream Envoy PR not identified). Evidence: istio/istio#48267 "
        "(1.20.0 logs `remote_connection_failure`), istio/istio#46431 (1.18.2 `connection failure`); 1.19 UNCONFIRMED",
        "a refused or unreachable upstream connect is reset reason `remote connection failure` "
        "(`upstream_reset_before_response_started{remote_connection_failure,...}`); before, `connection failure`"),
    "envoy_ssl_failure_reason_format": Flag(
        (1, 20, 0), "Envoy 1.28.0 changelog (tls: changed ssl failure reason format in ssl socket, runtime guard "
        "envoy.reloadable_features.ssl_transport_failure_reason_format)",
        "an upstream TLS failure's transport failure reason reads `TLS_error:|268435703:SSL routines:OPENSSL_internal:"
        "WRONG_VERSION_NUMBER:TLS_error_end`; before, `TLS error: 268435703:SSL routines:OPENSSL_internal:"
        "WRONG_VERSION_NUMBER`"),
    "injector_ca_crl_volume": Flag(
        (1, 27, 0), "istio/istio#56308 (feat: implements crl support for plugged-in CA)",
        "the injected istio-proxy mounts /var/run/secrets/istio/crl from the volume istio-ca-crl (ConfigMap istio-ca-crl, "
        "optional)"),
    "injector_canonical_name_truncated": Flag(
        (1, 21, 0), "istio/istio#48562 (fix inject with label more than 63 characters)",
        "the injected label service.istio.io/canonical-name is cut to 63 characters, a trailing `-` trimmed"),
    "injector_go_runtime_env": Flag(
        (1, 19, 0), "istio/istio#46253 (Set GOMAXPROCS and GOMEMLIMIT)",
        "the injected istio-proxy has env GOMEMLIMIT (limits.memory) and GOMAXPROCS (limits.cpu) after "
        "ISTIO_META_APP_CONTAINERS"),
    "injector_istio_cni_value": Flag(
        (1, 18, 0), "istio/istio#52645 (Remove deprecated `istio_cni` values from pilot chart)",
        "the injection template turns istio-init into istio-validation when `istio_cni.enabled` (istioctl writes it "
        "from components.cni.enabled); from 1.24 only `pilot.cni.enabled` counts (see injector_pilot_cni_value)",
        until=(1, 24, 0)),
    "injector_native_sidecar_drain_prestop": Flag(
        (1, 21, 0), "istio/istio#47226 (Improve agent shutdown, with native sidecar support)",
        "a native-sidecar istio-proxy gets preStop `pilot-agent request --debug-port=<status port> POST drain`, and "
        "holdApplicationUntilProxyStarts no longer adds the postStart `pilot-agent wait` to it"),
    "injector_pilot_cni_value": Flag(
        (1, 22, 0), "istio/istio#49352 (Move istio_cni values into pilot.cni)",
        "the injection template also reads `pilot.cni.enabled` (1.24+: only it; istioctl sets it from "
        "components.cni.enabled) to inject istio-validation instead of istio-init"),
    "injector_startup_probe": Flag(
        (1, 20, 0), "istio/istio#47207 (injection: enable startup probe by default)",
        "the injected istio-proxy has a startupProbe (GET /healthz/ready on 15021, period 1 s, failureThreshold 600) "
        "and its readinessProbe defaults become delay 0 / period 15 / failureThreshold 4 (before 1 / 2 / 30); in "
        "1.19 a native sidecar got a startupProbe instead of its readinessProbe"),
    "injector_validates_core_dump_annotation": Flag(
        (1, 18, 0), "istio/istio#53830 (Drop core dump annotation)",
        "the injector rejects a pod whose `sidecar.istio.io/enableCoreDump` is not a Go bool", until=(1, 25, 0)),
    "injector_workload_name_label": Flag(
        (1, 25, 0), "istio/istio#54340 (Implementation of new workload name label)",
        "ISTIO_META_WORKLOAD_NAME of the injected proxy comes from the pod label service.istio.io/workload-name when "
        "set; before, always the owning workload's name"),
    "install_state_dropped": Flag(
        (1, 21, 0), "istio/istio#47860 (Drop `installed-state` from installation)",
        "istioctl install no longer saves the `installed-state` IstioOperator, and the base chart no longer "
        "installs the IstioOperator CRD"),
    "istio_iptables_commands_debug": Flag(
        (1, 25, 0), "istio/istio#54671 (Refactor RunX cmds for istio-iptables into a single API)",
        "istio-iptables logs `Running command (...)` at debug (not shown), a failing command as `Command error: <err>` "
        "with the error ending in the command's stderr, and `Final iptables state (IPv4):` with iptables-save's output "
        "when it is done"),
    "istio_iptables_config_dump_dual_stack": Flag(
        (1, 20, 0), "istio/istio#46630 (dual-stack iptables6 rules with istio-cni) + #47000 (cleanup legacy host nsenter "
        "flag)", "istio-iptables' variables dump has DUAL_STACK after ENABLE_INBOUND_IPV6 and no HOST_NSENTER_EXEC"),
    "istio_iptables_config_dump_iptables_version": Flag(
        (1, 20, 0), "istio/istio#47002 (iptables: improve locking implementation); removed by #49279/#49703",
        "istio-iptables' variables dump starts with IPTABLES_VERSION=", until=(1, 22, 0)),
    "istio_iptables_config_header_istio_config": Flag(
        (1, 27, 0), "istio/istio#56997 (release-1.27 backport of #56487, Native nftables support for sidecar mode)",
        "istio-iptables' variables dump is headed `Istio config:` (before, `Istio iptables variables:`) and ends with "
        "NATIVE_NFTABLES"),
    "istio_iptables_errors_returned": Flag(
        (1, 21, 0), "istio/istio#47644 (iptables: refactor to avoid global variables)",
        "a failing iptables command is returned to the cobra command, which logs the error and exits 1; before, "
        "RunOrFail logged `Failed to execute: <cmd> <args>, <err>` and exited -1 (255)"),
    "istio_iptables_idempotent_apply": Flag(
        (1, 24, 0), "istio/istio#50328 (Idempotency for istio-iptables apply flow) + #52899 (--force-apply)",
        "istio-iptables first reads the current rules (iptables-save), logs `Clean-state detected, new iptables are "
        "needed` and `Applying iptables chains and rules`, and its variables dump ends with RECONCILE, CLEANUP_ONLY "
        "and FORCE_APPLY"),
    "istio_iptables_lock_mode_log": Flag(
        (1, 20, 0), "istio/istio#47002 (iptables: improve locking implementation)",
        "istio-iptables logs `Running command (with wait lock): iptables-restore --noflush --wait=30`; before, "
        "`Running command: iptables-restore --noflush`"),
    "istio_iptables_restore_log_binary": Flag(
        (1, 22, 0), "istio/istio#49279 (Fix for wrong iptables binary) + #49703",
        "istio-iptables logs `Running iptables restore with: iptables-restore and the following input:`; before, "
        "`Running iptables-restore with the following input:`"),
    "istioctl_ambient_install_message": Flag(
        (1, 23, 0), "istio/istio#50696 (Generalize default webhook message)",
        "istioctl install with the ambient profile ends with `The ambient profile has been installed "
        "successfully, enjoy Istio without sidecars!`"),
    "istioctl_component_icons": Flag(
        (1, 23, 0), "istio/istio#50744 (add fancier success icons) + #51926",
        "install progress lines end with the component's icon: `✔ Istiod installed 🧠`"),
    "istioctl_default_message": Flag(
        (1, 19, 0), "istio/istio#43897 (Fix webhooks reconciled by operator are inconsistent with istioctl "
        "install's)", "after installing, istioctl prints `Made this installation the default for injection and "
        "validation.`; before, `Making this installation the default for injection and validation.`; 1.24's "
        "installer prints nothing", until=(1, 24, 0)),
    "istioctl_default_message_cluster_wide": Flag(
        (1, 23, 0), "istio/istio#50696 (Generalize default webhook message)",
        "the default-revision message reads `Made this installation the default for cluster-wide operations.`"),
    "istioctl_eol_warning": Flag(
        (1, 19, 0), "istio/istio#42256 (warning if the current istioctl version near or after EOL date)",
        "istioctl install prints `WARNING: Istio <x.y.0> may be out of support (EOL) already: ...` once the "
        "release's EOL month has come (operator/version/version.go)"),
    "istioctl_install_art": Flag(
        (1, 23, 0), "istio/istio#50699 (basic istio ascii art)",
        "istioctl install first prints the Istio ASCII art to stderr"),
    "istioctl_installer_rewrite": Flag(
        (1, 24, 0), "istio/istio#52541 (installation: rewrite the code)",
        "istioctl install renders with the chart profiles and applies object by object: the prompt reads "
        "`This will install the Istio <v> profile \"<p>\" into the cluster`, --set values are not format-checked, "
        "unknown profiles fail with `profile \"x\" not found`, and uninstall names objects "
        "`apps/v1, Kind=Deployment/istiod.istio-system`"),
    "istioctl_prompt_lists_components": Flag(
        (1, 19, 0), "istio/istio#44666 (install: cleanup warnings)",
        "the install prompt names the components in words: `the Istio 1.20.2 \"ambient\" profile (with "
        "components: Istio core, Istiod, CNI, and Ztunnel)`; before, `the Istio 1.18.0 ambient profile with "
        "[\"Istio core\" ...] components`"),
    "istioctl_version_no_running_pods": Flag(
        (1, 24, 0), "istio/istio pkg/kube/client.go GetIstioVersions at 1.24.0 (upstream PR not identified)",
        "without ready istiod pods `istioctl version` says `no running Istio pods in namespace \"istio-system\"`; "
        "before, `no ready Istio pods in \"istio-system\"`"),
    "istioctl_workloads_address_column": Flag(
        (1, 24, 0), "istio/istio#52293 (istioctl: various ztunnel-config improvements)",
        "the ztunnel workloads table calls its address column ADDRESS instead of IP"),
    "istioctl_workloads_namespace_first": Flag(
        (1, 20, 0), "istio/istio#46925 (optimize pc workload summary)",
        "the ztunnel workloads table starts NAMESPACE then NAME; before, NAME then NAMESPACE"),
    "istioctl_workloads_network_column": Flag(
        (1, 21, 0), "istio/istio#47879 (support displaying network info in pc workload)",
        "`istioctl pc workload` has a NETWORK column; `ztunnel-config` (#50347) dropped it",
        until=(1, 22, 0)),
    "istioctl_ztunnel_after_cni": Flag(
        (1, 21, 0), "istio/istio#47944 (install ztunnel after istio-cni)",
        "istioctl install starts the Ztunnel component once CNI is installed; before, at once (in parallel with "
        "Istio core)"),
    "istioctl_ztunnel_config": Flag(
        (1, 22, 0), "istio/istio#50347 (Split istioctl pc ztunnel info into zc) + #50378 (experimental)",
        "ztunnel configuration is shown by `istioctl x ztunnel-config` (alias `zc`) and "
        "`istioctl proxy-config workload` is gone; before, `istioctl proxy-config workload` showed it"),
    "istioctl_ztunnel_config_top_level": Flag(
        (1, 23, 0), "istio/istio#51188 (istioctl: promote ztunnel-config)",
        "`istioctl ztunnel-config` is a top-level command and `istioctl x ztunnel-config` no longer "
        "exists"),
    "istiod_ca_trusted_node_accounts_default": Flag(
        (1, 23, 0), "istio/istio#51311 (Don't hardcode CA_TRUSTED_NODE_ACCOUNTS everywhere)",
        "the istiod chart sets CA_TRUSTED_NODE_ACCOUNTS=<namespace>/ztunnel unless the values set it"),
    "istiod_jwt_policy_env": Flag(
        (1, 18, 0), "istio/istio#49520 (Drop support for legacy first-party-jwt)",
        "istiod's container has JWT_POLICY=third-party-jwt", until=(1, 22, 0)),
    "istiod_named_container_ports": Flag(
        (1, 24, 0), "istio/istio#53102 (Complete list, and include name, of xds ports)",
        "istiod's container lists ports 8080 http-debug, 15010 grpc-xds, 15012 tls-xds, 15017 https-webhooks and "
        "15014 http-monitoring; before, 8080, 15010 and 15017 unnamed"),
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
    "mesh_inbound_traffic_policy": Flag(
        (1, 22, 0), "istio/istio#49035 (add support for inbound traffic policy)",
        "meshConfig.inboundTrafficPolicy.mode LOCALHOST makes the sidecar forward inbound traffic to 127.0.0.1 "
        "instead of the pod IP (from 127.0.0.6); before, only istiod's PILOT_ENABLE_INBOUND_PASSTHROUGH=false did"),
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
    "profile_external": Flag(
        (1, 18, 0), "istio/istio#50218 (Remove external profile in the profile list)",
        "istioctl ships an `external` profile", until=(1, 22, 0)),
    "profile_openshift_ambient": Flag(
        (1, 22, 0), "istio/istio#48411 (install: add openshift-ambient profile)",
        "istioctl ships an `openshift-ambient` profile"),
    "profile_stable": Flag(
        (1, 22, 0), "istio/istio#50630 (release-1.22: Release Channels, Implement with a ValidatingAdmissionPolicy)",
        "istioctl ships a `stable` profile"),
    "sidecar_default_retry_excludes_503": Flag(
        (1, 24, 0), "istio/istio#52111 (exclude unsafe 503 from default RetryPolicy; EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY "
        "defaults to true)",
        "the sidecar's default route retry policy no longer retries a 503 response (retriable-status-codes without "
        "503); before, a 503 was retried twice and ended with flag URX"),
    "sidecar_dns_own_chain": Flag(
        (1, 25, 0), "istio/istio (ISTIO_OUTPUT_DNS chain; upstream PR not identified)",
        "DNS rules live in their own chain ISTIO_OUTPUT_DNS (nat and raw) - NOT MODELLED here"),
    "sidecar_dns_udp_via_istio_output": Flag(
        (1, 23, 0), "istio/istio#50328 (Idempotency for istio-iptables apply flow)",
        "DNS UDP rules go through `-A OUTPUT -p udp -j ISTIO_OUTPUT` (nat and raw) instead of being appended to "
        "the built-in OUTPUT chains, and an explicit include-CIDR list no longer ends ISTIO_OUTPUT with "
        "`-j RETURN` (goldens ip-range.golden 1.22.0 vs 1.23.0)"),
    "sidecar_jwt_policy_env": Flag(
        (1, 18, 0), "istio/istio#49520 (Drop support for legacy first-party-jwt)",
        "the injected istio-proxy has env JWT_POLICY=third-party-jwt", until=(1, 22, 0)),
    "xdsproxy_connection_id_label": Flag(
        (1, 22, 0), "istio/istio#49813 (Improve WASM integration tests: xds proxy logs with WithLabels(\"id\"))",
        "pilot-agent logs `connected to upstream XDS server: <addr>` with the label `id=<n>`; before, without it"),
    "ztunnel_access_log_quotes_strings": Flag(
        (1, 22, 2), "istio/ztunnel#1095 (release-1.22 #1110, access logs: consistently quote fields) + #1138 "
        "(release-1.22 #1140, Improve error log output format)",
        "ztunnel access logs quote every string field (`src.workload=\"x\"`, `dst.service=\"...\"`, and the "
        "early-deny `error=\"...\"`); before, workload/namespace/service names and the early-deny error were "
        "unquoted"),
    "ztunnel_access_logs": Flag(
        (1, 22, 0), "istio/ztunnel#874 (Initial access logs implementation)",
        "ztunnel logs target `access`: `connection complete` (info; error level with error=\"…\" on "
        "failure) and an early `connection failed` warn with src.addr, dst.addr, direction, error; "
        "before, outbound failures were `warn!(dur=…, err=…, \"failed\")` in span outbound{id=…}"),
    "ztunnel_build_info_profile": Flag(
        (1, 22, 0), "istio/ztunnel#916 (version: include profile name)",
        "ztunnel's `version: version.BuildInfo{...}` line has a `BuildProfile` field after RustVersion"),
    "ztunnel_config_dump_camel_case": Flag(
        (1, 22, 0), "istio/ztunnel#923 (admin: restructure config_dump, make it all camel case)",
        "ztunnel's `running with config:` YAML uses camelCase keys (`dnsProxy`); before, snake_case"),
    "ztunnel_inpod_logs_workload_name": Flag(
        (1, 23, 0), "istio/ztunnel#1189 (Add more context on statemanager logs) + #1168 (Minor logging cleanup)",
        "ztunnel logs `pod received, starting proxy` with uid/name/namespace fields and names the per-pod span "
        "`proxy{wl=<ns>/<pod>}`; before, `pod WorkloadUid(\"<uid>\") received netns, starting proxy` and "
        "`proxy{uid=<uid>}`"),
    "ztunnel_istio_log_format": Flag(
        (1, 22, 0), "istio/ztunnel#871 (Move log format to standard Istio format)",
        "ztunnel logs in the Istio format `<ts>\\t<level>\\t<scope>[:<spans>]\\t<message>\\t<k=v …>`; "
        "before, the Rust tracing default `<ts>  <LEVEL> <spans>: <target>: <message> <k=v>`"),
    "ztunnel_policy_rejection_names_policy": Flag(
        (1, 24, 0), "istio/ztunnel#1273 (rbac - include policy name in rejection logs)",
        "the RBAC rejection error reads `connection closed due to policy rejection: explicitly denied by: "
        "<ns>/<policy>` (or `allow policies exist, but none allowed`); before, `connection closed due to policy "
        "rejection`"),
    "ztunnel_shared_inpod_mode_log": Flag(
        (1, 23, 0), "istio/ztunnel#1031 (combine `proxymode = shared` and `inpod_mode = true`)",
        "ztunnel logs `shared proxy mode - in-pod mode enabled` at startup; before, `in-pod mode enabled`"),
    "ztunnel_socks5_off_by_default": Flag(
        (1, 22, 0), "istio/ztunnel#943 (release-1.22 #950, Make socks5 optional, off by default)",
        "ztunnel opens no socks5 listener (127.0.0.1:15080) unless UNSTABLE_ENABLE_SOCKS5=true; before, every "
        "proxy (the shared one, or each in-pod proxy) logged `listener established` for it"),
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
    "ztunnel_xds_log_removes": Flag(
        (1, 21, 0), "istio/ztunnel#751 (xds: fix removals)",
        "ztunnel's info line `received response` for each xDS push has a `removes=<n>` field after size"),
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
