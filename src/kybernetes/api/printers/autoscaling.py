"""Printer for autoscaling/v2 HorizontalPodAutoscalers."""

from __future__ import annotations

from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    dct,
    get,
    i,
    lst,
    name,
    name_col,
    quantity_ptr,
    s,
)


def _status(statuses: list[Any], index: int, key: str) -> Any:
    return get(statuses[index], key) if index < len(statuses) else None


def _value_metric(spec: Obj, current: Any) -> str:
    """External and Object metrics: `current/target`, `(avg)` for average targets."""
    target = dct(spec, "target")
    if target.get("averageValue") is not None:
        now = "<unknown>"
        if current is not None and get(current, "current", "averageValue") is not None:
            now = quantity_ptr(get(current, "current", "averageValue"))
        return f"{now}/{quantity_ptr(target.get('averageValue'))} (avg)"
    now = "<unknown>" if current is None else quantity_ptr(get(current, "current", "value"))
    return f"{now}/{quantity_ptr(target.get('value'))}"


def _resource_metric(spec: Obj, current: Any) -> str:
    target = dct(spec, "target")
    resource = s(spec, "name")
    if target.get("averageValue") is not None:
        now = "<unknown>"
        if current is not None:
            now = quantity_ptr(get(current, "current", "averageValue"))
        return f"{resource}: {now}/{quantity_ptr(target.get('averageValue'))}"
    now = "<unknown>"
    if current is not None and get(current, "current", "averageUtilization") is not None:
        now = f"{i(current, 'current', 'averageUtilization')}%"
    goal = "<auto>"
    if target.get("averageUtilization") is not None:
        goal = f"{i(target, 'averageUtilization')}%"
    return f"{resource}: {now}/{goal}"


def format_hpa_metrics(specs: list[Any], statuses: list[Any]) -> str:
    """`formatHPAMetrics`: the first two metrics as `current/target`, then `+ N more...`."""
    if not specs:
        return "<none>"
    found: list[str] = []
    for index, spec in enumerate(specs):
        kind = s(spec, "type")
        if kind in ("External", "Object"):
            key = kind.lower()
            found.append(_value_metric(dct(spec, key), _status(statuses, index, key)))
        elif kind == "Pods":
            current = _status(statuses, index, "pods")
            now = "<unknown>" if current is None \
                else quantity_ptr(get(current, "current", "averageValue"))
            found.append(f"{now}/{quantity_ptr(get(spec, 'pods', 'target', 'averageValue'))}")
        elif kind in ("Resource", "ContainerResource"):
            key = "resource" if kind == "Resource" else "containerResource"
            found.append(_resource_metric(dct(spec, key), _status(statuses, index, key)))
        else:
            found.append("<unknown type>")
    if len(specs) > 2:
        return f"{', '.join(found[:2])} + {len(specs) - 2} more..."
    return ", ".join(found)


def _hpa_cells(hpa: Obj, ctx: Context) -> Cells:
    spec = dct(hpa, "spec")
    reference = f"{s(spec, 'scaleTargetRef', 'kind')}/{s(spec, 'scaleTargetRef', 'name')}"
    min_pods = "<unset>" if get(spec, "minReplicas") is None else str(i(spec, "minReplicas"))
    return [name(hpa), reference,
            format_hpa_metrics(lst(spec, "metrics"), lst(hpa, "status", "currentMetrics")),
            min_pods, i(spec, "maxReplicas"), i(hpa, "status", "currentReplicas"),
            age(hpa, ctx)]


HORIZONTAL_POD_AUTOSCALERS = Printer((
    name_col(),
    col("Reference", "string", "hpa.HorizontalPodAutoscalerSpec.scaleTargetRef"),
    col("Targets", "string", "hpa.HorizontalPodAutoscalerSpec.metrics"),
    col("MinPods", "string", "hpa.HorizontalPodAutoscalerSpec.minReplicas"),
    col("MaxPods", "string", "hpa.HorizontalPodAutoscalerSpec.maxReplicas"),
    col("Replicas", "string", "hpa.HorizontalPodAutoscalerStatus.currentReplicas"),
    age_col(),
), _hpa_cells)

PRINTERS: dict[str, Printer] = {"horizontalpodautoscalers": HORIZONTAL_POD_AUTOSCALERS}
