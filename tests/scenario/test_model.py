"""The scenario file loader: fields, versions, clock, steps and expectations, every error as file:line."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from meshrepro.errors import InputError
from meshrepro.scenario.model import Scenario, load
from meshrepro.sim.clock import DEFAULT_START


def write(tmp_path: Path, body: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def error(tmp_path: Path, body: str) -> str:
    path = write(tmp_path, body)
    with pytest.raises(InputError) as caught:
        load(str(path))
    return str(caught.value).replace(str(path), "S")


def ok(tmp_path: Path, body: str) -> Scenario:
    return load(str(write(tmp_path, body)))


# -- the file itself ---------------------------------------------------------------------------


def test_minimal_scenario_defaults(tmp_path: Path) -> None:
    """name + steps is enough: Kubernetes 1.29, no kubectl pin, the default start instant, seed 0."""
    scenario = ok(tmp_path, "name: ' demo '\nsteps:\n  - echo hi\n")
    assert (scenario.name, scenario.kubernetes, scenario.kubectl, scenario.seed) == ("demo", (1, 29), None, 0)
    assert scenario.start == DEFAULT_START == datetime(2024, 1, 18, 9, 57, tzinfo=UTC)
    assert [(s.command, s.line) for s in scenario.steps] == [("echo hi", 3)]
    assert scenario.folder == str(tmp_path)


def test_directory_loads_its_scenario_yaml(tmp_path: Path) -> None:
    """A directory stands for its scenario.yaml."""
    write(tmp_path, "name: d\nsteps: [echo]\n")
    assert load(str(tmp_path)).path == str(tmp_path / "scenario.yaml")


def test_directory_without_scenario_yaml(tmp_path: Path) -> None:
    """A directory without scenario.yaml is an InputError naming it."""
    with pytest.raises(InputError) as caught:
        load(str(tmp_path))
    assert str(caught.value) == f"no scenario.yaml in directory {tmp_path}"


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist says so."""
    with pytest.raises(InputError) as caught:
        load(str(tmp_path / "nope.yaml"))
    assert str(caught.value) == f"no such file: {tmp_path / 'nope.yaml'}"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A YAML error carries the problem and its line."""
    assert error(tmp_path, "name: t\nsteps: [\n") == "S:3: expected the node content, but found '<stream end>'"


def test_not_a_mapping(tmp_path: Path) -> None:
    """A scenario that is a list is refused at line 1."""
    assert error(tmp_path, "- a\n- b\n") == "S:1: a scenario is a mapping with at least `name` and `steps`"


def test_unknown_field(tmp_path: Path) -> None:
    """An unknown top-level key is named with its line and the known keys."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nstepz: 1\n") == (
        "S:3: unknown scenario field 'stepz' (known: clock, description, expect, factors, name, seed, steps, versions)")


def test_name_required(tmp_path: Path) -> None:
    """A blank name is refused."""
    assert error(tmp_path, "name: '  '\nsteps: [echo]\n") == "S:1: `name` is required and must be a string"


def test_seed_must_be_an_integer(tmp_path: Path) -> None:
    """A non-integer seed is refused at its line; an integer one is kept."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nseed: x\n") == "S:3: `seed` must be an integer"
    assert ok(tmp_path, "name: t\nsteps: [echo]\nseed: 42\n").seed == 42


# -- versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [('"1.27"', (1, 27)), ('"v1.30.2"', (1, 30)), ('"1.33.0"', (1, 33))])
def test_supported_versions(tmp_path: Path, text: str, expected: tuple[int, int]) -> None:
    """Kubernetes versions are read as major.minor, with or without `v` and patch."""
    assert ok(tmp_path, f"name: t\nversions: {{kubernetes: {text}}}\nsteps: [echo]\n").kubernetes == expected


@pytest.mark.parametrize("text", ['"1.26"', '"1.34"'])
def test_unsupported_versions(tmp_path: Path, text: str) -> None:
    """Releases outside 1.27-1.33 are refused with the supported list, at the versions line."""
    assert error(tmp_path, f"name: t\nversions: {{kubernetes: {text}}}\nsteps: [echo]\n") == (
        f"S:2: Kubernetes {text.strip(chr(34))} is not supported (supported: 1.27, 1.28, 1.29, 1.30, 1.31, 1.32, 1.33)")


def test_version_that_is_not_a_version(tmp_path: Path) -> None:
    """A version string that does not parse is refused with parse_version's message."""
    assert error(tmp_path, "name: t\nversions:\n  kubernetes: banana\nsteps: [echo]\n") == (
        "S:3: not a Kubernetes version: 'banana'")


