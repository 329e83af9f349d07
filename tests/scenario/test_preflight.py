"""Preflight: every program a step calls exists, no unmodelled kubectl verb, applied manifests load and validate."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshrepro.errors import InputError
from meshrepro.scenario.model import load
from meshrepro.scenario.preflight import check

POD_WITH_TYPO = """\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: nginx
    imagePullPolice: Always
"""
POD_UNKNOWN_IMAGE = POD_WITH_TYPO.replace("    imagePullPolice: Always\n", "").replace("nginx", "redis:7")
GOOD_POD = POD_WITH_TYPO.replace("    imagePullPolice: Always\n", "")
CATALOGUE = ("alpine, bitnami/kubectl, busybox, curlimages/curl, istio/install-cni, istio/pilot, istio/proxyv2, "
             "istio/ztunnel, kindest/kindnetd, kindest/local-path-provisioner, nginx, registry.k8s.io/coredns/coredns, registry.k8s.io/etcd, registry.k8s.io/kube-apiserver, "
             "registry.k8s.io/kube-controller-manager, registry.k8s.io/kube-proxy, registry.k8s.io/kube-scheduler")
PROGRAMS = ("[, bash, cat, curl, date, echo, env, false, grep, head, hostname, id, kind, kubectl, ls, mkdir, printf, "
            "pwd, rm, sh, sleep, tail, test, touch, true, wc, whoami")


def scenario(tmp_path: Path, steps: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "scenario.yaml"
    path.write_text("name: t\nsteps:\n" + textwrap.dedent(steps))
    return path


def preflight_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        check(load(str(path)))
    return str(caught.value)


def test_known_programs_builtins_and_pipelines_pass(tmp_path: Path) -> None:
    """Host programs, shell builtins, pipelines and && lists of known programs pass."""
    path = scenario(tmp_path, """\
        - echo hi | grep h && sleep 1
        - cd /tmp && export X=1 || true
        - kind create cluster
        - kubectl get pods -A
        - curl -sk https://127.0.0.1:6443/version
    """)
    check(load(str(path)))


def test_unknown_host_program(tmp_path: Path) -> None:
    """A program the terminal lacks is named with the step number, its line, and the programs there are."""
    path = scenario(tmp_path, "- echo hi\n- helm install x\n")
    assert preflight_error(path) == (
        f"{path}:4: step 2: meshrepro's terminal has no program 'helm' (it has: {PROGRAMS})")


def test_absolute_path_to_unknown_program(tmp_path: Path) -> None:
    """An absolute path is checked by its full text."""
    path = scenario(tmp_path, "- /usr/bin/helm version\n")
    assert "no program '/usr/bin/helm'" in preflight_error(path)


def test_program_inside_a_block_step_reports_the_step_line(tmp_path: Path) -> None:
    """In a multi-line step the error carries the step's line."""
    path = scenario(tmp_path, "- echo a\n- |\n  echo b\n  istioctl install\n")
    assert preflight_error(path).startswith(f"{path}:4: step 2: meshrepro's terminal has no program 'istioctl'")


def test_runtime_words_are_not_checked(tmp_path: Path) -> None:
    """A command name that comes from an expansion is only known at run time, so it is not refused."""
    check(load(str(scenario(tmp_path, "- $CMD apply -f x\n- kubectl \"$VERB\" x\n"))))


def test_shell_function_defined_in_the_step(tmp_path: Path) -> None:
    """A function defined in a step may be called later in that step."""
    check(load(str(scenario(tmp_path, "- |\n  greet() { echo hi; }\n  greet\n"))))


@pytest.mark.parametrize(("command", "verb"), [
    ("kubectl run x --image nginx", "run"),
    ("kubectl -n default run x --image nginx", "run"),
    ("kubectl --context kind-kind expose deploy x --port 80", "expose"),
    ("kubectl --namespace=default scale deploy x --replicas 2", "scale"),
    ("kubectl port-forward svc/x 8080:80", "port-forward"),
])
def test_unmodelled_kubectl_verbs(tmp_path: Path, command: str, verb: str) -> None:
    """Real kubectl verbs meshrepro does not model are refused before the run, after any global flags."""
    path = scenario(tmp_path, f"- {command}\n")
    assert preflight_error(path) == (
        f"{path}:3: step 1: `kubectl {verb}` is a real kubectl command that meshrepro does not model yet")


