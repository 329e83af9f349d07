"""HumanDuration boundaries (apimachinery pkg/util/duration)."""

from datetime import UTC, datetime

import pytest

from meshrepro.kube.duration import duration_between, human_duration, since

MIN, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-2, "<invalid>"),
        (-1.9, "0s"),  # truncation toward zero: -1 is tolerated clock skew
        (-1, "0s"),
        (0, "0s"),
        (0.99, "0s"),
        (59, "59s"),
        (119.9, "119s"),
        (2 * MIN, "2m"),
        (2 * MIN + 5, "2m5s"),
        (3 * MIN, "3m"),
        (10 * MIN - 1, "9m59s"),
        (10 * MIN, "10m"),
        (45 * MIN + 59, "45m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 5 * MIN + 59, "3h5m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (48 * HOUR - 1, "47h"),
        (48 * HOUR, "2d"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (100 * DAY, "100d"),
        (2 * YEAR - 1, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 100 * DAY, "2y100d"),
        (8 * YEAR - 1, "7y364d"),
        (8 * YEAR, "8y"),
        (20 * YEAR + 200 * DAY, "20y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_since_reads_rfc3339_and_reports_unknown_for_unset() -> None:
    now = datetime(2024, 1, 18, 10, 0, 0, tzinfo=UTC)
    assert since("2024-01-18T09:57:00Z", now) == "3m"
    assert since("2024-01-18T09:59:59.500000Z", now) == "0s"
    assert since("2024-01-18T10:00:05Z", now) == "<invalid>"
    assert since(None, now) == "<unknown>"
    assert since("", now) == "<unknown>"


def test_duration_between_and_zone_required() -> None:
    assert duration_between("2024-01-18T09:57:00Z", "2024-01-18T09:58:05Z") == "65s"
    with pytest.raises(ValueError):
        since("2024-01-18T09:57:00", datetime(2024, 1, 18, tzinfo=UTC))
