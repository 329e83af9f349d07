from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshrepro.errors import InputError
from meshrepro.manifests.load import _go_resolve, load_documents, load_file

DATA = Path(__file__).parent.parent / "testdata" / "manifests"


def test_fixture_lines_point_at_fields():
    [deploy] = load_file(DATA / "valid-nginx-deployment.yaml")
    assert deploy.line == 2  # the comment line is not the object
    assert deploy.line_of(("spec", "template", "spec", "containers", 0, "image")) == 25
    assert deploy.line_of(("spec", "template", "spec", "initContainers", 0)) == 20
    assert deploy.line_of(("spec", "nosuch", "field")) == 8  # nearest ancestor in the file
    assert deploy.where(("spec", "replicas")) == f"{DATA / 'valid-nginx-deployment.yaml'}:9"


def test_multi_document_file_keeps_each_start_line_and_skips_empty_documents():
    text = "---\n# only a comment\n---\napiVersion: v1\nkind: A\n---\n---\n\nkind: B\napiVersion: v1\n"
    docs = load_documents(text, "m.yaml")
    assert [(d.kind, d.line) for d in docs] == [("A", 4), ("B", 9)]


def test_list_kinds_are_flattened_and_typed_list_items_get_kind():
    text = ("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n"
            "- apiVersion: v1\n  kind: PodList\n  items:\n  - metadata: {name: p}\n")
    docs = load_documents(text, "l.yaml")
    assert [(d.kind, d.name, d.line) for d in docs] == [("ConfigMap", "a", 4), ("Pod", "p", 10)]
    assert docs[1].line_of(("metadata", "name")) == 10


@pytest.mark.parametrize("plain, value", [
    ("y", True), ("No", False), ("on", True), ("1e3", 1000), ("0777", 511), ("0o17", 15), ("0x1F", 31),
    ("1_000", 1000), ("1:30", "1:30"), ("2024-01-18", "2024-01-18"), ("1.0", 1), ("1.5", 1.5),
    ("08", 8), ("~", None), ("nginx:1.25", "nginx:1.25"),
])
def test_plain_scalars_resolve_like_go_yaml_v2(plain, value):
    [doc] = load_documents(f"kind: X\nv: {plain}\n", "s.yaml")
    assert doc.obj["v"] == value and type(doc.obj["v"]) is type(value)


def test_keys_become_json_strings_and_merge_keys_work():
    [doc] = load_documents("kind: X\nbase: &b {a: 1, c: 2}\nm:\n  <<: *b\n  c: 3\n  80: x\n  yes: y\n", "k.yaml")
    assert doc.obj["m"] == {"a": 1, "c": 3, "80": "x", "true": True}


def test_unknown_tags_keep_their_value():
    [doc] = load_documents("kind: X\nv: !Ref thing\nq: '007'\n", "t.yaml")
    assert doc.obj["v"] == "thing" and doc.obj["q"] == "007"


def test_yaml_error_names_file_and_line():
    with pytest.raises(InputError) as err:
        load_file(DATA / "invalid-yaml.yaml")
    assert str(err.value) == f"{DATA / 'invalid-yaml.yaml'}:4: mapping values are not allowed here"


def test_missing_file():
    with pytest.raises(InputError, match="^no such file: nowhere/x.yaml$"):
        load_file("nowhere/x.yaml")


def test_non_object_document_and_infinity_are_input_errors():
    with pytest.raises(InputError, match=r"^a\.yaml:2: expected an object with apiVersion and kind, got a list$"):
        load_documents("---\n- a\n", "a.yaml")
    with pytest.raises(InputError, match=r"^b\.yaml:1: json: unsupported value: \+Inf$"):
        load_documents("v: .inf\n", "b.yaml")


def test_json_stream_with_lines():
    text = '{\n  "apiVersion": "v1",\n  "kind": "Pod",\n  "spec": {"x": 2.0}\n}\n{"kind": "B"}\n'
    first, second = load_documents(text, "p.json")
    assert first.obj["spec"] == {"x": 2} and first.line_of(("spec", "x")) == 4
    assert second.line == 6
    with pytest.raises(InputError, match=r"^q\.json:1: Expecting"):
        load_documents('{"a": }', "q.json")


# Printable text: control characters and YAML 1.1 line breaks (NEL, LS, PS) do not survive PyYAML's
# own dump/load round trip, whatever the loader.
printable = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"))
keys = st.text(printable, min_size=1, max_size=8)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(printable, max_size=10) | \
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=20)


class GoSafeDumper(yaml.SafeDumper):
    """PyYAML's dumper, quoting the strings go-yaml v2 would read as something else (`y`, `1e3`),
    as go-yaml's own encoder does."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "'" if _go_resolve(text) != text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


GoSafeDumper.add_representer(str, _represent_str)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=5), st.booleans())
def test_dumped_yaml_loads_back_equal(obj, flow):
    obj = {**obj, "kind": "X"}
    text = yaml.dump(obj, Dumper=GoSafeDumper, default_flow_style=flow, allow_unicode=True)
    [doc] = load_documents("# flow style must not look like JSON\n" + text, "h.yaml")
    assert doc.obj == obj


def test_flow_yaml_at_the_start_is_read_as_json_like_kubectl():
    with pytest.raises(InputError, match=r"^f\.yaml:1: Expecting property name enclosed in double quotes$"):
        load_documents("{kind: X}\n", "f.yaml")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), min_size=1, max_size=6))
def test_document_start_lines(shape):
    """Documents separated by `---`, each after some comment lines, start where we say."""
    text, expected, line = "", [], 1
    for comments, fields in shape:
        text += "---\n" + "# c\n" * comments
        line += 1 + comments
        expected.append(line)
        text += "".join(f"f{i}: {i}\n" for i in range(fields))
        line += fields
    assert [d.line for d in load_documents(text, "d.yaml")] == expected
