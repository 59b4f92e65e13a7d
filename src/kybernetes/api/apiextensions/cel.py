"""`x-kubernetes-validations`: CEL rules of a custom resource schema (upstream's
apiserver/schema/cel).

Rules are compiled once per schema (`compile_schema`) into a tree that mirrors the schema's
nodes that carry rules or have descendants that do, so objects are walked only where a rule
applies. A rule sees `self` (the value at its node; at the root, metadata holds only name
and generateName) and, in a transition rule, `oldSelf` (the value at the same place in the
old object, when there is one: through object properties, map values and `map` lists by
their keys; elsewhere transition rules are skipped, as upstream). A failing rule is a field
error at its node (plus `fieldPath`) with the schema type as value and the rule's message,
`messageExpression` result or `failed rule: <rule>`; `reason` picks the error type.

The language is common-expression-language (the Rust cel interpreter), with cel-go's
extension libraries from its `cel.stdlib` and Kubernetes' list library's `isSorted`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import cel

from kybernetes.api.errors import FieldError

Schema = dict[str, Any]


def _is_sorted(items: list[Any]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(items))


def _functions() -> dict[str, Any]:
    from cel.stdlib import EXTENSIONS

    functions: dict[str, Any] = {}
    for library in EXTENSIONS.values():
        functions.update(library)
    functions["isSorted"] = _is_sorted
    return functions


_FUNCTIONS = _functions()
_OLD_SELF = re.compile(r"\boldSelf\b")
_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired",
            "FieldValueDuplicate")


class CompileError(Exception):
    """A rule or message expression that does not parse."""


def compile_expression(text: str) -> Any:
    """A compiled CEL program; CompileError when `text` does not parse."""
    try:
        return cel.compile(text)
    except (ValueError, RuntimeError, TypeError) as err:
        raise CompileError(str(err).split("\n", 1)[0]) from None


@dataclass(frozen=True)
class Rule:
    rule: str
    program: Any
    message: str = ""
    message_program: Any = None
    reason: str = ""
    field_path: str = ""
    transition: bool = False
    optional_old_self: bool = False

    def default_message(self) -> str:
        return self.message.strip() or f"failed rule: {self.rule.strip()}"


@dataclass
class RuleNode:
    """The rules at one schema node and the nodes below it that hold any."""

    type: str = ""
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, RuleNode] = field(default_factory=dict)
    additional: RuleNode | None = None
    items: RuleNode | None = None
    map_keys: tuple[str, ...] = ()


def compile_rule(spec: dict[str, Any]) -> Rule:
    """One `x-kubernetes-validations` entry; CompileError when the rule or its
    messageExpression does not parse."""
    text = str(spec.get("rule") or "")
    program = compile_expression(text)
    message_expression = spec.get("messageExpression")
    message_program = compile_expression(str(message_expression)) \
        if message_expression else None
    return Rule(text, program, str(spec.get("message") or ""), message_program,
                str(spec.get("reason") or ""), str(spec.get("fieldPath") or ""),
                bool(_OLD_SELF.search(text)), bool(spec.get("optionalOldSelf")))


def compile_schema(schema: Schema) -> RuleNode | None:
    """The rule tree of a schema, None when it holds no rule."""
    node = RuleNode(type=str(schema.get("type") or ""))
    for spec in schema.get("x-kubernetes-validations") or []:
        node.rules.append(compile_rule(spec))
    for name, child in (schema.get("properties") or {}).items():
        sub = compile_schema(child)
        if sub is not None:
            node.properties[name] = sub
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        node.additional = compile_schema(additional)
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = compile_schema(items)
        if schema.get("x-kubernetes-list-type") == "map":
            node.map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    if node.rules or node.properties or node.additional or node.items:
        return node
    return None


_MISSING = object()


def validate(tree: RuleNode | None, obj: Any, old: Any = _MISSING) -> list[FieldError]:
    """Runs the rules on an object (a resource root); `old` is the stored object of an
    update. Returns the field errors of failed rules."""
    if tree is None:
        return []
    errs: list[FieldError] = []
    _walk(tree, _root_view(obj), _root_view(old) if old is not _MISSING else _MISSING,
          "", errs)
    return errs


def _root_view(obj: Any) -> Any:
    """At the root, CEL sees only metadata.name and metadata.generateName."""
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        return obj
    meta = {k: v for k, v in obj["metadata"].items() if k in ("name", "generateName")}
    return {**obj, "metadata": meta}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(node: RuleNode, value: Any, old: Any, path: str, errs: list[FieldError]) -> None:
    if value is None:
        return
    for rule in node.rules:
        if rule.transition and old is _MISSING and not rule.optional_old_self:
            continue
        _run(rule, node.type, value, old, path, errs)
    if isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        for key, child in value.items():
            sub = node.properties.get(key)
            if sub is None and key not in node.properties:
                sub = node.additional
            if sub is not None:
                _walk(sub, child, olds.get(key, _MISSING), _join(path, key), errs)
    elif isinstance(value, list) and node.items is not None:
        olds_by_key = _by_map_keys(old, node.map_keys) if node.map_keys else {}
        for i, item in enumerate(value):
            previous = _MISSING
            if node.map_keys and isinstance(item, dict):
                previous = olds_by_key.get(_map_key(item, node.map_keys), _MISSING)
            _walk(node.items, item, previous, f"{path}[{i}]", errs)


def _map_key(item: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(repr(item.get(k)) for k in keys)


def _by_map_keys(old: Any, keys: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
    if not isinstance(old, list):
        return {}
    return {_map_key(item, keys): item for item in old if isinstance(item, dict)}


def _activation(value: Any, old: Any) -> cel.Context:
    variables = {"self": value}
    if old is not _MISSING:
        variables["oldSelf"] = old
    return cel.Context(variables=variables, functions=_FUNCTIONS)


def _run(rule: Rule, type_name: str, value: Any, old: Any, path: str,
         errs: list[FieldError]) -> None:
    try:
        context = _activation(value, old)
        result = rule.program.execute(context)
    except Exception as err:  # the interpreter raises anything a rule runs into
        errs.append(FieldError.invalid(path or "<nil>", type_name,
                                       f"{_describe(err)} evaluating rule: {rule.rule}"))
        return
    if result is True:
        return
    if result is not False:
        errs.append(FieldError.invalid(path or "<nil>", type_name,
                                       f"rule did not evaluate to a bool: {rule.rule}"))
        return
    message = rule.default_message()
    if rule.message_program is not None:
        try:
            evaluated = rule.message_program.execute(context)
        except Exception:  # upstream falls back to the static message
            evaluated = None
        if isinstance(evaluated, str) and evaluated.strip():
            message = evaluated
    target = path
    if rule.field_path:
        suffix = rule.field_path
        target = f"{path}{suffix}" if path else suffix.lstrip(".")
    errs.append(_reasoned(rule.reason, target or "<nil>", type_name, message))


def _reasoned(reason: str, path: str, type_name: str, message: str) -> FieldError:
    """Upstream's fieldErrorForReason."""
    if reason == "FieldValueForbidden":
        return FieldError.forbidden(path, message)
    if reason == "FieldValueRequired":
        return FieldError.required(path, message)
    if reason == "FieldValueDuplicate":
        return FieldError(path, "FieldValueDuplicate", message, type_name)
    return FieldError.invalid(path, type_name, message)


def _describe(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"no such key: {err.args[0] if err.args else ''}"
    return str(err).split("\n", 1)[0]


def valid_reason(reason: Any) -> bool:
    return reason in _REASONS
