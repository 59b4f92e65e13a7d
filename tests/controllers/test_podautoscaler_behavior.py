"""Stabilisation, scaling policies and min/max, against upstream's cases in
`pkg/controller/podautoscaler/horizontal_test.go` (TestScalingWithRules,
TestStoreScaleEvents, TestNormalizeDesiredReplicasWithBehavior, TestNormalizeDesiredReplicas,
TestConvertDesiredReplicasWithRules, TestCalculateScale{Up,Down}Limit*)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kybernetes.controllers.podautoscaler.behavior import (
    History,
    Recommendation,
    ScaleEvent,
    calculate_scale_down_limit_with_behaviors,
    calculate_scale_up_limit,
    calculate_scale_up_limit_with_scaling_rules,
    convert_desired_replicas_with_behavior_rate,
    convert_desired_replicas_with_rules,
    replicas_change_per_period,
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
    store_scale_event,
)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
SCALE_UP_DEFAULT: dict[str, Any] = {
    "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN_DEFAULT: dict[str, Any] = {
    "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def rules(pods: int, pods_period: int, percent: int, percent_period: int,
          window: int) -> dict[str, Any]:
    """Upstream's generateScalingRules."""
    policies = []
    if pods:
        policies.append({"type": "Pods", "value": pods, "periodSeconds": pods_period})
    if percent:
        policies.append({"type": "Percent", "value": percent, "periodSeconds": percent_period})
    found: dict[str, Any] = {"stabilizationWindowSeconds": window, "selectPolicy": "Max"}
    if policies:
        found["policies"] = policies
    return found


def defaulted(given: dict[str, Any] | None, default: dict[str, Any]) -> dict[str, Any]:
    """Upstream's GenerateHPAScale{Up,Down}Rules: the given fields over the defaults."""
    merged = copy.deepcopy(default)
    merged.update(given or {})
    return merged


def events(changes: list[int], period: int) -> list[ScaleEvent]:
    """Upstream's generateEventsUniformDistribution."""
    segment = period / len(changes)
    return [ScaleEvent(change, NOW - timedelta(
        seconds=int(period - segment * (i + 1) + segment / 2)))
            for i, change in enumerate(changes)]


