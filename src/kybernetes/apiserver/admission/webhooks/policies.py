"""Upstream's ValidatingAdmissionPolicy admission plugin (`admission/plugin/policy/
validating`): ValidatingAdmissionPolicies bound by ValidatingAdmissionPolicyBindings, their
CEL validations run in the API server (the same CEL library and matching as webhooks).

A binding applies its policy to a request both the policy's matchConstraints and the
binding's matchResources take (rules with resourceNames and excludeResourceRules,
selectors, matchPolicy), and whose matchConditions hold. With a paramKind, the binding's
paramRef picks the parameter objects (by name or selector, in its namespace or the
request's) and the policy runs once per parameter; none found denies or allows as its
parameterNotFoundAction says. Expressions see `object`, `oldObject`, `request`, `params`,
`namespaceObject` and the policy's `variables` (no `authorizer`). A failed validation
denies (`validationActions` Deny, with upstream's `ValidatingAdmissionPolicy '<policy>'
with binding '<binding>' denied request: <message>` and the code of its reason, Invalid by
default) or warns (Warn); Audit records nothing here. An expression that cannot be
evaluated counts as a failure under failurePolicy Fail and is ignored under Ignore.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import cel

from kybernetes.api import errors
from kybernetes.api.apiextensions.cel import CompileError, compile_expression
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.admission.webhooks import matching
from kybernetes.apiserver.admission.webhooks.configurations import (
    Constraints,
    MatchCondition,
    conditions,
    constraints,
)
from kybernetes.apiserver.admission.webhooks.review import View, admission_review
from kybernetes.apiserver.store import ObjectStore

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

GROUP = "admissionregistration.k8s.io"
_CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413,
          "Invalid": 422}
T = TypeVar("T")


@dataclass(frozen=True)
class Expression:
    text: str
    program: Any
    error: str = ""


def _expression(text: Any) -> Expression:
    source = str(text or "")
    try:
        return Expression(source, compile_expression(source))
    except CompileError as err:
        return Expression(source, None, str(err))


@dataclass(frozen=True)
class Validation:
    expression: Expression
    message: str
    message_expression: Expression | None
    reason: str


@dataclass(frozen=True)
class Policy:
    name: str
    # (group, version, kind) of the parameters, or None.
    param_kind: tuple[str, str, str] | None
    match: Constraints
    conditions: tuple[MatchCondition, ...]
    variables: tuple[tuple[str, Expression], ...]
    validations: tuple[Validation, ...]
    fail_closed: bool


@dataclass(frozen=True)
class Binding:
    name: str
    policy: str
    param_ref: dict[str, Any] | None
    match: Constraints | None
    actions: tuple[str, ...]


def compile_policy(obj: dict[str, Any]) -> Policy:
    spec = obj.get("spec") or {}
    kind = spec.get("paramKind")
    param_kind = None
    if isinstance(kind, dict):
        group, _, version = str(kind.get("apiVersion", "")).rpartition("/")
        param_kind = (group, version, str(kind.get("kind", "")))
    match = spec.get("matchConstraints") or {}
    validations = tuple(
        Validation(_expression(v.get("expression")), str(v.get("message") or ""),
                   _expression(v["messageExpression"]) if v.get("messageExpression") else None,
                   str(v.get("reason") or "Invalid"))
        for v in spec.get("validations") or () if isinstance(v, dict))
    return Policy(
        name=str(obj["metadata"].get("name", "")), param_kind=param_kind,
        match=constraints(match, match.get("resourceRules"), match.get("excludeResourceRules")),
        conditions=conditions(spec.get("matchConditions")),
        variables=tuple((str(v.get("name", "")), _expression(v.get("expression")))
                        for v in spec.get("variables") or () if isinstance(v, dict)),
        validations=validations, fail_closed=spec.get("failurePolicy", "Fail") != "Ignore")


def compile_binding(obj: dict[str, Any]) -> Binding:
    spec = obj.get("spec") or {}
    match = spec.get("matchResources")
    return Binding(
        name=str(obj["metadata"].get("name", "")), policy=str(spec.get("policyName", "")),
        param_ref=spec.get("paramRef") if isinstance(spec.get("paramRef"), dict) else None,
        match=constraints(match, match.get("resourceRules"), match.get("excludeResourceRules"))
        if isinstance(match, dict) and match.get("resourceRules") else
        constraints(match, [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"],
                             "resources": ["*", "*/*"]}], match.get("excludeResourceRules"))
        if isinstance(match, dict) else None,
        actions=tuple(spec.get("validationActions") or ()))


class Compiled(Generic[T]):
    """The objects of one resource from the watch cache, compiled once per
    resourceVersion, in name order."""

    def __init__(self, store: ObjectStore, info: ResourceInfo,
                 compile_one: Callable[[dict[str, Any]], T]) -> None:
        self.store = store
        self.info = info
        self.compile_one = compile_one
        self._compiled: dict[str, tuple[int, T]] = {}

    def items(self) -> list[T]:
        cached = list(self.store.cache.scan(self.info.key_prefix))
        compiled: dict[str, tuple[int, T]] = {}
        for c in cached:
            known = self._compiled.get(c.key)
            compiled[c.key] = known if known is not None and known[0] == c.revision else \
                (c.revision, self.compile_one(c.obj))
        self._compiled = compiled
        return [compiled[c.key][1] for c in cached]


class _Failure(Exception):
    """An expression that could not be evaluated (failurePolicy decides)."""


def _run(expression: Expression, context: cel.Context) -> Any:
    if expression.program is None:
        raise _Failure(f"compilation failed: {expression.error}")
    try:
        return expression.program.execute(context)
    except Exception as err:  # the interpreter raises anything an expression meets
        raise _Failure(f"expression '{expression.text}' resulted in error: "
                       f"{matching.describe(err)}") from None


def denial(request: AdmissionRequest, message: str, reason: str) -> errors.StatusError:
    """Upstream's refusal: NewForbidden's message with the validation's reason and code."""
    forbidden = request.forbidden(message)
    details = {**forbidden.details, "causes": [{"message": message}]}
    return errors.StatusError(_CODES.get(reason, 422), reason, forbidden.message, details)


