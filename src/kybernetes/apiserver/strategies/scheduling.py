"""The strategy of scheduling.k8s.io PriorityClasses."""

from __future__ import annotations

from kybernetes.api.defaults import other as defaults
from kybernetes.api.printers import policy as printers
from kybernetes.api.validation import misc as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("scheduling.k8s.io", "priorityclasses", printer=printers.PRIORITY_CLASSES,
                        defaults=defaults.default_priority_class,
                        create=validation.validate_priority_class,
                        update=validation.validate_priority_class_update),
    ]
