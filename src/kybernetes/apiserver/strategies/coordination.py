"""The strategy of coordination.k8s.io Leases."""

from __future__ import annotations

from kybernetes.api.printers import policy as printers
from kybernetes.api.validation import misc as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("coordination.k8s.io", "leases", printer=printers.LEASES,
                        create=validation.validate_lease, update=validation.validate_lease_update),
    ]
