"""Printers for policy/v1, scheduling.k8s.io/v1 and coordination.k8s.io/v1."""

from __future__ import annotations

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    b,
    col,
    get,
    i,
    int_or_string,
    name,
    name_col,
    s,
)


def _pdb_cells(obj: Obj, ctx: Context) -> Cells:
    min_available = get(obj, "spec", "minAvailable")
    max_unavailable = get(obj, "spec", "maxUnavailable")
    return [name(obj), "N/A" if min_available is None else int_or_string(min_available),
            "N/A" if max_unavailable is None else int_or_string(max_unavailable),
            i(obj, "status", "disruptionsAllowed"), age(obj, ctx)]


POD_DISRUPTION_BUDGETS = Printer((
    name_col(),
    col("Min Available", "string", text="The minimum number of pods that must be available."),
    col("Max Unavailable", "string",
        text="The maximum number of pods that may be unavailable."),
    col("Allowed Disruptions", "integer",
        text="Calculated number of pods that may be disrupted at this time."),
    age_col(),
), _pdb_cells)

PRIORITY_CLASSES = Printer((
    name_col(),
    col("Value", "integer", "sched.PriorityClass.value"),
    col("Global-Default", "boolean", "sched.PriorityClass.globalDefault"),
    age_col(),
    col("PreemptionPolicy", "string", "sched.PriorityClass.preemptionPolicy"),
), lambda obj, ctx: [name(obj), i(obj, "value"), b(obj, "globalDefault"), age(obj, ctx),
                     s(obj, "preemptionPolicy")])

LEASES = Printer((
    name_col(),
    col("Holder", "string", "coord.LeaseSpec.holderIdentity"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "spec", "holderIdentity"), age(obj, ctx)])

PRINTERS: dict[str, Printer] = {
    "poddisruptionbudgets": POD_DISRUPTION_BUDGETS,
    "priorityclasses": PRIORITY_CLASSES,
    "leases": LEASES,
}
