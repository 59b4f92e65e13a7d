"""The strategies of resource.k8s.io (dynamic resource allocation): DeviceClasses,
ResourceClaims, ResourceClaimTemplates and ResourceSlices."""

from __future__ import annotations

from kybernetes.api.defaults import resource as defaults
from kybernetes.api.printers import resource as printers
from kybernetes.api.validation import resource as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "resource.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "deviceclasses", printer=printers.PRINTERS["deviceclasses"],
                        create=validation.validate_device_class,
                        update=validation.validate_device_class_update, generation=True),
        BuiltinStrategy(GROUP, "resourceclaims", printer=printers.RESOURCE_CLAIMS,
                        defaults=defaults.default_resource_claim,
                        create=validation.validate_resource_claim,
                        update=validation.validate_resource_claim_update),
        BuiltinStrategy(GROUP, "resourceclaimtemplates",
                        printer=printers.PRINTERS["resourceclaimtemplates"],
                        defaults=defaults.default_resource_claim_template,
                        create=validation.validate_resource_claim_template,
                        update=validation.validate_resource_claim_template_update),
        BuiltinStrategy(GROUP, "resourceslices", printer=printers.RESOURCE_SLICES,
                        create=validation.validate_resource_slice,
                        update=validation.validate_resource_slice_update, generation=True),
    ]
