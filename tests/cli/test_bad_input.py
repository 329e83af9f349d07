"""Bad input anywhere a user can give it: one line naming the file and line (or the object), exit 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from meshrepro.cli import main

DEPLOYMENT_WITH_TYPO = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
      - name: c
        image: nginx
        imagePullPolice: Always
"""


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _scenario(tmp_path: Path, body: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "scenario.yaml"
    path.write_text(body)
    return path


def _assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("meshrepro: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_scenario_file(tmp_path: Path) -> None:
    code, _, err = _run("run", str(tmp_path / "nope.yaml"))
    _assert_one_line_error(code, err, "no such file", "nope.yaml")


def test_malformed_scenario_yaml_names_the_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps: [\n")
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, f"{path}:3:")


def test_unknown_scenario_field(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nstepz: []\n")
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, f"{path}:2:", "unknown scenario field 'stepz'")


def test_unknown_step_program(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - echo hi\n  - helm install x\n")
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, f"{path}:4:", "step 2", "'helm'")


def test_shell_syntax_error_in_a_step(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - |\n    if true; then\n      echo x\n")
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, str(path), "step 1", 'expecting "fi"')


def test_malformed_manifest_yaml_names_its_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - kubectl apply -f m.yaml\n",
                     {"m.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: [a\n"})
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, "m.yaml:6:")


def test_unknown_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - kubectl apply -f m.yaml\n", {"m.yaml": DEPLOYMENT_WITH_TYPO})
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, "m.yaml:13:", 'unknown field "spec.template.spec.containers[0].imagePullPolice"')


def test_unknown_kind(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - kubectl apply -f m.yaml\n",
                     {"m.yaml": "apiVersion: v1\nkind: Podd\nmetadata: {name: x}\n"})
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, "m.yaml:1:", 'no matches for kind "Podd"')


def test_unknown_image_in_a_heredoc_manifest(tmp_path: Path) -> None:
    body = ("name: t\nsteps:\n  - |\n    kubectl apply -f - <<EOF\n    apiVersion: v1\n    kind: Pod\n"
            "    metadata: {name: x}\n    spec:\n      containers:\n      - name: c\n        image: python:3.12\n    EOF\n")
    code, _, err = _run("run", str(_scenario(tmp_path, body)))
    _assert_one_line_error(code, err, 'image "python:3.12" is not in meshrepro\'s image catalogue')


def test_missing_manifest_file(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "name: t\nsteps:\n  - kubectl apply -f nope.yaml\n")
    code, _, err = _run("run", str(path))
    _assert_one_line_error(code, err, f"{path}:3:", "no such file: nope.yaml")


@pytest.mark.parametrize("argv", [["run"], ["run", "x", "--format", "pdf"], ["frobnicate"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "meshrepro: error:" in capsys.readouterr().err


def test_validate_reports_each_file(tmp_path: Path) -> None:
    """`validate` names every problem with file:line, says OK for the good files, and exits 2 on any problem."""
    (tmp_path / "bad.yaml").write_text(DEPLOYMENT_WITH_TYPO)
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n")
    code, out, err = _run("validate", str(tmp_path / "bad.yaml"), str(tmp_path / "good.yaml"))
    assert code == 2
    assert out == (f'{tmp_path}/bad.yaml:13: Deployment "x": unknown field '
                   f'"spec.template.spec.containers[0].imagePullPolice"\n{tmp_path}/good.yaml: OK\n')
    assert err == "meshrepro: error: 1 problem(s) found\n"
