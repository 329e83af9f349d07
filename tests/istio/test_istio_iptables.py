"""`pilot-agent istio-iptables`: argv to rules in the container's netns, the log of each release, the failure without
NET_ADMIN, and `--run-validation` against rules that are (not) there; then istio-init and istio-validation in pods."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
from sidecar_harness import Harness

from meshrepro.errors import InputError
from meshrepro.istio.iptables import CaptureConfig, sidecar_rules
from meshrepro.istio.istio_iptables import FlagError, istio_iptables_main, parse_args
from meshrepro.net.stack import Network
from meshrepro.runtime.container import ContainerHost, container_capabilities
from meshrepro.runtime.fs import FileSystem
from meshrepro.runtime.process import Process, Transcript
from meshrepro.scenario import runner as scenario_runner
from meshrepro.scenario.model import load
from meshrepro.sim.clock import Clock

INIT_ARGS = ["/usr/local/bin/pilot-agent", "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
             "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"]
INIT_CONTEXT = {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}, "runAsUser": 0}
VALIDATION_ARGS = [*INIT_ARGS, "--run-validation", "--skip-rule-apply"]


def run(version: tuple[int, int, int], argv: list[str], *, uid: int = 0, context: dict[str, Any] | None = None,
        env: dict[str, str] | None = None, rules: str = "", files: dict[str, str] | None = None
        ) -> tuple[int, str, str, Any, Clock]:
    clock = Clock(seed=1)
    network = Network(clock)
    ns = network.add_namespace("pod:default/web", ["10.244.0.5"], "pod default/web", node="kind-control-plane")
    if rules:
        ns.ruleset.restore(rules, noflush=True)
    host = ContainerHost(clock, FileSystem(files or {}), ns.view(uid, uid), "web", {},
                         capabilities=container_capabilities(INIT_CONTEXT if context is None else context))
    transcript = Transcript(clock)
    proc = Process(host, argv, dict(env or {}), transcript.stream("stdout"), transcript.stream("stderr"), uid=uid,
                   gid=uid)
    process = clock.process(istio_iptables_main(version, proc))
    clock.env.run(until=process)
    return process.value, transcript.text("stdout"), transcript.text("stderr"), ns, clock


def messages(out: str) -> list[str]:
    """The first line of each log entry, without its timestamp."""
    return [line.split("\t", 2)[2] for line in out.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]


# -- argv -> rules ---------------------------------------------------------------------------------------------------


def test_default_args_write_the_default_sidecar_rules_into_the_pod_netns() -> None:
    code, out, err, ns, _ = run((1, 20, 2), INIT_ARGS)
    assert (code, err) == (0, "")
    expected = sidecar_rules(CaptureConfig(), (1, 20, 2))
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in expected
    assert ns.ruleset.rules("nat", "ISTIO_OUTPUT")[-1] == "-A ISTIO_OUTPUT -j ISTIO_REDIRECT"
    assert ns.ruleset.rules("nat", "ISTIO_INBOUND") == [
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN", "-A ISTIO_INBOUND -p tcp -m tcp --dport 15090 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -m tcp --dport 15021 -j RETURN", "-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN",
        "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"]
    assert expected.strip() in out  # the restore input is logged as it is fed to iptables-restore


def test_annotation_args_shape_the_rules() -> None:
    argv = [*INIT_ARGS[:13], "10.96.0.1/32", *INIT_ARGS[14:], "-o", "443,5432", "-q", "9000"]
    assert argv[12:14] == ["-x", "10.96.0.1/32"]
    code, _, _, ns, _ = run((1, 22, 0), argv)
    output = ns.ruleset.rules("nat", "ISTIO_OUTPUT")
    assert code == 0
    assert output[:2] == ["-A ISTIO_OUTPUT -p tcp -m tcp --dport 443 -j RETURN",
                          "-A ISTIO_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN"]
    assert "-A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN" in output
    assert output.index("-A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN") < output.index(
        "-A ISTIO_OUTPUT -p tcp -m tcp --dport 9000 -j ISTIO_REDIRECT")


def test_dns_capture_from_the_proxy_metadata_env_uses_resolv_conf() -> None:
    code, out, _, ns, _ = run((1, 22, 0), INIT_ARGS, env={"ISTIO_META_DNS_CAPTURE": "true"},
                              files={"/etc/resolv.conf": "search default.svc.cluster.local\nnameserver 10.96.0.10\n"})
    assert code == 0
    assert "DNS_CAPTURE=true\n" in out and "DNS_SERVERS=[10.96.0.10],[]\n" in out
    assert "-A ISTIO_OUTPUT -p tcp -m tcp --dport 53 -d 10.96.0.10/32 -j REDIRECT --to-ports 15053" in \
        [r.replace("-d 10.96.0.10/32 -p tcp -m tcp --dport 53", "-p tcp -m tcp --dport 53 -d 10.96.0.10/32")
         for r in ns.ruleset.rules("nat", "ISTIO_OUTPUT")]


def test_dns_capture_of_1_25_is_reported_as_not_modelled() -> None:
    with pytest.raises(InputError, match="not modelled"):
        run((1, 25, 0), INIT_ARGS, env={"ISTIO_META_DNS_CAPTURE": "true"},
            files={"/etc/resolv.conf": "nameserver 10.96.0.10\n"})


@pytest.mark.parametrize("args, error", [
    (["--envoy-port"], "flag needs an argument: --envoy-port"),
    (["--nope"], "unknown flag: --nope"),
    (["-y"], "unknown shorthand flag: 'y' in -y"),
    (["--run-validation=maybe"], ('invalid argument "maybe" for "--run-validation" flag: strconv.ParseBool: parsing '
                                  '"maybe": invalid syntax')),
])
def test_flag_errors(args: list[str], error: str) -> None:
    with pytest.raises(FlagError, match=re.escape(error)):
        parse_args(args)
    code, out, err, _, _ = run((1, 20, 2), ["pilot-agent", "istio-iptables", *args])
    assert (code, err) == (255, f"Error: {error}\n")
    assert messages(out) == [error]


def test_short_and_long_flag_forms() -> None:
    options = parse_args(["-p=15011", "-z15016", "--proxy-uid", "1000", "--istio-service-cidr=10.0.0.0/8", "-n",
                          "--log_as_json", "--skip-rule-apply=false"])
    assert options.strings == {"envoy-port": "15011", "inbound-capture-port": "15016", "proxy-uid": "1000",
                               "istio-service-cidr": "10.0.0.0/8"}
    assert options.bools == {"dry-run": True, "skip-rule-apply": False}


# -- the log of each release ------------------------------------------------------------------------------------------

HEAD = ["Istio iptables environment:"]


@pytest.mark.parametrize("version, expected", [
    ((1, 19, 0), [*HEAD, "Istio iptables variables:", "Running iptables-restore with the following input:",
                  "Running command: iptables-restore --noflush", "Running ip6tables-restore with the following input:",
                  "Running command: ip6tables-restore --noflush"]),
    ((1, 20, 2), [*HEAD, "Istio iptables variables:", "Running iptables-restore with the following input:",
                  "Running command (with wait lock): iptables-restore --noflush --wait=30",
                  "Running ip6tables-restore with the following input:",
                  "Running command (with wait lock): ip6tables-restore --noflush --wait=30"]),
    ((1, 22, 0), [*HEAD, "Istio iptables variables:",
                  "Running iptables restore with: iptables-restore and the following input:",
                  "Running command (with wait lock): iptables-restore --noflush --wait=30",
                  "Running iptables restore with: ip6tables-restore and the following input:",
                  "Running command (with wait lock): ip6tables-restore --noflush --wait=30"]),
    ((1, 24, 0), [*HEAD, "Istio iptables variables:", "Running command (without lock): iptables-save ",
                  "Running command (without lock): ip6tables-save ", "Clean-state detected, new iptables are needed",
                  "Applying iptables chains and rules",
                  "Running iptables restore with: iptables-restore and the following input:",
                  "Running command (with wait lock): iptables-restore --noflush --wait=30",
                  "Running iptables restore with: ip6tables-restore and the following input:",
                  "Running command (with wait lock): ip6tables-restore --noflush --wait=30"]),
    ((1, 25, 0), [*HEAD, "Istio iptables variables:", "Clean-state detected, new iptables are needed",
                  "Applying iptables chains and rules",
                  "Running iptables restore with: iptables-restore and the following input:",
                  "Running iptables restore with: ip6tables-restore and the following input:",
                  "Final iptables state (IPv4):"]),
    ((1, 27, 0), [*HEAD, "Istio config:", "Clean-state detected, new iptables are needed",
                  "Applying iptables chains and rules",
                  "Running iptables restore with: iptables-restore and the following input:",
                  "Running iptables restore with: ip6tables-restore and the following input:",
                  "Final iptables state (IPv4):"]),
])
def test_log_lines_per_release(version: tuple[int, int, int], expected: list[str]) -> None:
    code, out, _, _, _ = run(version, INIT_ARGS)
    assert code == 0
    assert messages(out) == expected
    assert out.startswith("2024-01-18T09:57:00.000000Z\tinfo\tIstio iptables environment:\nENVOY_PORT=\n")


@pytest.mark.parametrize("version, first, last, extra", [
    ((1, 18, 0), "PROXY_PORT=15001", "EXCLUDE_INTERFACES=", "HOST_NSENTER_EXEC=false"),
    ((1, 20, 2), "IPTABLES_VERSION=", "EXCLUDE_INTERFACES=", "DUAL_STACK=false"),
    ((1, 22, 0), "PROXY_PORT=15001", "EXCLUDE_INTERFACES=", "DUAL_STACK=false"),
    ((1, 24, 0), "PROXY_PORT=15001", "FORCE_APPLY=false", "RECONCILE=false"),
    ((1, 27, 0), "PROXY_PORT=15001", "NATIVE_NFTABLES=false", "CLEANUP_ONLY=false"),
])
def test_variables_dump_per_release(version: tuple[int, int, int], first: str, last: str, extra: str) -> None:
    _, out, _, _, _ = run(version, INIT_ARGS)
    header = "Istio config:" if version >= (1, 27, 0) else "Istio iptables variables:"
    dump = out.split(f"\t{header}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert (dump[0], dump[-1]) == (first, last)
    assert extra in dump
    assert "INBOUND_PORTS_EXCLUDE=15090,15021,15020" in dump and "OUTBOUND_OWNER_GROUPS_INCLUDE=*" in dump


# -- without NET_ADMIN ------------------------------------------------------------------------------------------------

NAT_ERROR = ("xtables parameter problem: iptables-restore: unable to initialize table 'nat'\n\n"
             "Error occurred at line: 1\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.")


@pytest.mark.parametrize("version, code, tail", [
    ((1, 20, 2), 255, ["Failed to execute: iptables-restore --noflush, exit status 2"]),
    ((1, 22, 0), 1, ["exit status 2"]),
    ((1, 26, 0), 1, ["exit status 2", "Final iptables state (IPv4):"]),
])
def test_without_net_admin_iptables_restore_fails(version: tuple[int, int, int], code: int, tail: list[str]) -> None:
    result, out, _, ns, _ = run(version, INIT_ARGS, context={"capabilities": {"drop": ["ALL"]}})
    assert result == code
    assert ns.ruleset.empty
    assert NAT_ERROR in out
    assert messages(out)[-len(tail):] == tail


def test_non_root_user_has_no_capabilities_even_when_added() -> None:
    code, _, _, ns, _ = run((1, 22, 0), INIT_ARGS, uid=1337, context=INIT_CONTEXT)
    assert code == 1 and ns.ruleset.empty


def test_default_container_capabilities_lack_net_admin() -> None:
    code, _, _, _, _ = run((1, 22, 0), INIT_ARGS, context={})
    assert code == 1
    assert "NET_ADMIN" in container_capabilities({"privileged": True})


# -- --run-validation -------------------------------------------------------------------------------------------------

VALIDATION_CONTEXT = {"capabilities": {"drop": ["ALL"]}, "runAsUser": 1337}


def test_validation_passes_when_the_cni_plugin_wrote_the_rules() -> None:
    rules = sidecar_rules(CaptureConfig(), (1, 20, 2))
    code, out, _, ns, clock = run((1, 20, 2), VALIDATION_ARGS, uid=1337, context=VALIDATION_CONTEXT, rules=rules)
    assert code == 0
    assert messages(out) == [
        ("Starting iptables validation. This check verifies that iptables rules are properly established for the "
         "network."), "Listening on 127.0.0.1:15001", "Listening on 127.0.0.1:15006",
        "Validation passed, iptables rules established"]
    assert clock.now == 0  # the first probe came through the redirect
    assert not ns.listeners  # the validator's listeners are gone with it


def test_validation_fails_without_rules_after_the_probe_timeout() -> None:
    code, out, _, _, clock = run((1, 22, 0), VALIDATION_ARGS, uid=1337, context=VALIDATION_CONTEXT)
    assert code == 126
    errors = [m for m in messages(out) if m.startswith("Error connecting")]
    assert errors == [("Error connecting to 127.0.0.6:15002: dial tcp 127.0.0.1:0->127.0.0.6:15002: connect: "
                       "connection refused")] * 5
    assert clock.now == 5.0
    assert out.endswith("\terror\tiptables validation failed; workload is not ready for Istio.\n"
                        "When using Istio CNI, this can occur if a pod is scheduled before the node is ready.\n\n"
                        "If installed with 'cni.repair.deletePods=true', this pod should automatically be deleted and "
                        "retry.\nOtherwise, this pod will need to be manually removed so that it is scheduled on a node "
                        "with istio-cni running, allowing iptables rules to be established.\n\n")


def test_validation_only_passes_as_the_proxy_user() -> None:
    """The probe to 127.0.0.6 reaches the validator through `-o lo ! -d 127.0.0.1/32 ... --uid-owner 1337 -j
    ISTIO_IN_REDIRECT`; as root, `-o lo -m owner ! --uid-owner 1337 -j RETURN` lets it through unredirected to a port
    nobody listens on, so the validator (which the template runs as 1337) would fail."""
    rules = sidecar_rules(CaptureConfig(), (1, 22, 0))
    code, _, _, _, _ = run((1, 22, 0), VALIDATION_ARGS, uid=0, context=VALIDATION_CONTEXT, rules=rules)
    assert code == 126


# -- in pods -----------------------------------------------------------------------------------------------------------

POD = """apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  initContainers:
  - name: setup
    image: busybox:1.36
    command: [sh, -c, "echo setup"]
  containers:
  - name: nginx
    image: nginx:1.25.3
