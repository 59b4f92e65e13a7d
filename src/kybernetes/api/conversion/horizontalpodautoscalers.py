"""autoscaling/v1 HorizontalPodAutoscaler, stored as autoscaling/v2.

Upstream's pkg/apis/autoscaling/v1/conversion.go: v1 has only a CPU utilization target
(`spec.targetCPUUtilizationPercentage`) and its current value
(`status.currentCPUUtilizationPercentage`); the rest of v2 rides along in annotations, in
v1's own (v2beta1-like) metric shapes: other metric specs in
`autoscaling.alpha.kubernetes.io/metrics`, current metrics in `.../current-metrics`,
conditions in `.../conditions` and the behavior, as the internal Go type encodes it (field
names capitalised), in `.../behavior`. On the way in the annotations become fields again and
are dropped, and a v1 object without metrics gets the CPU target v1 always implied (80%).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from kybernetes.api import errors
from kybernetes.api.conversion.base import Conversion, Obj

GROUP_VERSION = "autoscaling/v1"
STORAGE_GROUP_VERSION = "autoscaling/v2"
METRIC_SPECS = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP = (METRIC_SPECS, BEHAVIOR, METRIC_STATUSES, CONDITIONS)
# autoscaling.DefaultCPUUtilization.
DEFAULT_CPU_UTILIZATION = 80
_TYPES = ("object", "pods", "resource", "containerResource", "external")


def _go_json(value: Any) -> str:
    """encoding/json's compact output, with its HTML-safe escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _put(out: Obj, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _is_cpu(metric: Obj) -> bool:
    return metric.get("type") == "Resource" and _d(metric.get("resource")).get("name") == "cpu"


# -- metric specs ----------------------------------------------------------------------

def _target_to_v1(source: Obj, kind: str) -> Obj:
    """One v2 metric source as v1's (v2beta1-like) shape."""
    target, metric = _d(source.get("target")), _d(source.get("metric"))
    out: Obj = {}
    if kind == "object":
        out["target"] = copy.deepcopy(_d(source.get("describedObject")))
        out["metricName"] = metric.get("name", "")
        out["targetValue"] = target.get("value") or "0"
        _put(out, "selector", copy.deepcopy(metric.get("selector")))
        _put(out, "averageValue", target.get("averageValue"))
    elif kind == "pods":
        out["metricName"] = metric.get("name", "")
        out["targetAverageValue"] = target.get("averageValue") or "0"
        _put(out, "selector", copy.deepcopy(metric.get("selector")))
    elif kind in ("resource", "containerResource"):
        out["name"] = source.get("name", "")
        _put(out, "targetAverageUtilization", target.get("averageUtilization"))
        _put(out, "targetAverageValue", target.get("averageValue"))
        if kind == "containerResource":
            out["container"] = source.get("container", "")
    else:
        out["metricName"] = metric.get("name", "")
        _put(out, "metricSelector", copy.deepcopy(metric.get("selector")))
        _put(out, "targetValue", target.get("value"))
        _put(out, "targetAverageValue", target.get("averageValue"))
    return out


def _identifier(name: Any, selector: Any) -> Obj:
    out: Obj = {"name": name or ""}
    _put(out, "selector", copy.deepcopy(selector))
    return out


def _target_from_v1(source: Obj, kind: str) -> Obj:
    """One v1 metric source as v2's: the target type follows from which value is set."""
    out: Obj = {}
    if kind == "object":
        target: Obj = {"type": "Value" if source.get("averageValue") is None
                       else "AverageValue", "value": source.get("targetValue") or "0"}
        _put(target, "averageValue", source.get("averageValue"))
        out["describedObject"] = copy.deepcopy(_d(source.get("target")))
        out["target"] = target
        out["metric"] = _identifier(source.get("metricName"), source.get("selector"))
    elif kind == "pods":
        out["metric"] = _identifier(source.get("metricName"), source.get("selector"))
        out["target"] = {"type": "AverageValue",
                         "averageValue": source.get("targetAverageValue") or "0"}
    elif kind in ("resource", "containerResource"):
        utilization = source.get("targetAverageUtilization")
        target = {"type": "AverageValue" if utilization is None else "Utilization"}
        _put(target, "averageValue", source.get("targetAverageValue"))
        _put(target, "averageUtilization", utilization)
        out["name"] = source.get("name", "")
        out["target"] = target
        if kind == "containerResource":
            out["container"] = source.get("container", "")
    else:
        value = source.get("targetValue")
        target = {"type": "AverageValue" if value is None else "Value"}
        _put(target, "value", value)
        _put(target, "averageValue", source.get("targetAverageValue"))
        out["metric"] = _identifier(source.get("metricName"), source.get("metricSelector"))
        out["target"] = target
    return out


def _metric(metric: Obj, convert: Callable[[Obj, str], Obj]) -> Obj:
    """A metric spec or status with its one source (`resource`, `pods`, ...) converted."""
    out: Obj = {"type": metric.get("type", "")}
    for kind in _TYPES:
        if isinstance(metric.get(kind), dict):
            out[kind] = convert(metric[kind], kind)
    return out


