"""The matrix: minimal causes, irrelevant factors, remedies and conditions on grids whose answer is known;
cells run for real (inline and in worker processes) give the same table."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from meshrepro.report import matrix_json, matrix_text
from meshrepro.scenario import factors as F
from meshrepro.scenario import matrix as M
from meshrepro.scenario.result import ExpectationResult, LogView, PodView, RunResult, StepResult

Levels = dict[str, str]


def grid(factors: dict[str, tuple[str, ...]], *expectations: Callable[[Levels], bool]) -> M.Matrix:
    """A matrix whose cells are computed by `expectations` instead of runs."""
    names = list(factors)
    cells = []
    for index, levels in enumerate(itertools.product(*factors.values())):
        chosen = dict(zip(names, levels))
        cells.append(M.CellResult(index, levels, tuple(e(chosen) for e in expectations),
                                  tuple("" for _ in expectations), "ok", 0.0))
    return M.Matrix("synthetic", "s.yaml", 0, tuple(factors.items()),
                    tuple((f"E{i}", i) for i in range(1, len(expectations) + 1)), tuple(cells))


FACTORS = {"a": ("x", "y"), "b": ("x", "y"), "c": ("x", "y", "z")}


def test_a_conjunction_is_one_minimal_cause_of_two_changes() -> None:
    """E holds only when a=y and b=y: from the baseline no single change flips it, both together do."""
    analysis = grid(FACTORS, lambda v: v["a"] == "y" and v["b"] == "y").minimal_causes()[0]
    assert analysis.baseline_passed is False
    assert analysis.causes == ((("a", "y"), ("b", "y")),)
    assert analysis.remedies == ()
    assert analysis.irrelevant == ("c",)
    assert analysis.holds_when == ((("a", ("y",)), ("b", ("y",))),)
    assert analysis.holds_in == 3


def test_a_disjunction_has_two_single_causes_and_they_are_the_remedies() -> None:
    analysis = grid(FACTORS, lambda v: v["a"] == "y" or v["b"] == "y").minimal_causes()[0]
    assert analysis.causes == ((("a", "y"),), (("b", "y"),))
    assert analysis.remedies == analysis.causes
    assert analysis.irrelevant == ("c",)
    assert analysis.fails_when == ((("a", ("x",)), ("b", ("x",))),)


def test_causes_are_minimal_and_levels_of_many_level_factors_are_named() -> None:
    """Holds unless c=z, or a=y and b=y: {c=z} and {a=y, b=y} flip it; {a=y, b=y, c=z} is not minimal, and
    c=y flips nothing."""
    analysis = grid(FACTORS, lambda v: v["c"] != "z" and not (v["a"] == "y" and v["b"] == "y")).minimal_causes()[0]
    assert analysis.baseline_passed is True
    assert analysis.causes == ((("c", "z"),), (("a", "y"), ("b", "y")))
    assert analysis.remedies == ()  # remedies are for expectations that fail at the baseline
    assert analysis.irrelevant == ()
    # the fewest terms: c=z, or a=y and b=y
    assert set(analysis.fails_when) == {(("c", ("z",)),), (("a", ("y",)), ("b", ("y",)))}


def test_a_condition_may_name_several_levels_of_one_factor() -> None:
    analysis = grid(FACTORS, lambda v: v["c"] in ("x", "y")).minimal_causes()[0]
    assert analysis.holds_when == ((("c", ("x", "y")),),)
    assert analysis.fails_when == ((("c", ("z",)),),)
    assert analysis.causes == ((("c", "z"),),)
    assert analysis.irrelevant == ("a", "b")


def test_an_expectation_that_always_or_never_holds_depends_on_nothing() -> None:
    always, never = grid(FACTORS, lambda v: True, lambda v: False).minimal_causes()
    assert (always.holds_when, always.fails_when, always.causes) == (((),), (), ())
    assert (never.holds_when, never.fails_when, never.causes) == ((), ((),), ())
    assert always.irrelevant == never.irrelevant == ("a", "b", "c")


def test_a_factor_that_matters_only_in_some_cells_is_not_irrelevant() -> None:
    """c changes the outcome only when a=y: from the baseline (a=x) it flips nothing, yet it matters."""
    analysis = grid(FACTORS, lambda v: v["a"] == "y" and v["c"] == "z").minimal_causes()[0]
    assert analysis.irrelevant == ("b",)
    assert analysis.causes == ((("a", "y"), ("c", "z")),)


def test_cell_lookup_by_levels() -> None:
    matrix = grid(FACTORS, lambda v: True)
    assert matrix.cell({"b": "y", "c": "z"}).levels == ("x", "y", "z")
    assert matrix.cell(["y", "x", "y"]).index == 1 * 6 + 0 * 3 + 1
    assert matrix.baseline.levels == ("x", "x", "x")


def test_the_text_report_says_it_in_words() -> None:
    matrix = grid({"mesh": ("ambient", "none"), "istio": ("1.20", "1.22"), "rbac": ("with", "without")},
                  lambda v: v["mesh"] == "ambient" and v["istio"] == "1.20",
                  lambda v: v["rbac"] == "with" and not (v["mesh"] == "ambient" and v["istio"] == "1.20"))
    text = matrix_text.render(matrix)
    assert "CELL  MESH     ISTIO  RBAC     E1  E2  SYMPTOM\n1     ambient  1.20   with     ✓   ✗   ok\n" in text
    assert ("E1 `E1` holds in 2 of 8 cells: only with mesh=ambient and istio=1.20.\n"
            "   rbac does not matter: changed alone, from any cell, it never flips it.\n"
            "   From the baseline, it stops holding with any one of: mesh=none; istio=1.22.\n") in text
    assert "E2 `E2` holds in 3 of 8 cells: only with rbac=with, together with any of: mesh=none; istio=1.22.\n" in text
    assert "   Remedies (one change from the baseline makes it hold): mesh=none; istio=1.22.\n" in text


def test_the_json_report_carries_cells_and_analysis() -> None:
    body = matrix_json.to_dict(grid(FACTORS, lambda v: v["a"] == "y" and v["b"] == "y"))
    assert body["kind"] == "matrix" and body["schema"] == 1
    assert body["factors"][2] == {"name": "c", "levels": ["x", "y", "z"], "baseline": "x"}
    assert body["cells"][0]["levels"] == {"a": "x", "b": "x", "c": "x"}
    assert body["analysis"][0]["minimal_causes"] == [{"a": "y", "b": "y"}]
    assert body["analysis"][0]["holds_when"] == [{"a": ["y"], "b": ["y"]}]
    assert body["analysis"][0]["irrelevant"] == ["c"]


# -- the symptom of a cell -----------------------------------------------------------------------


def _result(connections: list[dict] | None = None, pods: list[PodView] | None = None,
            steps: list[StepResult] | None = None, logs: list[LogView] | None = None) -> RunResult:
    return RunResult("s", "s.yaml", 0, {}, {}, steps or [], pods or [], logs or [], connections or [], [],
                     [ExpectationResult("x", 1, True, "")], [])


def test_the_symptom_is_the_first_failed_workload_connection_and_where_it_ended() -> None:
    hop = {"component": "ztunnel ztunnel-x", "action": "outbound connection dropped", "detail": "unknown source: 1.2.3.4"}
    connections = [{"outcome": "closed", "source_owner": "host", "destination": "1.1.1.1:1", "hops": []},
                   {"outcome": "refused", "source_owner": "pod kube-system/coredns", "destination": "9:9", "hops": []},
                   {"outcome": "eof", "source_owner": "pod default/web", "destination": "10.96.0.1:443", "hops": [hop]}]
    assert M.symptom(_result(connections)) == ("eof from pod default/web to 10.96.0.1:443, ended at ztunnel "
                                               "ztunnel-x: outbound connection dropped (unknown source: 1.2.3.4)")


def test_the_symptom_of_a_crash_looping_pod_is_its_last_words() -> None:
    pod = PodView("default", "web-1", "n", "1.2.3.4", "Pending", "Init:CrashLoopBackOff", "0/1", "2 (5s ago)", {},
                  [{"name": "init", "init": True, "state": {"waiting": {}},
                    "lastState": {"terminated": {"exitCode": 1}}}])
    logs = [LogView("default", "web-1", "init", 0, "first\nError from server (Forbidden): no\n"),
            LogView("default", "web-1", "init", 1, "partial")]
    assert M.symptom(_result(pods=[pod], logs=logs)) == ("pod default/web-1 Init:CrashLoopBackOff, 2 restarts: init: "
                                                         "Error from server (Forbidden): no")


def test_the_symptom_of_a_failed_step_and_of_a_clean_run() -> None:
    step = StepResult(1, "kubectl apply -f x.yaml\n", "", "", "error: no objects passed to apply\nmore\n", 1, "", "")
    assert M.symptom(_result(steps=[step])) == "`kubectl apply -f x.yaml` exited 1: error: no objects passed to apply"
    assert M.symptom(_result()) == "ok"


# -- running cells for real ------------------------------------------------------------------------

SCENARIO = """\
name: synthetic
steps:
  - test "${A}${B}" = yy && echo both
  - test ${C} = x
  - echo ${NOTE}
