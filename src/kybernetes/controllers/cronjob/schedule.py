"""Cron schedules and the times they fall due: robfig/cron's `ParseStandard` and `Next` as
upstream's CronJob controller uses them, and the time arithmetic of upstream's
`pkg/controller/cronjob/utils.go` (`mostRecentScheduleTime`, `nextScheduleTimeDuration`).

A schedule is standard 5-field cron (minute hour day-of-month month day-of-week, names and
`?` allowed), a macro (`@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
`@hourly`), or robfig's `@every <Go duration>`; a legacy `TZ=`/`CRON_TZ=` prefix (still
honoured for old objects; the API server refuses it on new ones) names its zone. Syntax
errors are robfig's messages (the API server's validator, `parse_cron`, is the one parser
of the syntax); the times of 5-field schedules come from croniter, evaluated in the
schedule's zone (day-of-month and day-of-week combine with OR when both are restricted,
with AND when either has robfig's "star bit": a `*` or `?` without a step above 1). A
schedule that can never fall due (`0 0 30 2 *`) has no next time: `next` answers None
where robfig answers the zero time.

`Schedule.next(t)` is the first activation strictly after `t`. Times are aware datetimes;
results are in UTC.
"""

from __future__ import annotations

import abc
import enum
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter  # type: ignore[import-untyped]

from kybernetes.api.validation.batch import parse_cron

# Upstream's nextScheduleDelta: requeues aim this far past the due time.
NEXT_SCHEDULE_DELTA = timedelta(milliseconds=100)
# More missed start times than this is "too many" (upstream's arbitrary 100).
TOO_MANY_MISSED = 100

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EVERY = "@every "
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
             "m": 60.0, "h": 3600.0}


class ScheduleError(ValueError):
    """A schedule that does not parse (robfig's error text)."""


def _zone_file(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name}") from None


def load_zone(name: str) -> tzinfo:
    """Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" is `local_zone()`, else an
    IANA name; raises ValueError("unknown time zone <name>") as Go does."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return local_zone()
    return _zone_file(name)


def local_zone() -> tzinfo:
    """The zone of this process (Go's `time.Local`): `$TZ` (empty meaning UTC), else
    /etc/localtime, else UTC."""
    name = os.environ.get("TZ")
    if name is not None:
        name = name.removeprefix(":")
        if not name or name == "UTC":
            return UTC
        try:
            return _zone_file(name)
        except ValueError:
            return UTC
    try:
        with open("/etc/localtime", "rb") as data:
            return ZoneInfo.from_file(data, key="localtime")
    except (OSError, ValueError):
        return UTC


class Schedule(abc.ABC):
    @abc.abstractmethod
    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after`, or None if there is none."""


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """A 5-field expression, evaluated in `zone`."""

    expression: str
    zone: tzinfo

    def next(self, after: datetime) -> datetime | None:
        try:
            found: datetime = croniter(self.expression, after.astimezone(self.zone)
                                       ).get_next(datetime)
        except CroniterError:
            return None
        return found.astimezone(UTC)


@dataclass(frozen=True)
class EverySchedule(Schedule):
    """robfig's ConstantDelaySchedule: `delay` whole seconds after the last run (rounded
    down to the second)."""

    delay: timedelta

    def next(self, after: datetime) -> datetime:
        return (after + self.delay - timedelta(microseconds=after.microsecond)).astimezone(UTC)


def parse_go_duration(text: str) -> timedelta:
    """Go's `time.ParseDuration` ("1h30m", "-5s", "0")."""
    body = text[1:] if text[:1] in "+-" else text
    negative = text.startswith("-")
    if body == "0":
        return timedelta(0)
    total, position = 0.0, 0
    for match in _GO_DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match[1]) * _GO_UNITS[match[2]]
        position = match.end()
    if not body or position != len(body):
        raise ValueError(f'time: invalid duration "{text}"')
    return timedelta(seconds=-total if negative else total)