# -- metric statuses -------------------------------------------------------------------

def _current_to_v1(source: Obj, kind: str) -> Obj:
    current, metric = _d(source.get("current")), _d(source.get("metric"))
    out: Obj = {}
    if kind == "object":
        out["target"] = copy.deepcopy(_d(source.get("describedObject")))
        out["metricName"] = metric.get("name", "")
        out["currentValue"] = current.get("value") or "0"
        _put(out, "selector", copy.deepcopy(metric.get("selector")))
        _put(out, "averageValue", current.get("averageValue"))
    elif kind == "pods":
        out["metricName"] = metric.get("name", "")
        out["currentAverageValue"] = current.get("averageValue") or "0"
        _put(out, "selector", copy.deepcopy(metric.get("selector")))
    elif kind in ("resource", "containerResource"):
        out["name"] = source.get("name", "")
        _put(out, "currentAverageUtilization", current.get("averageUtilization"))
        out["currentAverageValue"] = current.get("averageValue") or "0"
        if kind == "containerResource":
            out["container"] = source.get("container", "")
    else:
        out["metricName"] = metric.get("name", "")
        _put(out, "metricSelector", copy.deepcopy(metric.get("selector")))
        out["currentValue"] = current.get("value") or "0"
        _put(out, "currentAverageValue", current.get("averageValue"))
    return out


def _current_from_v1(source: Obj, kind: str) -> Obj:
    out: Obj = {}
    current: Obj = {}
    if kind == "object":
        current["value"] = source.get("currentValue") or "0"
        _put(current, "averageValue", source.get("averageValue"))
        out["metric"] = _identifier(source.get("metricName"), source.get("selector"))
        out["current"] = current
        out["describedObject"] = copy.deepcopy(_d(source.get("target")))
    elif kind == "pods":
        current["averageValue"] = source.get("currentAverageValue") or "0"
        out["metric"] = _identifier(source.get("metricName"), source.get("selector"))
        out["current"] = current
    elif kind in ("resource", "containerResource"):
        current["averageValue"] = source.get("currentAverageValue") or "0"
        _put(current, "averageUtilization", source.get("currentAverageUtilization"))
        out["name"] = source.get("name", "")
        out["current"] = current
        if kind == "containerResource":
            out["container"] = source.get("container", "")
    else:
        current["value"] = source.get("currentValue") or "0"
        _put(current, "averageValue", source.get("currentAverageValue"))
        out["metric"] = _identifier(source.get("metricName"), source.get("metricSelector"))
        out["current"] = current
    return out


# -- behavior, as the internal Go type encodes it ----------------------------------------

_RULES = (("stabilizationWindowSeconds", "StabilizationWindowSeconds"),
          ("selectPolicy", "SelectPolicy"), ("policies", "Policies"), ("tolerance", "Tolerance"))
_POLICY = (("type", "Type"), ("value", "Value"), ("periodSeconds", "PeriodSeconds"))


def _behavior_to_go(behavior: Obj) -> Obj:
    def rules(value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        out = {go: copy.deepcopy(value.get(name)) for name, go in _RULES}
        policies = value.get("policies")
        out["Policies"] = [{go: p.get(name, "" if name == "type" else 0) for name, go in _POLICY}
                           for p in policies if isinstance(p, dict)] \
            if isinstance(policies, list) else None
        return out
    return {"ScaleUp": rules(behavior.get("scaleUp")),
            "ScaleDown": rules(behavior.get("scaleDown"))}


def _behavior_from_go(encoded: Any) -> Obj | None:
    """The behavior of the annotation, or None when it is malformed or empty (upstream
    moves only well-formed data from annotations to fields)."""
    if not isinstance(encoded, dict):
        return None

    def rules(value: Any) -> Obj | None:
        if not isinstance(value, dict):
            return None
        out: Obj = {}
        for name, go in _RULES:
            if value.get(go) is None:
                continue
            if name == "policies":
                out[name] = [{n: p.get(g) for n, g in _POLICY if p.get(g) is not None}
                             for p in value[go] if isinstance(p, dict)]
            else:
                out[name] = value[go]
        return out

    out: Obj = {}
    for name, go in (("scaleUp", "ScaleUp"), ("scaleDown", "ScaleDown")):
        converted = rules(encoded.get(go))
        if converted is not None:
            out[name] = converted
    return out or None


# -- the objects -----------------------------------------------------------------------

def _decode_annotation(annotations: dict[str, str], key: str) -> Any:
    try:
        return json.loads(annotations[key])
    except (ValueError, TypeError):
        raise errors.bad_request(f"invalid value of annotation {key}: "
                                 f"{annotations[key]!r}") from None


def to_v2(hpa: Obj) -> Obj:
    """`Convert_v1_HorizontalPodAutoscaler_To_autoscaling_HorizontalPodAutoscaler`."""
    meta = copy.deepcopy(_d(hpa.get("metadata")))
    annotations: dict[str, str] = dict(_d(meta.get("annotations")))
    spec_v1, status_v1 = _d(hpa.get("spec")), _d(hpa.get("status"))
    spec: Obj = {"scaleTargetRef": copy.deepcopy(_d(spec_v1.get("scaleTargetRef")))}
    _put(spec, "minReplicas", spec_v1.get("minReplicas"))
    _put(spec, "maxReplicas", spec_v1.get("maxReplicas"))
    metrics: list[Obj] = []
    if spec_v1.get("targetCPUUtilizationPercentage") is not None:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization",
            "averageUtilization": spec_v1["targetCPUUtilizationPercentage"]}}}]
    status: Obj = {}
    for name in ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"):
        _put(status, name, status_v1.get(name))
    if status_v1.get("currentCPUUtilizationPercentage") is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status_v1["currentCPUUtilizationPercentage"]}}}]
    if METRIC_SPECS in annotations:
        others = _decode_annotation(annotations, METRIC_SPECS)
        metrics = [_metric(m, _target_from_v1) for m in (others or []) if isinstance(m, dict)] \
            + metrics
    if METRIC_STATUSES in annotations:
        current = _decode_annotation(annotations, METRIC_STATUSES)
        status["currentMetrics"] = [_metric(m, _current_from_v1) for m in (current or [])
                                    if isinstance(m, dict)]
    if not metrics:
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
    spec["metrics"] = metrics
    if CONDITIONS in annotations:
        conditions = _decode_annotation(annotations, CONDITIONS)
        status["conditions"] = [copy.deepcopy(c) for c in (conditions or [])
                                if isinstance(c, dict)]
    if BEHAVIOR in annotations:
        try:
            behavior = _behavior_from_go(json.loads(annotations[BEHAVIOR]))
        except (ValueError, TypeError):
            behavior = None
        if behavior is not None:
            spec["behavior"] = behavior
    for key in ROUND_TRIP:
        annotations.pop(key, None)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out: Obj = {"kind": "HorizontalPodAutoscaler", "apiVersion": STORAGE_GROUP_VERSION,
                "metadata": meta, "spec": spec}
    if status or "status" in hpa:
        out["status"] = status
    return out