expect:
  - step: 1
    output_contains: both
  - step: 2
    exit_code: 0
factors:
  a: {x: {vars: {A: x}}, y: {vars: {A: y}}}
  b: {x: {vars: {B: x}}, y: {vars: {B: y}}}
  c: {x: {vars: {C: x}}, y: {vars: {C: y}}}
  note: {one: {vars: {NOTE: same}}, two: {vars: {NOTE: same}}}
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[F.Scenario, list[F.Factor]]:
    path = tmp_path_factory.mktemp("m") / "scenario.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    return F.load(str(path))


@pytest.fixture(scope="module")
def inline(synthetic: tuple[F.Scenario, list[F.Factor]]) -> M.Matrix:
    return M.run_matrix(*synthetic, jobs=1)


def test_cells_run_and_the_answer_is_the_known_one(inline: M.Matrix) -> None:
    assert len(inline.cells) == 16
    first, second = inline.minimal_causes()
    assert first.holds_when == ((("a", ("y",)), ("b", ("y",))),)
    assert first.irrelevant == ("c", "note")
    assert second.holds_when == ((("c", ("x",)),),)
    assert second.causes == ((("c", "y"),),)
    assert inline.cell({"a": "y", "b": "y"}).symptom == "ok"
    assert inline.cell({"c": "y"}).symptom == '`test "xx" = yy && echo both` exited 1'


