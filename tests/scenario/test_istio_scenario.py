"""`versions.istio` in a scenario: validated with file:line, puts istioctl on the terminal, and lets preflight
check Istio manifests and istioctl steps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshrepro.errors import InputError
from meshrepro.scenario.model import load
from meshrepro.scenario.preflight import check
from meshrepro.scenario.runner import run

SUPPORTED = ("1.18.0, 1.19.0, 1.20.0, 1.20.2, 1.21.0, 1.21.1, 1.21.2, 1.22.0, 1.22.1, 1.22.2, 1.22.3, 1.23.0, "
             "1.24.0, 1.25.0, 1.26.0, 1.27.0")


def scenario(tmp_path: Path, versions: str, steps: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: t\nversions: {versions}\nsteps:\n" + textwrap.dedent(steps))
    return path


def error(path: Path, preflight: bool = False) -> str:
    with pytest.raises(InputError) as caught:
        loaded = load(str(path))
        if preflight:
            check(loaded)
    return str(caught.value)


def test_istio_release_is_parsed(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.20.2"}', "- istioctl version\n")
    assert load(str(path)).istio == (1, 20, 2)
    assert load(str(scenario(tmp_path, '{kubernetes: "1.29"}', "- echo hi\n"))).istio is None


def test_unsupported_release_lists_the_supported_ones(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.20.5"}', "- echo hi\n")
    assert error(path) == f"{path}:2: Istio 1.20.5 is not supported (supported: {SUPPORTED})"


def test_release_must_be_a_full_string(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: 1.22}', "- echo hi\n")
    assert error(path) == (f'{path}:2: write the Istio release as a string ("1.22.3"): YAML reads an unquoted '
                           "1.22 as a number")
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22"}', "- echo hi\n")
    assert error(path) == (f"{path}:2: not an Istio version (want MAJOR.MINOR.PATCH, e.g. 1.22.2): '1.22' "
                           f"(supported: {SUPPORTED})")


def test_the_line_is_the_istio_field(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text('name: t\nversions:\n  kubernetes: "1.29"\n  istio: "9.9.9"\nsteps:\n- echo hi\n')
    assert error(path).startswith(f"{path}:4: Istio 9.9.9 is not supported")


def test_istioctl_step_needs_versions_istio(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29"}', "- istioctl install -y\n")
    message = error(path, preflight=True)
    assert message.startswith(f"{path}:4: step 1: meshrepro's terminal has no program 'istioctl' (it has: ")
    assert message.endswith('; set `versions.istio` (e.g. versions: {kubernetes: "1.29", istio: "1.22.3"}) to put '
                            "that release's istioctl on PATH")
    check(load(str(scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}', "- istioctl install -y\n"))))


def test_unmodelled_istioctl_command_is_rejected_before_running(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}', "- istioctl -i istio-system analyze\n")
    assert error(path, preflight=True) == (
        f"{path}:4: step 1: `istioctl analyze` is a real istioctl command that meshrepro does not model yet")


PEER_AUTHENTICATION = """\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: {mode}
"""


def test_invalid_peer_authentication_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}', "- kubectl apply -f pa.yaml\n",
                    {"pa.yaml": PEER_AUTHENTICATION.format(mode="STRICTT")})
    assert error(path, preflight=True) == (
        f'{tmp_path / "pa.yaml"}:8: PeerAuthentication "default": spec.mtls.mode: Unsupported value: "STRICTT": '
        'supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"')


def test_istio_kinds_are_known_only_with_versions_istio(tmp_path: Path) -> None:
    files = {"pa.yaml": PEER_AUTHENTICATION.format(mode="STRICT")}
    check(load(str(scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}', "- kubectl apply -f pa.yaml\n",
                            files))))
    path = scenario(tmp_path, '{kubernetes: "1.29"}', "- kubectl apply -f pa.yaml\n", files)
    assert error(path, preflight=True).endswith(
        'no matches for kind "PeerAuthentication" in version "security.istio.io/v1beta1"')


def test_a_scenario_runs_istioctl_of_its_release(tmp_path: Path) -> None:
    """The runner hands `versions.istio` to the machine: the step runs that release's istioctl."""
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.21.2"}', "- istioctl version --remote=false\n")
    result = run(load(str(path)))
    assert (result.steps[0].exit_code, result.steps[0].stdout) == (0, "1.21.2\n")


@pytest.mark.parametrize("step, reason", [
    ("- istioctl install --set profile=ambiant -y\n", "is not a profile of Istio 1.22.3"),
    ("- istioctl install -y --set=profile=empty\n", "is a real profile meshrepro does not render yet"),
])
def test_a_profile_meshrepro_cannot_install_is_bad_input(tmp_path: Path, step: str, reason: str) -> None:
    path = scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}', step)
    message = error(path, preflight=True)
    assert message.startswith(f"{path}:4: step 1: istioctl install: profile ") and reason in message


def test_a_known_profile_passes_preflight(tmp_path: Path) -> None:
    check(load(str(scenario(tmp_path, '{kubernetes: "1.29", istio: "1.22.3"}',
                            "- istioctl install --set profile=ambient --set values.cni.logLevel=debug -y\n"))))
