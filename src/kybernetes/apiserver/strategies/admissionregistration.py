"""The strategies of admissionregistration.k8s.io: webhook configurations and validating
admission policies with their bindings (all track generation)."""

from __future__ import annotations

from kybernetes.api.defaults import apiconfig as defaults
from kybernetes.api.printers import admission as printers
from kybernetes.api.validation import admissionregistration as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "admissionregistration.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "mutatingwebhookconfigurations",
                        printer=printers.PRINTERS["mutatingwebhookconfigurations"],
                        defaults=defaults.default_mutating_webhooks,
                        create=validation.validate_mutating_webhooks,
                        update=validation.validate_mutating_webhooks_update, generation=True),
        BuiltinStrategy(GROUP, "validatingwebhookconfigurations",
                        printer=printers.PRINTERS["validatingwebhookconfigurations"],
                        defaults=defaults.default_validating_webhooks,
                        create=validation.validate_validating_webhooks,
                        update=validation.validate_validating_webhooks_update, generation=True),
        BuiltinStrategy(GROUP, "validatingadmissionpolicies",
                        printer=printers.PRINTERS["validatingadmissionpolicies"],
                        defaults=defaults.default_validating_admission_policy,
                        create=validation.validate_policy,
                        update=validation.validate_policy_update, generation=True),
        BuiltinStrategy(GROUP, "validatingadmissionpolicybindings",
                        printer=printers.PRINTERS["validatingadmissionpolicybindings"],
                        create=validation.validate_policy_binding,
                        update=validation.validate_policy_binding_update, generation=True),
    ]
