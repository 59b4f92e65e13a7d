"""Time as the API writes and reads it: upstream's `metav1.Time` (RFC 3339 in UTC, whole
seconds, `Z`). The one `now`/`parse_time` every component uses, so all of them agree on
timezone handling: times are always timezone-aware, and a timestamp without an offset is
read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def rfc3339(when: datetime) -> str:
    """A metav1.Time as the API writes it: UTC, whole seconds ("2026-12-07T11:08:00Z")."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return rfc3339(now())


def parse_time(value: Any) -> datetime | None:
    """A metav1.Time/MicroTime (fractions and offsets accepted), aware; None when unset or
    malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
