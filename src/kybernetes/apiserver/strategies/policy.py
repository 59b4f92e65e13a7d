"""The strategy of policy/v1 PodDisruptionBudgets."""

from __future__ import annotations

from kybernetes.api.printers import policy as printers
from kybernetes.api.validation import misc as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("policy", "poddisruptionbudgets", printer=printers.POD_DISRUPTION_BUDGETS,
                        create=validation.validate_pdb, update=validation.validate_pdb_update,
                        generation=True),
    ]
