"""meshrepro's command line run in-process as a user would run it from the repository root, so reports carry the
relative paths they typed."""

from __future__ import annotations

import io
import os
from pathlib import Path

from meshrepro.cli import main

REPO = Path(__file__).resolve().parents[1]


def cli(*argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `meshrepro ARGV...` in the repository root."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        code = main(list(argv), out, err)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()
