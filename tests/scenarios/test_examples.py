"""Every example scenario against its reviewed golden output (text and JSON), and byte-identical reruns.

Set MESHREPRO_REFRESH_GOLDEN=1 to rewrite the goldens after reviewing the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from repo_cli import REPO, cli

EXAMPLES = REPO / "examples"
REFRESH = os.environ.get("MESHREPRO_REFRESH_GOLDEN") == "1"


def _scenarios() -> list[Path]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        if "manifests" in path.parts or "expected" in path.parts:
            continue
        text = "\n" + path.read_text(encoding="utf-8")
        # A scenario with `factors:` is a matrix: its golden is the matrix report (test_matrix_golden.py).
        if "\nsteps:" in text and "\nfactors:" not in text:
            found.append(path)
    return found


def _run(path: Path, fmt: str) -> tuple[int, str]:
    code, out, err = cli("run", str(path.relative_to(REPO)), "--format", fmt)
    assert err == "", err
    return code, out


def _golden(path: Path, fmt: str) -> Path:
    return path.parent / "expected" / f"{path.stem}.{'txt' if fmt == 'text' else 'json'}"


@pytest.mark.parametrize("path", _scenarios(), ids=lambda p: str(p.relative_to(EXAMPLES)))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_example_matches_golden(path: Path, fmt: str) -> None:
    """The example's expectations hold and its report is the reviewed one."""
    code, output = _run(path, fmt)
    golden = _golden(path, fmt)
    if REFRESH:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(output, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    if output != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), output.splitlines(True), str(golden), "actual"))
        pytest.fail(f"output differs from {golden}:\n{diff[:6000]}")
    assert code == 0, "every shipped example's expectations must hold"


@pytest.mark.parametrize("path", _scenarios()[:1], ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_reruns_are_byte_identical(path: Path) -> None:
    """The same scenario and seed give the same bytes."""
    assert _run(path, "json") == _run(path, "json")
