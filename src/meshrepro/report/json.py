"""The machine contract: one JSON object per run (schema in docs/json-schema.md)."""

from __future__ import annotations

import json as _json

from meshrepro.scenario.result import RunResult

SCHEMA_VERSION = 1


def render(result: RunResult) -> str:
    body = result.to_dict()
    body = {"schema": SCHEMA_VERSION, "passed": result.passed, **body}
    return _json.dumps(body, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
