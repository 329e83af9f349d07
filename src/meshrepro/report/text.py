"""The text report: the session as the terminal showed it, then the pods, the expectations and, when something
failed, the explanation."""

from __future__ import annotations

from meshrepro.report import explanation as explanation_text
from meshrepro.runtime.tabwriter import format_table
from meshrepro.scenario.explain import Explanation, explain
from meshrepro.scenario.result import RunResult

SYSTEM_NAMESPACES = {"kube-system", "local-path-storage", "kube-public", "kube-node-lease"}


def render(result: RunResult, explanation: Explanation | None = None) -> str:
    lines = [f"# {result.scenario}", "# " + ", ".join(f"{k} {v}" for k, v in result.versions.items()), ""]
    for step in result.steps:
        lines.append(f"$ {step.command.rstrip()}")
        if step.output:
            lines.append(step.output.rstrip("\n"))
        lines.append("")
    pods = [p for p in result.pods if p.namespace not in SYSTEM_NAMESPACES]
    lines.append("## pods at the end")
    if pods:
        rows = [["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "IP", "NODE"]]
        rows += [[p.namespace, p.name, p.ready, p.status, p.restarts, p.ip or "<none>", p.node or "<none>"]
                 for p in pods]
        lines.append(format_table(rows).rstrip("\n"))
    else:
        lines.append("(no pods outside the system namespaces)")
    if result.expectations:
        lines += ["", "## expectations"]
        for expectation in result.expectations:
            mark = "PASS" if expectation.passed else "FAIL"
            lines.append(f"{mark}  {expectation.text}")
            if not expectation.passed:
                lines.append(f"      actual: {expectation.actual}")
    explanation = explanation if explanation is not None else explain(result)
    if not explanation.empty:
        lines += ["", "## explanation", *explanation_text.text_lines(explanation)]
    return "\n".join(lines) + "\n"
