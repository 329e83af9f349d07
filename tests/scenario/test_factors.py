"""`factors:` in a scenario: parsing with file:line errors, each kind of change, vars, and the Change API."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from meshrepro.errors import InputError
from meshrepro.scenario import factors as F
from meshrepro.scenario import runner
from meshrepro.scenario.factors import Change, Level

DEPLOYMENT = """\
# a Deployment and a Service
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: robot
      containers:
      - name: web
        image: nginx:latest
        ports: [{containerPort: 80}]
      - name: side
        image: busybox
        command: [sleep, "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""

PEERAUTH = """\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: pa, namespace: default}
spec:
  mtls: {mode: PERMISSIVE}
"""

HEAD = """\
name: t
versions: {kubernetes: "1.29", istio: "1.20.2"}
steps:
  - kind create cluster
  - kubectl apply -f manifests/web.yaml
  - sleep 10
  - kubectl get pods
expect:
  - step: kubectl get pods
    output_contains: web
factors:
"""


def scenario(tmp_path: Path, factors: str, head: str = HEAD) -> Path:
    (tmp_path / "manifests").mkdir(exist_ok=True)
    (tmp_path / "manifests" / "web.yaml").write_text(DEPLOYMENT)
    (tmp_path / "manifests" / "pa.yaml").write_text(PEERAUTH)
    path = tmp_path / "scenario.yaml"
    path.write_text(head + textwrap.indent(textwrap.dedent(factors), "  "))
    return path


def load(tmp_path: Path, factors: str, head: str = HEAD) -> tuple[F.Scenario, list[F.Factor]]:
    return F.load(str(scenario(tmp_path, factors, head)))


def error(tmp_path: Path, factors: str, head: str = HEAD) -> str:
    path = scenario(tmp_path, factors, head)
    with pytest.raises(InputError) as caught:
        F.load(str(path))
    return str(caught.value).replace(str(path), "S")


def applied(tmp_path: Path, factors: str, **levels: str) -> F.Scenario:
    base, found = load(tmp_path, factors)
    return F.apply(base, {f.name: f.level(levels.get(f.name, f.baseline.name)) for f in found})


def deployment(scenario: F.Scenario) -> dict:
    documents = [json.loads(d) for d in _json_documents(scenario.file_overrides["manifests/web.yaml"])]
    return next(d for d in documents if d["kind"] == "Deployment")


def _json_documents(text: str) -> list[str]:
    decoder, index, found = json.JSONDecoder(), 0, []
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, end = decoder.raw_decode(text, index)
        found.append(json.dumps(value))
        index = end
    return found


# -- parsing -----------------------------------------------------------------------------------


def test_no_factors_is_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nsteps:\n  - echo hi\n")
    assert F.load(str(path))[1] == []


def test_factors_keep_their_order_and_the_first_level_is_the_baseline(tmp_path: Path) -> None:
    _, found = load(tmp_path, """\
        zeta: {b: {}, a: {vars: {}}}
        alpha:
          "1.22.3": {versions: {istio: "1.22.3"}}
          "1.20.2": {versions: {istio: "1.20.2"}}
        """)
    assert [f.name for f in found] == ["zeta", "alpha"]
    assert [lv.name for lv in found[1].levels] == ["1.22.3", "1.20.2"]
    assert found[1].baseline.name == "1.22.3"
    assert (found[0].line, found[1].line, found[1].levels[1].line) == (12, 13, 15)


@pytest.mark.parametrize(("factors", "expected"), [
    ("rbac: {with: {}}\n", "S:12: factor rbac needs two or more levels"),
    ("rbac: [a, b]\n", "S:12: factor rbac needs two or more levels"),
    ("rbac:\n  with: {}\n  without: {drop_step: [1]}\n",
     "S:14: factor rbac, level without: unknown change 'drop_step' (known: versions, drop_steps"),
    ("rbac:\n  with: {}\n  without:\n    drop_steps:\n      - kubectl apply -f manifests/rbac.yaml\n",
     "S:16: factor rbac, level without: no step is 'kubectl apply -f manifests/rbac.yaml'"),
    ("rbac:\n  with: {}\n  without: {drop_steps: [9]}\n",
     "S:14: factor rbac, level without: there is no step 9 (the scenario has 4 steps)"),
    ("w:\n  a: {}\n  b:\n    replace_steps: {sleep 11: sleep 30}\n",
     "S:15: factor w, level b: no step is 'sleep 11'"),
    ("w:\n  a: {}\n  b:\n    replace_steps: {sleep 10: 'if true; then'}\n",
     "S:15: factor w, level b: "),
    ("w:\n  a: {}\n  b:\n    add_steps: [{after: 7, step: echo}]\n",
     "S:15: factor w, level b: there is no step 7"),
    ("w:\n  a: {}\n  b:\n    add_steps: [{step: echo}]\n",
     "S:15: factor w, level b: each of `add_steps` is {after:"),
    ("on:\n  a: {}\n  b: {}\n", "S:12: write the factor name True as a quoted string (YAML reads it as a boolean)"),
    ("w:\n  1.20: {}\n  b: {}\n", "S:13: write the level name 1.2 as a quoted string"),
    ("istio:\n  a: {versions: {istio: 1.22}}\n  b: {}\n",
     "S:13: factor istio, level a: write the version of istio as a string"),
    ("istio:\n  a: {versions: {istio: \"1.99.0\"}}\n  b: {}\n", "S:13: factor istio, level a: Istio 1.99.0 is not supported"),
    ("c:\n  init: {vars: {CLIENT: init}}\n  main: {}\n",
     "S:14: factor c: level main does not set ${CLIENT}; every level of a factor sets the same vars"),
    ("c:\n  a: {vars: {X: '1'}}\n  b: {vars: {X: '2'}}\nd:\n  a: {vars: {X: '3'}}\n  b: {vars: {X: '4'}}\n",
     "S:15: factor d sets ${X}, which factor c sets too"),
    ("c:\n  a: {vars: {1X: '1'}}\n  b: {}\n", "S:13: factor c, level a: '1X' is not a variable name"),
])
def test_bad_factors_are_one_error_with_file_and_line(tmp_path: Path, factors: str, expected: str) -> None:
    assert error(tmp_path, factors).startswith(expected)


PATCH_ERRORS = [
    ("file: manifests/nope.yaml\n      object: Deployment/web\n      merge: {spec: {replicas: 2}}",
     "S:16: factor p, level b: patch names a file that does not exist: manifests/nope.yaml"),
    ("file: ../outside.yaml\n      object: Deployment/web\n      merge: {}",
     "S:16: factor p, level b: ../outside.yaml is outside the scenario's folder"),
    ("file: manifests/web.yaml\n      object: Deployment/api\n      merge: {spec: {replicas: 2}}",
     "S:16: factor p, level b: manifests/web.yaml has no Deployment/api (it has: Deployment/web, Service/web)"),
    ("file: manifests/web.yaml\n      object: Deployment/web\n      namespace: prod\n      merge: {}",
     "S:16: factor p, level b: manifests/web.yaml has no Deployment/web in namespace prod"),
    ("file: manifests/web.yaml\n      object: Deployment/web\n      json: [{op: remove, path: /spec/paused}]",
     ("S:16: factor p, level b: the patch of Deployment/web in manifests/web.yaml does not apply: "
     "Unable to remove nonexistent key: paused: missing value")),
    ("file: manifests/web.yaml\n      object: Deployment/web\n      json: [{op: test, path: /spec/replicas, value: 3}]",
     ("S:16: factor p, level b: the patch of Deployment/web in manifests/web.yaml does not apply: "
     "testing value /spec/replicas failed")),
    (("file: manifests/web.yaml\n      object: Deployment/web\n"
     "      merge: {spec: {template: {spec: {containers: [{image: x}]}}}}"),
     ("S:16: factor p, level b: the patch of Deployment/web in manifests/web.yaml does not apply: "
     "map: map[image:x] does not contain declared merge key: name")),
    ("file: manifests/web.yaml\n      object: Deployment/web\n      merge: {spec: {replica: 2}}",
     "S:16: factor p, level b: the patched Deployment/web in manifests/web.yaml is not valid: spec.replica:"),
    ("file: manifests/web.yaml\n      object: web\n      merge: {}",
     "S:16: factor p, level b: a patch names its `object` as Kind/name"),
    ("file: manifests/web.yaml\n      object: Deployment/web\n      merge: {}\n      json: []",
     "S:16: factor p, level b: a patch has either `merge`"),
]


@pytest.mark.parametrize(("patch", "expected"), PATCH_ERRORS)
def test_a_patch_that_does_not_apply_names_the_factor_and_line(tmp_path: Path, patch: str, expected: str) -> None:
    factors = "p:\n  a: {}\n  b:\n    patch:\n    - " + patch + "\n"
    assert error(tmp_path, factors).startswith(expected)


# -- applying: each kind of change --------------------------------------------------------------


def test_versions_merge_over_the_scenarios(tmp_path: Path) -> None:
    factors = """\
        istio: {old: {}, new: {versions: {istio: "1.22.3"}}}
        kube: {old: {}, new: {versions: {kubernetes: "1.30", kubectl: "1.28"}}}
        """
    base = applied(tmp_path, factors)
    assert (base.istio, base.kubernetes, base.kubectl) == ((1, 20, 2), (1, 29), None)
    new = applied(tmp_path, factors, istio="new", kube="new")
    assert (new.istio, new.kubernetes, new.kubectl) == ((1, 22, 3), (1, 30), "1.28")
    assert new.versions_raw == {"kubernetes": "1.30", "istio": "1.22.3", "kubectl": "1.28"}


def test_drop_replace_and_add_steps_and_expectations_follow_their_step(tmp_path: Path) -> None:
    factors = """\
        drop: {keep: {}, drop: {drop_steps: [kubectl apply -f manifests/web.yaml]}}
        wait: {keep: {}, longer: {replace_steps: {3: sleep 60}}}
        add:
          none: {}
          some: {add_steps: [{after: 0, step: echo first}, {after: sleep 10, step: echo waited}]}
        """
    base, found = load(tmp_path, factors)
    assert base.expectations[0].step == 3
    cell = F.apply(base, {f.name: f.levels[1] for f in found})
    assert [s.command for s in cell.steps] == ["echo first", "kind create cluster", "sleep 60", "echo waited",
                                               "kubectl get pods"]
    assert cell.expectations[0].step == 4  # still `kubectl get pods`
    assert [s.command for s in base.steps] == ["kind create cluster", "kubectl apply -f manifests/web.yaml",
                                               "sleep 10", "kubectl get pods"]  # the original is untouched
    assert cell.steps[2].line == found[1].levels[1].line  # a replaced step points at its factor


def test_a_level_may_not_drop_the_step_an_expectation_is_about(tmp_path: Path) -> None:
    base, found = load(tmp_path, "d: {a: {}, b: {drop_steps: [4]}}\n")
    with pytest.raises(InputError, match=r":12: factor d, level b: drops step 4, which the expectation on line 9"):
        F.apply(base, {"d": found[0].levels[1]})


def test_two_factors_replacing_one_step_differently_conflict(tmp_path: Path) -> None:
    base, found = load(tmp_path, """\
        a: {x: {}, y: {replace_steps: {3: sleep 20}}}
        b: {x: {}, y: {replace_steps: {3: sleep 30}}}
        """)
    with pytest.raises(InputError, match="factor b, level y: replaces step 3, which factor a replaces too"):
        F.apply(base, {"a": found[0].levels[1], "b": found[1].levels[1]})


def test_vars_are_substituted_in_steps_and_other_expansions_are_left_to_the_shell(tmp_path: Path) -> None:
    head = HEAD.replace("  - sleep 10\n", "  - echo ${WHO} $HOME ${HOME} ${WHO}\n")
    base, found = load(tmp_path, "who: {me: {vars: {WHO: me}}, you: {vars: {WHO: you}}}\n", head)
    assert base.steps[2].command == "echo ${WHO} $HOME ${HOME} ${WHO}"
    assert F.baseline(base, found).steps[2].command == "echo me $HOME ${HOME} me"
    assert F.apply(base, {"who": found[0].levels[1]}).steps[2].command == "echo you $HOME ${HOME} you"


def test_strategic_merge_patch_merges_containers_by_name(tmp_path: Path) -> None:
    cell = applied(tmp_path, """\
        user:
          default: {}
          root:
            patch:
            - file: manifests/web.yaml
              object: Deployment/web
              merge:
                spec:
                  template:
                    metadata: {annotations: {a: "1"}}
                    spec: {containers: [{name: side, securityContext: {runAsUser: 1337}}]}
        """, user="root")
    spec = deployment(cell)["spec"]["template"]
    assert [c["name"] for c in spec["spec"]["containers"]] == ["web", "side"]
    assert spec["spec"]["containers"][1]["securityContext"] == {"runAsUser": 1337}
    assert spec["spec"]["containers"][1]["command"] == ["sleep", "3600"]
    assert spec["metadata"] == {"labels": {"app": "web"}, "annotations": {"a": "1"}}


def test_json_patch_and_patches_of_several_factors_compose(tmp_path: Path) -> None:
    cell = applied(tmp_path, """\
        sa:
          with: {}
          without:
            patch: [{file: manifests/web.yaml, object: Deployment/web,
                     json: [{op: remove, path: /spec/template/spec/serviceAccountName}]}]
        replicas:
          one: {}
          two:
            patch: [{file: manifests/web.yaml, object: Deployment/web, json: [{op: add, path: /spec/replicas, value: 2}]}]
        """, sa="without", replicas="two")
    obj = deployment(cell)
    assert "serviceAccountName" not in obj["spec"]["template"]["spec"] and obj["spec"]["replicas"] == 2
    assert '"kind": "Service"' in cell.file_overrides["manifests/web.yaml"]  # the file's other objects stay


def test_istio_kinds_take_a_json_merge_patch(tmp_path: Path) -> None:
    cell = applied(tmp_path, """\
        mode:
          permissive: {}
          strict:
            patch: [{file: manifests/pa.yaml, object: PeerAuthentication/pa, merge: {spec: {mtls: {mode: STRICT}}}}]
        """, mode="strict")
    assert json.loads(cell.file_overrides["manifests/pa.yaml"])["spec"] == {"mtls": {"mode": "STRICT"}}


def test_an_invalid_istio_object_after_a_patch_is_an_error(tmp_path: Path) -> None:
    message = error(tmp_path, """\
        mode:
          permissive: {}
          bad:
            patch: [{file: manifests/pa.yaml, object: PeerAuthentication/pa, merge: {spec: {mtls: {mode: SOMETIMES}}}}]
        """)
    assert message.startswith("S:15: factor mode, level bad: the patched PeerAuthentication/pa in manifests/pa.yaml "
                              "is not valid"), message


def test_the_terminal_sees_the_patched_file(tmp_path: Path) -> None:
    """`file_overrides` reach the simulated terminal through Machine; kubectl applies the patched object."""
    head = ("name: t\nsteps:\n  - kubectl apply -f manifests/web.yaml\n  - kubectl get deploy web -o yaml | grep -c 1337\n"
            "  - cat manifests/pa.yaml\nfactors:\n")
    base, found = load(tmp_path, """\
        user:
          default: {}
          root:
            patch: [{file: manifests/web.yaml, object: Deployment/web,
                     merge: {spec: {template: {spec: {containers: [{name: web, securityContext: {runAsUser: 1337}}]}}}}}]
        """, head)
    result = runner.run(F.apply(base, {"user": found[0].levels[1]}))
    assert result.steps[1].output == "2\n", result.steps[1].output  # the object and its last-applied annotation
    assert result.steps[2].output == PEERAUTH  # files no factor patched are the folder's
    assert runner.run(F.baseline(base, found)).steps[1].output == "0\n"


# -- the Change API (for remedies built in code) -------------------------------------------------


def test_changes_built_in_code_apply_like_parsed_ones(tmp_path: Path) -> None:
    base, _ = load(tmp_path, "x: {a: {}, b: {}}\n")
    change = (Change.set_versions(istio="1.22.3") + Change.drop_step(3) + Change.replace_step("kubectl get pods",
              "kubectl get pods -A") + Change.add_step(1, "echo ${WHAT}") + Change.set_vars(WHAT="created")
              + Change.merge_patch("manifests/web.yaml", "Deployment/web",
                                   {"spec": {"template": {"metadata": {"labels": {"istio.io/dataplane-mode": "none"}}}}})
              + Change.json_patch("manifests/web.yaml", "Deployment/web", [{"op": "add", "path": "/spec/replicas",
                                                                           "value": 3}]))
    cell = F.apply(base, {"remedy": Level("opt out", change)})
    assert cell.istio == (1, 22, 3)
    assert [s.command for s in cell.steps] == ["kind create cluster", "echo created",
                                               "kubectl apply -f manifests/web.yaml", "kubectl get pods -A"]
    assert cell.expectations[0].step == 3
    obj = deployment(cell)
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "web", "istio.io/dataplane-mode": "none"}
    assert change.describe()[:4] == ["set versions.istio=1.22.3", "drop step 3",
                                     "replace step `kubectl get pods` with `kubectl get pods -A`",
                                     "add `echo ${WHAT}` after step 1"]
    assert change.describe()[-1] == "set ${WHAT}=created"


def test_errors_of_changes_built_in_code_name_the_level(tmp_path: Path) -> None:
    base, _ = load(tmp_path, "x: {a: {}, b: {}}\n")
    with pytest.raises(InputError, match=r"factor remedy, level upgrade: no step is 'helm install'"):
        F.apply(base, {"remedy": Level("upgrade", Change.drop_step("helm install"))})
    with pytest.raises(InputError, match=r"manifests/web.yaml has no Deployment/api"):
        F.apply(base, {"remedy": Level("x", Change.merge_patch("manifests/web.yaml", "Deployment/api", {}))})


def test_files_defining_an_object(tmp_path: Path) -> None:
    base, _ = load(tmp_path, "x: {a: {}, b: {}}\n")
    (tmp_path / "other.yml").write_text(DEPLOYMENT.replace("name: web\nspec:\n  selector", "name: api\nspec:\n  selector"))
    assert F.files_defining(base, "Deployment/web") == ["manifests/web.yaml"]
    assert F.files_defining(base, "Deployment/api") == ["other.yml"]
    assert F.files_defining(base, "PeerAuthentication/pa", namespace="default") == ["manifests/pa.yaml"]
    assert F.files_defining(base, "Deployment/web", namespace="prod") == []
