"""Multi-version resources: which served versions are converted, and to what.

A resource served in several versions is stored in one (upstream's storage version: core/v1
for events, autoscaling/v2 for horizontalpodautoscalers); each other version has a
`Conversion` here, one module per resource, registered by (group, version, resource). The
generic store converts request bodies to the storage version and objects it returns back to
the request's version.
"""

from __future__ import annotations

from kybernetes.api.conversion import events, horizontalpodautoscalers
from kybernetes.api.conversion.base import Conversion

__all__ = ["Conversion", "lookup"]

_CONVERSIONS: dict[tuple[str, str, str], Conversion] = {
    (c.group, c.version, c.resource): c
    for c in (events.CONVERSION, horizontalpodautoscalers.CONVERSION)
}


def lookup(group: str, version: str, resource: str) -> Conversion | None:
    """The conversion of a served version that is not its resource's storage version."""
    return _CONVERSIONS.get((group, version, resource))
