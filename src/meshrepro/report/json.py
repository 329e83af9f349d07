"""The machine contract: one JSON object per run (schema in docs/json-schema.md)."""

from __future__ import annotations

import json as _json
from collections.abc import Sequence

from meshrepro.scenario.explain import Explanation, RemedyOutcome, explain
from meshrepro.scenario.result import RunResult

SCHEMA_VERSION = 1


def render(result: RunResult, explanation: Explanation | None = None) -> str:
    body = result.to_dict()
    explanation = explanation if explanation is not None else explain(result)
    body = {"schema": SCHEMA_VERSION, "passed": result.passed, **body, "explanation": explanation.to_dict()}
    return _json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def render_explanation(result: RunResult, explanation: Explanation, outcomes: Sequence[RemedyOutcome] = (),
                       tried: bool = False) -> str:
    """`meshrepro explain --format json`: the explanation without the run's records (schema in
    docs/json-schema.md); `remedies` is null unless --try-remedies ran them."""
    body = {"schema": SCHEMA_VERSION, "scenario": result.scenario, "path": result.path, "seed": result.seed,
            "versions": result.versions, "passed": result.passed,
            "expectations": [{"text": e.text, "line": e.line, "passed": e.passed, "actual": e.actual}
                             for e in result.expectations],
            "explanation": explanation.to_dict(),
            "remedies": [o.to_dict() for o in outcomes] if tried else None}
    return _json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
