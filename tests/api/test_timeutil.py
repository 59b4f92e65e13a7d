"""The one metav1.Time reader and writer every component uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from kybernetes.api.timeutil import now, parse_time, rfc3339


def test_parse_time_is_always_aware() -> None:
    expected = datetime(2026, 12, 7, 11, 8, tzinfo=UTC)
    assert parse_time("2026-12-07T11:08:00Z") == expected
    assert parse_time("2026-12-07T13:08:00+02:00") == expected
    # without an offset the time is read as UTC, never as local time
    assert parse_time("2026-12-07T11:08:00") == expected
    micro = parse_time("2026-12-07T11:08:00.123456Z")
    assert micro is not None and micro.microsecond == 123456 and micro.tzinfo is not None


def test_parse_time_of_unset_or_malformed_is_none() -> None:
    for value in (None, "", "yesterday", 42, "2026-13-01T00:00:00Z"):
        assert parse_time(value) is None


def test_rfc3339_writes_utc_whole_seconds() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    assert rfc3339(datetime(2026, 12, 7, 16, 38, 0, 999999, tzinfo=east)) == \
        "2026-12-07T11:08:00Z"
    assert now().tzinfo is not None
    assert parse_time(rfc3339(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))) == \
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