def parse_schedule(spec: str, default_zone: tzinfo) -> Schedule:
    """robfig's `cron.ParseStandard(spec)` with `default_zone` as time.Local. Raises
    ScheduleError with robfig's message."""
    try:
        parse_cron(spec)
    except ValueError as err:
        raise ScheduleError(str(err)) from None
    zone = default_zone
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, eq = spec.find(" "), spec.find("=")
        name = spec[eq + 1:space]
        try:
            zone = load_zone(name)
        except ValueError as err:
            raise ScheduleError(f"provided bad location {name}: {err}") from None
        spec = spec[space:].strip()
    if spec.startswith(_EVERY):
        delay = parse_go_duration(spec[len(_EVERY):])
        if delay < timedelta(seconds=1):
            delay = timedelta(seconds=1)
        return EverySchedule(timedelta(seconds=int(delay.total_seconds())))
    return CronSchedule(_croniter_expression(_MACROS.get(spec, spec)), zone)


def _has_star_bit(field: str) -> bool:
    """robfig's starBit: some part of the field is `*` or `?` with no step above 1."""
    for part in field.split(","):
        start, _, step = part.partition("/")
        if start in ("*", "?") and (not step or (step.isdigit() and int(step) == 1)):
            return True
    return False


def _croniter_expression(expression: str) -> str:
    """The 5 fields as croniter reads them the way robfig does: `?` is `*`, and a
    day-of-month or day-of-week field with robfig's star bit is written `*` (it covers
    the whole range anyway), which is when croniter, like robfig, combines the two day
    fields with AND rather than OR (`*/1` alone would otherwise mean OR to croniter)."""
    fields = expression.split()
    for day in (2, 4):
        if _has_star_bit(fields[day]):
            fields[day] = "*"
    return " ".join(fields).replace("?", "*")


# ----------------------------------------------------------------------------- due times


class Missed(enum.Enum):
    """How many start times passed unmet (upstream's missedSchedulesType)."""

    NONE = "none"
    FEW = "few"
    MANY = "many"


@dataclass(frozen=True)
class RecentTimes:
    """What `most_recent_schedule_time` finds."""

    earliest: datetime  # the last schedule time, or the CronJob's creation
    most_recent: datetime | None  # the latest unmet start time, None if none is due
    missed: Missed
    error: str | None = None  # a schedule that parses but never falls due twice


def most_recent_schedule_time(earliest: datetime, now: datetime, schedule: Schedule,
                              starting_deadline_seconds: int | None) -> RecentTimes:
    """Upstream's mostRecentScheduleTime. `earliest` is status.lastScheduleTime, else the
    creation time; `starting_deadline_seconds` (when not None) moves it up to now minus
    the deadline."""
    if starting_deadline_seconds is not None:
        deadline = now - timedelta(seconds=starting_deadline_seconds)
        earliest = max(earliest, deadline)
    t1 = schedule.next(earliest)
    if t1 is not None and now < t1:
        return RecentTimes(earliest, None, Missed.NONE)
    t2 = schedule.next(t1) if t1 is not None else None
    if t1 is not None and t2 is not None and now < t2:
        return RecentTimes(earliest, t1, Missed.NONE)
    # An expression that parses but never comes round (31 February) has no interval.
    between = round((t2 - t1).total_seconds()) if t1 is not None and t2 is not None else 0
    if t1 is None or between < 1:
        return RecentTimes(earliest, None, Missed.NONE,
                           "time difference between two schedules is less than 1 second")
    # Upstream's approximation: how many intervals fit between t1 and now, then walk the
    # schedule from two intervals before the last of them.
    elapsed = int((now - t1).total_seconds())
    missed_count = elapsed // between + 1
    potential_earliest = t1 + timedelta(seconds=(missed_count - 2) * between)
    most_recent: datetime | None = None
    t = schedule.next(potential_earliest)
    while t is not None and t <= now:
        most_recent = t
        t = schedule.next(t)
    missed = Missed.MANY if missed_count > TOO_MANY_MISSED else \
        Missed.FEW if missed_count > 0 else Missed.NONE
    return RecentTimes(earliest, most_recent, missed)


def next_schedule_delay(earliest: datetime, now: datetime, schedule: Schedule
                        ) -> float | None:
    """Upstream's nextScheduleTimeDuration: seconds from `now` until the next start time
    after the most recent one (plus NEXT_SCHEDULE_DELTA); None when the schedule never
    falls due again."""
    found = most_recent_schedule_time(earliest, now, schedule, None)
    if found.error is not None:
        base = now
    elif found.most_recent is not None:
        base = found.most_recent
    else:
        base = found.earliest if found.missed is Missed.NONE else now
    following = schedule.next(base)
    if following is None:
        return None
    return (following + NEXT_SCHEDULE_DELTA - now).total_seconds()
