"""Explain a run: every failed connection and every expectation that did not hold, traced back to its cause.

`explain(result)` matches the catalogue (`scenario.diagnoses`) against the run's records and gives an
`Explanation`: the findings, each with its causal chain and remedies, in a deterministic order (first
evidence, then code, then subject). `try_remedies(scenario, explanation, jobs)` runs every automatic remedy
of those findings as an extra run (a `scenario.factors` level applied to the scenario) and says which ones
make the symptom go away and the failing expectations hold.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from meshrepro.errors import MeshreproError
from meshrepro.manifests.load import load_documents
from meshrepro.scenario import factors, runner
from meshrepro.scenario.diagnoses import (
    CATALOGUE,
    Finding,
    Link,
    Records,
    Remedy,
    closed_by_design,
    match_all,
    parse_time,
    unexplained,
)
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import ExpectationResult, RunResult

__all__ = ["CATALOGUE", "ExpectationNote", "Explanation", "RemedyOutcome", "explain", "related_findings",
           "remedy_change", "step_files", "try_remedies"]


@dataclass
class ExpectationNote:
    """An expectation that did not hold, and the findings that account for it."""

    text: str
    line: int
    actual: str
    findings: list[str]  # Finding.key

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "line": self.line, "actual": self.actual, "findings": list(self.findings)}


@dataclass
class Explanation:
    scenario: str
    findings: list[Finding]
    expectations: list[ExpectationNote]  # only those that did not hold
    failed_connections: int

    @property
    def empty(self) -> bool:
        return not self.findings and not self.expectations

    def finding(self, key: str) -> Finding | None:
        return next((f for f in self.findings if f.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings],
                "expectations": [e.to_dict() for e in self.expectations],
                "failed_connections": self.failed_connections}


def explain(result: RunResult) -> Explanation:
    records = Records(result)
    findings = match_all(records)
    covered = {c for f in findings for c in f.connections}
    leftovers: dict[tuple[str, str, str, str], Finding] = {}
    for connection in records.failed:
        if connection["id"] in covered or closed_by_design(connection):
            continue
        hops = connection.get("hops") or []
        key = (connection["source_owner"], connection["destination"], connection["outcome"],
               hops[-1]["action"] if hops else "")
        if key in leftovers:
            leftovers[key].connections.append(connection["id"])
        else:
            leftovers[key] = unexplained(records, connection)
    findings += leftovers.values()
    _link_consequences(findings, records)
    findings.sort(key=lambda f: (f.time or "9999", f.code, f.subject))
    notes = [_note(e, findings, result) for e in result.expectations if not e.passed]
    return Explanation(result.scenario, findings, notes, len(records.failed))


def _link_consequences(findings: list[Finding], records: Records) -> None:
    """A crash whose last words are another finding's symptom follows from that finding: say so."""
    for finding in findings:
        if finding.code not in ("MR0402", "MR0403"):
            continue
        last = next((link for link in reversed(finding.chain) if link.summary.startswith("last printed")), None)
        if last is None:
            continue
        for other in findings:
            if other is finding or other.code in ("MR0402", "MR0403"):
                continue
            if other.symptom and (other.symptom in last.evidence or last.evidence.endswith(other.symptom)):
                finding.see.append(other.key)
                finding.chain.append(Link("meshrepro", other.subject, f"explained by {other.code}: {other.title}",
                                          rule=f"the same line is {other.code}'s symptom"))
                break


def _note(expectation: ExpectationResult, findings: list[Finding], result: RunResult) -> ExpectationNote:
    return ExpectationNote(expectation.text, expectation.line, expectation.actual,
                           related_findings(expectation, findings, result))


def related_findings(expectation: ExpectationResult, findings: Sequence[Finding], result: RunResult) -> list[str]:
    """The keys of the findings an expectation is about: those whose symptom its step shows (or whose connections
    were made while it ran), or, for a pod expectation, those about the pods it names."""
    step = _expectation_step(expectation.text, result)
    related = []
    for finding in findings:
        if step is not None:
            mine = step in finding.steps
        else:  # a pod expectation: the findings about the pods it names
            mine = any(pod.split("/")[-1] in expectation.actual for pod in finding.pods)
        if mine:
            related.append(finding.key)
    if step is not None and not related and 0 < step <= len(result.steps):  # connections made while the step ran
        step_result = result.steps[step - 1]
        start, end = parse_time(step_result.start), parse_time(step_result.end).replace(microsecond=999999)
        by_id = {c["id"]: c for c in result.connections}
        related = [f.key for f in findings if any(start <= parse_time(by_id[c]["time"]) <= end
                                                  for c in f.connections if c in by_id)]
    return related


