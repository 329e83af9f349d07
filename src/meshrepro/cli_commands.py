"""The commands behind the CLI, kept apart so `cli.py` stays a thin parser."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from meshrepro.errors import InputError
from meshrepro.report import json as json_report
from meshrepro.report import text as text_report
from meshrepro.scenario import factors, preflight, runner

RENDERERS = {"text": text_report.render, "json": json_report.render}


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    written, found = factors.load(args.scenario)
    scenario = factors.baseline(written, found)  # a scenario with `factors:` runs its baseline
    preflight.check(scenario)
    result = runner.run(scenario, args.seed)
    if args.format in ("markdown", "html"):
        report = _issue_report(args.format, written, found, scenario, result, None, (), args.seed)
    else:
        report = RENDERERS[args.format](result)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(report)
        except OSError as err:
            raise InputError(f"cannot write {args.output}: {err.strerror}") from None
    else:
        out.write(report)
    return 0 if result.passed else 1


def matrix_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every cell of the scenario's factor grid; a progress bar on stderr when it is a terminal. Exit 0 once
    it ran: the verdicts are the report, not a failure of the command."""
    import os

    from meshrepro.report import matrix_json, matrix_text
    from meshrepro.scenario.matrix import combinations, run_matrix

    scenario, found = factors.load(args.scenario)
    if not found:
        raise InputError("the scenario has no `factors:` to sweep (docs/matrix.md shows the syntax)",
                         path=scenario.path)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise InputError(f"--jobs must be 1 or more, not {jobs}")
    checked = set()
    for choice in combinations(found):  # every program a cell's steps call, every manifest they apply
        cell = factors.apply(scenario, choice)
        key = (tuple(step.command for step in cell.steps), cell.istio, cell.kubernetes)
        if key not in checked:
            checked.add(key)
            preflight.check(cell)
    with _progress(err) as progress:
        matrix = run_matrix(scenario, found, jobs=jobs, progress=progress, seed=args.seed)
    report = (matrix_json if args.format == "json" else matrix_text).render(matrix)
    _write(report, args.output, out)
    return 0


@contextlib.contextmanager
def _progress(err: TextIO) -> Iterator[Callable[[int, int, Any], None] | None]:
    """A rich progress bar (cells done/all, elapsed, ETA) when `err` is a terminal; nothing otherwise."""
    if not (hasattr(err, "isatty") and err.isatty()):
        yield None
        return
    from rich import progress as rp
    from rich.console import Console

    columns = (rp.TextColumn("cells"), rp.BarColumn(), rp.MofNCompleteColumn(), rp.TextColumn("elapsed"),
               rp.TimeElapsedColumn(), rp.TextColumn("left"), rp.TimeRemainingColumn())
    with rp.Progress(*columns, console=Console(file=err), transient=True) as bar:
        task = bar.add_task("cells", total=None)

        def update(done: int, total: int, cell: Any) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _write(report: str, output: str | None, out: TextIO) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(report)
        except OSError as err:
            raise InputError(f"cannot write {output}: {err.strerror}") from None
    else:
        out.write(report)


def validate_command(args: argparse.Namespace, out: TextIO) -> int:
    from meshrepro.kube.versions import parse_version
    from meshrepro.manifests.load import load_file
    from meshrepro.manifests.validate import validate

    version = parse_version(args.kubernetes)
    problems = 0
    for path in args.files:
        if path.endswith(("scenario.yaml", "scenario.yml")) or _looks_like_scenario(path):
            preflight.check(factors.baseline(*factors.load(path)))
            out.write(f"{path}: scenario OK\n")
            continue
        found = [problem for manifest in load_file(path) for problem in validate(manifest, version)]
        out.write("".join(f"{problem}\n" for problem in found) or f"{path}: OK\n")
        problems += len(found)
    if problems:
        raise InputError(f"{problems} problem(s) found")
    return 0


def _looks_like_scenario(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4000)
    except OSError:
        return False
    return "\nsteps:" in "\n" + head


def explain_command(args: argparse.Namespace, out: TextIO) -> int:
    """The explanation of a run, and with --try-remedies what each remedy did. Exit 0 once it ran."""
    from meshrepro.report import explanation as explanation_text
    from meshrepro.scenario.explain import explain, try_remedies

    if args.jobs < 1:
        raise InputError(f"--jobs must be 1 or more, not {args.jobs}")
    written, found = factors.load(args.scenario)
    scenario = factors.baseline(written, found)
    preflight.check(scenario)
    result = runner.run(scenario, args.seed)
    explanation = explain(result)
    outcomes = try_remedies(scenario, explanation, args.jobs) if args.try_remedies else []
    if args.format == "json":
        report = json_report.render_explanation(result, explanation, outcomes, tried=args.try_remedies)
    elif args.format == "text":
        report = explanation_text.render(explanation, outcomes)
    else:
        report = _issue_report(args.format, written, found, scenario, result, explanation, outcomes, args.seed,
                               args.jobs)
    _write(report, args.output, out)
    return 0


def _issue_report(fmt: str, written: Any, found: Any, scenario: Any, result: Any, explanation: Any,
                  outcomes: Any, seed: int | None, jobs: int | None = None) -> str:
    """The markdown or HTML issue report; with `factors:` it carries the what-if matrix too."""
    import os

    from meshrepro.report import html as html_report
    from meshrepro.report import markdown as markdown_report
    from meshrepro.scenario.matrix import run_matrix

    matrix = run_matrix(written, found, jobs=jobs or os.cpu_count() or 1, seed=seed) if found else None
    renderer = markdown_report if fmt == "markdown" else html_report
    return renderer.render(result, explanation, scenario=scenario, outcomes=outcomes, matrix=matrix)