# (name, up events, down events, min, max, up rules, down rules, current, desired,
#  expected replicas, expected reason)
RULE_CASES: list[tuple[str, list[int], list[int], int, int, dict[str, Any] | None,
                       dict[str, Any] | None, int, int, int, str]] = [
    ("prenormalized desired replicas within range", [], [], 3, 8, None, None, 5, 7, 7,
     "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", [], [], 2, 8, None, None, 3, 1, 2,
     "TooFewReplicas"),
    ("prenormalized desired replicas within range when minReplicas is 0", [], [], 0, 10,
     None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", [], [], 1, 10, None,
     None, 20, 1000, 10, "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", [], [], 100, 150, None,
     None, 100, 1000, 150, "TooManyReplicas"),
    ("scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", [],
     [], 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4, "ScaleUpLimit"),
    ("scaleUp with default behavior", [], [], 1, 1000, None, None, 10, 50, 20,
     "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", [], [], 1, 1000,
     rules(100, 60, 100, 60, 0), None, 10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", [], [], 1, 1000,
     rules(2, 60, 100, 60, 0), None, 10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", [], [], 1, 1000,
     rules(100, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", [], [], 1, 1000,
     rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", [], [], 1, 1000, rules(30, 60, 0, 0, 0), None,
     10, 50, 40, "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", [], [], 1, 1000, rules(0, 0, 200, 60, 0),
     None, 10, 50, 30, "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", [], [], 1, 1000, None,
     rules(20, 60, 1, 60, 300), 100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", [], [], 1, 1000, None,
     rules(2, 60, 1, 60, 300), 100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", [], [], 1,
     1000, None, rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", [], [], 5, 1000,
     None, rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", [], [], 1, 1000, None,
     rules(5, 60, 0, 0, 300), 10, 2, 5, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", [], [], 1, 1000, None,
     rules(0, 0, 50, 60, 300), 10, 5, 5, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events",
     [1, 5, 9], [], 1, 200, rules(300, 60, 0, 0, 0), None, 100, 500, 200,
     "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events",
     [1, 5, 9], [], 1, 200, rules(0, 0, 10000, 60, 0), None, 100, 500, 200,
     "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent "
     "scale up events", [1, 5, 9], [], 1, 1000, rules(5, 120, 0, 0, 0), None, 100, 500, 100,
     "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", [1, 5, 9], [], 1, 1000,
     rules(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", [1, 5, 9], [], 1, 1000,
     rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", [], [1, 5, 9], 1, 1000, None, None,
     10, 5, 5, "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous "
     "events", [], [1, 5, 9], 1, 1000, None, rules(115, 120, 0, 0, 300), 100, 0, 1,
     "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events",
     [], [1, 5, 9], 5, 1000, None, rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous "
     "events", [], [1, 5, 9], 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5,
     "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", [], [1, 5, 9], 1, 1000,
     None, rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", [], [2, 4, 6], 1, 1000,
     None, rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", [], [10, 10, 10], 1,
     1000, None, rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with with previous events still allowing more scale down", [], [10, 10, 10],
     1, 1000, None, rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", [8, 12, 9, 11], [], 1,
     1000, rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the "
     "behavior for up", [8, 12, 9, 11], [], 1, 1000, rules(1000, 120, 100, 60, 0), None, 100,
     200, 200, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior "
     "for up", [8, 12, 9, 11], [], 1, 1000, rules(1000, 30, 100, 60, 0), None, 100, 200, 200,
     "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", [], [8, 12, 9, 11], 1,
     1000, None, rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("check that events were not marked 'outdated' for two different policies in the "
     "behavior for down", [], [8, 12, 9, 11], 1, 1000, None, rules(1000, 120, 100, 60, 300),
     100, 5, 5, "DesiredWithinRange"),
    ("check that events were marked 'outdated' for two different policies in the behavior "
     "for down", [], [8, 12, 9, 11], 1, 1000, None, rules(1000, 30, 100, 60, 300), 100, 5, 5,
     "DesiredWithinRange"),
]


@pytest.mark.parametrize("case", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_scaling_with_rules(case: tuple[Any, ...]) -> None:
    (_, up, down, minimum, maximum, up_rules, down_rules, current, desired, expected,
     reason) = case
    history = History(scale_up_events=events(up, 120) if up else [],
                      scale_down_events=events(down, 120) if down else [])
    got = convert_desired_replicas_with_behavior_rate(
        history, current, desired, minimum, maximum, defaulted(up_rules, SCALE_UP_DEFAULT),
        defaulted(down_rules, SCALE_DOWN_DEFAULT), NOW)
    assert (got.replicas, got.reason) == (expected, reason)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# (name, previous events, expected events (change, outdated), rules, change in 60 s)
STORE_CASES: list[tuple[str, list[ScaleEvent], list[tuple[int, bool]],
                        dict[str, Any] | None, int]] = [
    ("empty entries with default behavior", [], [], None, 0),
    ("empty entries with two-policy-behavior", [], [(5, False)], rules(10, 60, 100, 60, 0),
     0),
    ("one outdated entry to be kept untouched without behavior", [ScaleEvent(7, ago(61))],
     [(7, False)], None, 0),
    ("one outdated entry to be replaced with behavior", [ScaleEvent(7, ago(61))],
     [(5, False)], rules(10, 60, 100, 60, 0), 0),
    ("one actual entry to be not touched with behavior", [ScaleEvent(7, ago(58))],
     [(7, False), (5, False)], rules(10, 60, 100, 60, 0), 7),
    ("two entries, one of them to be replaced",
     [ScaleEvent(7, ago(61)), ScaleEvent(6, ago(59))], [(5, False), (6, False)],
     rules(10, 60, 0, 0, 0), 6),
    ("replace one entry, use policies with different periods",
     [ScaleEvent(8, ago(29)), ScaleEvent(6, ago(59)), ScaleEvent(7, ago(61)),
      ScaleEvent(9, ago(61))], [(8, False), (6, False), (7, True), (5, False)],
     rules(10, 60, 100, 30, 0), 14),
    ("two entries, both actual", [ScaleEvent(7, ago(58)), ScaleEvent(6, ago(59))],
     [(7, False), (6, False), (5, False)], rules(10, 120, 100, 30, 0), 13),
]


@pytest.mark.parametrize("case", STORE_CASES, ids=[c[0] for c in STORE_CASES])
@pytest.mark.parametrize("direction", ["scaleUp", "scaleDown"])
def test_store_scale_events(case: tuple[Any, ...], direction: str) -> None:
    _, previous, expected, scaling, change = case
    up = direction == "scaleUp"
    history = History()
    stored = copy.deepcopy(previous)
    if up:
        history.scale_up_events = stored
    else:
        history.scale_down_events = stored
    assert replicas_change_per_period(60, stored, NOW) == change
    behavior = {direction: scaling} if scaling is not None else None
    store_scale_event(history, behavior, 10, 15 if up else 5, NOW)
    got = history.scale_up_events if up else history.scale_down_events
    assert [(e.replica_change, e.outdated) for e in got] == expected


M = 60
# (name, recommendations (replicas, seconds ago), current, desired, expected, expected
#  stored replicas, up window, down window)
BEHAVIOR_STABILIZE_CASES: list[tuple[str, list[tuple[int, int]], int, int, int, list[int],
                                     int, int]] = [
    ("empty recommendations for scaling down", [], 100, 5, 5, [5], 0, 0),
    ("simple scale down stabilization", [(4, 2 * M), (5, M)], 100, 3, 5, [4, 5, 3], 0,
     3 * M),
    ("simple scale up stabilization", [(4, 2 * M), (5, M)], 1, 7, 4, [4, 5, 7], 5 * M, 0),
    ("no scale down stabilization", [(1, 2 * M), (2, M)], 100, 3, 3, [1, 2, 3], 5 * M, 0),
    ("no scale up stabilization", [(4, 2 * M), (5, M)], 1, 3, 3, [4, 5, 3], 0, 5 * M),
    ("no scale down stabilization, reuse recommendation element", [(10, 10 * M), (9, 9 * M)],
     100, 3, 3, [10, 3], 0, 0),
    ("no scale up stabilization, reuse recommendation element", [(10, 10 * M), (9, 9 * M)],
     1, 100, 100, [10, 100], 0, 0),
    ("scale down stabilization, reuse one of obsolete recommendation element",
     [(10, 10 * M), (4, M), (5, 2 * M), (9, 9 * M)], 100, 3, 5, [10, 4, 5, 3], 0, 3 * M),
    ("scale up stabilization, reuse one of obsolete recommendation element",
     [(10, 100 * M), (6, M), (5, 2 * M), (9, 3 * M)], 1, 100, 5, [100, 6, 5, 9], 300, 0),
]


@pytest.mark.parametrize("case", BEHAVIOR_STABILIZE_CASES,
                         ids=[c[0] for c in BEHAVIOR_STABILIZE_CASES])
def test_normalize_desired_replicas_with_behavior(case: tuple[Any, ...]) -> None:
    _, recs, current, desired, expected, stored, up_window, down_window = case
    history = History([Recommendation(r, ago(s)) for r, s in recs])
    got = stabilize_recommendation_with_behaviors(
        history, current, desired, {"stabilizationWindowSeconds": up_window},
        {"stabilizationWindowSeconds": down_window}, NOW)
    assert got.replicas == expected
    assert [r.replicas for r in history.recommendations] == stored


@pytest.mark.parametrize(("recs", "desired", "expected", "length"), [
    ([], 5, 5, 1),
    ([(4, 2 * M), (5, M)], 3, 5, 3),
    ([(1, 2 * M), (2, M)], 3, 3, 3),
    ([(10, 10 * M), (9, 9 * M)], 3, 3, 2),
    ([(10, 10 * M), (4, M), (5, 2 * M), (9, 9 * M)], 3, 5, 4),
], ids=["empty log", "stabilize", "no stabilize", "no stabilize - old recommendations",
        "stabilize - old recommendations"])
def test_normalize_desired_replicas(recs: list[tuple[int, int]], desired: int, expected: int,
                                    length: int) -> None:
    history = History([Recommendation(r, ago(s)) for r, s in recs])
    assert stabilize_recommendation(history, desired, timedelta(minutes=5), NOW) == expected
    assert len(history.recommendations) == length


@pytest.mark.parametrize(("current", "desired", "minimum", "maximum", "expected", "reason"), [
    (5, 7, 3, 8, 7, "DesiredWithinRange"),
    (3, 1, 2, 8, 2, "TooFewReplicas"),
    (1, 0, 0, 10, 0, "DesiredWithinRange"),
    (20, 1000, 1, 10, 10, "TooManyReplicas"),
    (3, 1000, 1, 2000, calculate_scale_up_limit(3), "ScaleUpLimit"),
])
def test_convert_desired_replicas_with_rules(current: int, desired: int, minimum: int,
                                             maximum: int, expected: int, reason: str) -> None:
    got = convert_desired_replicas_with_rules(current, desired, minimum, maximum)
    assert (got.replicas, got.reason) == (expected, reason)


MIN_POLICY: dict[str, Any] = {
    "stabilizationWindowSeconds": 300, "selectPolicy": "Min",
    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60},
                 {"type": "Percent", "value": 50, "periodSeconds": 60}]}


def test_calculate_scale_up_limit_with_scaling_rules() -> None:
    assert calculate_scale_up_limit_with_scaling_rules(1, [], [], MIN_POLICY, NOW) == 2


def test_calculate_scale_down_limit_with_behaviors() -> None:
    assert calculate_scale_down_limit_with_behaviors(5, [], [], MIN_POLICY, NOW) == 3


def test_disabled_select_policy_keeps_the_current_count() -> None:
    disabled = {**SCALE_UP_DEFAULT, "selectPolicy": "Disabled"}
    got = convert_desired_replicas_with_behavior_rate(History(), 3, 10, 1, 10, disabled,
                                                      SCALE_DOWN_DEFAULT, NOW)
    assert (got.replicas, got.reason) == (3, "ScaleUpLimit")
