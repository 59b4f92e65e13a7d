"""Table printers per resource, ported from upstream's `pkg/printers/internalversion`.

A `Printer` holds the column definitions (all of them; priority 1 marks the `-o wide`
ones) and the function producing a row's cells. The modules here define one per kind,
grouped as upstream's printers are; a resource's strategy (apiserver/strategies) names its
printer, and resources without one get the default Name / Created At table.
"""

from __future__ import annotations

from kybernetes.api.printers._common import Context, Printer

__all__ = ["Context", "Printer"]
