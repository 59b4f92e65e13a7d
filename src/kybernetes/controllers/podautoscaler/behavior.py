"""Normalising a metric's proposal into the replica count to set: stabilisation windows,
scaling policies and min/max, upstream's `horizontal.go` (`normalizeDesiredReplicas*`,
`stabilizeRecommendation*`, `convertDesiredReplicas*`, `calculateScale*Limit*`,
`storeScaleEvent`).

`History` is the controller's memory of one HPA (upstream keeps it in maps keyed by
`namespace/name`; it is lost when the controller restarts, as upstream's is):

- **recommendations**: every unstabilised proposal with its time. An old entry (outside
  every window in use) is overwritten instead of appending, so the list stays short.
  Without `spec.behavior`, the proposal becomes the highest recommendation of the last
  `--horizontal-pod-autoscaler-downscale-stabilization` (5 min); with it, it is kept
  between the lowest recommendation within `scaleUp.stabilizationWindowSeconds` (default
  0) and the highest within `scaleDown.stabilizationWindowSeconds` (default: that flag).
- **scale events**: each rescale's size and time, up and down kept apart, recorded only
  when the HPA has a behavior. A policy's limit counts from the replica count at the
  start of its period (`current - added + removed` within `periodSeconds`): `Pods` adds or
  removes `value` pods, `Percent` `value` percent (rounded up when adding, truncated when
  removing); `selectPolicy` Max takes the largest change, Min the smallest, Disabled none.
- Without a behavior the classic rules apply: at most `max(2 * current, 4)` when scaling
  up, within min/max.

The reasons and messages are upstream's (ScaleUpStabilized, ScaleDownStabilized,
ReadyForNewScale for AbleToScale; DesiredWithinRange, TooManyReplicas, TooFewReplicas,
ScaleUpLimit, ScaleDownLimit for ScalingLimited).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Upstream's scaleUpLimitFactor / scaleUpLimitMinimum (no behavior).
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
DEFAULT_DOWNSCALE_STABILIZATION = timedelta(minutes=5)

_INT32_MAX = 2**31 - 1
_INT32_MIN = -(2**31)


@dataclass(slots=True)
class Recommendation:
    replicas: int
    timestamp: datetime


@dataclass(slots=True)
class ScaleEvent:
    replica_change: int  # absolute, >= 0
    timestamp: datetime
    outdated: bool = False


@dataclass(slots=True)
class History:
    """What the controller remembers of one HPA."""

    recommendations: list[Recommendation] = field(default_factory=list)
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limited:
    """A normalised count and the (reason, message) for the condition it sets."""

    replicas: int
    reason: str
    message: str


def _window(rules: Mapping[str, Any] | None) -> int:
    value = (rules or {}).get("stabilizationWindowSeconds")
    return int(value) if isinstance(value, int) else 0


def stabilize_recommendation(history: History, proposal: int, window: timedelta,
                             now: datetime) -> int:
    """Upstream's `stabilizeRecommendation` (no behavior): the highest recommendation
    within the downscale window; the proposal is recorded."""
    highest = proposal
    old_index = -1
    cutoff = now - window
    for index, rec in enumerate(history.recommendations):
        if rec.timestamp < cutoff:
            old_index = index
        elif rec.replicas > highest:
            highest = rec.replicas
    _record(history, old_index, Recommendation(proposal, now))
    return highest


def _record(history: History, old_index: int, rec: Recommendation) -> None:
    if old_index >= 0:
        history.recommendations[old_index] = rec
    else:
        history.recommendations.append(rec)


def stabilize_recommendation_with_behaviors(
        history: History, current: int, proposal: int, scale_up: Mapping[str, Any],
        scale_down: Mapping[str, Any], now: datetime) -> Limited:
    """Upstream's `stabilizeRecommendationWithBehaviors`."""
    up_recommendation = down_recommendation = proposal
    up_cutoff = now - timedelta(seconds=_window(scale_up))
    down_cutoff = now - timedelta(seconds=_window(scale_down))
    old_index = -1
    for index, rec in enumerate(history.recommendations):
        if rec.timestamp > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.timestamp > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = index
    recommendation = max(current, up_recommendation)
    recommendation = min(recommendation, down_recommendation)
    _record(history, old_index, Recommendation(proposal, now))
    if proposal >= current:
        return Limited(recommendation, "ScaleUpStabilized",
                       "recent recommendations were lower than current one, applying the "
                       "lowest recent recommendation")
    return Limited(recommendation, "ScaleDownStabilized",
                   "recent recommendations were higher than current one, applying the "
                   "highest recent recommendation")


def calculate_scale_up_limit(current: int) -> int:
    return int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(current: int, desired: int, min_replicas: int,
                                        max_replicas: int) -> Limited:
    """Upstream's `convertDesiredReplicasWithRules` (no behavior)."""
    scale_up_limit = calculate_scale_up_limit(current)
    if max_replicas > scale_up_limit:
        maximum, reason, message = scale_up_limit, "ScaleUpLimit", \
            "the desired replica count is increasing faster than the maximum scale rate"
    else:
        maximum, reason, message = max_replicas, "TooManyReplicas", \
            "the desired replica count is more than the maximum replica count"
    if desired < min_replicas:
        return Limited(min_replicas, "TooFewReplicas",
                       "the desired replica count is less than the minimum replica count")
    if desired > maximum:
        return Limited(maximum, reason, message)
    return Limited(desired, "DesiredWithinRange",
                   "the desired count is within the acceptable range")


