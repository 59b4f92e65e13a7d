"""Cron schedules and their due times (`controllers/cronjob/schedule.py`).

Intent: a schedule falls due when robfig/cron says it does — macros, names, `?`, steps,
day-of-month OR day-of-week unless one of them is `*`, `@every`, evaluated in the CronJob's
time zone; bad schedules fail with robfig's message; of many missed start times only the
most recent is due, "many" meaning more than 100; `startingDeadlineSeconds` forgets older
ones; the requeue aims 100 ms past the next start time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kybernetes.controllers.cronjob.schedule import (
    Missed,
    ScheduleError,
    load_zone,
    most_recent_schedule_time,
    next_schedule_delay,
    parse_go_duration,
    parse_schedule,
)

# A Monday.
T0 = datetime(2026, 12, 7, 11, 30, 15, tzinfo=UTC)


def nexts(spec: str, after: datetime = T0, count: int = 3, zone: str = "UTC") -> list[str]:
    schedule = parse_schedule(spec, load_zone(zone))
    found: list[str] = []
    when: datetime | None = after
    for _ in range(count):
        assert when is not None
        when = schedule.next(when)
        assert when is not None
        found.append(when.strftime("%Y-%m-%d %H:%M:%S"))
    return found


@pytest.mark.parametrize(("spec", "expected"), [
    ("@hourly", ["2026-12-07 12:00:00", "2026-12-07 13:00:00", "2026-12-07 14:00:00"]),
    ("@daily", ["2026-12-08 00:00:00", "2026-12-09 00:00:00", "2026-12-10 00:00:00"]),
    ("@midnight", ["2026-12-08 00:00:00", "2026-12-09 00:00:00", "2026-12-10 00:00:00"]),
    ("@weekly", ["2026-12-13 00:00:00", "2026-12-20 00:00:00", "2026-12-27 00:00:00"]),
    ("@monthly", ["2027-01-01 00:00:00", "2027-02-01 00:00:00", "2027-03-01 00:00:00"]),
    ("@yearly", ["2027-01-01 00:00:00", "2028-01-01 00:00:00", "2029-01-01 00:00:00"]),
    ("@annually", ["2027-01-01 00:00:00", "2028-01-01 00:00:00", "2029-01-01 00:00:00"]),
    ("*/1 * * * *", ["2026-12-07 11:31:00", "2026-12-07 11:32:00", "2026-12-07 11:33:00"]),
    ("5/20 * * * *", ["2026-12-07 11:45:00", "2026-12-07 12:05:00", "2026-12-07 12:25:00"]),
    ("0 9 * * mon-FRI", ["2026-12-08 09:00:00", "2026-12-09 09:00:00",
                         "2026-12-10 09:00:00"]),
    ("0 0 1 jan,Jul ?", ["2027-01-01 00:00:00", "2027-07-01 00:00:00",
                         "2028-01-01 00:00:00"]),
    # Both day fields restricted: either matches (the 8th, or a Monday).
    ("0 0 8 * 1", ["2026-12-08 00:00:00", "2026-12-14 00:00:00", "2026-12-21 00:00:00"]),
    # One of them `*` (or `?`, or `*/1`): both must match.
    ("0 0 */1 * 1", ["2026-12-14 00:00:00", "2026-12-21 00:00:00", "2026-12-28 00:00:00"]),
    ("0 0 ? * 1", ["2026-12-14 00:00:00", "2026-12-21 00:00:00", "2026-12-28 00:00:00"]),
    # A step above 1 is a restriction (no star bit): either matches again.
    ("0 0 */2 * 1", ["2026-12-09 00:00:00", "2026-12-11 00:00:00", "2026-12-13 00:00:00"]),
    ("@every 90s", ["2026-12-07 11:31:45", "2026-12-07 11:33:15", "2026-12-07 11:34:45"]),
])
def test_schedules_fall_due_as_robfig_cron_says(spec: str, expected: list[str]) -> None:
    assert nexts(spec) == expected


def test_times_are_those_of_the_schedules_zone() -> None:
    # 09:00 in Tokyo (UTC+9) is midnight UTC; in New York in December (UTC-5), 14:00 UTC.
    assert nexts("0 9 * * *", zone="Asia/Tokyo", count=1) == ["2026-12-08 00:00:00"]
    assert nexts("0 9 * * *", zone="America/New_York", count=1) == ["2026-12-07 14:00:00"]
    # The legacy prefix names the zone itself.
    assert nexts("CRON_TZ=Asia/Tokyo 0 9 * * *", count=1) == ["2026-12-08 00:00:00"]


def test_a_schedule_that_never_comes_round_has_no_next_time() -> None:
    assert parse_schedule("0 0 30 2 *", UTC).next(T0) is None


@pytest.mark.parametrize(("spec", "message"), [
    ("0 0 * * * *", "expected exactly 5 fields, found 6: [0 0 * * * *]"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("TZ=Mars/Olympus 0 * * * *",
     "provided bad location Mars/Olympus: unknown time zone Mars/Olympus"),
])
def test_bad_schedules_fail_with_robfigs_message(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError) as err:
        parse_schedule(spec, UTC)
    assert str(err.value) == message


def test_time_zones_load_as_go_loads_them() -> None:
    with pytest.raises(ValueError) as err:
        load_zone("Mars/Olympus")
    assert str(err.value) == "unknown time zone Mars/Olympus"
    assert load_zone("") is UTC
    assert load_zone("UTC") is UTC
    assert str(load_zone("Europe/Paris")) == "Europe/Paris"


def test_go_durations() -> None:
    assert parse_go_duration("1h30m") == timedelta(minutes=90)
    assert parse_go_duration("1.5s") == timedelta(seconds=1.5)
    assert parse_go_duration("0") == timedelta(0)
    with pytest.raises(ValueError, match='invalid duration "5 minutes"'):
        parse_go_duration("5 minutes")


# ----------------------------------------------------------------------------- due times

EVERY_MINUTE = parse_schedule("* * * * *", UTC)
CREATED = datetime(2026, 12, 7, 11, 0, 30, tzinfo=UTC)


def test_nothing_is_due_before_the_first_start_time() -> None:
    found = most_recent_schedule_time(CREATED, CREATED + timedelta(seconds=20), EVERY_MINUTE,
                                      None)
    assert (found.most_recent, found.missed, found.error) == (None, Missed.NONE, None)


def test_the_one_start_time_that_passed_is_due() -> None:
    now = datetime(2026, 12, 7, 11, 1, 10, tzinfo=UTC)
    found = most_recent_schedule_time(CREATED, now, EVERY_MINUTE, None)
    assert found.most_recent == datetime(2026, 12, 7, 11, 1, tzinfo=UTC)
    assert found.missed is Missed.NONE


def test_of_several_missed_start_times_only_the_most_recent_is_due() -> None:
    now = datetime(2026, 12, 7, 11, 20, 10, tzinfo=UTC)
    found = most_recent_schedule_time(CREATED, now, EVERY_MINUTE, None)
    assert found.most_recent == datetime(2026, 12, 7, 11, 20, tzinfo=UTC)
    assert found.missed is Missed.FEW


def test_more_than_a_hundred_missed_is_many() -> None:
    now = CREATED + timedelta(minutes=100)
    assert most_recent_schedule_time(CREATED, now, EVERY_MINUTE, None).missed is Missed.FEW
    now = CREATED + timedelta(minutes=101)
    found = most_recent_schedule_time(CREATED, now, EVERY_MINUTE, None)
    assert found.missed is Missed.MANY
    assert found.most_recent == datetime(2026, 12, 7, 12, 41, tzinfo=UTC)


def test_irregular_schedules_find_their_true_most_recent_time() -> None:
    # Every 4 hours from 6 to 16 on weekdays: the interval between the first two times
    # (4 h) does not divide the week, the walk must still land on the last real one.
    schedule = parse_schedule("30 6-16/4 * * 1-5", UTC)
    created = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # the next Monday
    found = most_recent_schedule_time(created, now, schedule, None)
    assert found.most_recent == datetime(2026, 12, 7, 6, 30, tzinfo=UTC)


def test_the_starting_deadline_forgets_older_start_times() -> None:
    now = datetime(2026, 12, 7, 11, 20, 40, tzinfo=UTC)
    # 11:20 is 40 s ago: too old for a 30 s deadline, in time for a 60 s one.
    assert most_recent_schedule_time(CREATED, now, EVERY_MINUTE, 30).most_recent is None
    assert most_recent_schedule_time(CREATED, now, EVERY_MINUTE, 60).most_recent == \
        datetime(2026, 12, 7, 11, 20, tzinfo=UTC)


def test_a_schedule_that_never_comes_round_is_an_error() -> None:
    schedule = parse_schedule("0 0 31 2 *", UTC)
    found = most_recent_schedule_time(CREATED, CREATED + timedelta(days=400), schedule, None)
    assert found.most_recent is None
    assert found.error == "time difference between two schedules is less than 1 second"


def test_the_requeue_aims_just_past_the_next_start_time() -> None:
    now = datetime(2026, 12, 7, 11, 0, 45, tzinfo=UTC)
    assert next_schedule_delay(CREATED, now, EVERY_MINUTE) == pytest.approx(15.1)
    # After many misses: from now, not from the creation.
    now = datetime(2026, 12, 7, 11, 30, 45, tzinfo=UTC)
    assert next_schedule_delay(CREATED, now, EVERY_MINUTE) == pytest.approx(15.1)
    hourly = parse_schedule("@hourly", UTC)
    assert next_schedule_delay(CREATED, now, hourly) == pytest.approx(29 * 60 + 15.1)
