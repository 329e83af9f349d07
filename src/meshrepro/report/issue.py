"""What an issue report holds, shared by the markdown and HTML writers: versions, the steps and the manifests they
apply, expected vs actual, the output that shows the failure, the findings and the remedies.

Report writers sit at the edge: reading the scenario's manifest files here is allowed (the simulation never
reads files)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from meshrepro.scenario.diagnoses import Finding, Remedy
from meshrepro.scenario.explain import Explanation, RemedyOutcome, related_findings, step_files
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import RunResult, StepResult

MAX_OUTPUT_LINES = 40  # of a step's output quoted in a report
VERDICT_MARKS = {"works": "✅", "changes the failure": "⚠️", "does not help": "❌", "not run": "➖"}


def title(result: RunResult, explanation: Explanation) -> str:
    return result.scenario


def summary(explanation: Explanation) -> str:
    main = primary(explanation)
    if main is None:
        return "Nothing failed: every expectation held and every connection succeeded."
    return f"{main.code}: {main.title} — `{main.symptom}`"


def decisive(explanation: Explanation) -> str:
    """The primary finding's decisive decision, one line ("" when nothing failed or the chain is short)."""
    main = primary(explanation)
    if main is None or len(main.chain) <= 2:
        return ""
    link = main.root
    if link is None:
        return ""
    text = f"Cause: {link.component} {link.summary}"
    if link.flag is not None:
        state = "on" if link.flag.holds else "off"
        where = f" in {link.flag.product} {link.flag.version}" if link.flag.version else ""
        text += (f" — behaviour flag `{link.flag.name}` is {state}{where} (on from {link.flag.since}: "
                 f"{link.flag.change.split(' ')[0]})")
    return text + "."


def primary(explanation: Explanation) -> Finding | None:
    """The finding the others follow from: not a consequence (`see`), first in order."""
    roots = [f for f in explanation.findings if not f.see]
    return roots[0] if roots else (explanation.findings[0] if explanation.findings else None)


def versions_rows(result: RunResult) -> list[tuple[str, str]]:
    names = {"kubernetes": "Kubernetes", "kubectl": "kubectl", "istio": "Istio"}
    rows = []
    for key, value in result.versions.items():
        text = value
        if key == "kubernetes" and result.cluster.get("kubernetes"):
            text = f"{value} (kind node image kindest/node:{result.cluster['kubernetes']})"
        rows.append((names.get(key, key), text))
    return rows


def referenced_files(scenario: Scenario | None) -> list[tuple[str, str]]:
    """The files the steps name (`-f FILE`, `--config=FILE`), as the terminal saw them (factor patches applied)."""
    if scenario is None:
        return []
    found = step_files(scenario)
    files = []
    for name in found:
        relative = os.path.normpath(name).replace(os.sep, "/")
        text = scenario.file_overrides.get(relative)
        if text is None:
            try:
                with open(os.path.join(scenario.folder, relative), encoding="utf-8") as handle:
                    text = handle.read()
            except (OSError, UnicodeDecodeError):
                continue
        files.append((name, text))
    return files


@dataclass(frozen=True)
class ExpectationRow:
    passed: bool
    text: str
    actual: str
    findings: tuple[str, ...]  # Finding.key

    @property
    def codes(self) -> str:
        return ", ".join(dict.fromkeys(key.split(" ")[0] for key in self.findings))


def expectation_rows(result: RunResult, explanation: Explanation) -> list[ExpectationRow]:
    """Every expectation with the findings it is about (an expectation that held may describe the failure)."""
    return [ExpectationRow(e.passed, e.text, e.actual, tuple(related_findings(e, explanation.findings, result)))
            for e in result.expectations]


def expectations_summary(result: RunResult) -> str:
    if not result.expectations:
        return "The scenario states no expectations."
    failed = sum(not e.passed for e in result.expectations)
    if not failed:
        return (f"All {len(result.expectations)} expectations held: the scenario reproduces the behaviour it "
                "describes.")
    return f"{failed} of {len(result.expectations)} expectations did not hold."


def shown_steps(result: RunResult, explanation: Explanation) -> list[StepResult]:
    """The steps whose output shows a symptom or is what a failed expectation is about, in order."""
    wanted = {s for f in explanation.findings for s in f.steps}
    for note in explanation.expectations:
        match = re.match(r"step: (\d+)", note.text)
        if match:
            wanted.add(int(match.group(1)))
    return [s for s in result.steps if s.index in wanted]


def output_excerpt(step: StepResult, limit: int = MAX_OUTPUT_LINES) -> str:
    lines = step.output.rstrip("\n").splitlines()
    if len(lines) > limit:
        lines = lines[: limit // 2] + [f"... ({len(lines) - limit} lines omitted)"] + lines[-limit // 2:]
    return "\n".join(lines)


def component_records(explanation: Explanation) -> list[tuple[str, str]]:
    """The raw lines the components logged that the chains cite (ztunnel's log lines, events)."""
    seen: list[tuple[str, str]] = []
    for finding in explanation.findings:
        for link in finding.chain[1:]:
            if link.evidence and link.time and (link.component, link.evidence) not in seen \
                    and not link.component.startswith("connection"):
                seen.append((link.component, link.evidence))
    return seen


@dataclass(frozen=True)
class RemedyRow:
    finding: Finding
    remedy: Remedy
    outcome: RemedyOutcome | None


def remedy_rows(explanation: Explanation, outcomes: Sequence[RemedyOutcome]) -> list[RemedyRow]:
    by_key = {(o.finding, o.remedy.key): o for o in outcomes}
    return [RemedyRow(f, r, by_key.get((f.key, r.key))) for f in explanation.findings for r in f.remedies]


def remedy_level_text(remedy: Remedy) -> str:
    """The change, worded for a reader."""
    if remedy.level is None:
        return "by hand"
    parts = []
    for key, value in remedy.level.items():
        if key == "versions":
            parts += [f"versions.{k}: {v}" for k, v in value.items()]
        elif key == "patch":
            for item in value:
                target = item["target"]
                parts.append(f"patch {target['kind']}/{target['name']}: {_flat(item.get('merge') or item.get('json'))}")
        elif key == "replace_steps":
            parts += [f"before `{_first_line(old)}`: {_first_line(new)} …" for old, new in value.items()]
        else:
            parts.append(f"{key}: {value}")
    return "; ".join(parts)


def _flat(value: object, prefix: str = "") -> str:
    """{spec: {template: {metadata: {labels: {a: b}}}}} -> spec.template.metadata.labels.a=b; a list item with a
    `name` is addressed by it: containers[name=x].image=y"""
    if isinstance(value, dict):
        return ", ".join(_flat(v, f"{prefix}{k}." if not isinstance(v, (str, int, float, bool)) else f"{prefix}{k}")
                         for k, v in value.items())
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "name" in item:
                rest = {k: v for k, v in item.items() if k != "name"}
                parts.append(_flat(rest, f"{prefix.rstrip('.')}[name={item['name']}]."))
            else:
                parts.append(_flat(item, prefix))
        return ", ".join(parts)
    return f"{prefix.rstrip('.')}={value}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
