"""The explanation as text: each finding with its causal chain (symptom first), its remedy, and what the remedies
did when they were tried. Shared by `meshrepro run`'s text report and `meshrepro explain`."""

from __future__ import annotations

from collections.abc import Sequence

from meshrepro.scenario.diagnoses import Finding, Link
from meshrepro.scenario.explain import Explanation, RemedyOutcome

MAX_IDS = 6  # connection ids listed before "..."


def connection_ids(ids: Sequence[int]) -> str:
    shown = ", ".join(f"#{i}" for i in ids[:MAX_IDS])
    return shown + (f", ... #{ids[-1]}" if len(ids) > MAX_IDS else "")


def link_details(link: Link) -> list[tuple[str, str]]:
    """(label, text) lines under a link: the object, the rule, the flag with its upstream change, the evidence."""
    out = []
    if link.subject and link.subject not in link.component:
        out.append(("object", link.subject))
    if link.rule:
        out.append(("rule", link.rule))
    if link.flag is not None:
        out.append(("flag", f"{link.flag.name}: {link.flag.state} — {link.flag.change}"))
    if link.evidence and link.evidence not in link.summary:
        out.append(("record", link.evidence))
    return out


def finding_lines(finding: Finding, outcomes: Sequence[RemedyOutcome] = ()) -> list[str]:
    lines = [f"{finding.code} {finding.level}: {finding.title}", f"  subject: {finding.subject}",
             f"  symptom: {finding.symptom}" + (f" (step {', '.join(map(str, finding.steps))})" if finding.steps
                                                 else "")]
    if finding.connections:
        count = len(finding.connections)
        lines.append(f"  connections: {count} failed like this ({connection_ids(finding.connections)})")
    lines.append("  why:")
    for index, link in enumerate(finding.chain):
        arrow = "   " if index == 0 else "  ←"
        when = f" [{link.time[11:23].rstrip('Z')}]" if link.time else ""
        decisive = "  (the decisive decision)" if len(finding.chain) > 2 and not finding.see and link is finding.root else ""
        lines.append(f"  {arrow} {link.component}: {link.summary}{when}{decisive}")
        lines += [f"        {label}: {text}" for label, text in link_details(link)]
    lines.append(f"  remedy: {finding.remedy}")
    mine = [o for o in outcomes if o.finding == finding.key]
    if mine:
        lines.append("  remedies tried:")
        lines += [f"    {o.verdict:<20} {o.remedy.title} — {o.detail}" for o in mine]
    elif any(r.level is not None for r in finding.remedies):
        keys = ", ".join(r.key for r in finding.remedies if r.level is not None)
        lines.append(f"  to try: {keys} (meshrepro explain --try-remedies)")
    return lines


def text_lines(explanation: Explanation, outcomes: Sequence[RemedyOutcome] = ()) -> list[str]:
    if explanation.empty:
        return ["nothing failed: every expectation held and no connection failed"]
    lines: list[str] = []
    for finding in explanation.findings:
        if lines:
            lines.append("")
        lines += finding_lines(finding, outcomes)
    for note in explanation.expectations:
        if lines:
            lines.append("")
        lines.append(f"expectation did not hold: {note.text}")
        lines.append(f"  actual: {note.actual}")
        lines.append("  explained by: " + (", ".join(note.findings) if note.findings else "no diagnosis matched"))
    return lines


def render(explanation: Explanation, outcomes: Sequence[RemedyOutcome] = ()) -> str:
    """`meshrepro explain --format text`."""
    head = [f"# {explanation.scenario}", ""]
    return "\n".join(head + text_lines(explanation, outcomes)) + "\n"
