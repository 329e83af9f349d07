"""The HTML report: one self-contained file (no scripts, fonts, images or styles from elsewhere) with the markdown
report's content plus pictures — an SVG timeline per pod (sandbox, CNI, each container run, istiod's decisions and
pushes, ztunnel learning the workload, every connection as a mark coloured by its outcome) and an SVG flow of each
failed connection, hop by hop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from meshrepro.report import issue
from meshrepro.report.explanation import connection_ids, link_details
from meshrepro.report.markdown import matrix_section
from meshrepro.scenario.diagnoses import Finding, Records, parse_time
from meshrepro.scenario.explain import Explanation, RemedyOutcome, explain
from meshrepro.scenario.matrix import Matrix
from meshrepro.scenario.model import Scenario
from meshrepro.scenario.result import RunResult

OUTCOME_COLOURS = {"established": "#2e7d32", "closed": "#2e7d32", "delivered": "#2e7d32", "eof": "#c62828",
                   "reset": "#c62828", "refused": "#c62828", "unreachable": "#c62828", "timeout": "#ef6c00",
                   "pending": "#757575"}
SYSTEM_NAMESPACES = ("kube-system", "istio-system", "local-path-storage", "kube-public", "kube-node-lease")
HTML_MARKS = {"works": '<span class="held">✓</span>', "changes the failure": '<span class="failed">!</span>',
              "does not help": '<span class="failed">✗</span>', "not run": "–"}  # in every font, unlike emoji
MAX_TIMELINES = 6
WIDTH = 960
LABEL = 190  # px for the row labels
ROW = 26
FONT = "font-family:ui-monospace,Menlo,Consolas,monospace"

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1000px;
color:#1f2328;line-height:1.5;padding:0 1rem}
h1{font-size:1.6rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h2{font-size:1.3rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.1rem}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:6px}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{background:#f6f8fa;white-space:nowrap;overflow-wrap:normal}
.summary{font-size:1.05rem;background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.6rem .9rem}
.chain li{margin-bottom:.4rem}.chain ul{margin:.1rem 0;color:#57606a;font-size:.9rem}
.held{color:#1a7f37}.failed{color:#cf222e}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#57606a}
svg{max-width:100%;height:auto;background:#fff}
"""