def _expectation_step(text: str, result: RunResult) -> int | None:
    match = re.match(r"step: (\d+)(,|$)", text)
    if match:
        return int(match.group(1))
    match = re.match(r"step: (.*?), (output_contains|output_not_contains|output_matches|exit_code):", text)
    if match:
        for step in result.steps:
            if step.command.strip() == match.group(1).strip():
                return step.index
    return None


# -- trying the remedies -----------------------------------------------------------------------------------------


@dataclass
class RemedyOutcome:
    """What one remedy did to the scenario, for one finding."""

    finding: str  # Finding.key
    code: str
    remedy: Remedy
    verdict: str  # "works" | "changes the failure" | "does not help" | "not run"
    detail: str  # one line: what changed
    change: list[str] = field(default_factory=list)  # factors.Change.describe()
    findings_after: list[str] = field(default_factory=list)  # codes found in the remedied run
    expectations: list[dict[str, Any]] = field(default_factory=list)  # {text, before, after}

    @property
    def works(self) -> bool:
        return self.verdict == "works"

    def to_dict(self) -> dict[str, Any]:
        return {"finding": self.finding, "code": self.code, "remedy": self.remedy.to_dict(),
                "verdict": self.verdict, "detail": self.detail, "change": list(self.change),
                "findings_after": list(self.findings_after), "expectations": list(self.expectations)}


def remedy_change(scenario: Scenario, level: Mapping[str, Any]) -> factors.Change:
    """A remedy's level (the scenario file's factor-level form, patches naming their target object rather than a
    file) as a `factors.Change` on this scenario."""
    change = factors.Change()
    for key, value in level.items():
        if key == "versions":
            change += factors.Change.set_versions(**{k: str(v) for k, v in value.items()})
        elif key == "replace_steps":
            for old, new in value.items():
                change += factors.Change.replace_step(old, new)
        elif key == "add_steps":
            for item in value:
                change += factors.Change.add_step(item["after"], item["step"])
        elif key == "drop_steps":
            change += factors.Change.drop_step(*value)
        elif key == "patch":
            for item in value:
                target = item["target"]
                obj = f"{target['kind']}/{target['name']}"
                namespace = target.get("namespace")
                files = _files_applying(scenario, target["kind"], target["name"], namespace)
                if not files:
                    raise RemedyNotApplicable(f"no file the steps apply defines {obj}")
                if "merge" in item:
                    change += factors.Change.merge_patch(files[0], obj, item["merge"], namespace)
                else:
                    change += factors.Change.json_patch(files[0], obj, item["json"], namespace)
        else:
            raise RemedyNotApplicable(f"unknown change {key!r}")
    return change


def step_files(scenario: Scenario) -> list[str]:
    """The files the steps name (`-f FILE`, `--filename=FILE`, `--config=FILE`), in order, as written."""
    found: list[str] = []
    for step in scenario.steps:
        try:
            words = shlex.split(step.command.split("<<", 1)[0], comments=True)
        except ValueError:
            continue
        for index, word in enumerate(words):
            value = None
            if word in ("-f", "--filename", "--config") and index + 1 < len(words):
                value = words[index + 1]
            elif re.match(r"--(filename|config)=", word):
                value = word.split("=", 1)[1]
            if value and value != "-" and value not in found:
                found.append(value)
    return found


def _files_applying(scenario: Scenario, kind: str, name: str, namespace: str | None) -> list[str]:
    """The files the steps apply that hold the object (as the terminal sees them, earlier patches included)."""
    found = []
    for written in step_files(scenario):
        relative = os.path.normpath(written).replace(os.sep, "/")
        text = scenario.file_overrides.get(relative)
        try:
            if text is None:
                with open(os.path.join(scenario.folder, relative), encoding="utf-8") as handle:
                    text = handle.read()
            manifests = load_documents(text, relative)
        except (MeshreproError, OSError, UnicodeDecodeError):
            continue
        if any(m.kind == kind and m.name == name and (namespace is None or (m.namespace or "default") == namespace)
               for m in manifests):
            found.append(relative)
    return found


class RemedyNotApplicable(Exception):
    """The remedy cannot be expressed on this scenario (e.g. the object it patches is created by a command)."""


