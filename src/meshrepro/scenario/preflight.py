"""Checks a scenario before it runs: every program a step calls exists on the terminal, and every
manifest a step applies loads, validates against the cluster's Kubernetes version and names only
images meshrepro knows. Each problem is one line with the file and line that caused it."""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from typing import Any

from meshrepro.backends.sim.machine import HOST_PROGRAMS
from meshrepro.errors import InputError
from meshrepro.istio import images as istio_images
from meshrepro.istio import kinds as istio_kinds
from meshrepro.istio.install import MODELLED_PROFILES, profile_names
from meshrepro.istio.istioctl import UNMODELLED_COMMANDS as ISTIOCTL_UNMODELLED
from meshrepro.istio.versions import IstioVersion
from meshrepro.manifests.load import Manifest, load_documents, load_file
from meshrepro.manifests.validate import validate
from meshrepro.runtime.catalogue import catalogue
from meshrepro.runtime.programs.kubectl import UNMODELLED_COMMANDS
from meshrepro.runtime.shell import parse
from meshrepro.runtime.shell.builtins import BUILTINS, SPECIAL_BUILTINS
from meshrepro.runtime.shell.nodes import FuncDef, Lit, Quoted, Redir, Simple, Word
from meshrepro.scenario.model import Scenario, Step