def test_identical_runs_are_shared(inline: M.Matrix) -> None:
    """`note` sets the same text at both levels: its second level shares the first's run."""
    shared = inline.cell({"note": "two"})
    assert shared.same_run_as == inline.baseline.index and inline.baseline.same_run_as is None
    assert (shared.passed, shared.symptom) == (inline.baseline.passed, inline.baseline.symptom)
    assert sum(c.same_run_as is None for c in inline.cells) == 8


def test_the_table_is_the_same_with_worker_processes(synthetic: tuple[F.Scenario, list[F.Factor]],
                                                     inline: M.Matrix) -> None:
    seen: list[tuple[int, int]] = []
    parallel = M.run_matrix(*synthetic, jobs=2, progress=lambda done, total, cell: seen.append((done, total)))
    assert matrix_text.render(parallel) == matrix_text.render(inline)
    assert [c.passed for c in parallel.cells] == [c.passed for c in inline.cells]
    assert seen == [(n, 16) for n in range(17)]


def test_a_cell_that_crashes_is_an_internal_error_naming_it(synthetic: tuple[F.Scenario, list[F.Factor]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(scenario: F.Scenario, seed: int | None = None) -> RunResult:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(M.runner, "run", boom)
    with pytest.raises(M.CellError, match=r"cell a=x, b=x, c=x, note=one: ZeroDivisionError: division by zero"):
        M.run_matrix(*synthetic, jobs=1)


def test_a_factor_that_does_not_apply_in_some_cell_fails_before_anything_runs(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("name: t\nsteps:\n  - echo 1\n  - echo 2\nfactors:\n"
                    "  a: {x: {}, y: {replace_steps: {1: echo a}}}\n"
                    "  b: {x: {}, y: {replace_steps: {1: echo b}}}\n")
    monkeypatch.setattr(M.runner, "run", lambda *a, **k: pytest.fail("ran a cell"))
    with pytest.raises(F.InputError, match=r"scenario.yaml:7: factor b, level y: replaces step 1"):
        M.run_matrix(*F.load(str(path)), jobs=1)