"""


def test_istio_init_applies_the_rules_after_the_app_init_containers() -> None:
    h = Harness((1, 20, 2)).create_cluster().install()
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply(POD)[0] == 0
    h.sleep(30)
    assert re.search(r"^web\s+2/2\s+Running\s+0", h.run("kubectl get pods")[1], re.MULTILINE)
    ns = h.cluster.network.namespaces["pod:default/web"]
    assert ns.ruleset.rules("nat", "OUTPUT") == ["-A OUTPUT -p tcp -j ISTIO_OUTPUT"]
    log = h.run("kubectl logs web -c istio-init")[1]
    assert "\tinfo\tRunning command (with wait lock): iptables-restore --noflush --wait=30\n" in log
    started = [t.action for t in h.trace.records if t.subject == "Pod default/web" and t.action.startswith("started")]
    assert started[:2] == ["started container setup", "started container istio-init"]


def test_istio_validation_without_the_cni_plugin_crash_loops() -> None:
    """components.cni enabled (values istio_cni.enabled): istio-validation is injected, but nothing writes the rules
    (the stand-in install-cni has no plugin), so the validator fails with 126 and the pod shows Init:Error, then
    Init:CrashLoopBackOff."""
    h = Harness((1, 21, 0)).create_cluster().install("components.cni.enabled=true")
    h.run("kubectl label namespace default istio-injection=enabled")
    assert h.apply(POD)[0] == 0
    seen = []
    for _ in range(30):
        h.sleep(1)
        seen.append(h.run("kubectl get pods")[1].splitlines()[1].split()[2])
    assert seen.index("Init:Error") < seen.index("Init:CrashLoopBackOff")
    assert seen[-1] == "Init:CrashLoopBackOff"
    status = h.pod("web")["status"]["initContainerStatuses"][0]
    assert status["name"] == "istio-validation"
    assert status["lastState"]["terminated"]["exitCode"] == 126
    assert "\terror\tiptables validation failed; workload is not ready for Istio.\n" in \
        h.run("kubectl logs web -c istio-validation --previous")[1]


def test_iptables_save_shows_the_rules_to_root_with_net_admin_only(tmp_path: Any) -> None:
    (tmp_path / "s.yaml").write_text(textwrap.dedent('''\
        name: iptables-save in an injected pod
        versions: {kubernetes: "1.29", istio: "1.22.3"}
        steps:
          - kind create cluster
          - istioctl install -y
          - kubectl label namespace default istio-injection=enabled
          - |
            kubectl apply -f - <<EOF
            apiVersion: v1
            kind: Pod
            metadata: {name: web}
            spec:
              containers:
              - name: debug
                image: docker.io/istio/proxyv2:1.22.3
                command: [sleep, infinity]
                securityContext: {runAsUser: 0, capabilities: {add: [NET_ADMIN]}}
            EOF
          - sleep 30
          - kubectl exec web -c istio-proxy -- iptables-save
          - kubectl exec web -c debug -- iptables-save
        '''))
    result = scenario_runner.run(load(str(tmp_path / "s.yaml")))
    refused, shown = result.steps[-2], result.steps[-1]
    assert refused.exit_code == 1
    assert "iptables-save v1.8.7 (legacy): Cannot initialize: Permission denied (you must be root)" in refused.output
    assert shown.exit_code == 0
    assert shown.output.startswith("# Generated by iptables-save v1.8.7 on Thu Jan 18 ")
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT\n" in shown.output and shown.output.endswith("2024\n")