def try_remedies(scenario: Scenario, explanation: Explanation, jobs: int = 1,
                 base: RunResult | None = None) -> list[RemedyOutcome]:
    """Run each automatic remedy of the explanation's findings once (as an extra cell) and judge it per finding.

    A remedy works for a finding when the finding is gone from the remedied run and every expectation that did
    not hold now holds; it "changes the failure" when the finding is gone but another diagnosis appears."""
    del base  # the explanation carries what the judgement needs
    cells: dict[str, tuple[Remedy, factors.Change | None, str]] = {}
    order: list[tuple[Finding, Remedy, str]] = []
    for finding in explanation.findings:
        for remedy in finding.remedies:
            if remedy.level is None:
                continue
            ident = repr(sorted(_freeze(remedy.level)))
            order.append((finding, remedy, ident))
            if ident in cells:
                continue
            try:
                cells[ident] = (remedy, remedy_change(scenario, remedy.level), "")
            except RemedyNotApplicable as err:
                cells[ident] = (remedy, None, str(err))
    runnable = [(ident, change) for ident, (_, change, _) in cells.items() if change is not None]
    outcomes_by_cell: dict[str, dict[str, Any]] = {}
    if jobs > 1 and len(runnable) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {ident: pool.submit(_cell, scenario, change) for ident, change in runnable}
            outcomes_by_cell = {ident: future.result() for ident, future in futures.items()}
    else:
        outcomes_by_cell = {ident: _cell(scenario, change) for ident, change in runnable}
    before = {e.text: False for e in explanation.expectations}
    outcomes = []
    for finding, remedy, ident in order:
        _, change, problem = cells[ident]
        described = change.describe() if change is not None else []
        if change is None:
            outcomes.append(RemedyOutcome(finding.key, finding.code, remedy, "not run", problem, described))
            continue
        cell = outcomes_by_cell[ident]
        if cell.get("error"):
            outcomes.append(RemedyOutcome(finding.key, finding.code, remedy, "not run", cell["error"], described))
            continue
        after = cell["findings"]  # [(code, normalised subject)]
        gone = (finding.code, _normalise(finding.subject)) not in {tuple(x) for x in after}
        flips = [{"text": text, "before": passed_before, "after": passed}
                 for text, passed, passed_before in ((t, p, before.get(t, True)) for t, p in cell["expectations"])
                 if passed != passed_before]
        still_failing = [t for t, p in cell["expectations"] if t in before and not p]
        new = sorted({code for code, _ in after} - {f.code for f in explanation.findings})
        if gone and not still_failing and not new:
            verdict, detail = "works", f"{finding.code} is gone"
        elif gone and new:
            verdict, detail = "changes the failure", f"{finding.code} is gone, but {', '.join(new)} appears"
        elif gone:
            verdict, detail = "does not help", (f"{finding.code} is gone, but {len(still_failing)} expectation(s) " \
                                               "still do not hold")
        else:
            verdict = "does not help"
            now = cell["causes"].get(f"{finding.code} {_normalise(finding.subject)}", "")
            detail = (f"{finding.code} remains, for the same reason" if now == cause(finding)
                      else f"{finding.code} remains, now because {now}")
        if verdict == "works" and any(not f["after"] for f in flips):
            detail += "; the expectations that describe the failure no longer hold"
        outcomes.append(RemedyOutcome(finding.key, finding.code, remedy, verdict, detail, described,
                                      sorted({code for code, _ in after}), flips))
    return outcomes


def _cell(scenario: Scenario, change: factors.Change) -> dict[str, Any]:
    """One remedied run, reduced to what the judgement needs (picklable, small)."""
    try:
        remedied = factors.apply(scenario, {"remedy": factors.Level("remedy", change)})
        result = runner.run(remedied)
    except MeshreproError as err:
        return {"error": str(err)}
    explanation = explain(result)
    return {"findings": [(f.code, _normalise(f.subject)) for f in explanation.findings],
            "causes": {f"{f.code} {_normalise(f.subject)}": cause(f) for f in explanation.findings},
            "expectations": [(e.text, e.passed) for e in result.expectations]}


def cause(finding: Finding) -> str:
    """The decisive link of a chain, one line."""
    link = finding.root
    if link is None:
        return finding.symptom
    return f"{link.component}: {link.summary}" + (f" ({link.flag.name} {link.flag.state})" if link.flag else "")


def _normalise(subject: str) -> str:
    """Pod names carry hashes that change with the template: compare `nginx-*` rather than `nginx-57b5b796b7-q2wxz`."""
    subject = re.sub(r"-[0-9a-f]{8,10}-[0-9a-z]{5}\b", "-*", subject)
    return re.sub(r"\b([a-z][a-z0-9-]*?)-[0-9a-z]{5}\b(?!-)", r"\1-*", subject)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(_freeze(v) for v in value)
    return value
