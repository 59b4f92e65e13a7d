"""events.k8s.io/v1 Event, stored as core/v1 Event.

The same object under other field names (upstream's pkg/apis/events/v1/conversion.go and
its generated half): `regarding` is `involvedObject`, `note` is `message`,
`reportingController` is `reportingComponent`, and the deprecated* fields are core's
`source`, `firstTimestamp`, `lastTimestamp` and `count`. Events created or updated through
events.k8s.io/v1 also get upstream's strict rules (pkg/apis/core/validation/events.go,
`ValidateEventCreate`/`ValidateEventUpdate` for a request version other than core/v1).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api.conversion.base import Conversion, Obj
from kybernetes.api.errors import FieldError

GROUP_VERSION = "events.k8s.io/v1"

# events.k8s.io/v1 field -> core/v1 field, in events.k8s.io/v1's field order.
_TO_CORE = {
    "eventTime": "eventTime",
    "series": "series",
    "reportingController": "reportingComponent",
    "reportingInstance": "reportingInstance",
    "action": "action",
    "reason": "reason",
    "regarding": "involvedObject",
    "related": "related",
    "note": "message",
    "type": "type",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_V1 = {core: v1 for v1, core in _TO_CORE.items()}
# core/v1 field order.
_CORE_ORDER = ("involvedObject", "reason", "message", "source", "firstTimestamp",
               "lastTimestamp", "count", "type", "eventTime", "series", "action", "related",
               "reportingComponent", "reportingInstance")
# Fields events.k8s.io/v1 always carries, as Go encodes them (structs without omitempty
# effect: an empty object, a zero time as null).
_V1_ALWAYS: dict[str, Any] = {"eventTime": None, "regarding": {}, "deprecatedSource": {},
                              "deprecatedFirstTimestamp": None,
                              "deprecatedLastTimestamp": None}
_EMPTY: tuple[Any, ...] = (None, "", 0, {}, [])


def _copied(event: Obj) -> Obj:
    """A deep copy of a decoded event, made in one pass through orjson (several times faster
    than `copy.deepcopy`, which was a third of an Event create); anything orjson does not
    encode as it was decoded (an integer past 64 bits) is copied by `copy.deepcopy`."""
    try:
        copied: Obj = orjson.loads(orjson.dumps(event))
    except TypeError:  # orjson.JSONEncodeError included
        return copy.deepcopy(event)
    return copied


def to_core(event: Obj) -> Obj:
    """`Convert_v1_Event_To_core_Event`: an events.k8s.io/v1 Event as core/v1. Unset
    (null) fields are left out, as Go's zero values are. Shares nothing with `event`."""
    source = _copied(event)
    out: Obj = {"kind": "Event", "apiVersion": "v1", "metadata": source.get("metadata") or {}}
    renamed = {_TO_CORE[k]: v for k, v in source.items() if k in _TO_CORE and v is not None}
    for name in _CORE_ORDER:
        if name in renamed:
            out[name] = renamed[name]
    if "involvedObject" not in out:
        out["involvedObject"] = {}
    return out


def to_v1(event: Obj) -> Obj:
    """`Convert_core_Event_To_v1_Event`: a core/v1 Event as events.k8s.io/v1. Shares
    nothing with `event`."""
    source = _copied(event)
    out: Obj = {"kind": "Event", "apiVersion": GROUP_VERSION,
                "metadata": source.get("metadata") or {}}
    for v1, core in _TO_CORE.items():
        value = source.get(core)
        if value is not None and (value not in _EMPTY or v1 in _V1_ALWAYS):
            out[v1] = value
        elif v1 in _V1_ALWAYS:
            out[v1] = copy.deepcopy(_V1_ALWAYS[v1])
    return out


def _series_errors(event: Obj) -> list[FieldError]:
    """`validateV1EventSeries`."""
    series = event.get("series")
    if not isinstance(series, dict):
        return []
    errs: list[FieldError] = []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        errs.append(FieldError.invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(FieldError.required("series.lastObservedTime"))
    return errs


def validate_create(event: Obj) -> list[FieldError]:
    """The strict half of `ValidateEventCreate` (the legacy half and the object meta checks
    run for every Event), on the stored (core/v1) form with upstream's internal paths."""
    errs = _series_errors(event)
    if not event.get("eventTime"):
        errs.append(FieldError.required("eventTime"))
    kind = event.get("type") or ""
    if kind not in ("Normal", "Warning"):
        errs.append(FieldError.invalid("type", "", f"has invalid value: {kind}"))
    for name in ("firstTimestamp", "lastTimestamp"):
        if event.get(name):
            errs.append(FieldError.invalid(name, "", "needs to be unset"))
    if event.get("count"):
        errs.append(FieldError.invalid("count", "", "needs to be unset"))
    source = event.get("source") or {}
    if isinstance(source, dict) and (source.get("component") or source.get("host")):
        errs.append(FieldError.invalid("source", "", "needs to be unset"))
    return errs


# (core/v1 field, upstream's internal path) of the fields an update may not change.
_IMMUTABLE = (("involvedObject", "involvedObject"), ("reason", "reason"),
              ("message", "message"), ("source", "source"),
              ("firstTimestamp", "firstTimestamp"), ("lastTimestamp", "lastTimestamp"),
              ("count", "count"), ("type", "type"), ("eventTime", "eventTime"),
              ("action", "action"), ("related", "related"),
              ("reportingComponent", "reportingController"),
              ("reportingInstance", "reportingInstance"))


def _unset(value: Any) -> Any:
    return None if value in _EMPTY else value


def validate_update(new: Obj, old: Obj) -> list[FieldError]:
    """The strict half of `ValidateEventUpdate`: a changed series is checked again, and
    what the event says about its occurrence may not change."""
    errs: list[FieldError] = []
    if _unset(new.get("series")) != _unset(old.get("series")):
        errs.extend(_series_errors(new))
    for name, path in _IMMUTABLE:
        if _unset(new.get(name)) != _unset(old.get(name)):
            errs.append(FieldError.invalid(path, new.get(name), "field is immutable"))
    return errs


CONVERSION = Conversion("events.k8s.io", "v1", "events", "", "v1", to_core, to_v1,
                        validate_create, validate_update)
