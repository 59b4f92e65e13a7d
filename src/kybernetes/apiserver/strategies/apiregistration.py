"""The strategy of apiregistration.k8s.io APIServices."""

from __future__ import annotations

from kybernetes.api.defaults import apiconfig as defaults
from kybernetes.api.printers import admission as printers
from kybernetes.api.validation import apiregistration as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("apiregistration.k8s.io", "apiservices",
                        printer=printers.PRINTERS["apiservices"],
                        defaults=defaults.default_api_service,
                        create=validation.validate_api_service,
                        update=validation.validate_api_service_update),
    ]
