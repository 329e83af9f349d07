from pathlib import Path

import pytest

from meshrepro.manifests.load import load_documents, load_file
from meshrepro.manifests.validate import (
    client_validation_error,
    field_path,
    invalid_message,
    resource_mapping_error,
    strict_decoding_message,
    validate,
)

DATA = Path(__file__).parent.parent / "testdata" / "manifests"


@pytest.mark.parametrize("path", sorted(DATA.glob("valid-*.yaml")), ids=lambda p: p.name)
@pytest.mark.parametrize("version", [(1, 25), (1, 29), (1, 33)])
def test_valid_fixtures_have_no_problems(path, version):
    for manifest in load_file(path):
        assert validate(manifest, version) == []


def test_unknown_field_names_path_and_line():
    [manifest] = load_documents((DATA / "invalid-unknown-field.yaml").read_text(), "nginx.yaml")
    [problem] = validate(manifest, (1, 29))
    assert str(problem) == ('nginx.yaml:17: Deployment "nginx": unknown field '
                            '"spec.template.spec.containers[0].imagePullPolice"')
    assert strict_decoding_message(manifest, [problem]) == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].imagePullPolice"')


def test_type_errors_use_go_decoder_wording_and_come_first():
    text = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {a: 1}\nspec:\n  zzz: 1\n"
            "  containers:\n  - name: c\n    image: x\n    ports: [{containerPort: '80'}]\n")
    [manifest] = load_documents(text, "p.yaml")
    problems = validate(manifest, (1, 29))
    assert [(p.kind, p.line) for p in problems] == [("wrong type", 5), ("wrong type", 11), ("unknown field", 7)]
    assert problems[1].message == ("json: cannot unmarshal string into Go struct field "
                                   "ContainerPort.spec.containers.ports.containerPort of type int32")
    assert strict_decoding_message(manifest, problems) == (
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct '
        "field ObjectMeta.metadata.labels of type string")


def test_required_fields():
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template: {}\n"
    [manifest] = load_documents(text, "d.yaml")
    problems = validate(manifest, (1, 29))
    assert [p.message for p in problems] == ["spec.selector: Required value", "spec.template: Required value"]
    assert invalid_message(manifest, problems) == ('The Deployment "d" is invalid: \n'
                                                   "* spec.selector: Required value\n* spec.template: Required value")


def test_unknown_kind_and_missing_kind():
    [manifest] = load_file(DATA / "invalid-unknown-kind.yaml")
    [problem] = validate(manifest, (1, 29))
    assert problem.kind == "unknown kind" and problem.message == 'no matches for kind "Foo" in version "v1"'
    assert resource_mapping_error(manifest).splitlines() == [
        (f'error: resource mapping not found for name: "x" namespace: "" from "{manifest.source}": '
        'no matches for kind "Foo" in version "v1"'), "ensure CRDs are installed first"]
    [bare] = load_documents("metadata: {name: x}\n", "b.yaml")
    assert client_validation_error(bare, validate(bare, (1, 29))) == (
        'error: error validating "b.yaml": error validating data: [apiVersion not set, kind not set]; '
        "if you choose to ignore these errors, turn validation off with --validate=false")


def test_extra_schemas_validate_custom_kinds():
    schema = {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "additionalProperties": False,
                 "properties": {"action": {"type": "string"}}}}}
    text = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec:\n  action: 1\n  rulez: []\n"
    [manifest] = load_documents(text, "ap.yaml")
    problems = validate(manifest, (1, 29), extra_schemas={("security.istio.io/v1", "AuthorizationPolicy"): schema})
    assert [str(p) for p in problems] == [
        ('ap.yaml:5: AuthorizationPolicy "a": spec.action: Invalid value: "integer": spec.action in body must be '
        'of type string: "integer"'),
        'ap.yaml:6: AuthorizationPolicy "a": unknown field "spec.rulez"']


def test_field_path():
    assert field_path(("spec", "containers", 0, "image")) == "spec.containers[0].image"
