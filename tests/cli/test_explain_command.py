"""`meshrepro explain`: formats, the JSON contract, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repo_cli import cli


def test_explain_json_carries_the_findings_without_the_run_records() -> None:
    code, out, err = cli("explain", "examples/networking/no-endpoints.yaml", "--format", "json")
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert list(body) == ["schema", "scenario", "path", "seed", "versions", "passed", "expectations", "explanation",
                          "remedies"]
    assert body["remedies"] is None
    [finding] = body["explanation"]["findings"]
    assert (finding["code"], finding["subject"]) == ("MR0301", "Service default/nobody")
    assert finding["connections"] == [10] and finding["steps"] == [4]
    assert finding["chain"][-1]["component"] == "kube-proxy"


def test_explain_text_says_when_nothing_failed() -> None:
    code, out, _ = cli("explain", "examples/istio-48854/exp2-rbac.yaml")
    assert code == 0
    assert out.endswith("nothing failed: every expectation held and no connection failed\n")


def test_run_json_has_the_explanation_and_trace_data() -> None:
    code, out, _ = cli("run", "examples/istio-48854/exp1-default-sa.yaml", "--format", "json")
    body = json.loads(out)
    assert code == 0 and list(body)[-1] == "explanation"
    assert [f["code"] for f in body["explanation"]["findings"]] == ["MR0201", "MR0403"]
    forbidden = [t for t in body["trace"] if t["action"] == "forbidden"]
    assert forbidden and forbidden[0]["data"] == {"user": "system:serviceaccount:default:default"}


def test_bad_jobs_and_missing_scenarios_are_one_line_errors(tmp_path: Path) -> None:
    code, out, err = cli("explain", "examples/istio-48854/exp2-rbac.yaml", "--jobs", "0")
    assert (code, out, err) == (2, "", "meshrepro: error: --jobs must be 1 or more, not 0\n")
    code, _, err = cli("explain", str(tmp_path / "nope.yaml"))
    assert code == 2 and err.count("\n") == 1 and "nope.yaml" in err


def test_an_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("explain", "examples/istio-48854/exp2-rbac.yaml", "--format", "pdf")
    assert exited.value.code == 2
    assert "invalid choice: 'pdf'" in capsys.readouterr().err
