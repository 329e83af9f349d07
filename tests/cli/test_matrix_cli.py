"""`meshrepro matrix`: output formats, -o, the progress bar on a terminal only, exit codes and bad input;
`meshrepro run` on a scenario with factors runs its baseline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from meshrepro.cli import main

SCENARIO = """\
name: tiny matrix
steps:
  - echo "${GREETING}, ${WHO}"
expect:
  - step: 1
    output_contains: hello
factors:
  greeting: {hello: {vars: {GREETING: hello}}, bye: {vars: {GREETING: bye}}}
  who: {world: {vars: {WHO: world}}, you: {vars: {WHO: you}}}
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    return path


def test_text_report_and_exit_0_even_when_expectations_fail(scenario: Path) -> None:
    code, out, err = run("matrix", str(scenario), "--jobs", "1")
    assert (code, err) == (0, "")
    assert out.startswith("# matrix: tiny matrix\n# 2 factors, 4 cells, seed 0;")
    assert "1     hello     world  ✓   ok\n" in out and "3     bye       world  ✗   ok\n" in out
    assert "E1 `output_contains: hello` holds in 2 of 4 cells: only with greeting=hello.\n" in out
    assert "who does not matter" in out


def test_json_report_to_a_file(scenario: Path, tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    code, out, err = run("matrix", str(scenario), "--jobs", "1", "--format", "json", "-o", str(target), "--seed", "7")
    assert (code, out, err) == (0, "", "")
    body = json.loads(target.read_text())
    assert (body["kind"], body["seed"], len(body["cells"])) == ("matrix", 7, 4)
    assert body["cells"][2]["levels"] == {"greeting": "bye", "who": "world"}
    assert body["cells"][2]["expectations"] == [{"id": "E1", "passed": False, "actual": "exit code 0; output: bye, world"}]
    assert body["analysis"][0]["remedies"] == []
    assert body["analysis"][0]["minimal_causes"] == [{"greeting": "bye"}]


def test_progress_bar_only_on_a_terminal(scenario: Path) -> None:
    terminal = Terminal()
    code, out, _ = run("matrix", str(scenario), "--jobs", "1", err=terminal)
    assert code == 0 and "# matrix: tiny matrix" in out
    assert "cells" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert run("matrix", str(scenario), "--jobs", "1")[2] == ""


def test_run_on_a_matrix_scenario_runs_its_baseline(scenario: Path) -> None:
    code, out, err = run("run", str(scenario))
    assert (code, err) == (0, "")
    assert '$ echo "hello, world"\nhello, world\n' in out


@pytest.mark.parametrize(("body", "fragments"), [
    ("name: t\nsteps:\n  - echo hi\n", ["the scenario has no `factors:` to sweep"]),
    (SCENARIO.replace("who: {world:", "who: {drop: {drop_steps: [echo hi]}, world:"),
     [":9:", "factor who, level drop: no step is 'echo hi'"]),
    (SCENARIO + "  file:\n    a: {}\n    b: {patch: [{file: m.yaml, object: Deployment/x, merge: {}}]}\n",
     [":12:", "factor file, level b: patch names a file that does not exist: m.yaml"]),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, body: str, fragments: list[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(body)
    for command in (["matrix", str(path)], ["run", str(path)] if "factors" in body else None):
        if command is None:
            continue
        code, out, err = run(*command)
        assert code == 2 and out == "", (code, out, err)
        assert err.startswith("meshrepro: error: ") and err.count("\n") == 1, err
        for fragment in fragments:
            assert fragment in err, err


def test_jobs_must_be_positive(scenario: Path) -> None:
    code, _, err = run("matrix", str(scenario), "--jobs", "0")
    assert code == 2 and err == "meshrepro: error: --jobs must be 1 or more, not 0\n"


def test_an_internal_failure_in_a_cell_is_exit_3(scenario: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshrepro.scenario import runner

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("nope")

    monkeypatch.setattr(runner, "run", boom)
    code, out, err = run("matrix", str(scenario), "--jobs", "1")
    assert (code, out) == (3, "")
    assert err.startswith("meshrepro: internal error: CellError: cell greeting=hello, who=world: KeyError: 'nope'")


def test_every_cell_is_checked_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A level that adds a step calling a program the terminal lacks is bad input, not a failed cell."""
    from meshrepro.scenario import runner

    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO + "  tool:\n    none: {}\n    helm:\n      add_steps: [{after: 1, step: helm install x}]\n")
    monkeypatch.setattr(runner, "run", lambda *a, **k: pytest.fail("ran a cell"))
    code, out, err = run("matrix", str(path), "--jobs", "1")
    assert (code, out) == (2, "")
    assert f"{path}:12: step 2: meshrepro's terminal has no program 'helm'" in err
