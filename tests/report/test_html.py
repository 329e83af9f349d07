"""The HTML report: one self-contained, well-formed page with the markdown report's content, an SVG timeline per pod
and an SVG flow of each failed connection."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from meshrepro.report import html as html_report
from meshrepro.scenario import factors, runner
from meshrepro.scenario.diagnoses import Records
from meshrepro.scenario.explain import explain

SEED = Path(__file__).resolve().parents[2] / "examples" / "istio-48854"
SVG = "{http://www.w3.org/2000/svg}"


@functools.cache
def page(name: str) -> str:
    scenario = factors.baseline(*factors.load(str(SEED / name)))
    result = runner.run(scenario)
    return html_report.render(result, explain(result), scenario=scenario)


def svgs(text: str, kind: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(rf'<svg class="{kind}".*?</svg>', text, re.DOTALL)]


class _Tags(HTMLParser):
    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "br", "hr", "img", "link", "input", "path", "rect", "line"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, k, v or "") for k, v in attrs]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else '-'}>")
            return
        self.stack.pop()


def test_the_page_is_balanced_and_self_contained() -> None:
    text = page("exp3-ambient-1.20.yaml")
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    tags = _Tags()
    tags.feed(text)
    assert tags.problems == [] and tags.stack == []
    external = [(t, k, v) for t, k, v in tags.attributes if k in ("src", "href") and not v.startswith("#")]
    assert external == []
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text


def test_the_timeline_shows_the_pod_the_finding_is_about() -> None:
    text = page("exp3-ambient-1.20.yaml")
    [timeline] = svgs(text, "timeline")
    assert timeline.get("id", "").startswith("timeline-default-nginx-")
    labels = [t.text for t in timeline.iter(f"{SVG}text")]
    assert {"sandbox", "istio-cni", "init init-kubectl", "istiod", "ztunnel", "connections"} <= set(labels)
    assert "never learned this workload" in labels  # istiod never published it
    kinds = [m.get("data-kind") for m in timeline.iter() if m.get("class") == "mark"]
    assert kinds.count("conn-eof") == 60
    assert {"sandbox", "cni", "istiod", "push", "container", "scheduled"} <= set(kinds)
    bars = [m for m in timeline.iter(f"{SVG}rect") if m.get("data-kind") == "container"]
    assert [b.get("fill") for b in bars] == ["#c62828", "#1f6feb"]  # exited 1, then running again
    titles = [t.text or "" for t in timeline.iter(f"{SVG}title")]
    assert any("not published to ztunnel (phase Pending is not Running)" in t for t in titles)


def test_a_fixed_release_shows_ztunnel_learning_the_pod_and_served_connections() -> None:
    text = page("exp3-ambient-1.24.0.yaml")
    assert "Nothing failed" in text
    [timeline] = svgs(text, "timeline")
    kinds = [m.get("data-kind") for m in timeline.iter() if m.get("class") == "mark"]
    assert "ztunnel-learned" in kinds and "conn-closed" in kinds and "conn-eof" not in kinds
    assert svgs(text, "flow") == []


def test_each_failed_connection_is_drawn_hop_by_hop() -> None:
    text = page("exp3-ambient-1.20.yaml")
    [flow] = svgs(text, "flow")
    components = [g.get("data-component") for g in flow.iter(f"{SVG}g")]
    assert components[0].startswith("pod default/nginx-")
    assert components[1:] == ["iptables in node test-control-plane", "routing",
                              "iptables in pod istio-system/ztunnel-ncctr", "ztunnel ztunnel-ncctr"]
    texts = [t.text or "" for t in flow.iter(f"{SVG}text")]
    assert "outbound connection dropped  unknown source: 10.244.0.7" in texts
    assert texts[-1] == "outcome: eof"


def test_the_content_matches_the_markdown_report() -> None:
    text = page("exp3-ambient-1.20.yaml")
    for heading in ("Versions", "Steps to reproduce", "Expected vs actual", "Timeline", "Why it happens", "Remedies"):
        assert f"<h2>{heading}</h2>" in text
    assert "<mark>the decisive decision</mark>" in text
    assert "istiod_publishes_pending_pods: off in Istio 1.20.2 (on from 1.21.2)" in text
    assert "Unable to connect to the server: EOF" in text


def test_timelines_only_for_pods_that_exist() -> None:
    scenario = factors.baseline(*factors.load(str(SEED / "exp2-rbac.yaml")))
    result = runner.run(scenario)
    pods = html_report.timeline_pods(result, explain(result))
    assert pods and all(p.startswith("default/nginx-") for p in pods)
    assert html_report.timeline_svg(Records(result), "default/nope") == ""