def test_versions_must_be_a_mapping(tmp_path: Path) -> None:
    """`versions` as a plain string is refused."""
    assert error(tmp_path, "name: t\nversions: '1.29'\nsteps: [echo]\n") == (
        'S:2: `versions` must be a mapping like {kubernetes: "1.29"}')


def test_kubectl_version_kept_as_text(tmp_path: Path) -> None:
    """versions.kubectl is kept as given for the terminal's kubectl; versions_raw keeps every entry as text."""
    scenario = ok(tmp_path, 'name: t\nversions: {kubernetes: "1.28", kubectl: "1.30.0"}\nsteps: [echo]\n')
    assert (scenario.kubernetes, scenario.kubectl) == ((1, 28), "1.30.0")
    assert scenario.versions_raw == {"kubernetes": "1.28", "kubectl": "1.30.0"}


# -- clock ------------------------------------------------------------------------------------


def test_clock_start_with_offset(tmp_path: Path) -> None:
    """A quoted RFC 3339 start keeps its offset."""
    scenario = ok(tmp_path, 'name: t\nclock: {start: "2024-03-01T12:00:00+02:00"}\nsteps: [echo]\n')
    assert scenario.start == datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert scenario.start == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_clock_start_unquoted_timestamp(tmp_path: Path) -> None:
    """An unquoted YAML timestamp with Z is read as that UTC instant."""
    scenario = ok(tmp_path, "name: t\nclock: {start: 2024-03-01T12:00:00Z}\nsteps: [echo]\n")
    assert scenario.start == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_clock_start_without_zone_is_utc(tmp_path: Path) -> None:
    """A start without a zone is taken as UTC."""
    scenario = ok(tmp_path, 'name: t\nclock: {start: "2024-03-01T12:00:00"}\nsteps: [echo]\n')
    assert scenario.start == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_clock_start_not_a_time(tmp_path: Path) -> None:
    """A start that is not a time is refused at its own line."""
    assert error(tmp_path, "name: t\nclock:\n  start: yesterday\nsteps: [echo]\n") == (
        "S:3: clock.start is not an RFC 3339 time: 'yesterday'")


def test_clock_must_be_a_mapping(tmp_path: Path) -> None:
    """`clock` as a string is refused."""
    assert error(tmp_path, "name: t\nclock: now\nsteps: [echo]\n") == (
        'S:2: `clock` must be a mapping like {start: "2024-01-18T09:57:00Z"}')


# -- steps -------------------------------------------------------------------------------------


def test_steps_required_non_empty(tmp_path: Path) -> None:
    """An empty step list is refused."""
    assert error(tmp_path, "name: t\nsteps: []\n") == "S:2: `steps` must be a non-empty list of command lines"


def test_step_must_be_a_string(tmp_path: Path) -> None:
    """A step that is a number is refused at its own line."""
    assert error(tmp_path, "name: t\nsteps:\n  - echo\n  - 5\n") == "S:4: step 2 must be a command line (a string)"


def test_step_lines_for_block_scalars(tmp_path: Path) -> None:
    """Each step records the line of its list item."""
    scenario = ok(tmp_path, "name: t\nsteps:\n  - echo a\n  - |\n    echo b\n    echo c\n  - echo d\n")
    assert [(s.line, s.command) for s in scenario.steps] == [(3, "echo a"), (4, "echo b\necho c\n"), (7, "echo d")]


def test_shell_syntax_error_line_inside_a_block(tmp_path: Path) -> None:
    """A syntax error inside a block step points at the file line of the offending shell line."""
    body = "name: t\nsteps:\n  - echo ok\n  - |\n    echo a\n    fi\n"
    assert error(tmp_path, body) == 'S:6: step 2: syntax error: "fi" unexpected'


# -- expectations ------------------------------------------------------------------------------


