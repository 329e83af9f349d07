"""The seed's what-if matrix (examples/istio-48854/matrix.yaml) against its reviewed text report, and the
conclusion the seed's author reached by hand, read off the report.

Set MESHREPRO_REFRESH_GOLDEN=1 to rewrite the golden after reviewing the diff.
"""

from __future__ import annotations

import difflib
import os

import pytest

from repo_cli import REPO, cli

SCENARIO = REPO / "examples" / "istio-48854" / "matrix.yaml"
GOLDEN = SCENARIO.parent / "expected" / "matrix.txt"
REFRESH = os.environ.get("MESHREPRO_REFRESH_GOLDEN") == "1"




@pytest.fixture(scope="module")
def report() -> str:
    code, out, err = cli("matrix", str(SCENARIO.relative_to(REPO)), "--jobs", "2")
    assert (code, err) == (0, "")
    return out


def test_seed_matrix_matches_golden(report: str) -> None:
    if REFRESH:
        GOLDEN.write_text(report, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    if report != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), report.splitlines(True), str(GOLDEN), "actual"))
        pytest.fail(f"output differs from {GOLDEN}:\n{diff[:6000]}")


def test_seed_matrix_reaches_the_seeds_conclusion(report: str) -> None:
    """The EOF needs ambient and the 1.20 release and the init container; RBAC, the token volume,
    PERMISSIVE and the sidecar annotations do not matter; the main container is unaffected."""
    assert "# 7 factors, 128 cells" in report
    eof = report[report.index("E1 `output_contains: Unable to connect to the server: EOF`"):].split("\n\n")[0]
    assert "only with mesh=ambient, istio=1.20.2 and container=init." in eof
    assert "rbac, token, peerauth and annotations do not matter" in eof
    assert "it stops holding with any one of: mesh=none; istio=1.22.3; container=main." in eof


def test_running_the_matrix_scenario_runs_its_baseline() -> None:
    """The baseline is experiment 3: the EOF shows, so listing the pods and Running do not hold (exit 1)."""
    code, out, err = cli("run", str(SCENARIO.relative_to(REPO)))
    assert (code, err) == (1, "")
    assert "$ kubectl logs deploy/nginx -c init-kubectl --previous 2>/dev/null || kubectl logs deploy/nginx -c " \
           "init-kubectl\n" in out
    assert "PASS  step: 8, output_contains: Unable to connect to the server: EOF" in out
