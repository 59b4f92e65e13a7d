"""Printers for resource.k8s.io/v1 (dynamic resource allocation)."""

from __future__ import annotations

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    col,
    get,
    is_deleting,
    lst,
    name,
    name_col,
    s,
    swagger,
)

_NAME_AGE = Printer((name_col(), age_col()), lambda obj, ctx: [name(obj), age(obj, ctx)])


def claim_state(obj: Obj) -> str:
    """`resourceClaimState`: deleted, then pending or allocated(,reserved)."""
    states = ["deleted"] if is_deleting(obj) else []
    if get(obj, "status", "allocation") is None:
        if not is_deleting(obj):
            states.append("pending")
    else:
        states.append("allocated")
        if lst(obj, "status", "reservedFor"):
            states.append("reserved")
    return ",".join(states)


RESOURCE_CLAIMS = Printer((
    name_col(),
    col("State", "string",
        text="A summary of the current state (allocated, pending, reserved, etc.)."),
    age_col(),
), lambda obj, ctx: [name(obj), claim_state(obj), age(obj, ctx)])


def _slice_cells(obj: Obj, ctx: Context) -> Cells:
    return [name(obj), s(obj, "spec", "nodeName"), s(obj, "spec", "driver"),
            s(obj, "spec", "pool", "name"), age(obj, ctx)]


_SLICE_SPEC = "io.k8s.api.resource.v1.ResourceSliceSpec"

RESOURCE_SLICES = Printer((
    name_col(),
    col("Node", "string", text=swagger(_SLICE_SPEC, "nodeName")),
    col("Driver", "string", text=swagger(_SLICE_SPEC, "driver")),
    col("Pool", "string", text=swagger("io.k8s.api.resource.v1.ResourcePool", "name")),
    age_col(),
), _slice_cells)

PRINTERS: dict[str, Printer] = {
    "deviceclasses": _NAME_AGE,
    "resourceclaims": RESOURCE_CLAIMS,
    "resourceclaimtemplates": _NAME_AGE,
    "resourceslices": RESOURCE_SLICES,
}
