import pytest

from meshrepro.istio.versions import DEFAULT_VERSION, SUPPORTED, TABLE, flags, parse_version

# Last patch release of each minor (istio/istio tags), so "the release before" a x.y.0 boundary is real.
LAST_PATCH = {18: 7, 19: 10, 20: 8, 21: 6, 22: 8, 23: 6, 24: 6, 25: 5, 26: 8, 27: 9}


def _release_before(version):
    major, minor, patch = version
    if patch > 0:
        return major, minor, patch - 1
    return major, minor - 1, LAST_PATCH[minor - 1]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_flag_boundaries(name):
    flag = TABLE[name]
    assert getattr(flags(flag.since), name) is True
    if flag.since > (1, 18, 0):
        assert getattr(flags(_release_before(flag.since)), name) is False
    earlier = [v for v in SUPPORTED if v < flag.since]
    if earlier:
        assert getattr(flags(earlier[-1]), name) is False
    if flag.until is not None:
        assert getattr(flags(flag.until), name) is False
        assert getattr(flags(_release_before(flag.until)), name) is True


def test_table_sorted_and_documented():
    assert list(TABLE) == sorted(TABLE)
    for name, flag in TABLE.items():
        assert flag.change and flag.summary, name
        assert len(flag.since) == 3, name
        assert flag.until is None or flag.until > flag.since, name


def test_supported_sorted_parseable_and_covers_minors():
    assert SUPPORTED == sorted(set(SUPPORTED))
    for version in SUPPORTED:
        assert parse_version(".".join(map(str, version))) == version
    assert {minor for _, minor, _ in SUPPORTED} == set(range(18, 28))
    assert DEFAULT_VERSION in SUPPORTED


def test_every_boundary_is_supported():
    # a matrix over SUPPORTED shows each flag flip on its exact release
    for name, flag in TABLE.items():
        assert flag.since in SUPPORTED, name


def test_pending_pods_backport_and_48854_chain():
    assert not flags((1, 20, 2)).istiod_publishes_pending_pods
    assert not flags((1, 21, 1)).istiod_publishes_pending_pods
    assert flags((1, 21, 2)).istiod_publishes_pending_pods
    assert flags((1, 22, 0)).istiod_publishes_pending_pods
    assert not flags((1, 22, 1)).ztunnel_waits_for_source_workload
    assert flags((1, 22, 2)).ztunnel_waits_for_source_workload
    assert not flags((1, 23, 0)).ztunnel_source_by_workload_info
    assert flags((1, 24, 0)).ztunnel_source_by_workload_info


def test_unknown_flag():
    with pytest.raises(AttributeError, match="unknown Istio behaviour flag 'nope'"):
        _ = flags((1, 22, 0)).nope


def test_parse_version():
    assert parse_version("1.20.2") == (1, 20, 2)
    assert parse_version(" v1.22.3 ") == (1, 22, 3)
    assert parse_version("1.27.0") == (1, 27, 0)


@pytest.mark.parametrize("text", ["", "1.20", "1", "1.20.x", "1.20.2-beta.1", "1.20.2.1", "v", "a.b.c",
                                  "1..2", "1.２0.0"])
def test_parse_version_errors(text):
    with pytest.raises(ValueError, match="not an Istio version"):
        parse_version(text)
