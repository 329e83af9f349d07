"""`istioctl` on the user's terminal against a simulated kind cluster.

The Istio images' programs here are a test stand-in: each binds a plain HTTP listener on its container's
readiness port (and nothing else), so pods become Ready the way the kubelet's probes find them. The
`istio-ca-root-cert` ConfigMap that istiod would publish is created up front for ztunnel's volume.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

from meshrepro.backends.sim.machine import Machine
from meshrepro.istio import images
from meshrepro.istio.istioctl import make_istioctl, workload_table
from meshrepro.istio.workload import Workload
from meshrepro.net.http import Request, Response
from meshrepro.net.server import HttpListener, Peer
from meshrepro.runtime.process import Process, Transcript
from meshrepro.sim.clock import Clock
from meshrepro.sim.trace import Trace

READINESS_PORTS = {"pilot-discovery": 8080, "install-cni": 8000, "ztunnel": 15021, "pilot-agent": 15021}
Version = tuple[int, int, int]


def _ok(peer: Peer, request: Request) -> Generator[Any, Any, Response]:
    return Response(200, {"Content-Type": "text/plain"}, b"ok")
    yield  # pragma: no cover


def ready_components(skip: tuple[str, ...] = ()) -> images.ComponentRunner:
    def run(component: str, version: Version, proc: Process) -> Generator[Any, Any, int]:
        if component not in skip:
            proc.host.network.listen(READINESS_PORTS[component], HttpListener(component, _ok))
        yield proc.sleep(10**9)
        return 0
    return run


def machine(version: Version, kube: tuple[int, int] = (1, 29), start: datetime | None = None,
            skip: tuple[str, ...] = ()) -> Machine:
    clock = Clock(start, seed=1) if start else Clock(seed=1)
    m = Machine(clock, Trace(), kube, f"{kube[0]}.{kube[1]}", istio_version=version)
    images.register(m.catalogue, ready_components(skip))
    return m


def run(m: Machine, command: str) -> tuple[int, str, str]:
    transcript = Transcript(m.clock)
    process = m.clock.process(m.run_step(command, transcript))
    m.clock.env.run(until=process)
    return process.value, transcript.text("stdout"), transcript.text("stderr")


def with_cluster(m: Machine) -> Machine:
    assert run(m, "kind create cluster")[0] == 0
    cluster = next(iter(m.clusters.values()))
    cluster.apply_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    cluster.apply_object({"apiVersion": "v1", "kind": "ConfigMap", "data": {"root-cert.pem": "ca"},
                          "metadata": {"name": "istio-ca-root-cert", "namespace": "istio-system"}})
    return m


def test_ambient_install_1_20_end_to_end() -> None:
    """1.20: no icons, ztunnel installs alongside the rest, the default-revision message; then the pods,
    `istioctl version` and `uninstall --purge`."""
    m = with_cluster(machine((1, 20, 2)))
    code, out, err = run(m, "istioctl install --set profile=ambient -y")
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert sorted(lines[:4]) == ["✔ CNI installed", "✔ Istio core installed", "✔ Istiod installed",
                                 "✔ Ztunnel installed"]
    assert lines[0] == "✔ Istio core installed"
    assert lines.index("✔ Istiod installed") < lines.index("✔ CNI installed")
    assert lines[4:] == ["✔ Installation complete", "Made this installation the default for injection and validation."]
    code, out, _ = run(m, "kubectl get pods -n istio-system")
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert code == 0 and len(names) == 3
    assert names[0].startswith("istio-cni-node-") and names[1].startswith("istiod-") and names[2].startswith("ztunnel-")
    assert all(line.split()[1:3] == ["1/1", "Running"] for line in out.splitlines()[1:])
    assert run(m, "istioctl version") == (0, "client version: 1.20.2\ncontrol plane version: 1.20.2\n", "")
    code, out, err = run(m, "istioctl uninstall --purge -y")
    assert code == 0 and err == "✔ Uninstall complete\n"
    assert out.startswith("All Istio resources will be pruned from the cluster\n\n"
                          "  Removed IstioOperator:istio-system:installed-state.\n"
                          "  Removed Deployment:istio-system:istiod.\n")
    assert "  Removed ClusterRole::istiod-clusterrole-istio-system.\n" in out
    assert "  Removed CustomResourceDefinition::peerauthentications.security.istio.io.\n" in out
    assert run(m, "kubectl get crd")[1] == ""
    assert run(m, "istioctl version") == (0, "1.20.2\n", 'no ready Istio pods in "istio-system"\n')


def test_ambient_install_1_24_art_icons_and_message() -> None:
    """1.24: the ASCII art first, icons, Ztunnel after CNI, no default-revision line, the ambient message."""
    m = with_cluster(machine((1, 24, 0)))
    code, out, err = run(m, "istioctl install --set profile=ambient --skip-confirmation")
    assert (code, out) == (0, "")
    art, _, progress = err.partition("\n\n")
    assert art.splitlines()[0] == "        |\\          " and len(art.splitlines()) == 14
    assert progress.splitlines() == ["✔ Istio core installed ⛵️", "✔ Istiod installed 🧠", "✔ CNI installed 🪢",
                                     "✔ Ztunnel installed 🔒", "✔ Installation complete",
                                     ("The ambient profile has been installed successfully, enjoy Istio without "
                                     "sidecars!")]
    code, out, _ = run(m, "istioctl uninstall --purge -y")
    assert code == 0 and "  Removed apps/v1, Kind=Deployment/istiod.istio-system.\n" in out
    assert "  Removed rbac.authorization.k8s.io/v1, Kind=ClusterRole/istio-cni..\n" in out  # `%v/%s.%s`, no namespace


def test_1_18_says_making_the_default() -> None:
    m = with_cluster(machine((1, 18, 0)))
    err = run(m, "istioctl install --set profile=minimal -y")[2]
    assert err.splitlines()[-2:] == ["✔ Installation complete",
                                     "Making this installation the default for injection and validation."]


def test_1_23_cluster_wide_message() -> None:
    m = with_cluster(machine((1, 23, 0)))
    err = run(m, "istioctl install -y")[2]
    assert err.splitlines()[-3:] == ["✔ Ingress gateways installed 🛬", "✔ Installation complete",
                                     "Made this installation the default for cluster-wide operations."]


@pytest.mark.parametrize(("version", "prompt"), [
    ((1, 18, 0), ('This will install the Istio 1.18.0 ambient profile with ["Istio core" "Istiod" "CNI" "Ztunnel"] '
                 "components into the cluster. Proceed? (y/N) ")),
    ((1, 20, 2), ('This will install the Istio 1.20.2 "ambient" profile (with components: Istio core, Istiod, CNI, and '
                 "Ztunnel) into the cluster. Proceed? (y/N) ")),
    ((1, 24, 0), 'This will install the Istio 1.24.0 profile "ambient" into the cluster. Proceed? (y/N) '),
])
def test_prompt_without_input_cancels(version: Version, prompt: str) -> None:
    m = with_cluster(machine(version))
    code, out, err = run(m, "istioctl install --set profile=ambient")
    assert (code, out) == (1, prompt)
    assert err.endswith("Cancelled.\n")
    assert run(m, "kubectl get deploy -n istio-system")[2] == "No resources found in istio-system namespace.\n"


def test_prompt_answered_yes_installs() -> None:
    m = with_cluster(machine((1, 22, 0)))
    code, out, err = run(m, "printf 'maybe\\ny\\n' | istioctl install --set profile=minimal")
    prompt = ('This will install the Istio 1.22.0 "minimal" profile (with components: Istio core and Istiod) into '
              "the cluster. Proceed? (y/N) ")
    assert (code, out) == (0, prompt * 2)
    assert "✔ Installation complete\n" in err


def test_readiness_timeout_fails_the_component() -> None:
    """A DaemonSet whose pods never become Ready: polled until --readiness-timeout, then the real error."""
    m = with_cluster(machine((1, 22, 0), skip=("ztunnel",)))
    code, _out, err = run(m, "istioctl install --set profile=ambient -y --readiness-timeout=20s")
    assert code == 1
    assert ("✘ Ztunnel encountered an error: failed to wait for resource: resources not ready after 20s: context "
            "deadline exceeded\n  \n") in err
    assert err.endswith("Error: failed to install manifests: errors occurred during operation\n")
    assert "Installation complete" not in err


def test_deployment_failure_names_the_pods_condition() -> None:
    m = with_cluster(machine((1, 24, 0), skip=("pilot-discovery",)))
    code, _, err = run(m, "istioctl install --set profile=minimal -y --readiness-timeout 10s")
    assert code == 1
    assert ("✘ Istiod encountered an error: failed to wait for resource: resources not ready after 10s: context "
            "deadline exceeded\n  Deployment/istio-system/istiod (containers with unready status: [discovery])\n") in err
    assert err.endswith("Error: failed to install manifests: failed to wait for resource: resources not ready after "
                        "10s: context deadline exceeded\n  Deployment/istio-system/istiod (containers with unready "
                        "status: [discovery])\n")


def test_eol_and_kubernetes_version_warnings() -> None:
    m = with_cluster(machine((1, 24, 0), kube=(1, 27), start=datetime(2025, 8, 1, tzinfo=UTC)))
    out = run(m, "istioctl install --set profile=minimal -y")[1]
    assert out == ("\nThe Kubernetes version v1.27.11 is not supported by Istio 1.24.0. The minimum supported Kubernetes "
                   "version is 1.28.\nProceeding with the installation, but you might experience problems. See "
                   "https://istio.io/latest/docs/setup/platform-setup/ for a list of supported versions.\n\n"
                   "WARNING: Istio 1.24.0 may be out of support (EOL) already: see "
                   "https://istio.io/latest/docs/releases/supported-releases/ for supported releases\n")


def test_bad_input() -> None:
    m = with_cluster(machine((1, 22, 0)))
    assert run(m, "istioctl install --set profile=ambiant -y") == (
        1, "", ("Error: generate config: failed to read profile ambiant from : open profiles/ambiant.yaml: file does "
               "not exist\n"))
    assert run(m, "istioctl install -f missing.yaml -y") == (
        1, "", "Error: generate config: open missing.yaml: no such file or directory\n")
    assert run(m, "istioctl install --bogus") == (64, "", "Error: unknown flag: --bogus\n")
    assert run(m, "istioctl instal") == (
        64, "", ('Error: unknown command "instal" for "istioctl"\n\nDid you mean this?\n\tinstall\n\n'
                "Run 'istioctl --help' for usage.\n"))
    assert run(m, "istioctl frobnicate") == (
        64, "", "Error: unknown command \"frobnicate\" for \"istioctl\"\nRun 'istioctl --help' for usage.\n")
    code, _, err = run(m, "istioctl analyze")
    assert code == 1 and err.startswith("Error: meshrepro: `istioctl analyze` is real istioctl usage")
    assert run(m, "istioctl uninstall -y") == (
        1, "", ("Error: at least one of the --revision (or --set revision=<revision>), --filename or --purge flags "
               "must be set\n"))


def test_install_from_an_istiooperator_file() -> None:
    m = with_cluster(machine((1, 22, 0)))
    iop = ("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  profile: minimal\n  values:\n"
           "    pilot:\n      env:\n        PILOT_ENABLE_AMBIENT: \"true\"\n")
    code, _, err = run(m, f"cat > /tmp/iop.yaml <<'EOF'\n{iop}EOF\nistioctl install -f /tmp/iop.yaml -y")
    assert code == 0 and "✔ Installation complete" in err
    out = run(m, "kubectl get deploy istiod -n istio-system -o jsonpath='{.spec.template.spec.containers[0].env}'")[1]
    assert '"name":"PILOT_ENABLE_AMBIENT","value":"true"' in out


def test_version_without_a_cluster_and_remote_false() -> None:
    m = machine((1, 24, 0))
    code, out, err = run(m, "istioctl version")
    assert (code, out) == (0, "1.24.0\n")
    assert err == ('unable to retrieve Pods: Get "http://localhost:8080/api/v1/namespaces/istio-system/pods?'
                   'fieldSelector=status.phase%3DRunning&labelSelector=app%3Distiod": dial tcp 127.0.0.1:8080: '
                   "connect: connection refused\n")
    assert run(m, "istioctl version --remote=false") == (0, "1.24.0\n", "")
    m = with_cluster(machine((1, 24, 0)))
    assert run(m, "istioctl version") == (0, "1.24.0\n", 'no running Istio pods in namespace "istio-system"\n')


def test_version_data_plane_line_from_istiod() -> None:
    m = with_cluster(machine((1, 22, 0)))
    m.host.programs["/usr/local/bin/istioctl"] = make_istioctl(
        (1, 22, 0), lambda ns, pod: None, lambda ns, pod: [("ztunnel-a", "1.22.0"), ("ztunnel-b", "1.22.0")])
    run(m, "istioctl install --set profile=minimal -y")
    assert run(m, "istioctl version")[1] == ("client version: 1.22.0\ncontrol plane version: 1.22.0\n"
                                             "data plane version: 1.22.0 (2 proxies)\n")


def _workloads(pod: str) -> list[Workload]:
    return [Workload("Kubernetes//Pod/default/web-1", "web-1", "default", "kind-control-plane", ("10.244.0.9",),
                     "web", tunnel_protocol="HBONE"),
            Workload("Kubernetes//Pod/app/api-0", "api-0", "app", "kind-control-plane", ("10.244.0.7",), "api")]


@pytest.mark.parametrize(("version", "command"), [
    ((1, 20, 2), "istioctl pc workload {pod}.istio-system"),
    ((1, 22, 0), "istioctl x ztunnel-config workloads"),
    ((1, 24, 0), "istioctl zc workload"),
])
def test_ztunnel_workloads_asks_a_ztunnel_pod(version: Version, command: str) -> None:
    m = with_cluster(machine(version))
    asked: list[tuple[str, str]] = []

    def workloads(namespace: str, pod: str) -> list[Workload]:
        asked.append((namespace, pod))
        return _workloads(pod)

    m.host.programs["/usr/local/bin/istioctl"] = make_istioctl(version, workloads)
    run(m, "istioctl install --set profile=ambient -y")
    pod = run(m, "kubectl get pods -n istio-system -l app=ztunnel -o name")[1].strip().removeprefix("pod/")
    code, out, err = run(m, command.format(pod=pod))
    assert (code, err) == (0, "")
    assert asked == [("istio-system", pod)]
    assert out == workload_table(version, _workloads(pod), True)


def test_workload_table_columns_per_release() -> None:
    workloads = _workloads("z")
    assert workload_table((1, 19, 0), workloads, True).splitlines()[0].split() == [
        "NAME", "NAMESPACE", "IP", "NODE", "WAYPOINT", "PROTOCOL"]
    assert workload_table((1, 21, 0), workloads, True).splitlines()[0].split() == [
        "NAMESPACE", "NAME", "NETWORK", "IP", "NODE", "WAYPOINT", "PROTOCOL"]
    assert workload_table((1, 24, 0), workloads, True) == (
        "NAMESPACE POD NAME ADDRESS    NODE               WAYPOINT PROTOCOL\n"
        "app       api-0    10.244.0.7 kind-control-plane None     TCP\n"
        "default   web-1    10.244.0.9 kind-control-plane None     HBONE\n")
    assert workload_table((1, 22, 0), workloads, False).splitlines()[0] == "NAMESPACE POD NAME IP         NODE"


def test_ztunnel_config_command_per_release() -> None:
    m = with_cluster(machine((1, 21, 0)))
    assert run(m, "istioctl zc workloads")[0] == 64  # not a command before 1.22
    assert run(m, "istioctl pc workload") == (1, "", "Error: workload requires pod name or --file parameter\n")
    m = with_cluster(machine((1, 23, 0)))
    code, _, err = run(m, "istioctl x ztunnel-config workloads")
    assert code == 1 and "meshrepro" in err  # `x ztunnel-config` is gone in 1.23: cobra prints x's help
    code, _, err = run(m, "istioctl zc workloads")
    assert (code, err) == (1, ('Error: failed retrieving: daemonsets.apps "ztunnel" not found in the "istio-system" '
                              "namespace\n"))


PEER_AUTHENTICATION = """cat <<EOF | kubectl apply -f -
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
EOF"""


def test_istio_kinds_are_served_once_istioctl_installed_their_crds() -> None:
    m = with_cluster(machine((1, 22, 0)))
    assert run(m, PEER_AUTHENTICATION) == (
        1, "", ('error: resource mapping not found for name: "default" namespace: "istio-system" from "STDIN": no '
               'matches for kind "PeerAuthentication" in version "security.istio.io/v1beta1"\n'
               "ensure CRDs are installed first\n"))
    run(m, "istioctl install --set profile=minimal -y")
    assert run(m, PEER_AUTHENTICATION) == (0, "peerauthentication.security.istio.io/default created\n", "")
    out = run(m, "kubectl get pa -n istio-system")[1]
    assert out.splitlines()[0].split() == ["NAME", "MODE", "AGE"] and out.splitlines()[1].split()[:2] == [
        "default", "STRICT"]
    run(m, "istioctl uninstall --purge -y")  # deleting the CRD takes its objects along
    assert run(m, "kubectl get pa -A")[2] == 'error: the server doesn\'t have a resource type "pa"\n'


def test_install_without_a_cluster() -> None:
    m = machine((1, 20, 2))
    assert run(m, "istioctl install -y") == (
        1, "", ('Error: check minimum supported Kubernetes version: error getting Kubernetes version: Get '
               '"http://localhost:8080/version?timeout=32s": dial tcp 127.0.0.1:8080: connect: connection refused\n'))
