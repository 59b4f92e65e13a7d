"""Table printers per resource, ported from upstream's `pkg/printers/internalversion`.

`PRINTERS` maps a plural resource name to its `Printer`: the column definitions (all of
them; priority 1 marks the `-o wide` ones) and the function producing a row's cells.
Resources without an entry get the default Name / Created At table.
"""

from __future__ import annotations

from kybernetes.api.printers import (
    admission,
    apps,
    autoscaling,
    batch,
    core,
    networking,
    policy,
    rbac,
    resource,
    storage,
)
from kybernetes.api.printers._common import Context, Printer

PRINTERS: dict[str, Printer] = {
    **core.PRINTERS,
    **apps.PRINTERS,
    **batch.PRINTERS,
    **autoscaling.PRINTERS,
    **networking.PRINTERS,
    **rbac.PRINTERS,
    **storage.PRINTERS,
    **policy.PRINTERS,
    **admission.PRINTERS,
    **resource.PRINTERS,
}

__all__ = ["PRINTERS", "Context", "Printer"]
