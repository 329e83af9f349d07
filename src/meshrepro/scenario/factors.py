"""Factors: the what-ifs a scenario sweeps with `meshrepro matrix`.

In a scenario file
------------------

```yaml
factors:                        # factor name -> level name -> change; both orders are kept
  mesh:
    ambient: {}                 # the FIRST level of every factor is the baseline: `meshrepro run` runs it,
    none:                       # and `matrix` counts changes from it (put the setup you investigate first)
      drop_steps:               # a step is its exact text (as written in `steps`) or its 1-based index
        - istioctl install --set profile=ambient -y
        - 3
  istio:
    "1.20.2": {versions: {istio: "1.20.2"}}   # merged over the scenario's `versions`
    "1.22.3": {versions: {istio: "1.22.3"}}
  peerauth:
    none: {}
    permissive:
      add_steps: [{after: 3, step: kubectl apply -f manifests/peerauth-permissive.yaml}]  # after: 0 = first
  wait:
    short: {replace_steps: {"sleep 90": sleep 30}}
  rbac:
    with: {}
    without:
      drop_steps: [kubectl apply -f manifests/rbac.yaml]
      patch:                    # on a file of the scenario's folder; the terminal sees the patched file
        - file: manifests/nginx-rbac.yaml
          object: Deployment/nginx               # Kind/name; add `namespace:` when the name is ambiguous
          json: [{op: remove, path: /spec/template/spec/serviceAccountName}]   # RFC 6902
        - file: manifests/nginx-rbac.yaml
          object: Deployment/nginx
          merge: {spec: {template: {metadata: {labels: {istio.io/dataplane-mode: none}}}}}
  container:
    init: {vars: {CLIENT: init-kubectl}}     # `${CLIENT}` in a step's text becomes the level's value
    main: {vars: {CLIENT: kubectl}}
```

- `merge` is a strategic merge patch for built-in kinds (lists merge by their OpenAPI merge keys, as
  `kubectl patch` does) and an RFC 7386 merge patch for custom resources such as Istio's kinds; `json`
  is a list of RFC 6902 operations. Patches of several factors apply in the order the factors are
  declared; the patched object must still validate. A patched file is handed to the terminal as JSON
  (one object per document), which kubectl reads like the YAML it replaces.
- `vars` are substituted as `${NAME}` in step text before the step runs (other `${...}` are left to the
  shell). Every level of a factor sets the same names; two factors may not set the same name.
- All step references name the scenario's own steps, whatever other factors drop or add; an expectation's
  `step:` follows its step, and a level may not drop a step an expectation is about.

Errors (a step, file or object that does not exist, a patch that does not apply, conflicting changes) are
one `InputError` naming the scenario file and line: exit 2.

From code (e.g. remedies)
-------------------------

A `Change` is the same thing built programmatically; `Level(name, change)` wraps it and
`apply(scenario, {"remedy": level})` gives the scenario to run (the original is not modified):

```python
Change.set_versions(istio="1.22.3")                                # upgrade
Change.merge_patch("manifests/nginx.yaml", "Deployment/nginx",     # opt the pod out of ambient
                   {"spec": {"template": {"metadata": {"labels": {"istio.io/dataplane-mode": "none"}}}}})
Change.json_patch(file, "Deployment/nginx", [{"op": "add", "path": "/spec/...", "value": 1337}])
Change.drop_step(3) + Change.replace_step("sleep 90", "sleep 120") + Change.add_step(2, "kubectl ...")
Change.set_vars(PROFILE="ambient")
files_defining(scenario, "Deployment/nginx")                       # which files hold the object
```

`Change.describe()` words a change for a report ("set versions.istio=1.22.3", "drop step 3", ...).
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from meshrepro.errors import InputError
from meshrepro.istio import kinds as istio_kinds
from meshrepro.istio.versions import IstioVersion
from meshrepro.kube.versions import SUPPORTED, KubeVersion, parse_version
from meshrepro.manifests.kinds import KindRegistry
from meshrepro.manifests.load import Manifest, load_documents
from meshrepro.manifests.patch import PatchError, json_merge_patch, json_patch, strategic_merge
from meshrepro.manifests.validate import validate
from meshrepro.runtime.shell import ShellSyntaxError, parse
from meshrepro.scenario import model
from meshrepro.scenario.model import Scenario, Step, _istio_version, _line

StepRef = int | str  # a step by its 1-based index or its exact text
CHANGE_KEYS = ("versions", "drop_steps", "replace_steps", "add_steps", "patch", "vars")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Patch:
    """A strategic merge (`merge`) or RFC 6902 (`json`) patch of one object in one file of the scenario."""

    file: str  # relative to the scenario's folder
    object: str  # Kind/name
    namespace: str | None = None
    merge: Mapping[str, Any] | None = None
    json: Sequence[Mapping[str, Any]] | None = None
    line: int | None = None  # where it is written in the scenario file

    @property
    def kind(self) -> str:
        return self.object.partition("/")[0]

    @property
    def name(self) -> str:
        return self.object.partition("/")[2]

    def describe(self) -> str:
        target = self.object + (f" (namespace {self.namespace})" if self.namespace else "")
        if self.merge is not None:
            body = json.dumps(self.merge, separators=(",", ":"), default=str)
            return f"patch {target} in {self.file}: merge {body}"
        body = "; ".join(f"{op.get('op')} {op.get('path')}" + (f"={json.dumps(op['value'], default=str)}"
                                                                 if "value" in op else "")
                         for op in self.json or [])
        return f"patch {target} in {self.file}: {body}"


@dataclass(frozen=True)
class Change:
    """What a level does to the scenario. Every field is optional; `+` combines two changes."""

    versions: Mapping[str, str] = field(default_factory=dict)
    drop_steps: tuple[StepRef, ...] = ()
    replace_steps: tuple[tuple[StepRef, str], ...] = ()
    add_steps: tuple[tuple[StepRef, str], ...] = ()  # (after, text); after 0 = before the first step
    patches: tuple[Patch, ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def set_versions(**versions: str) -> Change:
        return Change(versions=dict(versions))

    @staticmethod
    def drop_step(*steps: StepRef) -> Change:
        return Change(drop_steps=tuple(steps))

    @staticmethod
    def replace_step(step: StepRef, text: str) -> Change:
        return Change(replace_steps=((step, text),))

    @staticmethod
    def add_step(after: StepRef, text: str) -> Change:
        return Change(add_steps=((after, text),))

    @staticmethod
    def merge_patch(file: str, object: str, merge: Mapping[str, Any], namespace: str | None = None) -> Change:
        return Change(patches=(Patch(file, object, namespace, merge=merge),))

    @staticmethod
    def json_patch(file: str, object: str, operations: Sequence[Mapping[str, Any]],
                   namespace: str | None = None) -> Change:
        return Change(patches=(Patch(file, object, namespace, json=list(operations)),))

    @staticmethod
    def set_vars(**values: str) -> Change:
        return Change(vars=dict(values))

    def __add__(self, other: Change) -> Change:
        return Change({**self.versions, **other.versions}, self.drop_steps + other.drop_steps,
                      self.replace_steps + other.replace_steps, self.add_steps + other.add_steps,
                      self.patches + other.patches, {**self.vars, **other.vars})

    def is_empty(self) -> bool:
        return not (self.versions or self.drop_steps or self.replace_steps or self.add_steps or self.patches
                    or self.vars)

    def describe(self) -> list[str]:
        words = [f"set versions.{k}={v}" for k, v in self.versions.items()]
        words += [f"drop step {_ref_text(s)}" for s in self.drop_steps]
        words += [f"replace step {_ref_text(s)} with `{t.strip()}`" for s, t in self.replace_steps]
        words += [f"add `{t.strip()}` after step {_ref_text(s)}" for s, t in self.add_steps]
        words += [p.describe() for p in self.patches]
        words += [f"set ${{{k}}}={v}" for k, v in self.vars.items()]
        return words


@dataclass(frozen=True)
class Level:
    name: str
    change: Change = field(default_factory=Change)
    line: int | None = None  # where the level is written in the scenario file


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[Level, ...]
    line: int | None = None

    @property
    def baseline(self) -> Level:
        return self.levels[0]

    def level(self, name: str) -> Level:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)


# ---------------------------------------------------------------- loading


def load(path: str) -> tuple[Scenario, list[Factor]]:
    """The scenario as written (factors not applied) and its factors."""
    raw, node, path = model.read(path)
    scenario = model.parse_scenario(raw, node, path)
    return scenario, parse_factors(raw, node, path)


def baseline(scenario: Scenario, factors: Sequence[Factor]) -> Scenario:
    """The scenario with the first level of every factor: what `meshrepro run` runs."""
    return apply(scenario, {f.name: f.baseline for f in factors}) if factors else scenario


def parse_factors(raw: Any, node: yaml.Node | None, path: str) -> list[Factor]:
    """The `factors:` of a scenario (already parsed by `model.parse_scenario`), every reference checked."""
    if not isinstance(raw, dict) or raw.get("factors") is None:
        return []
    spec = raw["factors"]

    def fail(message: str, *keys: Any) -> InputError:
        return InputError(message, path=path, line=_line(node, "factors", *keys))

    def fail_at_name(message: str, factor: str) -> InputError:
        return InputError(message, path=path, line=_key_line(node, "factors", factor))

    if not isinstance(spec, dict) or not spec:
        raise fail("`factors` maps each factor's name to its levels, e.g. "
                   "{istio: {\"1.20.2\": {versions: {istio: \"1.20.2\"}}, \"1.22.3\": {versions: {istio: \"1.22.3\"}}}}")
    steps = [s for s in raw.get("steps") or [] if isinstance(s, str)]
    context = _Context(path, os.path.dirname(os.path.abspath(path)), steps, raw.get("versions") or {})
    factors: list[Factor] = []
    var_owner: dict[str, str] = {}
    for factor_key, levels_raw in spec.items():
        name = _name(factor_key, "factor", fail, factor_key)
        if not isinstance(levels_raw, dict) or len(levels_raw) < 2:
            raise fail_at_name(f"factor {name} needs two or more levels (level name -> change; the first is the "
                               f"baseline)", name)
        levels = []
        for level_key, change_raw in levels_raw.items():
            level_name = _name(level_key, "level", fail, name, level_key)
            where = (name, str(level_key))
            change = context.change(change_raw, lambda message, *keys, w=where, f=name, lv=level_name: fail(
                f"factor {f}, level {lv}: {message}", *w, *keys), name, level_name)
            levels.append(Level(level_name, change, _key_line(node, "factors", *where)))
        names = [set(level.change.vars) for level in levels]
        for level, own in zip(levels, names):
            missing = set().union(*names) - own
            if missing:
                raise fail(f"factor {name}: level {level.name} does not set ${{{min(missing)}}}; every level "
                           f"of a factor sets the same vars", name, level.name)
        for var in names[0]:
            if var in var_owner:
                raise fail_at_name(f"factor {name} sets ${{{var}}}, which factor {var_owner[var]} sets too", name)
            var_owner[var] = name
        factors.append(Factor(name, tuple(levels), _key_line(node, "factors", name)))
    return factors


def _key_line(node: yaml.Node | None, *keys: str) -> int:
    """The line of the last key itself (`_line` gives its value's), for naming a factor or a level."""
    parent = _line(node, *keys[:-1])
    current = node
    for key in keys[:-1]:
        if not isinstance(current, yaml.MappingNode):
            return parent
        current = next((v for k, v in current.value if k.value == key), None)
    if isinstance(current, yaml.MappingNode):
        found = next((k for k, _ in current.value if k.value == keys[-1]), None)
        if found is not None:
            return found.start_mark.line + 1
    return _line(node, *keys)


def _name(key: Any, what: str, fail: Any, *where: Any) -> str:
    if isinstance(key, (bool, float)) or key is None:
        raise fail(f"write the {what} name {key!r} as a quoted string (YAML reads it as a "
                   f"{'boolean' if isinstance(key, bool) else 'number' if isinstance(key, float) else 'null'})",
                   *[str(w) for w in where])
    return str(key)


@dataclass
class _Context:
    path: str
    folder: str
    steps: list[str]
    versions: dict[str, Any]

    def change(self, raw: Any, fail: Any, factor: str, level: str) -> Change:
        if raw is None:
            return Change()
        if not isinstance(raw, dict):
            raise fail(f"a level is a mapping of changes ({', '.join(CHANGE_KEYS)}), or {{}} for none")
        for key in raw:
            if key not in CHANGE_KEYS:
                raise fail(f"unknown change {key!r} (known: {', '.join(CHANGE_KEYS)})", key)
        versions = self._versions(raw.get("versions"), fail)
        drop = tuple(self._ref(item, fail, "drop_steps", i) for i, item in enumerate(self._list(raw, "drop_steps",
                                                                                                    fail)))
        replace_raw = raw.get("replace_steps") or {}
        if not isinstance(replace_raw, dict):
            raise fail("`replace_steps` maps a step (its text or 1-based index) to the new step text",
                       "replace_steps")
        replace = tuple((self._ref(ref, fail, "replace_steps", str(ref)),
                         self._text(text, fail, "replace_steps", str(ref))) for ref, text in replace_raw.items())
        add = []
        for index, item in enumerate(self._list(raw, "add_steps", fail)):
            if not isinstance(item, dict) or set(item) != {"after", "step"}:
                raise fail("each of `add_steps` is {after: <step text or index, 0 for the start>, step: <text>}",
                           "add_steps", index)
            after = 0 if item["after"] == 0 and not isinstance(item["after"], bool) else self._ref(item["after"], fail, "add_steps", index, "after")
            add.append((after, self._text(item["step"], fail, "add_steps", index, "step")))
        patches = tuple(self._patch(item, fail, index) for index, item in enumerate(self._list(raw, "patch", fail)))
        variables = raw.get("vars") or {}
        if not isinstance(variables, dict):
            raise fail("`vars` maps NAME to a value, used as ${NAME} in steps", "vars")
        for var, value in variables.items():
            if not isinstance(var, str) or not _VAR_NAME.match(var):
                raise fail(f"{var!r} is not a variable name (letters, digits, _)", "vars")
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise fail(f"write the value of {var} as a string", "vars", var)
        change = Change(versions, drop, replace, tuple(add), patches, {k: str(v) for k, v in variables.items()})
        # Every patch must apply to the file as written, and give a valid object.
        merged = {**{k: str(v) for k, v in self.versions.items()}, **versions}
        kube, _, istio = _versions(merged, lambda message: fail(message, "versions"))
        overrides: dict[str, str] = {}
        for patch in patches:
            _patch_file(self.folder, overrides, patch, kube, istio,
                        lambda message, p=patch: InputError(f"factor {factor}, level {level}: {message}",
                                                            path=self.path, line=p.line))
        return change

    def _list(self, raw: dict[str, Any], key: str, fail: Any) -> list[Any]:
        value = raw.get(key) or []
        if not isinstance(value, list):
            raise fail(f"`{key}` is a list", key)
        return value

    def _versions(self, value: Any, fail: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise fail("`versions` is a mapping like {istio: \"1.22.3\"}", "versions")
        for key, version in value.items():
            if not isinstance(version, str):
                raise fail(f"write the version of {key} as a string (\"{version}\"): YAML reads an unquoted "
                           f"{version} as a {type(version).__name__}", "versions", key)
        return dict(value)

    def _ref(self, ref: Any, fail: Any, *keys: Any) -> int:
        """A step reference, as a 1-based index into the scenario's steps."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not 1 <= ref <= len(self.steps):
                raise fail(f"there is no step {ref} (the scenario has {len(self.steps)} steps)", *keys)
            return ref
        if isinstance(ref, str):
            for index, text in enumerate(self.steps, start=1):
                if text.strip() == ref.strip():
                    return index
            raise fail(f"no step is {ref!r} (name a step by its exact text or its 1-based index)", *keys)
        raise fail("a step is named by its exact text or its 1-based index", *keys)

    def _text(self, text: Any, fail: Any, *keys: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise fail("a step is a command line (a string)", *keys)
        try:
            parse(text)
        except ShellSyntaxError as err:
            raise fail(err.message, *keys) from None
        return text

    def _patch(self, item: Any, fail: Any, index: int) -> Patch:
        where = ("patch", index)
        if not isinstance(item, dict):
            raise fail("a patch is {file, object: Kind/name, merge: {...}} or {file, object, json: [...]}", *where)
        unknown = set(item) - {"file", "object", "namespace", "merge", "json"}
        if unknown:
            raise fail(f"unknown patch field(s) {', '.join(sorted(map(str, unknown)))} (known: file, object, "
                       f"namespace, merge, json)", *where)
        if not isinstance(item.get("file"), str):
            raise fail("a patch names the `file` it patches (relative to the scenario's folder)", *where)
        target = item.get("object")
        if not isinstance(target, str) or target.count("/") != 1 or not all(target.split("/")):
            raise fail("a patch names its `object` as Kind/name, e.g. Deployment/nginx", *where)
        if ("merge" in item) == ("json" in item):
            raise fail("a patch has either `merge` (a strategic merge patch) or `json` (RFC 6902 operations)",
                       *where)
        if "merge" in item and not isinstance(item["merge"], dict):
            raise fail("`merge` is a mapping, the part of the object to merge", *where, "merge")
        if "json" in item and not (isinstance(item["json"], list)
                                   and all(isinstance(op, dict) for op in item["json"])):
            raise fail("`json` is a list of operations like {op: add, path: /spec/replicas, value: 2}",
                       *where, "json")
        namespace = item.get("namespace")
        line = fail("", *where).line
        return Patch(item["file"], target, str(namespace) if namespace is not None else None,
                     merge=item.get("merge"), json=item.get("json"), line=line)


# ---------------------------------------------------------------- applying


def apply(scenario: Scenario, choice: Mapping[str, Level]) -> Scenario:
    """A new scenario with the chosen level of each factor applied (in the mapping's order)."""
    path = scenario.path

    def error(factor: str, level: Level, message: str, line: int | None = None) -> InputError:
        return InputError(f"factor {factor}, level {level.name}: {message}", path=path,
                          line=line if line is not None else level.line)

    versions = dict(scenario.versions_raw)
    set_by: dict[str, str] = {}
    variables: dict[str, str] = {}
    var_by: dict[str, str] = {}
    dropped: dict[int, str] = {}
    replaced: dict[int, tuple[str, str, Level]] = {}
    added: list[tuple[int, str, str, Level]] = []
    for factor, level in choice.items():
        change = level.change
        for key, value in change.versions.items():
            if key in set_by and versions[key] != value:
                raise error(factor, level, f"sets versions.{key}={value}, but {set_by[key]} sets {versions[key]}")
            versions[key], set_by[key] = str(value), f"factor {factor}"
        for var, value in change.vars.items():
            if var in var_by and variables[var] != value:
                raise error(factor, level, f"sets ${{{var}}}={value}, but {var_by[var]} sets {variables[var]}")
            variables[var], var_by[var] = str(value), f"factor {factor}"
        for ref in change.drop_steps:
            dropped[_resolve(scenario, ref, lambda m, f=factor, lv=level: error(f, lv, m))] = factor
        for ref, text in change.replace_steps:
            index = _resolve(scenario, ref, lambda m, f=factor, lv=level: error(f, lv, m))
            if index in replaced and replaced[index][0] != text:
                raise error(factor, level, f"replaces step {index}, which factor {replaced[index][1]} replaces too")
            replaced[index] = (text, factor, level)
        for ref, text in change.add_steps:
            after = 0 if ref == 0 else _resolve(scenario, ref, lambda m, f=factor, lv=level: error(f, lv, m))
            added.append((after, text, factor, level))
    for expectation in scenario.expectations:
        if expectation.step is not None and expectation.step + 1 in dropped:
            factor = dropped[expectation.step + 1]
            raise error(factor, choice[factor], f"drops step {expectation.step + 1}, which the expectation on line "
                                                f"{expectation.line} is about")

    def step(text: str, line: int, text_line: int, factor: str | None, level: Level | None) -> Step:
        command = _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
        try:
            parse(command)
        except ShellSyntaxError as err:
            where = f"factor {factor}, level {level.name}: " if factor and level else ""
            raise InputError(f"{where}step `{command.strip()}`: {err.message}", path=path, line=line) from None
        return Step(command, line, text_line)

    steps: list[Step] = []
    new_index: dict[int, int] = {}
    for after, text, factor, level in added:
        if after == 0:
            steps.append(step(text, level.line or 0, level.line or 0, factor, level))
    for index, original in enumerate(scenario.steps, start=1):
        if index not in dropped:
            new_index[index] = len(steps)
            if index in replaced:
                text, factor, level = replaced[index]
                steps.append(step(text, level.line or original.line, level.line or original.text_line, factor, level))
            else:
                steps.append(step(original.command, original.line, original.text_line, None, None))
        for after, text, factor, level in added:
            if after == index:
                steps.append(step(text, level.line or original.line, level.line or original.line, factor, level))
    if not steps:
        raise InputError("the factors drop every step", path=path)
    expectations = [dataclasses.replace(e, step=new_index[e.step + 1]) if e.step is not None else e
                    for e in scenario.expectations]

    kube, kubectl, istio = _versions(versions, lambda message: InputError(message, path=path))
    overrides = dict(scenario.file_overrides)
    for factor, level in choice.items():
        for patch in level.change.patches:
            _patch_file(scenario.folder, overrides, patch, kube, istio,
                        lambda message, f=factor, lv=level, p=patch: error(f, lv, message, p.line))
    return dataclasses.replace(scenario, steps=steps, expectations=expectations, kubernetes=kube, kubectl=kubectl,
                               istio=istio, versions_raw=versions, file_overrides=overrides)


def files_defining(scenario: Scenario, object: str, namespace: str | None = None) -> list[str]:
    """The files of the scenario's folder (relative paths, sorted) that hold `Kind/name`."""
    kind, _, name = object.partition("/")
    found = []
    for directory, subdirs, names in os.walk(scenario.folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for entry in sorted(names):
            if not entry.endswith((".yaml", ".yml", ".json")):
                continue
            relative = os.path.relpath(os.path.join(directory, entry), scenario.folder).replace(os.sep, "/")
            try:
                text = scenario.file_overrides.get(relative)
                if text is None:
                    with open(os.path.join(directory, entry), encoding="utf-8") as handle:
                        text = handle.read()
                manifests = load_documents(text, relative)
            except (InputError, OSError, UnicodeDecodeError):
                continue
            if _matching(manifests, kind, name, namespace):
                found.append(relative)
    return found


def _resolve(scenario: Scenario, ref: StepRef, error: Any) -> int:
    if isinstance(ref, int) and not isinstance(ref, bool):
        if not 1 <= ref <= len(scenario.steps):
            raise error(f"there is no step {ref} (the scenario has {len(scenario.steps)} steps)")
        return ref
    for index, candidate in enumerate(scenario.steps, start=1):
        if candidate.command.strip() == str(ref).strip():
            return index
    raise error(f"no step is {ref!r} (name a step by its exact text or its 1-based index)")


def _versions(versions: Mapping[str, str], fail: Any) -> tuple[KubeVersion, str | None, IstioVersion | None]:
    """What `versions` means, checked as `model.parse_scenario` checks the scenario's own."""
    text = str(versions.get("kubernetes", "1.29"))
    try:
        kube = parse_version(text)
    except ValueError as err:
        raise fail(str(err)) from None
    if kube not in SUPPORTED:
        raise fail(f"Kubernetes {text} is not supported (supported: {', '.join(f'{a}.{b}' for a, b in SUPPORTED)})")
    istio = _istio_version(dict(versions), lambda message, *keys: fail(message))
    kubectl = versions.get("kubectl")
    return kube, str(kubectl) if kubectl else None, istio


def _matching(manifests: Iterable[Manifest], kind: str, name: str, namespace: str | None) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind and m.name == name
            and (namespace is None or (m.namespace or "default") == namespace)]


def _patch_file(folder: str, overrides: dict[str, str], patch: Patch, kube: KubeVersion,
                istio: IstioVersion | None, fail: Any) -> None:
    """Apply `patch` to its file (its override if an earlier patch made one) and store the result in `overrides`."""
    relative = posixpath.normpath(patch.file.replace(os.sep, "/"))
    if relative.startswith("../") or relative == ".." or posixpath.isabs(relative):
        raise fail(f"{patch.file} is outside the scenario's folder; the simulated terminal only sees files in it")
    text = overrides.get(relative)
    if text is None:
        try:
            with open(os.path.join(folder, relative), encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            raise fail(f"patch names a file that does not exist: {patch.file}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise fail(f"cannot read {patch.file}: {err}") from None
    key = json.dumps([patch.object, patch.namespace, patch.merge, patch.json], sort_keys=True, default=str)
    try:
        overrides[relative] = _patched(relative, patch.file, text, key, kube, istio)
    except _Problem as problem:
        raise fail(str(problem)) from None


class _Problem(Exception):
    """Why a patch does not apply (the caller names the factor and line)."""


@lru_cache(maxsize=1024)
def _patched(relative: str, file: str, text: str, key: str, kube: KubeVersion, istio: IstioVersion | None) -> str:
    """The file's text with one patch applied (memoised: a matrix applies the same patches in many cells)."""
    target_name, namespace, merge, operations = json.loads(key)
    kind, _, name = target_name.partition("/")
    manifests = load_documents(text, relative)
    matches = _matching(manifests, kind, name, namespace)
    if not matches:
        present = ", ".join(f"{m.kind}/{m.name}" for m in manifests) or "no objects"
        raise _Problem(f"{file} has no {target_name}{f' in namespace {namespace}' if namespace else ''} "
                       f"(it has: {present})")
    if len(matches) > 1:
        raise _Problem(f"{file} has {len(matches)} objects {target_name}; add `namespace:` to the patch")
    target = matches[0]
    try:
        if operations is not None:
            patched = json_patch(target.obj, operations)
        else:
            info = KindRegistry().by_kind(target.api_version, target.kind)
            if info is not None and not getattr(info, "custom", False):
                patched = strategic_merge(target.obj, merge or {}, info, kube)
            else:  # custom resources (Istio's kinds) have no strategic merge: RFC 7386, as `kubectl patch --type merge`
                patched = json_merge_patch(target.obj, merge or {})
    except PatchError as err:
        raise _Problem(f"the patch of {target_name} in {file} does not apply: {err}") from None
    if not isinstance(patched, dict):
        raise _Problem(f"the patch of {target_name} in {file} does not leave an object")
    result = Manifest(relative, target.line, patched)
    if istio is not None and istio_kinds.is_istio_group(result.api_version):
        problems = istio_kinds.validate(result, istio, kube)
    else:
        problems = validate(result, kube)
    if problems:
        problem = problems[0]
        raise _Problem(f"the patched {target_name} in {file} is not valid: "
                       f"{problem.path + ': ' if problem.path else ''}{problem.message}")
    documents = [patched if m is target else m.obj for m in manifests]
    return "".join(json.dumps(d, indent=2, ensure_ascii=False, default=str) + "\n" for d in documents)


def _ref_text(ref: StepRef) -> str:
    return str(ref) if isinstance(ref, int) else f"`{ref.strip()}`"
