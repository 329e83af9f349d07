"""The machine contract of `meshrepro matrix --format json` (schema in docs/json-schema.md, "matrix")."""

from __future__ import annotations

import json as _json
from typing import Any

from meshrepro.scenario.matrix import Matrix, Term

SCHEMA_VERSION = 1


def to_dict(matrix: Matrix) -> dict[str, Any]:
    names = [name for name, _ in matrix.factors]
    return {
        "schema": SCHEMA_VERSION,
        "kind": "matrix",
        "scenario": matrix.scenario,
        "path": matrix.path,
        "seed": matrix.seed,
        "factors": [{"name": name, "levels": list(levels), "baseline": levels[0]} for name, levels in matrix.factors],
        "expectations": [{"id": f"E{i + 1}", "text": text, "line": line}
                         for i, (text, line) in enumerate(matrix.expectations)],
        "cells": [{"cell": cell.index + 1, "levels": dict(zip(names, cell.levels)),
                   "expectations": [{"id": f"E{i + 1}", "passed": passed, "actual": actual}
                                    for i, (passed, actual) in enumerate(zip(cell.passed, cell.actual))],
                   "symptom": cell.symptom, "wall_seconds": cell.wall_seconds, "same_run_as": cell.same_run_as}
                  for cell in matrix.cells],
        "analysis": [{"id": a.label, "baseline_passed": a.baseline_passed, "holds_in": a.holds_in, "cells": a.cells,
                      "holds_when": _terms(a.holds_when), "fails_when": _terms(a.fails_when),
                      "minimal_causes": [dict(c) for c in a.causes], "remedies": [dict(c) for c in a.remedies],
                      "irrelevant": list(a.irrelevant)} for a in matrix.minimal_causes()],
    }


def render(matrix: Matrix) -> str:
    return _json.dumps(to_dict(matrix), indent=2, ensure_ascii=False) + "\n"


def _terms(terms: tuple[Term, ...] | None) -> list[dict[str, list[str]]] | None:
    return None if terms is None else [{factor: list(levels) for factor, levels in term} for term in terms]