class ValidatingAdmissionPolicy:
    name = "ValidatingAdmissionPolicy"

    def __init__(self, server: ApiServer) -> None:
        self.registry = server.registry
        self.store = server.store
        self.policies = Compiled(server.store, self._info(GROUP, "validatingadmissionpolicies"),
                                 compile_policy)
        self.bindings = Compiled(server.store,
                                 self._info(GROUP, "validatingadmissionpolicybindings"),
                                 compile_binding)
        self.namespaces = self._info("", "namespaces")

    def _info(self, group: str, resource: str) -> ResourceInfo:
        info = self.registry.get(group, "v1", resource)
        assert info is not None, resource
        return info

    @staticmethod
    def handles(target: Target) -> Phase:
        # Which policies match changes with their bindings: decided per request.
        return Phase.VALIDATE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if matching.exempt(request):
            return
        bindings = self.bindings.items()
        if not bindings:
            return
        policies = {p.name: p for p in self.policies.items()}
        versions = [v for v in self.registry.group_versions().get(request.group, ())
                    if self.registry.get(request.group, v, request.resource) is not None]
        namespace = await self._namespace(request)
        for binding in bindings:
            policy = policies.get(binding.policy)
            if policy is None:
                continue
            version = await self._matches(policy.match, request, versions, namespace)
            if version is None or (binding.match is not None and await self._matches(
                    binding.match, request, versions, namespace) is None):
                continue
            view = View(self.registry.get(request.group, version, request.resource)
                        or request.info)
            await self._apply(policy, binding, request, view, namespace)

    async def _namespace(self, request: AdmissionRequest) -> dict[str, Any] | None:
        if not request.namespace:
            return None
        return lookup.cached(self.store, self.namespaces, "", request.namespace) or \
            await lookup.live(self.store, self.namespaces, "", request.namespace)

    async def _matches(self, match: Constraints, request: AdmissionRequest,
                       versions: list[str], namespace: dict[str, Any] | None) -> str | None:
        version = matching.matched_version(match, request, versions)
        if version is None:
            return None
        try:
            if not matching.object_selector_matches(match, request):
                return None
            if matching.needs_namespace_labels(match, request):
                labels = matching.own_namespace_labels(request)
                if labels is None:
                    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
                if not matching.namespace_selector_matches(match, labels):
                    return None
        except matching.MatchError as err:
            raise errors.internal(f"Internal error occurred: {err}") from None
        return version

    async def _apply(self, policy: Policy, binding: Binding, request: AdmissionRequest,
                     view: View, namespace: dict[str, Any] | None) -> None:
        prefix = f"ValidatingAdmissionPolicy '{policy.name}' with binding '{binding.name}'"
        body = admission_review(request, view)["request"]
        variables: dict[str, Any] = {"object": body["object"], "oldObject": body["oldObject"],
                                     "request": body, "namespaceObject": namespace,
                                     "params": None}
        try:
            params = await self._params(policy, binding, request)
        except _Failure as err:
            if policy.fail_closed:
                raise denial(request, f"{prefix} denied request: {err}", "Invalid") from None
            return
        if params is None:
            return
        if not params:
            raise denial(request, f"{prefix} denied request: no params found for policy "
                         "binding with `Deny` parameterNotFoundAction", "Invalid")
        for param in params:
            variables["params"] = param
            for message, reason in self._evaluate(policy, variables):
                if "Deny" in binding.actions:
                    raise denial(request, f"{prefix} denied request: {message}", reason)
                if "Warn" in binding.actions:
                    requestcontext.add_warning(f"Validation failed for {prefix}: {message}")

    def _evaluate(self, policy: Policy, variables: dict[str, Any]) -> list[tuple[str, str]]:
        """The failures (message, reason) of the policy's validations for one parameter."""
        try:
            if not matching.conditions_match(policy.conditions, variables,
                                             fail_closed=policy.fail_closed):
                return []
        except matching.MatchError as err:
            return [(str(err), "Invalid")]
        composited: dict[str, Any] = {}
        failures = []
        try:
            for name, expression in policy.variables:
                composited[name] = _run(expression, cel.Context(
                    variables={**variables, "variables": composited},
                    functions=matching.FUNCTIONS))
        except _Failure as err:
            return [(str(err), "Invalid")] if policy.fail_closed else []
        context = cel.Context(variables={**variables, "variables": composited},
                              functions=matching.FUNCTIONS)
        for validation in policy.validations:
            try:
                result = _run(validation.expression, context)
            except _Failure as err:
                if policy.fail_closed:
                    failures.append((str(err), "Invalid"))
                continue
            if result is True:
                continue
            if result is not False:
                if policy.fail_closed:
                    failures.append((f"expression '{validation.expression.text}' resulted "
                                     "in non-boolean value", "Invalid"))
                continue
            failures.append((self._message(validation, context), validation.reason))
        return failures

    @staticmethod
    def _message(validation: Validation, context: cel.Context) -> str:
        if validation.message_expression is not None:
            try:
                text = _run(validation.message_expression, context)
            except _Failure:
                text = None
            if isinstance(text, str) and text.strip():
                return text
        return validation.message or \
            f"failed expression: {validation.expression.text.strip()}"

    async def _params(self, policy: Policy, binding: Binding, request: AdmissionRequest
                      ) -> list[Any] | None:
        """The parameters to run the policy with ([None] without a paramKind); [] when
        none are found and the binding says Deny, None when it says Allow."""
        if policy.param_kind is None:
            return [None]
        group, version, kind = policy.param_kind
        info = self.registry.by_kind(group, kind)
        if info is None or self.registry.get(group, version, info.plural) is None:
            raise _Failure(f"failed to find resource referenced by paramKind: "
                           f"'{group}/{version}, Kind={kind}'")
        ref = binding.param_ref
        if ref is None:
            raise _Failure(f"policy binding '{binding.name}' has no paramRef, required by "
                           "the policy's paramKind")
        namespace = str(ref.get("namespace") or "")
        if info.namespaced and not namespace:
            if not request.namespace:
                raise _Failure("cannot use namespaced paramRef in policy binding that "
                               "matches cluster-scoped resources")
            namespace = request.namespace
        if ref.get("name"):
            found = lookup.cached(self.store, info, namespace, str(ref["name"])) or \
                await lookup.live(self.store, info, namespace, str(ref["name"]))
            params = [found] if found is not None else []
        else:
            try:
                selector = label_selector_from_dict(ref.get("selector") or {})
            except ValueError as err:
                raise _Failure(str(err)) from None
            params = [p for p in lookup.cached_list(self.store, info, namespace)
                      if selector.matches(((p.get("metadata") or {}).get("labels")) or {})]
        if params:
            return params
        return [] if ref.get("parameterNotFoundAction") == "Deny" else None
