"""The markdown report: an upstream issue a maintainer can act on.

Versions, the steps and the manifests they apply, expected vs actual with the real output, the what-if matrix
(when the scenario has factors and one was run), the causal chain of every finding, and the remedies (with what
each did when `--try-remedies` ran them)."""

from __future__ import annotations

from collections.abc import Sequence

from meshrepro.report import issue
from meshrepro.report.explanation import connection_ids, link_details
from meshrepro.scenario.diagnoses import Finding
from meshrepro.scenario.explain import Explanation, RemedyOutcome, explain
from meshrepro.scenario.matrix import Matrix
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import RunResult


def render(result: RunResult, explanation: Explanation | None = None, *, scenario: Scenario | None = None,
           outcomes: Sequence[RemedyOutcome] = (), matrix: Matrix | None = None) -> str:
    explanation = explanation if explanation is not None else explain(result)
    out: list[str] = [f"# {issue.title(result, explanation)}", "", issue.summary(explanation), ""]
    if issue.decisive(explanation):
        out += [_text(issue.decisive(explanation)), ""]
    description = (scenario.raw.get("description") if scenario is not None else None) or ""
    if description.strip():
        out += [description.strip(), ""]
    out += ["## Versions", "", "| component | version |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in issue.versions_rows(result)]
    out += ["", "## Steps to reproduce", "", "```sh"]
    out += [step.command.rstrip("\n") for step in result.steps]
    out += ["```", ""]
    for name, text in issue.referenced_files(scenario):
        out += [f"<details><summary><code>{name}</code></summary>", "", _fence(text, _language(name)),
                "", "</details>", ""]
    out += ["## Expected vs actual", "", issue.expectations_summary(result), ""]
    rows = issue.expectation_rows(result, explanation)
    if rows:
        out += ["| | expectation | actual | explained by |", "|---|---|---|---|"]
        out += [f"| {'✅ held' if r.passed else '❌ did not hold'} | {_cell(r.text)} | "
                f"{_cell(r.actual) if not r.passed else ''} | {r.codes} |" for r in rows]
        out.append("")
    for step in issue.shown_steps(result, explanation):
        out += [f"Step {step.index}, `{_inline(step.command)}` (exit code {step.exit_code}):", "",
                _fence(issue.output_excerpt(step), "text"), ""]
    records = issue.component_records(explanation)
    if records:
        out += ["What the components logged:", "", "```text"]
        out += [f"[{component}] {line}" for component, line in records]
        out += ["```", ""]
    if matrix is not None:
        out += matrix_section(matrix)
    out += ["## Why it happens", ""]
    if not explanation.findings:
        out += ["Nothing failed.", ""]
    for finding in explanation.findings:
        out += _finding(finding)
    out += _remedies(explanation, outcomes)
    out += ["---", "", (f"<sub>Reproduced offline with meshrepro: `meshrepro run {result.path}` (seed {result.seed}). "
            "The output above is what the simulated cluster printed; every link of a chain is a decision a "
            "component recorded.</sub>"), ""]
    return "\n".join(out)


def _finding(finding: Finding) -> list[str]:
    out = [f"### {finding.code} {finding.name}: {finding.title}", "",
           f"**Subject:** {finding.subject}  ", f"**Symptom:** `{finding.symptom}`"
           + (f" (step {', '.join(map(str, finding.steps))})" if finding.steps else "")]
    if finding.connections:
        out[-1] += "  "
        out.append(f"**Connections:** {len(finding.connections)} failed like this "
                   f"({connection_ids(finding.connections)})")
    out += ["", "Causal chain, from the symptom back to its cause:", ""]
    for index, link in enumerate(finding.chain, start=1):
        when = f" _{link.time[11:23].rstrip('Z')}_" if link.time else ""
        decisive = " — **the decisive decision**" if len(finding.chain) > 2 and not finding.see and link is finding.root else ""
        out.append(f"{index}. **{_inline(link.component)}**: {_text(link.summary)}{when}{decisive}")
        for label, text in link_details(link):
            if label == "flag" and link.flag is not None:
                out.append(f"   - flag `{link.flag.name}`: {link.flag.state} — {_text(link.flag.change)}")
            elif label == "record":
                out.append(f"   - record: `{_inline(text)}`")
            else:
                out.append(f"   - {label}: {_text(text)}")
    out += ["", f"**Remedy:** {_text(finding.remedy)}", ""]
    return out


def _remedies(explanation: Explanation, outcomes: Sequence[RemedyOutcome]) -> list[str]:
    rows = issue.remedy_rows(explanation, outcomes)
    if not rows:
        return []
    out = ["## Remedies", ""]
    tried = bool(outcomes)
    if tried:
        out += ["Each automatic remedy was run as an extra cell (`meshrepro explain --try-remedies`):", ""]
    else:
        out += ["Not tried yet: `meshrepro explain --try-remedies` runs each automatic one as an extra cell.", ""]
    out += ["| finding | remedy | change | result |", "|---|---|---|---|"]
    for row in rows:
        if row.outcome is not None:
            result = f"{issue.VERDICT_MARKS.get(row.outcome.verdict, '')} {row.outcome.verdict}: " \
                     f"{_cell(row.outcome.detail)}"
        else:
            result = "not tried" if row.remedy.level is not None else "by hand"
        note = f" ({_cell(row.remedy.note)})" if row.remedy.note else ""
        out.append(f"| {row.finding.code} | {_cell(row.remedy.title)}{note} | "
                   f"{_cell(issue.remedy_level_text(row.remedy))} | {result} |")
    out.append("")
    return out


def matrix_section(matrix: Matrix) -> list[str]:
    """The what-if matrix: for each expectation, what flips it and what it does not depend on; then the truth
    table (one row per cell: the factor levels, each expectation, the symptom), folded when it is long."""
    names = [name for name, _ in matrix.factors]
    labels = [f"E{i + 1}" for i in range(len(matrix.expectations))]
    out = ["## What-if matrix", "", (f"{len(matrix.cells)} cells, every combination of the scenario's factors "
           "(the first level of each is the baseline). From the baseline:"), ""]
    for analysis, (text, _) in zip(matrix.minimal_causes(), matrix.expectations):
        causes = ["; ".join(f"{factor}={level}" for factor, level in cause) for cause in analysis.causes]
        flips = ", ".join(f"`{c}`" for c in causes) or "nothing in the grid"
        irrelevant = ", ".join(analysis.irrelevant) or "none"
        out.append(f"- {analysis.label} `{_inline(text)}` {'holds' if analysis.baseline_passed else 'fails'} at the "
                   f"baseline; flipped by {flips}; does not depend on: {irrelevant}")
    out.append("")
    folded = len(matrix.cells) > 16
    if folded:
        out += [f"<details><summary>the {len(matrix.cells)} cells</summary>", ""]
    out += ["| " + " | ".join(names + labels + ["symptom"]) + " |", "|" + "---|" * (len(names) + len(labels) + 1)]
    for cell in matrix.cells:
        marks = ["✅" if passed else "❌" for passed in cell.passed]
        out.append("| " + " | ".join([*cell.levels, *marks, _cell(cell.symptom)]) + " |")
    out.append("")
    if folded:
        out += ["</details>", ""]
    return out


def _fence(text: str, language: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _language(name: str) -> str:
    return "yaml" if name.endswith((".yaml", ".yml")) else "json" if name.endswith(".json") else ""


def _inline(text: str) -> str:
    return " ".join(text.split()).replace("`", "'")


def _text(text: str) -> str:
    """Escape `<` outside code spans, so `<service>` is not read as HTML (inside backticks it is literal)."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


def _cell(text: str) -> str:
    return _text(" ".join(text.split())).replace("|", "\\|")
