"""The command line: parse, call, render. Exit codes: 0 expectations hold, 1 one failed, 2 bad input, 3 internal.
`matrix` exits 0 once every cell ran, whatever the verdicts (they are its output), else 2 or 3."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from meshrepro import __version__
from meshrepro.errors import MeshreproError

EXIT_OK, EXIT_EXPECTATION, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"meshrepro: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meshrepro", description="Reproduce Kubernetes service-mesh problems on a simulated "
                                                   "cluster, offline, and explain them.")
    parser.add_argument("--version", action="version", version=f"meshrepro {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="run a scenario and print what each step showed")
    run.add_argument("scenario", help="a scenario file, or a folder holding scenario.yaml")
    run.add_argument("--format", choices=["text", "json", "markdown", "html"], default="text",
                     help="output format (default: text; markdown: an issue to file; html: a self-contained page)")
    run.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--backend", choices=["sim"], default="sim", help="where to run (default: the simulation)")
    matrix = commands.add_parser("matrix", help="run every combination of a scenario's factors: the truth table and "
                                                "what each expectation depends on (exit 0 once it ran)")
    matrix.add_argument("scenario", help="a scenario file with `factors:`, or a folder holding scenario.yaml")
    matrix.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="cells run at once, each in its own process (default: the number of CPUs; 1 runs inline)")
    matrix.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    matrix.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    matrix.add_argument("--seed", type=int, default=None, help="override the scenario's seed (every cell uses it)")
    explain = commands.add_parser("explain", help="run a scenario and explain every failure: causal chains, "
                                                  "diagnosis codes, remedies (exit 0 once it ran)")
    explain.add_argument("scenario", help="a scenario file, or a folder holding scenario.yaml")
    explain.add_argument("--try-remedies", action="store_true",
                         help="run each automatic remedy of the diagnoses found as an extra run, and say which work")
    explain.add_argument("--jobs", type=int, default=1, metavar="N", help="remedy runs at once (default: 1)")
    explain.add_argument("--format", choices=["text", "markdown", "html", "json"], default="text",
                         help="output format (default: text)")
    explain.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    explain.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    validate = commands.add_parser("validate", help="check scenarios and manifests without running them")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--kubernetes", default="1.29", help="Kubernetes version to validate manifests against")
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(out)
        return EXIT_INPUT
    try:
        if args.command == "run":
            from meshrepro.cli_commands import run_command
            return run_command(args, out)
        if args.command == "matrix":
            from meshrepro.cli_commands import matrix_command
            return matrix_command(args, out, err)
        if args.command == "explain":
            from meshrepro.cli_commands import explain_command
            return explain_command(args, out)
        if args.command == "validate":
            from meshrepro.cli_commands import validate_command
            return validate_command(args, out)
    except MeshreproError as error:
        err.write(f"meshrepro: error: {error}\n")
        return error.exit_code
    except Exception as error:  # an internal defect: say so in one line unless debugging
        if args.debug:
            raise
        err.write(f"meshrepro: internal error: {type(error).__name__}: {error} (rerun with --debug for details)\n")
        return EXIT_INTERNAL
    return EXIT_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
