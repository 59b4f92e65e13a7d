"""The strategy of autoscaling's HorizontalPodAutoscalers (served as v2 and v1, stored as
v2)."""

from __future__ import annotations

from kybernetes.api.defaults import other as defaults
from kybernetes.api.printers import autoscaling as printers
from kybernetes.api.validation import misc as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("autoscaling", "horizontalpodautoscalers",
                        printer=printers.HORIZONTAL_POD_AUTOSCALERS,
                        defaults=defaults.default_hpa, create=validation.validate_hpa,
                        update=validation.validate_hpa_update, generation=True),
    ]