def test_manifest_outside_the_folder(tmp_path: Path) -> None:
    """A manifest path leaving the scenario folder is refused: the terminal only sees that folder."""
    (tmp_path / "outside.yaml").write_text(GOOD_POD)
    path = scenario(tmp_path / "sc", "- kubectl apply -f ../outside.yaml\n")
    assert preflight_error(path) == (
        f"{path}:3: step 1: ../outside.yaml is outside the scenario's folder; the simulated terminal only sees "
        "files inside it")


def test_absolute_manifest_path_is_outside(tmp_path: Path) -> None:
    """An absolute path elsewhere on the disk is outside too."""
    path = scenario(tmp_path, "- kubectl create -f /etc/hostname\n")
    assert "/etc/hostname is outside the scenario's folder" in preflight_error(path)


def test_missing_manifest(tmp_path: Path) -> None:
    """A manifest that does not exist names the path as typed."""
    path = scenario(tmp_path, "- kubectl apply -f m/missing.yaml\n")
    assert preflight_error(path) == f"{path}:3: step 1: no such file: m/missing.yaml"


def test_manifest_file_validated_with_its_own_line(tmp_path: Path) -> None:
    """An unknown field in an applied manifest is reported at the manifest's file and line."""
    path = scenario(tmp_path, "- kubectl apply -f m/bad.yaml\n", {"m/bad.yaml": POD_WITH_TYPO})
    assert preflight_error(path) == f'{tmp_path}/m/bad.yaml:9: Pod "p": unknown field "spec.containers[0].imagePullPolice"'


@pytest.mark.parametrize("flag", ["--filename=m/bad.yaml", "-f m", "--filename m/bad.yaml"])
def test_filename_flag_forms_and_directories(tmp_path: Path, flag: str) -> None:
    """--filename=, --filename and a directory of manifests are all checked."""
    path = scenario(tmp_path, f"- kubectl apply {flag}\n", {"m/bad.yaml": POD_WITH_TYPO, "m/ok.yaml": GOOD_POD})
    assert preflight_error(path).endswith('Pod "p": unknown field "spec.containers[0].imagePullPolice"')


def test_image_not_in_catalogue(tmp_path: Path) -> None:
    """An image meshrepro cannot run is refused at the image's line, listing the catalogue."""
    path = scenario(tmp_path, "- kubectl create -f pod.yaml\n", {"pod.yaml": POD_UNKNOWN_IMAGE})
    assert preflight_error(path) == (
        f'{tmp_path}/pod.yaml:8: Pod "p" container "c": image "redis:7" is not in meshrepro\'s image catalogue '
        f"(known: {CATALOGUE})")


def test_image_in_a_deployment_template(tmp_path: Path) -> None:
    """Images inside workload templates are checked too."""
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n"
                  "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      initContainers:\n"
                  "      - {name: i, image: busybox}\n      - {name: j, image: postgres}\n"
                  "      containers:\n      - {name: c, image: nginx}\n")
    path = scenario(tmp_path, "- kubectl apply -f d.yaml\n", {"d.yaml": deployment})
    assert preflight_error(path).startswith(
        f'{tmp_path}/d.yaml:11: Deployment "d" container "j": image "postgres" is not in meshrepro\'s image catalogue')


def test_here_doc_manifest_is_validated(tmp_path: Path) -> None:
    """A here-document manifest is validated like a file, its errors placed at the scenario file's line."""
    body = textwrap.indent(POD_WITH_TYPO, "  ")
    path = scenario(tmp_path, f"- |\n  kubectl apply -f - <<EOF\n{body}  EOF\n")
    assert preflight_error(path) == (
        f'{path}:13: Pod "p": unknown field "spec.containers[0].imagePullPolice"')


def test_valid_here_doc_passes(tmp_path: Path) -> None:
    """A valid here-document manifest passes."""
    body = textwrap.indent(GOOD_POD, "  ")
    check(load(str(scenario(tmp_path, f"- |\n  kubectl apply -f - <<'EOF'\n{body}  EOF\n"))))


def test_only_apply_and_create_read_manifests(tmp_path: Path) -> None:
    """`kubectl delete -f` of a missing file is left to run time (the real kubectl's own error)."""
    check(load(str(scenario(tmp_path, "- kubectl delete -f gone.yaml --ignore-not-found\n"))))
