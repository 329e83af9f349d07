"""The scenario file: name, versions, clock, steps, expectations; loaded with file:line on every error."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from meshrepro.errors import InputError
from meshrepro.istio import versions as istio_versions
from meshrepro.kube.versions import SUPPORTED, KubeVersion, parse_version
from meshrepro.runtime.shell import ShellSyntaxError, parse
from meshrepro.sim.clock import DEFAULT_START

KNOWN_KEYS = {"name", "description", "versions", "clock", "seed", "steps", "expect", "factors"}
STEP_EXPECT_KEYS = {"step", "output_contains", "output_not_contains", "output_matches", "exit_code"}
POD_EXPECT_KEYS = {"pod", "status", "ready", "restarts", "phase"}


@dataclass(frozen=True)
class Expectation:
    """One thing the user expects; `raw` keeps their wording for the report."""

    raw: dict[str, Any]
    line: int
    step: int | None = None  # 0-based index of the step it is about
    pod: dict[str, str] | None = None

    @property
    def text(self) -> str:
        parts = []
        for key, value in self.raw.items():
            if isinstance(value, dict):
                value = "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
            parts.append(f"{key}: {value}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Step:
    command: str
    line: int  # where the step starts in the scenario file
    text_line: int = 0  # where its first line of text is (the line after `|` for block scalars)


@dataclass
class Scenario:
    path: str
    folder: str
    name: str
    kubernetes: KubeVersion
    kubectl: str | None
    start: datetime
    seed: int
    steps: list[Step]
    expectations: list[Expectation] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    versions_raw: dict[str, str] = field(default_factory=dict)
    istio: istio_versions.IstioVersion | None = None  # the istioctl release on the terminal's PATH
    # Files the terminal sees instead of the folder's (relative path -> text): a factor's patched manifests.
    file_overrides: dict[str, str] = field(default_factory=dict)


def load(path: str) -> Scenario:
    return parse_scenario(*read(path))


def read(path: str) -> tuple[Any, yaml.Node | None, str]:
    """The scenario file's data, its composed YAML node (for lines) and its path (a folder's scenario.yaml)."""
    if os.path.isdir(path):
        candidate = os.path.join(path, "scenario.yaml")
        if not os.path.exists(candidate):
            raise InputError(f"no scenario.yaml in directory {path}")
        path = candidate
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}") from None
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise InputError(err.problem or str(err), path=path, line=mark.line + 1 if mark else None) from None
    return raw, node, path


def _line(node: yaml.Node | None, *keys: Any) -> int:
    """The 1-based line of the value at `keys` in a composed YAML node (the closest ancestor if absent)."""
    current = node
    line = (node.start_mark.line + 1) if node is not None else 1
    for key in keys:
        if isinstance(current, yaml.MappingNode):
            found = next((v for k, v in current.value if k.value == key), None)
        elif isinstance(current, yaml.SequenceNode) and isinstance(key, int) and key < len(current.value):
            found = current.value[key]
        else:
            found = None
        if found is None:
            break
        current = found
        line = current.start_mark.line + 1
    return line


def parse_scenario(raw: Any, node: yaml.Node | None, path: str) -> Scenario:
    def fail(message: str, *keys: Any) -> InputError:
        return InputError(message, path=path, line=_line(node, *keys))

    if not isinstance(raw, dict):
        raise fail("a scenario is a mapping with at least `name` and `steps`")
    for key in raw:
        if key not in KNOWN_KEYS:
            raise fail(f"unknown scenario field {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})", key)
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        raise fail("`name` is required and must be a string", "name")
    versions = raw.get("versions") or {}
    if not isinstance(versions, dict):
        raise fail("`versions` must be a mapping like {kubernetes: \"1.29\"}", "versions")
    if isinstance(versions.get("kubernetes"), float):
        raise fail(f"write the Kubernetes version as a string (\"1.30\"): YAML reads an unquoted "
                   f"{versions['kubernetes']} as a number", "versions", "kubernetes")
    kube_text = str(versions.get("kubernetes", "1.29"))
    try:
        kube = parse_version(kube_text)
    except ValueError as err:
        raise fail(str(err), "versions", "kubernetes") from None
    if kube not in SUPPORTED:
        supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED)
        raise fail(f"Kubernetes {kube_text} is not supported (supported: {supported})", "versions", "kubernetes")
    istio = _istio_version(versions, fail)
    start = DEFAULT_START
    clock = raw.get("clock") or {}
    if not isinstance(clock, dict):
        raise fail("`clock` must be a mapping like {start: \"2024-01-18T09:57:00Z\"}", "clock")
    if "start" in clock:
        value = clock["start"]
        try:
            start = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            raise fail(f"clock.start is not an RFC 3339 time: {value!r}", "clock", "start") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int):
        raise fail("`seed` must be an integer", "seed")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise fail("`steps` must be a non-empty list of command lines", "steps")
    steps = []
    for index, command in enumerate(steps_raw):
        if not isinstance(command, str):
            raise fail(f"step {index + 1} must be a command line (a string)", "steps", index)
        line = _line(node, "steps", index)
        text_line = line + (1 if _is_block(node, index) else 0)
        try:
            parse(command)
        except ShellSyntaxError as err:
            raise InputError(f"step {index + 1}: {err.message}", path=path,
                             line=text_line + max(err.line - 1, 0)) from None
        steps.append(Step(command, line, text_line))
    expectations = [_expectation(item, i, steps, fail) for i, item in enumerate(raw.get("expect") or [])]
    kubectl = versions.get("kubectl")
    return Scenario(path=path, folder=os.path.dirname(os.path.abspath(path)), name=raw["name"].strip(),
                    kubernetes=kube, kubectl=str(kubectl) if kubectl else None, start=start, seed=seed,
                    steps=steps, expectations=expectations, raw=raw,
                    versions_raw={k: str(v) for k, v in versions.items()}, istio=istio)


def _istio_version(versions: dict[str, Any], fail: Any) -> istio_versions.IstioVersion | None:
    """`versions.istio`: a full release istioctl exists for in meshrepro, e.g. "1.22.3"."""
    if "istio" not in versions:
        return None
    value = versions["istio"]
    supported = ", ".join(".".join(str(p) for p in v) for v in istio_versions.SUPPORTED)
    if not isinstance(value, str):
        raise fail(f"write the Istio release as a string (\"1.22.3\"): YAML reads an unquoted {value} as a "
                   f"{'number' if isinstance(value, (int, float)) else type(value).__name__}", "versions", "istio")
    try:
        version = istio_versions.parse_version(value)
    except ValueError as err:
        raise fail(f"{err} (supported: {supported})", "versions", "istio") from None
    if version not in istio_versions.SUPPORTED:
        raise fail(f"Istio {value} is not supported (supported: {supported})", "versions", "istio")
    return version


def _is_block(node: yaml.Node | None, index: int) -> bool:
    """Literal/folded block scalars start on the line after their indicator."""
    if not isinstance(node, yaml.MappingNode):
        return False
    steps = next((v for k, v in node.value if k.value == "steps"), None)
    if not isinstance(steps, yaml.SequenceNode) or index >= len(steps.value):
        return False
    return getattr(steps.value[index], "style", None) in ("|", ">")


def _expectation(item: Any, index: int, steps: list[Step], fail: Any) -> Expectation:
    where = ("expect", index)
    if not isinstance(item, dict):
        raise fail("each expectation is a mapping (step/output_contains, or pod/status)", *where)
    if "step" in item:
        unknown = set(item) - STEP_EXPECT_KEYS
        if unknown:
            raise fail(f"unknown expectation field(s) {', '.join(sorted(unknown))} for a step expectation", *where)
        ref = item["step"]
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 1 <= ref <= len(steps):
                raise fail(f"expectation refers to step {ref}, but the scenario has {len(steps)} steps",
                           *where, "step")
            step_index = ref - 1
        elif isinstance(ref, str):
            matches = [i for i, s in enumerate(steps) if s.command.strip() == ref.strip()]
            if not matches:
                raise fail(f"expectation refers to a step that does not exist: {ref!r}", *where, "step")
            step_index = matches[0]
        else:
            raise fail("`step` is a 1-based index or the exact text of a step", *where, "step")
        if not set(item) & (STEP_EXPECT_KEYS - {"step"}):
            raise fail("a step expectation needs output_contains, output_not_contains, output_matches or exit_code",
                       *where)
        return Expectation(dict(item), fail("", *where).line or 0, step=step_index)
    if "pod" in item:
        unknown = set(item) - POD_EXPECT_KEYS
        if unknown:
            raise fail(f"unknown expectation field(s) {', '.join(sorted(unknown))} for a pod expectation", *where)
        pod = item["pod"]
        if not isinstance(pod, dict) or not ({"name", "selector"} & set(pod)):
            raise fail("`pod` needs a name or a selector (and optionally a namespace)", *where, "pod")
        return Expectation(dict(item), fail("", *where).line or 0, pod={k: str(v) for k, v in pod.items()})
    raise fail("an expectation is about a `step` or a `pod`", *where)
