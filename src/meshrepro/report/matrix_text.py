"""The text report of a matrix: the expectations, the truth table (one row per cell: its levels, ✓/✗ per
expectation, the symptom), then what each expectation depends on, in plain words."""

from __future__ import annotations

from collections.abc import Sequence

from meshrepro.scenario.matrix import Analysis, Assignment, Matrix, Term

HOLDS, FAILS = "✓", "✗"


def render(matrix: Matrix) -> str:
    names = [name for name, _ in matrix.factors]
    lines = [f"# matrix: {matrix.scenario}",
             f"# {len(names)} factors, {len(matrix.cells)} cells, seed {matrix.seed}; the baseline (cell 1) takes "
             f"the first level of every factor: " + ", ".join(f"{n}={levels[0]}" for n, levels in matrix.factors),
             ""]
    labels = [f"E{i + 1}" for i in range(len(matrix.expectations))]
    if labels:
        lines.append("## expectations")
        lines += [f"{label}  {text}  (line {line})" for label, (text, line) in zip(labels, matrix.expectations)]
        lines.append("")
    lines.append("## truth table")
    rows = [["CELL", *(n.upper() for n in names), *labels, "SYMPTOM"]]
    for cell in matrix.cells:
        rows.append([str(cell.index + 1), *cell.levels, *(HOLDS if p else FAILS for p in cell.passed), cell.symptom])
    lines += _columns(rows)
    analyses = matrix.minimal_causes()
    if analyses:
        lines += ["", "## what each expectation depends on"]
        for analysis in analyses:
            lines += [""] + describe(analysis, names)
    return "\n".join(lines) + "\n"


def describe(analysis: Analysis, factors: Sequence[str]) -> list[str]:
    """An expectation's dependencies in plain words: where it holds, what does not matter, and what flips it
    from the baseline."""
    head = f"{analysis.label} `{_short(analysis.text)}` {_condition(analysis)}"
    lines = [head + "."]
    if analysis.irrelevant and len(analysis.irrelevant) < len(factors):
        verb = "does" if len(analysis.irrelevant) == 1 else "do"
        lines.append(f"   {_and(list(analysis.irrelevant))} {verb} not matter: changed alone, from any cell, "
                     f"{'it never flips' if len(analysis.irrelevant) == 1 else 'none of them ever flips'} it.")
    singles = [c for c in analysis.causes if len(c) == 1]
    combined = [c for c in analysis.causes if len(c) > 1]
    if analysis.baseline_passed:
        if singles:
            lines.append(f"   From the baseline, it stops holding with {_any([_change(c) for c in singles])}.")
        if combined:
            lines.append(f"   {'Otherwise only' if singles else 'Only'} these changes together flip it: "
                         f"{_or([_change(c) for c in combined])}.")
        if not analysis.causes:
            lines.append("   No change of the factors makes it fail.")
    else:
        if analysis.remedies:
            lines.append(f"   Remedies (one change from the baseline makes it hold): "
                         f"{_or([_change(c) for c in analysis.remedies])}.")
        if combined:
            lines.append(f"   {'Also' if singles else 'Only'} these changes together make it hold: "
                         f"{_or([_change(c) for c in combined])}.")
        if not analysis.causes:
            lines.append("   No change of the factors makes it hold.")
    return lines


def _condition(analysis: Analysis) -> str:
    if analysis.holds_in == 0:
        return f"never holds (0 of {analysis.cells} cells)"
    if analysis.holds_in == analysis.cells:
        return f"always holds ({analysis.cells} cells)"
    head = f"holds in {analysis.holds_in} of {analysis.cells} cells"
    holds, fails = analysis.holds_when, analysis.fails_when
    if holds is None or fails is None:
        return head + " (too many factor levels to say which)"
    # Whichever reads shorter: where it holds, or where it fails (fewest alternatives, then fewest conditions).
    if _weight(fails) < _weight(holds):
        return f"{head}: it fails {_dnf(fails)}"
    return f"{head}: {_dnf(holds)}"


def _weight(terms: tuple[Term, ...]) -> tuple[int, int]:
    """Alternatives, then conditions as `_dnf` words them (those every alternative shares, said once)."""
    common = [lit for lit in terms[0] if all(lit in t for t in terms[1:])] if len(terms) > 1 else []
    return len(terms), len(common) + sum(len(t) - len(common) for t in terms)


def _dnf(terms: tuple[Term, ...]) -> str:
    """`only with a and b` for one term; otherwise the literals every term shares, then the alternatives."""
    if len(terms) == 1:
        return "only with " + _and([_literal(lit) for lit in terms[0]])
    common = [lit for lit in terms[0] if all(lit in t for t in terms[1:])]
    rest = [[lit for lit in t if lit not in common] for t in terms]
    alternatives = "; ".join(_and([_literal(lit) for lit in r]) for r in rest)
    if common and all(rest):
        return f"only with {_and([_literal(lit) for lit in common])}, together with any of: {alternatives}"
    return f"with any of: {alternatives}"


def _literal(literal: tuple[str, tuple[str, ...]]) -> str:
    factor, levels = literal
    return f"{factor}={levels[0]}" if len(levels) == 1 else f"{factor} in ({', '.join(levels)})"


def _change(change: Assignment) -> str:
    return " and ".join(f"{factor}={level}" for factor, level in change)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _any(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "any one of: " + _or(items)


def _or(items: list[str]) -> str:
    return "; ".join(items)


def _short(text: str) -> str:
    """A step expectation without its `step: N, ` prefix (the table names it by label)."""
    return text.split(", ", 1)[1] if text.startswith("step: ") and ", " in text else text


def _columns(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
