"""The markdown report: an upstream issue for the seed, checked against its reviewed golden, and its parts."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from meshrepro.report import html as html_report
from meshrepro.report.markdown import matrix_section
from meshrepro.scenario.matrix import CellResult, Matrix
from repo_cli import REPO, cli

SEED = "examples/istio-48854/exp3-ambient-1.20.yaml"
GOLDEN = REPO / "examples" / "istio-48854" / "expected" / "exp3-ambient-1.20.md"
REFRESH = os.environ.get("MESHREPRO_REFRESH_GOLDEN") == "1"




@pytest.fixture(scope="module")
def report() -> str:
    code, out, err = cli("explain", SEED, "--try-remedies", "--jobs", "2", "--format", "markdown")
    assert (code, err) == (0, "")
    return out


def test_the_seed_report_is_the_reviewed_one(report: str) -> None:
    if REFRESH:
        GOLDEN.write_text(report, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    if report != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), report.splitlines(True), str(GOLDEN), "actual"))
        pytest.fail(f"the markdown report differs from {GOLDEN}:\n{diff[:6000]}")


def test_it_reads_like_an_issue(report: str) -> None:
    """Title and summary, versions, steps and manifests, expected vs actual with the real output, the chain with
    the flag and its upstream change, the remedies with what they did."""
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections == ["## Versions", "## Steps to reproduce", "## Expected vs actual", "## Why it happens",
                        "## Remedies"]
    assert report.startswith("# seed experiment 3 — ambient on Istio 1.20")
    assert "MR0101: ztunnel dropped an outbound connection from a source it does not know — " \
           "`Unable to connect to the server: EOF`" in report
    assert "| Istio | 1.20.2 |" in report
    assert "```sh\nkind create cluster --config=kind.yaml\nistioctl install --set profile=ambient -y\n" in report
    assert "<details><summary><code>manifests/nginx-rbac.yaml</code></summary>" in report
    assert "Unable to connect to the server: EOF\n```" in report  # step 7's real output
    assert "err=unknown source: 10.244.0.7" in report  # ztunnel's own line
    assert ("- flag `istiod_publishes_pending_pods`: off in Istio 1.20.2 (on from 1.21.2) — istio/istio#49767"
            in report)
    assert "— **the decisive decision**" in report
    assert "| MR0101 | opt the pod out of ambient" in report
    rows = [line for line in report.splitlines() if line.startswith("| MR0101 |")]
    assert sum("✅ works" in row for row in rows) == 2 and sum("❌ does not help" in row for row in rows) == 4


def test_run_can_write_markdown_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "issue.md"
    code, out, err = cli("run", "examples/istio-48854/exp2-rbac.yaml", "--format", "markdown", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    text = target.read_text(encoding="utf-8")
    assert "Nothing failed: every expectation held and every connection succeeded." in text
    assert "## Remedies" not in text and "Not tried yet" not in text


def _matrix() -> Matrix:
    cells = []
    for index, (mesh, istio) in enumerate([("ambient", "1.20.2"), ("ambient", "1.22.3"), ("none", "1.20.2"),
                                            ("none", "1.22.3")]):
        broken = mesh == "ambient" and istio == "1.20.2"
        cells.append(CellResult(index, (mesh, istio), (not broken,), ("",), "eof from pod x" if broken else "ok", 0.1))
    return Matrix("m", "m.yaml", 0, (("mesh", ("ambient", "none")), ("istio", ("1.20.2", "1.22.3"))),
                  (("pod: {selector: app=nginx}, status: Running", 30),), tuple(cells))


def test_the_matrix_section_says_what_flips_each_expectation() -> None:
    lines = matrix_section(_matrix())
    assert lines[0] == "## What-if matrix"
    assert ("- E1 `pod: {selector: app=nginx}, status: Running` fails at the baseline; flipped by `mesh=none`, "
            "`istio=1.22.3`; does not depend on: none") in lines
    assert "| mesh | istio | E1 | symptom |" in lines
    assert "| ambient | 1.20.2 | ❌ | eof from pod x |" in lines
    assert "<details>" not in "\n".join(lines)  # four cells are shown unfolded
    html = "\n".join(html_report.matrix_html(_matrix()))
    assert "<th>mesh</th><th>istio</th><th>E1</th><th>symptom</th>" in html and "flipped by" in html
