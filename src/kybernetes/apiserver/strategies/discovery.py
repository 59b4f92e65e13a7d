"""The strategy of discovery.k8s.io EndpointSlices."""

from __future__ import annotations

from kybernetes.api.defaults import other as defaults
from kybernetes.api.printers import networking as printers
from kybernetes.api.validation import networking as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("discovery.k8s.io", "endpointslices", printer=printers.ENDPOINT_SLICES,
                        defaults=defaults.default_endpoint_slice,
                        create=validation.validate_endpoint_slice,
                        update=validation.validate_endpoint_slice_update),
    ]
