"""Defaults of the kinds that configure the API server itself: admission webhooks and
policies (admissionregistration/v1 `SetDefaults_*`), APIServices (apiregistration/v1) and
API Priority and Fairness (flowcontrol/v1)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _dict(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def _rules(rules: Any) -> None:
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and rule.get("scope") is None:
            rule["scope"] = "*"


def _service_port(config: Any) -> None:
    if isinstance(config, dict) and isinstance(config.get("service"), dict):
        config["service"].setdefault("port", 443)


def _webhooks(obj: Obj, *, mutating: bool) -> None:
    for hook in obj.get("webhooks") or []:
        if not isinstance(hook, dict):
            continue
        hook.setdefault("failurePolicy", "Fail")
        hook.setdefault("matchPolicy", "Equivalent")
        for selector in ("namespaceSelector", "objectSelector"):
            if hook.get(selector) is None:
                hook[selector] = {}
        hook.setdefault("timeoutSeconds", 10)
        if mutating:
            hook.setdefault("reinvocationPolicy", "Never")
        _rules(hook.get("rules"))
        _service_port(hook.get("clientConfig"))


def default_mutating_webhooks(obj: Obj) -> None:
    _webhooks(obj, mutating=True)


def default_validating_webhooks(obj: Obj) -> None:
    _webhooks(obj, mutating=False)


def default_validating_admission_policy(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("failurePolicy", "Fail")
    constraints = spec.get("matchConstraints")
    if isinstance(constraints, dict):
        constraints.setdefault("matchPolicy", "Equivalent")
        for selector in ("namespaceSelector", "objectSelector"):
            if constraints.get(selector) is None:
                constraints[selector] = {}
        _rules(constraints.get("resourceRules"))
        _rules(constraints.get("excludeResourceRules"))


def default_api_service(obj: Obj) -> None:
    _service_port(obj.get("spec"))


def default_flow_schema(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if not spec.get("matchingPrecedence"):
        spec["matchingPrecedence"] = 1000


def default_priority_level(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if spec.get("type") == "Exempt":
        exempt = _dict(spec, "exempt")
        exempt.setdefault("nominalConcurrencyShares", 0)
        exempt.setdefault("lendablePercent", 0)
    limited = spec.get("limited")
    if not isinstance(limited, dict):
        return
    if limited.get("nominalConcurrencyShares") is None:
        limited["nominalConcurrencyShares"] = 30
    if limited.get("lendablePercent") is None:
        limited["lendablePercent"] = 0
    queuing = (limited.get("limitResponse") or {}).get("queuing")
    if isinstance(queuing, dict):
        for key, value in (("handSize", 8), ("queues", 64), ("queueLengthLimit", 50)):
            if not queuing.get(key):
                queuing[key] = value