def to_v1(hpa: Obj) -> Obj:
    """`Convert_autoscaling_HorizontalPodAutoscaler_To_v1_HorizontalPodAutoscaler`."""
    meta = copy.deepcopy(_d(hpa.get("metadata")))
    # Round-trip annotations already on the object are never passed on: only those made here.
    annotations: dict[str, str] = {k: v for k, v in _d(meta.get("annotations")).items()
                                   if k not in ROUND_TRIP}
    spec_v2, status_v2 = _d(hpa.get("spec")), _d(hpa.get("status"))
    metrics = [m for m in spec_v2.get("metrics") or [] if isinstance(m, dict)]
    spec: Obj = {"scaleTargetRef": copy.deepcopy(_d(spec_v2.get("scaleTargetRef")))}
    _put(spec, "minReplicas", spec_v2.get("minReplicas"))
    spec["maxReplicas"] = spec_v2.get("maxReplicas", 0)
    for metric in metrics:
        if _is_cpu(metric):
            utilization = _d(_d(metric["resource"]).get("target")).get("averageUtilization")
            _put(spec, "targetCPUUtilizationPercentage", utilization)
            break
    status: Obj = {}
    for name in ("observedGeneration", "lastScaleTime"):
        _put(status, name, status_v2.get(name))
    status["currentReplicas"] = status_v2.get("currentReplicas", 0)
    status["desiredReplicas"] = status_v2.get("desiredReplicas", 0)
    current = [m for m in status_v2.get("currentMetrics") or [] if isinstance(m, dict)]
    for metric in current:
        if _is_cpu(metric):
            utilization = _d(_d(metric["resource"]).get("current")).get("averageUtilization")
            _put(status, "currentCPUUtilizationPercentage", utilization)
    others = [_metric(m, _target_to_v1) for m in metrics if not (
        _is_cpu(m) and _d(_d(m["resource"]).get("target")).get("averageUtilization")
        is not None)]
    if others:
        annotations[METRIC_SPECS] = _go_json(others)
    if current:
        annotations[METRIC_STATUSES] = _go_json([_metric(m, _current_to_v1) for m in current])
    conditions = [c for c in status_v2.get("conditions") or [] if isinstance(c, dict)]
    if conditions:
        annotations[CONDITIONS] = _go_json([_condition_to_v1(c) for c in conditions])
    if isinstance(spec_v2.get("behavior"), dict):
        annotations[BEHAVIOR] = _go_json(_behavior_to_go(spec_v2["behavior"]))
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": GROUP_VERSION, "metadata": meta,
            "spec": spec, "status": status}


def _condition_to_v1(condition: Obj) -> Obj:
    """v1's HorizontalPodAutoscalerCondition, in its field order (a zero
    lastTransitionTime encodes as null)."""
    out: Obj = {"type": condition.get("type", ""), "status": condition.get("status", ""),
                "lastTransitionTime": condition.get("lastTransitionTime")}
    _put(out, "reason", condition.get("reason") or None)
    _put(out, "message", condition.get("message") or None)
    return out


CONVERSION = Conversion("autoscaling", "v1", "horizontalpodautoscalers", "autoscaling", "v2",
                        to_v2, to_v1)
