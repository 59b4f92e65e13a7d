"""The strategy of events.k8s.io Events. They are stored as core Events (api/conversion), so
writes follow the core strategy; this one gives reads their own field labels
(`regarding.*`, `reportingController`)."""

from __future__ import annotations

from kybernetes.api.printers import core as printers
from kybernetes.api.validation import core as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy("events.k8s.io", "events", printer=printers.EVENTS,
                        create=validation.validate_event,
                        update=lambda new, _old: validation.validate_event(new)),
    ]
