"""The webhooks of the MutatingWebhookConfigurations or ValidatingWebhookConfigurations,
read from the API server's watch cache (kept current by its watch, as upstream's plugins
read an informer) and compiled once per configuration resourceVersion: parsed selectors,
compiled matchConditions, defaults filled. Configurations are taken in name order and
their webhooks in the order they list them, as upstream sorts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kybernetes.api.apiextensions.cel import CompileError, compile_expression
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.apiserver.store import ObjectStore

DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30


@dataclass(frozen=True)
class Rule:
    operations: tuple[str, ...]
    groups: tuple[str, ...]
    versions: tuple[str, ...]
    resources: tuple[str, ...]
    scope: str
    # A policy's rules may name the objects they apply to (empty: any).
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraints:
    """Which requests a webhook (or a policy, or a policy binding) applies to."""

    rules: tuple[Rule, ...]
    match_policy: str
    # A selector, or the message of the error parsing it.
    namespace_selector: LabelSelector | str
    object_selector: LabelSelector | str
    exclude: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class MatchCondition:
    name: str
    expression: str
    # The compiled program, or None when it does not compile (then `error` says why).
    program: Any
    error: str = ""


@dataclass(frozen=True)
class Webhook:
    name: str
    # Identifies the webhook across requests: configuration uid and position.
    uid: str
    mutating: bool
    match: Constraints
    conditions: tuple[MatchCondition, ...]
    client_config: dict[str, Any]
    fail_closed: bool
    side_effects: str
    timeout: float
    reinvoke: bool


def _selector(spec: Any) -> LabelSelector | str:
    try:
        return label_selector_from_dict(spec if isinstance(spec, dict) else {})
    except ValueError as err:
        return str(err)


def _rule(spec: dict[str, Any]) -> Rule:
    return Rule(tuple(spec.get("operations") or ()), tuple(spec.get("apiGroups") or ()),
                tuple(spec.get("apiVersions") or ()), tuple(spec.get("resources") or ()),
                str(spec.get("scope") or "*"), tuple(spec.get("resourceNames") or ()))


def _rules(specs: Any) -> tuple[Rule, ...]:
    return tuple(_rule(r) for r in specs or () if isinstance(r, dict))


def constraints(spec: dict[str, Any], rules: Any, exclude: Any = ()) -> Constraints:
    """The rules given and the selectors and matchPolicy of `spec`."""
    return Constraints(_rules(rules), str(spec.get("matchPolicy") or "Equivalent"),
                       _selector(spec.get("namespaceSelector")),
                       _selector(spec.get("objectSelector")), _rules(exclude))


def conditions(specs: Any) -> tuple[MatchCondition, ...]:
    return tuple(_condition(c) for c in specs or () if isinstance(c, dict))


def _condition(spec: dict[str, Any]) -> MatchCondition:
    name, expression = str(spec.get("name", "")), str(spec.get("expression", ""))
    try:
        return MatchCondition(name, expression, compile_expression(expression))
    except CompileError as err:
        return MatchCondition(name, expression, None, str(err))


def compile_webhook(spec: dict[str, Any], uid: str, *, mutating: bool) -> Webhook:
    """One entry of a configuration's `webhooks`, with upstream's defaults."""
    timeout = spec.get("timeoutSeconds")
    if not isinstance(timeout, int) or timeout <= 0:
        timeout = DEFAULT_TIMEOUT
    return Webhook(
        name=str(spec.get("name", "")), uid=uid, mutating=mutating,
        match=constraints(spec, spec.get("rules")),
        conditions=conditions(spec.get("matchConditions")),
        client_config=dict(spec.get("clientConfig") or {}),
        fail_closed=spec.get("failurePolicy", "Fail") != "Ignore",
        side_effects=str(spec.get("sideEffects") or "Unknown"),
        timeout=float(min(timeout, MAX_TIMEOUT)),
        reinvoke=mutating and spec.get("reinvocationPolicy") == "IfNeeded")


def compile_configuration(obj: dict[str, Any], *, mutating: bool) -> tuple[Webhook, ...]:
    uid = str((obj.get("metadata") or {}).get("uid", ""))
    return tuple(compile_webhook(spec, f"{uid}/{index}", mutating=mutating)
                 for index, spec in enumerate(obj.get("webhooks") or ())
                 if isinstance(spec, dict))


class Configurations:
    """The webhooks of one configuration resource, recompiled only when a configuration
    changes (by key and resourceVersion)."""

    def __init__(self, store: ObjectStore, info: ResourceInfo, *, mutating: bool) -> None:
        self.store = store
        self.info = info
        self.mutating = mutating
        self._compiled: dict[str, tuple[str, tuple[Webhook, ...]]] = {}
        self._webhooks: tuple[Webhook, ...] = ()
        self._signature: tuple[tuple[str, int], ...] = ()

    def webhooks(self) -> tuple[Webhook, ...]:
        cached = list(self.store.cache.scan(self.info.key_prefix))
        signature = tuple((c.key, c.revision) for c in cached)
        if signature == self._signature:
            return self._webhooks
        compiled: dict[str, tuple[str, tuple[Webhook, ...]]] = {}
        for c in cached:
            version = str(c.obj["metadata"].get("resourceVersion", ""))
            known = self._compiled.get(c.key)
            compiled[c.key] = known if known is not None and known[0] == version else \
                (version, compile_configuration(c.obj, mutating=self.mutating))
        self._compiled = compiled
        # The cache scans in key order: configurations by name, as upstream sorts them.
        self._webhooks = tuple(hook for c in cached for hook in compiled[c.key][1])
        self._signature = signature
        return self._webhooks
