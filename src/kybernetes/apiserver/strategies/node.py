"""The strategy of node.k8s.io RuntimeClasses."""

from __future__ import annotations

from kybernetes.api.printers import admission as printers
from kybernetes.api.validation import node as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("node.k8s.io", "runtimeclasses",
                        printer=printers.PRINTERS["runtimeclasses"],
                        create=validation.validate_runtime_class,
                        update=validation.validate_runtime_class_update),
    ]