_POD_SPEC_PATHS = {
    "Pod": ("spec",), "Deployment": ("spec", "template", "spec"), "ReplicaSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def check(scenario: Scenario) -> None:
    images = catalogue()
    istio_images.register(images, _not_run)  # the machine registers them with the mesh; here only names count
    programs = HOST_PROGRAMS | {"istioctl"} if scenario.istio is not None else HOST_PROGRAMS
    for number, step in enumerate(scenario.steps, start=1):
        script = parse(step.command)
        functions = {node.name for node in _nodes(script) if isinstance(node, FuncDef)}
        for command in _simple_commands(script):
            argv = [_literal(w) for w in command.words]
            if not argv or argv[0] is None:
                continue
            name = argv[0]
            if name in BUILTINS or name in SPECIAL_BUILTINS or name in functions:
                continue
            if name not in programs:
                known = ", ".join(sorted(programs))
                hint = ('; set `versions.istio` (e.g. versions: {kubernetes: "1.29", istio: "1.22.3"}) to put that '
                        "release's istioctl on PATH" if name == "istioctl" else "")
                raise InputError(f"step {number}: meshrepro's terminal has no program {name!r} (it has: "
                                 f"{known}){hint}", path=scenario.path, line=step.line)
            if name == "istioctl":
                verb = _command_word(argv, _ISTIOCTL_VALUE_FLAGS)
                if verb in ISTIOCTL_UNMODELLED:
                    raise InputError(f"step {number}: `istioctl {verb}` is a real istioctl command that meshrepro "
                                     f"does not model yet", path=scenario.path, line=step.line)
                if verb == "install" and scenario.istio is not None:
                    _check_profile(argv, scenario.istio, number, scenario, step)
                continue
            verb = _command_word(argv, _VALUE_FLAGS) if name == "kubectl" else None
            if verb in UNMODELLED_COMMANDS:
                raise InputError(f"step {number}: `kubectl {verb}` is a real kubectl command that meshrepro does "
                                 f"not model yet", path=scenario.path, line=step.line)
            if verb in ("apply", "create"):
                for manifest in _applied(scenario, number, step.line, argv, command.redirs):
                    _check_manifest(manifest, scenario, images)


# kubectl's global flags that take a value, so the verb can be found after them.
_VALUE_FLAGS = {"-n", "--namespace", "--context", "--kubeconfig", "-s", "--server", "--as", "--as-group", "--token",
                "--cluster", "--user", "-v", "--v", "--request-timeout", "--certificate-authority"}


# istioctl's root flags that take a value.
_ISTIOCTL_VALUE_FLAGS = {"-c", "--kubeconfig", "--context", "-i", "--istioNamespace", "-n", "--namespace", "--vklog",
                         "--log_caller", "--log_output_level", "--log_stacktrace_level", "--log_target"}


def _not_run(component: str, version: IstioVersion, proc: Any) -> Any:
    raise AssertionError("preflight never runs a program")


def _check_profile(argv: list[str | None], version: IstioVersion, number: int, scenario: Scenario,
                   step: Step) -> None:
    """A profile that release does not have (or meshrepro does not render) is a typo in the scenario."""
    values = [v for flag, v in itertools.pairwise(argv) if flag in ("--set", "-s") and v]
    values += [a.split("=", 1)[1] for a in argv if a and a.startswith("--set=")]
    for value in values:
        key, _, profile = value.partition("=")
        if key.strip() != "profile":
            continue
        if profile not in MODELLED_PROFILES:
            known = profile_names(version)
            what = ("a real profile meshrepro does not render yet" if profile in known
                    else f"not a profile of Istio {'.'.join(map(str, version))}")
            raise InputError(f"step {number}: istioctl install: profile {profile!r} is {what} (meshrepro renders: "
                             f"{', '.join(sorted(MODELLED_PROFILES))})", path=scenario.path, line=step.line)


def _command_word(argv: list[str | None], value_flags: set[str]) -> str | None:
    """The first word after the program that is not a flag or a flag's value."""
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg is None:
            return None
        if arg in value_flags:
            index += 2
            continue
        if arg.startswith("-"):
            index += 1
            continue
        return arg
    return None


def _nodes(node: Any) -> Iterator[Any]:
    """Every node of a parsed script, depth first in source order."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        yield node
        for field in dataclasses.fields(node):
            yield from _nodes(getattr(node, field.name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _nodes(item)


def _simple_commands(script: Any) -> Iterator[Simple]:
    return (node for node in _nodes(script) if isinstance(node, Simple))


def _literal(word: Word) -> str | None:
    """The word's text when it has no expansions; None when it depends on run time."""
    parts = []
    for part in word.parts:
        if isinstance(part, (Lit, Quoted)):
            parts.append(part.text)
        else:
            return None
    return "".join(parts)


def _applied(scenario: Scenario, number: int, line: int, argv: list[str | None],
             redirs: list[Redir]) -> Iterator[Manifest]:
    files: list[str] = []
    for index, arg in enumerate(argv):
        if arg is None:
            continue
        if arg in ("-f", "--filename") and index + 1 < len(argv) and argv[index + 1] is not None:
            files.append(argv[index + 1])  # type: ignore[arg-type]
        elif arg.startswith(("--filename=", "-f=")):
            files.append(arg.split("=", 1)[1])
    for name in files:
        if name == "-":
            for redir in redirs:
                if redir.heredoc is not None and redir.heredoc.body is not None:
                    body = _literal(redir.heredoc.body)
                    if body is not None:
                        yield from load_documents(_placed(body, scenario.steps[number - 1]), scenario.path)
            continue
        path = os.path.normpath(os.path.join(scenario.folder, name))
        if os.path.relpath(path, scenario.folder).startswith(".."):
            raise InputError(f"step {number}: {name} is outside the scenario's folder; the simulated terminal "
                             f"only sees files inside it", path=scenario.path, line=line)
        if os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                if entry.endswith((".yaml", ".yml", ".json")):
                    yield from load_file(os.path.join(path, entry))
        elif not os.path.exists(path):
            raise InputError(f"step {number}: no such file: {name}", path=scenario.path, line=line)
        else:
            yield from load_file(path)


def _placed(body: str, step: Step) -> str:
    """A here-document's text padded with empty lines so YAML line numbers are the scenario file's lines."""
    at = step.command.find(body)
    offset = step.command[:at].count("\n") if at >= 0 else 0
    return "\n" * (step.text_line - 1 + offset) + body


def _check_manifest(manifest: Manifest, scenario: Scenario, images: Any) -> None:
    if scenario.istio is not None and istio_kinds.is_istio_group(manifest.api_version):
        problems = istio_kinds.validate(manifest, scenario.istio, scenario.kubernetes)
    else:
        problems = validate(manifest, scenario.kubernetes)
    if problems:
        raise InputError(str(problems[0]))
    spec_path = _POD_SPEC_PATHS.get(manifest.kind)
    if spec_path is None:
        return
    spec: Any = manifest.obj
    for key in spec_path:
        spec = (spec or {}).get(key)
    for group in ("initContainers", "containers"):
        for index, container in enumerate((spec or {}).get(group) or []):
            image = container.get("image", "")
            if image and images.lookup(image) is None:
                where = manifest.where((*spec_path, group, index, "image"))
                raise InputError(f'{where}: {manifest.kind} "{manifest.name}" container "{container.get("name")}": '
                                 f'image "{image}" is not in meshrepro\'s image catalogue '
                                 f"(known: {', '.join(images.names())})")