def test_step_expectation_by_index_and_text(tmp_path: Path) -> None:
    """`step` is a 1-based index or a step's exact text (whitespace-trimmed); both resolve to a 0-based index."""
    scenario = ok(tmp_path, """\
        name: t
        steps:
          - echo hi
          - "  echo there  "
        expect:
          - step: 2
            output_contains: there
          - step: echo there
            exit_code: 0
          - pod: {name: web, namespace: default}
            status: Running
        """)
    assert [(e.line, e.step, e.pod) for e in scenario.expectations] == [
        (6, 1, None), (8, 1, None), (10, None, {"name": "web", "namespace": "default"})]
    assert scenario.expectations[2].text == "pod: {name: web, namespace: default}, status: Running"
    assert scenario.expectations[0].text == "step: 2, output_contains: there"


def test_text_reference_picks_the_first_identical_step(tmp_path: Path) -> None:
    """When two steps have the same text, the reference names the first."""
    scenario = ok(tmp_path, "name: t\nsteps: [echo x, echo y, echo x]\nexpect:\n  - step: echo x\n    exit_code: 0\n")
    assert scenario.expectations[0].step == 0


def test_step_index_out_of_range(tmp_path: Path) -> None:
    """An index past the last step is refused at the `step:` line with the step count."""
    assert error(tmp_path, "name: t\nsteps:\n  - echo a\n  - echo b\nexpect:\n  - output_contains: x\n    step: 3\n") == (
        "S:7: expectation refers to step 3, but the scenario has 2 steps")


def test_step_zero_is_out_of_range(tmp_path: Path) -> None:
    """Indices are 1-based: 0 is refused."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - {step: 0, exit_code: 0}\n") == (
        "S:4: expectation refers to step 0, but the scenario has 1 steps")


def test_step_text_that_does_not_exist(tmp_path: Path) -> None:
    """A text reference matching no step is refused, quoting it."""
    assert error(tmp_path, "name: t\nsteps: [echo hi]\nexpect:\n  - step: echo nope\n    exit_code: 0\n") == (
        "S:4: expectation refers to a step that does not exist: 'echo nope'")


def test_step_reference_of_wrong_type(tmp_path: Path) -> None:
    """A boolean step reference is neither index nor text."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - step: true\n    exit_code: 0\n") == (
        "S:4: `step` is a 1-based index or the exact text of a step")


def test_step_expectation_needs_a_check(tmp_path: Path) -> None:
    """A step expectation with nothing to check is refused at the item's line."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - step: 1\n") == (
        "S:4: a step expectation needs output_contains, output_not_contains, output_matches or exit_code")


def test_step_expectation_unknown_field(tmp_path: Path) -> None:
    """A misspelt check is named."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - step: 1\n    output_contain: x\n") == (
        "S:4: unknown expectation field(s) output_contain for a step expectation")


def test_pod_expectation_needs_name_or_selector(tmp_path: Path) -> None:
    """`pod` must be a mapping with a name or a selector."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - pod: web\n    status: Running\n") == (
        "S:4: `pod` needs a name or a selector (and optionally a namespace)")


def test_pod_expectation_unknown_field(tmp_path: Path) -> None:
    """A pod expectation with an unknown key is refused."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - pod: {name: web}\n    state: Running\n") == (
        "S:4: unknown expectation field(s) state for a pod expectation")


def test_expectation_about_something_else(tmp_path: Path) -> None:
    """An expectation with neither `step` nor `pod` is refused."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - node: n1\n") == (
        "S:4: an expectation is about a `step` or a `pod`")


def test_expectation_not_a_mapping(tmp_path: Path) -> None:
    """An expectation that is a bare string is refused."""
    assert error(tmp_path, "name: t\nsteps: [echo]\nexpect:\n  - it works\n") == (
        "S:4: each expectation is a mapping (step/output_contains, or pod/status)")


def test_unquoted_version_number_is_explained(tmp_path: Path) -> None:
    """`kubernetes: 1.30` is the YAML number 1.3; the error says to quote it, at its line."""
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nversions:\n  kubernetes: 1.30\nsteps: [echo]\n")
    with pytest.raises(InputError) as raised:
        load(str(path))
    assert str(raised.value) == (f'{path}:3: write the Kubernetes version as a string ("1.30"): YAML reads an '
                                 "unquoted 1.3 as a number")
