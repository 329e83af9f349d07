"""The commands behind the CLI, kept apart so `cli.py` stays a thin parser."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshrepro.errors import InputError
from meshrepro.report import json as json_report
from meshrepro.report import text as text_report
from meshrepro.scenario import model, preflight, runner

RENDERERS = {"text": text_report.render, "json": json_report.render}


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    scenario = model.load(args.scenario)
    preflight.check(scenario)
    result = runner.run(scenario, args.seed)
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


def validate_command(args: argparse.Namespace, out: TextIO) -> int:
    from meshrepro.kube.versions import parse_version
    from meshrepro.manifests.load import load_file
    from meshrepro.manifests.validate import validate

    version = parse_version(args.kubernetes)
    problems = 0
    for path in args.files:
        if path.endswith(("scenario.yaml", "scenario.yml")) or _looks_like_scenario(path):
            preflight.check(model.load(path))
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
