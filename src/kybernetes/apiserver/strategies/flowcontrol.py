"""The strategies of flowcontrol.apiserver.k8s.io: FlowSchemas and
PriorityLevelConfigurations."""

from __future__ import annotations

from kybernetes.api.defaults import apiconfig as defaults
from kybernetes.api.printers import admission as printers
from kybernetes.api.validation import flowcontrol as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "flowcontrol.apiserver.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "flowschemas", printer=printers.PRINTERS["flowschemas"],
                        defaults=defaults.default_flow_schema,
                        create=validation.validate_flow_schema,
                        update=validation.validate_flow_schema_update, generation=True),
        BuiltinStrategy(GROUP, "prioritylevelconfigurations",
                        printer=printers.PRINTERS["prioritylevelconfigurations"],
                        defaults=defaults.default_priority_level,
                        create=validation.validate_priority_level,
                        update=validation.validate_priority_level_update, generation=True),
    ]