def render(result: RunResult, explanation: Explanation | None = None, *, scenario: Scenario | None = None,
           outcomes: Sequence[RemedyOutcome] = (), matrix: Matrix | None = None) -> str:
    explanation = explanation if explanation is not None else explain(result)
    records = Records(result)
    title = issue.title(result, explanation)
    body: list[str] = [f"<h1>{escape(title)}</h1>", f"<p class=\"summary\">{_code_spans(issue.summary(explanation))}"
                       + (f"<br>{_code_spans(issue.decisive(explanation))}" if issue.decisive(explanation) else "")
                       + "</p>"]
    description = (scenario.raw.get("description") if scenario is not None else None) or ""
    if description.strip():
        body.append(f"<p>{escape(' '.join(description.split()))}</p>")
    body += ["<h2>Versions</h2>", "<table><tr><th>component</th><th>version</th></tr>"]
    body += [f"<tr><td>{escape(n)}</td><td>{escape(v)}</td></tr>" for n, v in issue.versions_rows(result)]
    body += ["</table>", "<h2>Steps to reproduce</h2>",
             f"<pre>{escape(chr(10).join(s.command.rstrip() for s in result.steps))}</pre>"]
    for name, text in issue.referenced_files(scenario):
        body.append(f"<details><summary><code>{escape(name)}</code></summary><pre>{escape(text.rstrip())}</pre>"
                    "</details>")
    body += ["<h2>Expected vs actual</h2>", f"<p>{escape(issue.expectations_summary(result))}</p>"]
    rows = issue.expectation_rows(result, explanation)
    if rows:
        body.append("<table><tr><th></th><th>expectation</th><th>actual</th><th>explained by</th></tr>")
        for row in rows:
            mark = '<span class="held">✓ held</span>' if row.passed else '<span class="failed">✗ did not hold</span>'
            body.append(f"<tr><td>{mark}</td><td>{escape(row.text)}</td>"
                        f"<td>{escape(row.actual) if not row.passed else ''}</td>"
                        f"<td>{escape(row.codes)}</td></tr>")
        body.append("</table>")
    for step in issue.shown_steps(result, explanation):
        body += [(f"<p>Step {step.index}, <code>{escape(' '.join(step.command.split()))}</code> (exit code "
                 f"{step.exit_code}):</p>"), f"<pre>{escape(issue.output_excerpt(step))}</pre>"]
    logged = issue.component_records(explanation)
    if logged:
        body += ["<p>What the components logged:</p>",
                 "<pre>" + escape("\n".join(f"[{c}] {line}" for c, line in logged)) + "</pre>"]
    body += ["<h2>Timeline</h2>", ("<p>Each pod's life as the components recorded it; connections are marks "
             "coloured by outcome (green: served, red: EOF/reset/refused, orange: timed out). Hover a mark for "
             "its record.</p>")]
    for pod in timeline_pods(result, explanation):
        body.append(timeline_svg(records, pod))
    if matrix is not None:
        body += matrix_html(matrix)
    body.append("<h2>Why it happens</h2>")
    if not explanation.findings:
        body.append("<p>Nothing failed.</p>")
    for finding in explanation.findings:
        body += _finding(finding, records)
    body += _remedies(explanation, outcomes)
    body.append(f"<hr><p><small>Reproduced offline with meshrepro: <code>meshrepro run {escape(result.path)}</code> "
                f"(seed {result.seed}). The output above is what the simulated cluster printed; every link of a "
                "chain is a decision a component recorded.</small></p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _finding(finding: Finding, records: Records) -> list[str]:
    out = [(f"<h3 id=\"{escape(finding.code)}\">{escape(finding.code)} {escape(finding.name)}: "
           f"{escape(finding.title)}</h3>"),
           f"<p><b>Subject:</b> {escape(finding.subject)}<br><b>Symptom:</b> <code>{escape(finding.symptom)}</code>"
           + (f" (step {', '.join(map(str, finding.steps))})" if finding.steps else "")
           + (f"<br><b>Connections:</b> {len(finding.connections)} failed like this "
              f"({escape(connection_ids(finding.connections))})" if finding.connections else "") + "</p>",
           "<p>Causal chain, from the symptom back to its cause:</p>", "<ol class=\"chain\">"]
    for link in finding.chain:
        when = f" <small>{escape(link.time[11:23].rstrip('Z'))}</small>" if link.time else ""
        details = "".join(f"<li>{escape(label)}: {_code_spans(text)}</li>" for label, text in link_details(link))
        decisive = " <mark>the decisive decision</mark>" if len(finding.chain) > 2 and not finding.see and link is finding.root else ""
        out.append(f"<li><b>{escape(link.component)}</b>: {_code_spans(link.summary)}{when}{decisive}"
                   + (f"<ul>{details}</ul>" if details else "") + "</li>")
    out += ["</ol>", f"<p><b>Remedy:</b> {_code_spans(finding.remedy)}</p>"]
    if finding.connections:
        connection = records.connections.get(finding.connections[0])
        if connection is not None:
            out.append(flow_svg(connection))
    return out


def _remedies(explanation: Explanation, outcomes: Sequence[RemedyOutcome]) -> list[str]:
    rows = issue.remedy_rows(explanation, outcomes)
    if not rows:
        return []
    out = ["<h2>Remedies</h2>",
           "<p>Each automatic remedy was run as an extra cell (<code>meshrepro explain --try-remedies</code>):</p>"
           if outcomes else "<p>Not tried yet: <code>meshrepro explain --try-remedies</code> runs each automatic "
                            "one as an extra cell.</p>",
           "<table><tr><th>finding</th><th>remedy</th><th>change</th><th>result</th></tr>"]
    for row in rows:
        if row.outcome is not None:
            result = (f"{HTML_MARKS.get(row.outcome.verdict, '')} {escape(row.outcome.verdict)}: "
                      f"{escape(row.outcome.detail)}")
        else:
            result = "not tried" if row.remedy.level is not None else "by hand"
        note = f"<br><small>{escape(row.remedy.note)}</small>" if row.remedy.note else ""
        out.append(f"<tr><td>{escape(row.finding.code)}</td><td>{escape(row.remedy.title)}{note}</td>"
                   f"<td><code>{escape(issue.remedy_level_text(row.remedy))}</code></td><td>{result}</td></tr>")
    out.append("</table>")
    return out


# -- the timeline -------------------------------------------------------------------------------------------------


def timeline_pods(result: RunResult, explanation: Explanation) -> list[str]:
    """The pods a reader needs to see: those the findings name, else the scenario's own pods."""
    named = [p for f in explanation.findings for p in f.pods]
    for finding in explanation.findings:
        for conn_id in finding.connections[:1]:
            conn = next((c for c in result.connections if c["id"] == conn_id), None)
            if conn is not None and conn["source_owner"].startswith("pod "):
                named.append(conn["source_owner"][4:])
    pods = [f"{p.namespace}/{p.name}" for p in result.pods]
    chosen = [p for p in dict.fromkeys(named) if p in pods]
    if not chosen:
        chosen = [p for p in pods if p.split("/")[0] not in SYSTEM_NAMESPACES]
    return chosen[:MAX_TIMELINES]


@dataclass
class _Mark:
    row: str
    time: datetime
    end: datetime | None  # a bar when set
    colour: str
    text: str
    kind: str


def _pod_marks(records: Records, pod: str) -> list[_Mark]:
    subject = f"Pod {pod}"
    marks: list[_Mark] = []
    view = records.pods.get(pod)
    ip = view.ip if view else ""
    for record in records.trace:
        if record["subject"] != subject:
            continue
        at = parse_time(record["time"])
        component, action = record["component"], record["action"]
        label = f"{record['time'][11:23]} {component}: {action}" + (f" ({record['reason']})" if record["reason"] else "")
        if component.startswith("kubelet") and action.startswith("sandbox"):
            marks.append(_Mark("sandbox", at, None, "#c62828" if "failed" in action else "#1f6feb", label, "sandbox"))
        elif component.startswith("default-scheduler"):
            marks.append(_Mark("sandbox", at, None, "#8250df", label, "scheduled"))
        elif component == "istio-cni":
            marks.append(_Mark("istio-cni", at, None, "#c62828" if "refused" in action else "#1f6feb", label, "cni"))
        elif component == "istiod":
            colour = "#2e7d32" if action == "indexed workload" else "#ef6c00" if action.startswith("not ") else "#1f6feb"
            marks.append(_Mark("istiod", at, None, colour, label, "istiod"))
        elif component == "ztunnel" and action == "learned workload":
            marks.append(_Mark("ztunnel", at, None, "#2e7d32", label, "ztunnel-learned"))
    for record in records.decisions(component="istiod", action="pushed workloads"):
        marks.append(_Mark("istiod", parse_time(record["time"]), None, "#8c959f",
                           f"{record['time'][11:23]} istiod pushed to {record['subject']}: {record['reason']}", "push"))
    for run in records.runs.get(pod, []):
        colour = "#2e7d32" if run.exit_code == 0 else "#c62828" if run.exit_code is not None else "#1f6feb"
        ended = f"exited {run.exit_code}" if run.exit_code is not None else "running"
        marks.append(_Mark(f"{'init ' if run.init else ''}{run.container}", run.start, run.end, colour,
                           f"{run.container} attempt {run.attempt}: started {_ms(run.start)}, {ended}", "container"))
    for connection in records.result.connections:
        mine = connection["source_owner"] == f"pod {pod}" or (
            ip and (connection.get("final") or "").rpartition(":")[0] == ip)
        if mine:
            marks.append(_Mark("connections", parse_time(connection["time"]), None,
                               OUTCOME_COLOURS.get(connection["outcome"], "#757575"),
                               f"#{connection['id']} {connection['time'][11:23]} {connection['source']} → "
                               f"{connection['destination']}: {connection['outcome']}", f"conn-{connection['outcome']}"))
    return marks


def timeline_svg(records: Records, pod: str) -> str:
    marks = _pod_marks(records, pod)
    own = [m.time for m in marks if m.kind != "push"]
    if not own:
        return ""
    steps = records.result.steps
    start = min(own)
    end = max([*own, *(m.end for m in marks if m.end), parse_time(steps[-1].end) if steps else start])
    span = max((end - start).total_seconds(), 1.0) * 1.04
    rows = ["sandbox", "istio-cni"]
    rows += list(dict.fromkeys(m.row for m in marks if m.kind == "container"))
    rows += ["istiod", "ztunnel", "connections"]
    meshed = "istio" in records.result.versions
    rows = [r for r in rows if any(m.row == r for m in marks) or r in ("sandbox", "connections")
            or (meshed and r == "ztunnel")]
    plot = WIDTH - LABEL - 20
    height = 30 + ROW * len(rows) + 30

    def x(moment: datetime) -> float:
        return LABEL + plot * max(0.0, (moment - start).total_seconds()) / span

    ident = "timeline-" + pod.replace("/", "-")
    out = [(f'<figure><svg class="timeline" id="{escape(ident)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'aria-label="timeline of Pod {escape(pod)}" style="{FONT};font-size:11px">'),
           f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
           f'<text x="8" y="18" font-weight="bold">Pod {escape(pod)}</text>']
    for index, row in enumerate(rows):
        y = 30 + ROW * index
        fill = "#f6f8fa" if index % 2 == 0 else "#ffffff"
        out.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="{fill}"/>')
        out.append(f'<text x="8" y="{y + 17}" fill="#1f2328">{escape(row)}</text>')
    if "ztunnel" in rows and not any(m.row == "ztunnel" for m in marks):
        y = 30 + ROW * rows.index("ztunnel")
        out.append(f'<text class="never" x="{LABEL + 6}" y="{y + 17}" fill="#c62828">never learned this '
                   'workload</text>')
    axis = 30 + ROW * len(rows)
    out.append(f'<line x1="{LABEL}" y1="{axis}" x2="{WIDTH - 20}" y2="{axis}" stroke="#57606a"/>')
    tick = _tick(span)
    seconds = 0.0
    while seconds <= span:
        tx = LABEL + plot * seconds / span
        out.append(f'<line x1="{tx:.1f}" y1="30" x2="{tx:.1f}" y2="{axis + 4}" stroke="#d0d7de" stroke-width="0.5"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis + 16}" text-anchor="middle" fill="#57606a">+{seconds:g}s</text>')
        seconds += tick
    out.append(f'<text x="{WIDTH - 20}" y="{height - 2}" text-anchor="end" fill="#57606a">from '
               f'{escape(_ms(start)[11:23])}</text>')
    for mark in marks:
        if mark.row not in rows:
            continue
        y = 30 + ROW * rows.index(mark.row)
        title = f"<title>{escape(mark.text)}</title>"
        if mark.kind == "container":
            x2 = x(mark.end) if mark.end else x(end)
            out.append(f'<rect class="mark" data-kind="container" x="{x(mark.time):.1f}" y="{y + 6}" '
                       f'width="{max(x2 - x(mark.time), 2):.1f}" height="{ROW - 12}" rx="3" fill="{mark.colour}" '
                       f'fill-opacity="0.8">{title}</rect>')
        elif mark.kind == "push":
            out.append(f'<line class="mark" data-kind="push" x1="{x(mark.time):.1f}" y1="{y + 4}" '
                       f'x2="{x(mark.time):.1f}" y2="{y + ROW - 4}" stroke="{mark.colour}" stroke-width="1.5">'
                       f'{title}</line>')
        elif mark.kind.startswith("conn-"):
            out.append(f'<rect class="mark" data-kind="{escape(mark.kind)}" x="{x(mark.time) - 1.5:.1f}" '
                       f'y="{y + 5}" width="3" height="{ROW - 10}" fill="{mark.colour}">{title}</rect>')
        else:
            cx, cy = x(mark.time), y + ROW / 2
            out.append(f'<path class="mark" data-kind="{escape(mark.kind)}" d="M{cx:.1f} {cy - 6:.1f} '
                       f'L{cx + 6:.1f} {cy:.1f} L{cx:.1f} {cy + 6:.1f} L{cx - 6:.1f} {cy:.1f} Z" '
                       f'fill="{mark.colour}" stroke="#ffffff" stroke-width="0.8">{title}</path>')
    out.append("</svg>")
    out.append(f"<figcaption>Timeline of Pod {escape(pod)}: sandbox and scheduling, istio-cni, each container "
               "run (green exited 0, red failed, blue running), istiod's decisions (orange: not published) and pushes "
               "(grey), ztunnel learning the workload, connections.</figcaption></figure>")
    return "\n".join(out)


def _tick(span: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if span / step <= 12:
            return float(step)
    return 7200.0


def _ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- the flow of one connection --------------------------------------------------------------------------------


def flow_svg(connection: dict[str, object]) -> str:
    """The connection hop by hop: consecutive hops of one component share a box; the last box carries the
    outcome's colour."""
    hops = list(connection.get("hops") or [])  # type: ignore[call-overload]
    groups: list[tuple[str, list[str]]] = [(f"{connection['source_owner']}", [(f"connect {connection['source']} → "
                                                                             f"{connection['destination']}")])]
    for hop in hops:
        line = f"{hop['action']}" + (f"  {hop['detail']}" if hop["detail"] else "")
        if groups[-1][0] == hop["component"]:
            groups[-1][1].append(line)
        else:
            groups.append((hop["component"], [line]))
    outcome = str(connection["outcome"])
    colour = OUTCOME_COLOURS.get(outcome, "#757575")
    max_chars = 128
    y = 10
    parts = []
    for index, (component, lines) in enumerate(groups):
        shown = lines if len(lines) <= 8 else lines[:7] + [f"… {len(lines) - 7} more"]
        box = 24 + 15 * len(shown)
        last = index == len(groups) - 1
        stroke = colour if last else "#8c959f"
        parts.append(f'<g class="hop" data-component="{escape(component)}">')
        parts.append(f'<rect x="10" y="{y}" width="{WIDTH - 20}" height="{box}" rx="6" fill="#ffffff" '
                     f'stroke="{stroke}" stroke-width="{2.5 if last else 1}"/>')
        parts.append(f'<text x="20" y="{y + 17}" font-weight="bold" fill="#1f2328">{escape(component)}</text>')
        for n, line in enumerate(shown):
            text = line if len(line) <= max_chars else line[: max_chars - 1] + "…"
            parts.append(f'<text x="28" y="{y + 34 + 15 * n}" fill="#424a53">{escape(text)}</text>')
        parts.append("</g>")
        y += box
        if not last:
            parts.append(f'<path d="M{WIDTH / 2:.0f} {y + 2} L{WIDTH / 2:.0f} {y + 16}" stroke="#57606a" '
                         f'stroke-width="1.5"/><path d="M{WIDTH / 2 - 5:.0f} {y + 11} L{WIDTH / 2:.0f} {y + 17} '
                         f'L{WIDTH / 2 + 5:.0f} {y + 11}" fill="none" stroke="#57606a" stroke-width="1.5"/>')
            y += 20
    y += 6
    parts.append(f'<text x="20" y="{y + 12}" font-weight="bold" fill="{colour}">outcome: {escape(outcome)}</text>')
    height = y + 22
    return (f'<figure><svg class="flow" id="flow-{connection["id"]}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="connection #{connection["id"]} hop by hop" style="{FONT};font-size:11px">'
            f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>' + "".join(parts) + "</svg>"
            f"<figcaption>Connection #{connection['id']} ({escape(str(connection['source']))} → "
            f"{escape(str(connection['destination']))}), hop by hop.</figcaption></figure>")


# -- text ------------------------------------------------------------------------------------------------------


def _code_spans(text: str) -> str:
    """Escape, and turn `code` spans into <code>."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # unbalanced: no spans
        return escape(text)
    return "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))


def matrix_html(matrix: Matrix) -> list[str]:
    """The what-if matrix (the markdown section's content): cells × expectations, then what flips each."""
    names = [name for name, _ in matrix.factors]
    labels = [f"E{i + 1}" for i in range(len(matrix.expectations))]
    out = ["<h2>What-if matrix</h2>", (f"<p>{len(matrix.cells)} cells, every combination of the scenario's factors "
           "(the first level of each is the baseline).</p>"), "<table class=\"matrix\"><tr>"
           + "".join(f"<th>{escape(h)}</th>" for h in [*names, *labels, "symptom"]) + "</tr>"]
    for cell in matrix.cells:
        marks = ["✅" if passed else "❌" for passed in cell.passed]
        out.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in [*cell.levels, *marks, cell.symptom]) + "</tr>")
    out.append("</table><ul>")
    for line in matrix_section(matrix):
        if line.startswith("- E") and " at the baseline" in line:
            out.append(f"<li>{_code_spans(line[2:])}</li>")
    out.append("</ul>")
    return out