def replicas_change_per_period(period_seconds: int, events: list[ScaleEvent],
                               now: datetime) -> int:
    """Upstream's `getReplicasChangePerPeriod`."""
    cutoff = now - timedelta(seconds=period_seconds)
    return sum(event.replica_change for event in events if event.timestamp > cutoff)


def _policies(rules: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in rules.get("policies") or [] if isinstance(p, Mapping)]


def _limit_by_policies(current: int, up_events: list[ScaleEvent],
                       down_events: list[ScaleEvent], rules: Mapping[str, Any],
                       now: datetime, *, up: bool) -> int:
    """The replicas the policies allow from the count at the start of each policy's period:
    the most change (selectPolicy Max) or the least (Min) among them."""
    select = rules.get("selectPolicy")
    if select == "Disabled":
        return current
    least_change = select == "Min"
    # Up: the least change is the lowest count; down: the highest.
    pick = min if least_change == up else max
    result = (_INT32_MAX if pick is min else _INT32_MIN)
    for policy in _policies(rules):
        period = int(policy.get("periodSeconds") or 0)
        start = current - replicas_change_per_period(period, up_events, now) + \
            replicas_change_per_period(period, down_events, now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposed = start + value if up else start - value
        elif policy.get("type") == "Percent":
            proposed = math.ceil(start * (1 + value / 100)) if up \
                else int(start * (1 - value / 100))
        else:
            continue
        result = pick(result, proposed)
    return result


def calculate_scale_up_limit_with_scaling_rules(
        current: int, up_events: list[ScaleEvent], down_events: list[ScaleEvent],
        rules: Mapping[str, Any], now: datetime) -> int:
    """Upstream's `calculateScaleUpLimitWithScalingRules`."""
    return _limit_by_policies(current, up_events, down_events, rules, now, up=True)


def calculate_scale_down_limit_with_behaviors(
        current: int, up_events: list[ScaleEvent], down_events: list[ScaleEvent],
        rules: Mapping[str, Any], now: datetime) -> int:
    """Upstream's `calculateScaleDownLimitWithBehaviors`."""
    return _limit_by_policies(current, up_events, down_events, rules, now, up=False)


def convert_desired_replicas_with_behavior_rate(
        history: History, current: int, desired: int, min_replicas: int, max_replicas: int,
        scale_up: Mapping[str, Any], scale_down: Mapping[str, Any], now: datetime
        ) -> Limited:
    """Upstream's `convertDesiredReplicasWithBehaviorRate`."""
    if desired > current:
        limit = calculate_scale_up_limit_with_scaling_rules(
            current, history.scale_up_events, history.scale_down_events, scale_up, now)
        limit = max(limit, current)  # no further up until the events age out
        if max_replicas > limit:
            maximum, reason, message = limit, "ScaleUpLimit", \
                "the desired replica count is increasing faster than the maximum scale rate"
        else:
            maximum, reason, message = max_replicas, "TooManyReplicas", \
                "the desired replica count is more than the maximum replica count"
        if desired > maximum:
            return Limited(maximum, reason, message)
    elif desired < current:
        limit = calculate_scale_down_limit_with_behaviors(
            current, history.scale_up_events, history.scale_down_events, scale_down, now)
        limit = min(limit, current)  # no further down until the events age out
        if min_replicas < limit:
            minimum, reason, message = limit, "ScaleDownLimit", \
                "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            minimum, reason, message = min_replicas, "TooFewReplicas", \
                "the desired replica count is less than the minimum replica count"
        if desired < minimum:
            return Limited(minimum, reason, message)
    return Limited(desired, "DesiredWithinRange",
                   "the desired count is within the acceptable range")


def _longest_period(rules: Mapping[str, Any] | None) -> int:
    return max((int(p.get("periodSeconds") or 0) for p in _policies(rules or {})),
               default=0)


def store_scale_event(history: History, behavior: Mapping[str, Any] | None, previous: int,
                      new: int, now: datetime) -> None:
    """Upstream's `storeScaleEvent`: only with a behavior; an event older than the
    direction's longest policy period is marked outdated and the last such one reused."""
    if behavior is None:
        return
    if new > previous:
        events, rules, change = history.scale_up_events, behavior.get("scaleUp"), new - previous
    else:
        events, rules, change = (history.scale_down_events, behavior.get("scaleDown"),
                                 previous - new)
    cutoff = now - timedelta(seconds=_longest_period(rules))
    old_index = -1
    for index, event in enumerate(events):
        if event.timestamp < cutoff:
            event.outdated = True
        if event.outdated:
            old_index = index
    fresh = ScaleEvent(change, now)
    if old_index >= 0:
        events[old_index] = fresh
    else:
        events.append(fresh)
