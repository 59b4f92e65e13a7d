"""Label selectors and field selectors, as upstream Kubernetes parses and matches them.

This module owns:

* label selectors: upstream's string syntax (`k8s.io/apimachinery/pkg/labels/selector.go`,
  same lexer, parser, validation and error texts), `metav1.LabelSelector` dicts
  (`LabelSelectorAsSelector`), canonical `String()` output and matching;
* field selectors: upstream's `fields.ParseSelector` (`=`, `==`, `!=`, `,` as AND, `\\,`
  `\\=` `\\\\` escapes) and matching;
* the per-resource selectable fields: what each registry strategy's `GetAttrs` exposes
  (`field_set`) and which field labels each served version accepts
  (`AddFieldLabelConversionFunc`, checked by `validate_field_selector`).

Everything is pure: plain dicts in, plain values out. Parsing does the work once so that
`matches`, which runs for every object on every list and watch event, is a short loop over
precompiled tuples.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from kybernetes.api.errors import bad_request
from kybernetes.api.goquote import go_quote
from kybernetes.api.validation.meta import is_qualified_name, is_valid_label_value

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "escape_field_value",
    "field_set",
    "label_selector_from_dict",
    "label_selector_from_set",
    "parse_field_selector",
    "parse_label_selector",
    "validate_field_selector",
]

# Label keys and values are checked by api.validation.meta (upstream's validate/content), so a
# selector and an object's labels are held to the very same rules and messages.

_INT64_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _go_string_slice(values: list[str] | None) -> str:
    """`%#v` of a Go `[]string`, as `field.Invalid` prints a list value."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _invalid(path: str, rendered_value: str, detail: str) -> str:
    """`field.Invalid(path, value, detail).Error()`."""
    return f"{path}: Invalid value: {rendered_value}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """`field.ErrorList.ToAggregate().Error()`: deduplicated, bracketed when several."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _parse_int64(text: str) -> int | None:
    """`strconv.ParseInt(text, 10, 64)`, or None where Go returns an error."""
    if not _INT64_RE.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


# --------------------------------------------------------------------------------------
# Label selectors
# --------------------------------------------------------------------------------------

# selection.Operator values, as upstream spells them.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)

# Compiled opcodes for matching.
_OP_EQ, _OP_NE, _OP_IN, _OP_NOTIN, _OP_EXISTS, _OP_NOTEXISTS, _OP_GT, _OP_LT = range(8)


class Requirement(NamedTuple):
    """One label requirement: a key, an operator (upstream's `selection.Operator` string:
    `in`, `notin`, `=`, `==`, `!=`, `exists`, `!`, `gt`, `lt`) and its values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op, key, values = self.operator, self.key, self.values
        if op == DOES_NOT_EXIST:
            return "!" + key
        if op == EXISTS:
            return key
        joined = values[0] if len(values) == 1 else ",".join(sorted(values))
        if op in (IN, NOT_IN):
            return f"{key} {op} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{key}{symbol}{joined}"


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """`labels.NewRequirement` with no path option; raises ValueError with upstream's text."""
    errs: list[str] = []
    key_errs = is_qualified_name(key)
    if key_errs:
        errs.append(_invalid("key", go_quote(key), "; ".join(key_errs)))
    if op in (IN, NOT_IN):
        if not values:
            errs.append(_invalid("values", _go_string_slice(values),
                                 "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(_invalid("values", _go_string_slice(values),
                                 "exact-match compatibility requires one single value"))
    elif op in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(_invalid("values", _go_string_slice(values),
                                 "values set must be empty for exists and does not exist"))
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(_invalid("values", _go_string_slice(values),
                                 "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(_invalid(f"values[{i}]", go_quote(v),
                                     "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        supported = ", ".join(go_quote(o) for o in (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST))
        errs.append(f"operator: Unsupported value: {go_quote(op)}: supported values: {supported}")
    for i, v in enumerate(values):
        value_errs = is_valid_label_value(v)
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", go_quote(v), "; ".join(value_errs)))
    if errs:
        raise ValueError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


def _compile(req: Requirement) -> tuple[int, str, Any]:
    key, op, values = req
    if op in (EQUALS, DOUBLE_EQUALS) or (op == IN and len(values) == 1):
        return (_OP_EQ, key, values[0])
    if op == NOT_EQUALS or (op == NOT_IN and len(values) == 1):
        return (_OP_NE, key, values[0])
    if op == IN:
        return (_OP_IN, key, frozenset(values))
    if op == NOT_IN:
        return (_OP_NOTIN, key, frozenset(values))
    if op == EXISTS:
        return (_OP_EXISTS, key, None)
    if op == DOES_NOT_EXIST:
        return (_OP_NOTEXISTS, key, None)
    # gt / lt: a requirement whose value is not one integer matches nothing, as upstream.
    bound = _parse_int64(values[0]) if len(values) == 1 else None
    return (_OP_GT if op == GREATER_THAN else _OP_LT, key, bound)


class LabelSelector:
    """A parsed, immutable label selector: requirements ANDed together.

    `LabelSelector()` (no requirements) is upstream's `labels.Everything()`;
    `LabelSelector.nothing()` is `labels.Nothing()`, which matches no object.
    """

    __slots__ = ("_compiled", "_nothing", "_requirements")

    _requirements: tuple[Requirement, ...]
    _compiled: tuple[tuple[int, str, Any], ...]
    _nothing: bool

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False):
        reqs = () if nothing else tuple(sorted(requirements, key=lambda r: r.key))
        object.__setattr__(self, "_requirements", reqs)
        object.__setattr__(self, "_compiled", tuple(_compile(r) for r in reqs))
        object.__setattr__(self, "_nothing", nothing)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("LabelSelector is immutable")

    @classmethod
    def everything(cls) -> LabelSelector:
        return _EVERYTHING

    @classmethod
    def nothing(cls) -> LabelSelector:
        return _NOTHING

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The requirements, sorted by key (as upstream's `Add` and `Parse` sort them)."""
        return self._requirements

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (upstream's `Empty()`)."""
        return not self._requirements and not self._nothing

    @property
    def matches_nothing(self) -> bool:
        """True only for `LabelSelector.nothing()` (upstream's `labels.MatchesNothing`)."""
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        if not self._compiled:
            return True
        if labels is None:
            labels = {}
        get = labels.get
        for op, key, arg in self._compiled:
            if op == _OP_EQ:
                if get(key) != arg:
                    return False
            elif op == _OP_NE:
                if get(key) == arg:
                    return False
            elif op == _OP_IN:
                if get(key) not in arg:
                    return False
            elif op == _OP_NOTIN:
                if get(key) in arg:
                    return False
            elif op == _OP_EXISTS:
                if key not in labels:
                    return False
            elif op == _OP_NOTEXISTS:
                if key in labels:
                    return False
            else:  # gt / lt
                value = get(key)
                number = None if value is None or arg is None else _parse_int64(value)
                if number is None or (number <= arg if op == _OP_GT else number >= arg):
                    return False
        return True

    def requires_exact_match(self, key: str) -> str | None:
        """The single value the selector requires for `key`, if it requires exactly one."""
        for req in self._requirements:
            if req.key == key:
                if req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "LabelSelector.nothing()"
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self._nothing == other._nothing and self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash((self._nothing, self._requirements))


_EVERYTHING = LabelSelector()
_NOTHING = LabelSelector(nothing=True)


# Lexer tokens.
(_T_ERROR, _T_EOS, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ, _T_GT, _T_IDENT, _T_IN, _T_LT,
 _T_NEQ, _T_NOTIN, _T_OPEN) = range(14)
_STRING_TO_TOKEN = {
    ")": _T_CLOSE, ",": _T_COMMA, "!": _T_NOT, "==": _T_DEQ, "=": _T_EQ, ">": _T_GT,
    "in": _T_IN, "<": _T_LT, "!=": _T_NEQ, "notin": _T_NOTIN, "(": _T_OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """Upstream's `Lexer`: the whole token stream, ending with an end-of-string token."""
    items: list[tuple[int, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n or text[pos] == "\x00":
            items.append((_T_EOS, ""))
            return items
        if text[pos] in _SPECIAL:
            # Longest run of special symbols that still forms a known token.
            buffer, last = "", (_T_ERROR, "")
            while pos < n and text[pos] in _SPECIAL:
                buffer += text[pos]
                token = _STRING_TO_TOKEN.get(buffer)
                if token is not None:
                    last = (token, buffer)
                elif last[0] != _T_ERROR:
                    break
                pos += 1
            if last[0] == _T_ERROR:
                last = (_T_ERROR, f"error expected: keyword found '{buffer}'")
            items.append(last)
            if pos < n and text[pos] == "\x00":
                pos += 1  # Go's reader consumes the NUL that ends a token
        else:
            start = pos
            while (pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE
                   and text[pos] != "\x00"):
                pos += 1
            word = text[start:pos]
            items.append((_STRING_TO_TOKEN.get(word, _T_IDENT), word))
            if pos < n and text[pos] == "\x00":
                pos += 1


class _LabelParser:
    """Upstream's recursive-descent `Parser`, error messages included."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (_T_IN, _T_NOTIN):
            tok = _T_IDENT
        return tok, lit

    def consume(self, values: bool) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_T_IDENT, _T_NOT):
                try:
                    requirements.append(self.parse_requirement())
                except ValueError as err:
                    raise ValueError(f"unable to parse requirement: {err}") from None
                tok, lit = self.consume(True)
                if tok == _T_EOS:
                    return requirements
                if tok == _T_COMMA:
                    tok2, lit2 = self.lookahead(True)
                    if tok2 not in (_T_IDENT, _T_NOT):
                        raise ValueError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _T_EOS:
                return requirements
            else:
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, op = self.parse_key_and_infer_operator()
        if op in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, op, [])
        op = self.parse_operator()
        values = self.parse_values() if op in (IN, NOT_IN) else self.parse_exact_value()
        return _new_requirement(key, op, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        op = ""
        tok, lit = self.consume(True)
        if tok == _T_NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.consume(True)
        if tok != _T_IDENT:
            raise ValueError(f"found '{lit}', expected: identifier")
        errs = is_qualified_name(lit)
        if errs:
            raise ValueError(_invalid("<nil>", go_quote(lit), "; ".join(errs)))
        if self.lookahead(True)[0] in (_T_EOS, _T_COMMA) and op != DOES_NOT_EXIST:
            op = EXISTS
        return lit, op

    def parse_operator(self) -> str:
        tok, lit = self.consume(False)
        op = {_T_IN: IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS, _T_GT: GREATER_THAN,
              _T_LT: LESS_THAN, _T_NOTIN: NOT_IN, _T_NEQ: NOT_EQUALS}.get(tok)
        if op is None:
            raise ValueError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return op

    def parse_values(self) -> set[str]:
        tok, lit = self.consume(True)
        if tok != _T_OPEN:
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok in (_T_IDENT, _T_COMMA):
            values = self.parse_identifiers_list()
            if self.consume(True)[0] != _T_CLOSE:
                raise ValueError(f"found '{lit}', expected: ')'")
            return values
        if tok == _T_CLOSE:
            self.consume(True)
            return {""}
        raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume(True)
            if tok == _T_IDENT:
                values.add(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return values
                raise ValueError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                if not values:
                    values.add("")  # "(,"
                tok2 = self.lookahead(True)[0]
                if tok2 == _T_CLOSE:
                    values.add("")  # ",)"
                    return values
                if tok2 == _T_COMMA:
                    values.add("")  # ",,"
            else:
                raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        if self.lookahead(True)[0] in (_T_EOS, _T_COMMA):
            return {""}
        tok, lit = self.consume(True)
        if tok == _T_IDENT:
            return {lit}
        raise ValueError(f"found '{lit}', expected: identifier")


@lru_cache(maxsize=1024)
def _parse_label_selector(text: str) -> LabelSelector:
    requirements = _LabelParser(text).parse()
    return LabelSelector(requirements) if requirements else _EVERYTHING


def parse_label_selector(text: str) -> LabelSelector:
    """Parse upstream's label selector syntax (`labels.Parse`).

    `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<5`; commas AND
    them. An empty string selects everything. Raises a 400 `StatusError` carrying
    upstream's message on a syntax error or an invalid key or value.
    """
    try:
        return _parse_label_selector(text)
    except ValueError as err:
        raise bad_request(str(err)) from None


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A `metav1.LabelSelector` as upstream's `LabelSelectorAsSelector` reads it.

    None selects nothing; `{}` (no matchLabels, no matchExpressions) selects everything.
    Raises ValueError, with upstream's message, on an unknown operator or an invalid key
    or value; callers turn it into the error their context needs.
    """
    if selector is None:
        return _NOTHING
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return _EVERYTHING
    requirements = [_new_requirement(k, EQUALS, [v if isinstance(v, str) else _s(v)])
                    for k, v in match_labels.items()]
    for expr in expressions:
        operator = expr.get("operator")
        op = _DICT_OPERATORS.get(operator) if isinstance(operator, str) else None
        if op is None:
            shown = go_quote(operator) if isinstance(operator, str) else go_quote(str(operator))
            raise ValueError(f"{shown} is not a valid label selector operator")
        requirements.append(
            _new_requirement(expr.get("key") or "", op, list(expr.get("values") or [])))
    return LabelSelector(requirements)


_DICT_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """Upstream's `SelectorFromSet`: `k=v` for each pair, unvalidated; empty selects all."""
    if not labels:
        return _EVERYTHING
    return LabelSelector(Requirement(k, EQUALS, (v,)) for k, v in labels.items())


# --------------------------------------------------------------------------------------
# Field selectors
# --------------------------------------------------------------------------------------


class FieldRequirement(NamedTuple):
    """One field term: field, operator (`=` or `!=`; `==` reads as `=`), value."""

    field: str
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


class FieldSelector:
    """A parsed, immutable field selector: `field=value` / `field!=value` terms ANDed.

    A field missing from the object's field set reads as the empty string, as upstream.
    """

    __slots__ = ("_compiled", "_requirements")

    _requirements: tuple[FieldRequirement, ...]
    _compiled: tuple[tuple[str, bool, str], ...]

    def __init__(self, requirements: Iterable[FieldRequirement | tuple[str, str, str]] = ()):
        reqs = tuple(FieldRequirement(f, "!=" if op == "!=" else "=", v)
                     for f, op, v in requirements)
        object.__setattr__(self, "_requirements", reqs)
        object.__setattr__(self, "_compiled", tuple((f, op == "=", v) for f, op, v in reqs))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FieldSelector is immutable")

    @classmethod
    def everything(cls) -> FieldSelector:
        return _FIELDS_EVERYTHING

    @property
    def requirements(self) -> list[FieldRequirement]:
        """The terms, in upstream's order (the raw terms sorted as strings)."""
        return list(self._requirements)

    @property
    def empty(self) -> bool:
        return not self._requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        get = fields.get
        for name, equal, value in self._compiled:  # noqa: SIM110 (a plain loop is faster)
            if (get(name, "") == value) != equal:
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """The value the selector requires `field` to equal, if any (for indexes)."""
        for name, op, value in self._requirements:
            if name == field and op == "=":
                return value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash(self._requirements)


_FIELDS_EVERYTHING = FieldSelector()
_FIELD_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\="})


def escape_field_value(value: str) -> str:
    """Upstream's `fields.EscapeValue`: backslash-escape `\\`, `,` and `=`."""
    return value.translate(_FIELD_ESCAPES)


def _unescape_field_value(value: str) -> str:
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise ValueError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its code point.
            raise ValueError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise ValueError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, in_slash = 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


@lru_cache(maxsize=1024)
def _parse_field_selector(text: str) -> FieldSelector:
    if not text:
        return _FIELDS_EVERYTHING
    requirements = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = split
        requirements.append(FieldRequirement(lhs, "!=" if op == "!=" else "=",
                                             _unescape_field_value(rhs)))
    return FieldSelector(requirements) if requirements else _FIELDS_EVERYTHING


def parse_field_selector(text: str) -> FieldSelector:
    """Parse upstream's field selector syntax (`fields.ParseSelector`).

    Terms `f=v`, `f==v`, `f!=v` joined by commas; in values `\\,` `\\=` `\\\\` escape.
    Raises a 400 `StatusError` with upstream's message on a malformed selector.
    """
    try:
        return _parse_field_selector(text)
    except ValueError as err:
        raise bad_request(str(err)) from None


# --------------------------------------------------------------------------------------
# Per-resource selectable fields
# --------------------------------------------------------------------------------------


def _s(value: Any) -> str:
    """A JSON scalar as the Go field would print: absent is "", bools are true/false."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> str:
    """`strconv.Itoa` of an int32 field; absent is 0."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "0"


def _meta(obj: Mapping[str, Any], namespaced: bool) -> dict[str, str]:
    """`generic.ObjectMetaFieldsSet`."""
    meta = _d(obj.get("metadata"))
    out = {"metadata.name": _s(meta.get("name"))}
    if namespaced:
        out["metadata.namespace"] = _s(meta.get("namespace"))
    return out


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    pod_ip = _s(status.get("podIP"))
    if not pod_ip:
        ips = status.get("podIPs")
        if isinstance(ips, list) and ips:
            pod_ip = _s(_d(ips[0]).get("ip"))
    out = _meta(obj, True)
    out.update({
        "spec.nodeName": _s(spec.get("nodeName")),
        "spec.restartPolicy": _s(spec.get("restartPolicy")),
        "spec.schedulerName": _s(spec.get("schedulerName")),
        # v1's deprecated serviceAccount fills in when serviceAccountName is empty.
        "spec.serviceAccountName": _s(spec.get("serviceAccountName"))
        or _s(spec.get("serviceAccount")),
        "spec.hostNetwork": "true" if spec.get("hostNetwork") is True else "false",
        "status.phase": _s(status.get("phase")),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _s(status.get("nominatedNodeName")),
    })
    return out


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    # core/v1 shape (involvedObject, source, reportingComponent), or events.k8s.io/v1
    # (regarding, deprecatedSource, reportingController): both are the same stored Event.
    involved = _d(obj.get("involvedObject") or obj.get("regarding"))
    source = _d(obj.get("source") or obj.get("deprecatedSource"))
    reporting = _s(obj.get("reportingComponent") or obj.get("reportingController"))
    out = _meta(obj, True)
    out.update({
        "involvedObject.kind": _s(involved.get("kind")),
        "involvedObject.namespace": _s(involved.get("namespace")),
        "involvedObject.name": _s(involved.get("name")),
        "involvedObject.uid": _s(involved.get("uid")),
        "involvedObject.apiVersion": _s(involved.get("apiVersion")),
        "involvedObject.resourceVersion": _s(involved.get("resourceVersion")),
        "involvedObject.fieldPath": _s(involved.get("fieldPath")),
        "reason": _s(obj.get("reason")),
        "reportingComponent": reporting,
        "source": _s(source.get("component")) or reporting,
        "type": _s(obj.get("type")),
    })
    return out


def _node_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj, False)
    out["spec.unschedulable"] = "true" if _d(obj.get("spec")).get("unschedulable") is True \
        else "false"
    return out


def _namespace_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj, False)
    out["status.phase"] = _s(_d(obj.get("status")).get("phase"))
    out["name"] = out["metadata.name"]  # upstream: "a bug, but needed for compatibility"
    return out


def _with(namespaced: bool, paths: Mapping[str, tuple[str, ...]],
          count: bool = False) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    """A field-set function: object meta plus fields read at JSON paths (ints if `count`)."""
    items = tuple(paths.items())
    render = _int if count else _s

    def fields(obj: Mapping[str, Any]) -> dict[str, str]:
        out = _meta(obj, namespaced)
        for name, path in items:
            value: Any = obj
            for step in path:
                value = _d(value).get(step)
            out[name] = render(value)
        return out

    return fields


def _legacy_name(namespaced: bool) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    def fields(obj: Mapping[str, Any]) -> dict[str, str]:
        out = _meta(obj, namespaced)
        out["name"] = out["metadata.name"]  # upstream keeps this bug for compatibility
        return out

    return fields


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _default_not_supported(label: str) -> str:
    return (f"{go_quote(label)} is not a known field selector: only "
            f'"metadata.name", "metadata.namespace"')


class _FieldSpec(NamedTuple):
    group: str
    fields: Callable[[Mapping[str, Any]], dict[str, str]]
    # Accepted field label -> the label it selects on (None: upstream's default conversion).
    labels: Mapping[str, str] | None = None
    error: Callable[[str], str] = _not_supported


def _same(*labels: str) -> dict[str, str]:
    return {label: label for label in labels}


_META_LABELS = ("metadata.name", "metadata.namespace")
_DEFAULT_LABELS = _same(*_META_LABELS)

_SPECS: dict[str, tuple[_FieldSpec, ...]] = {
    # core/v1 (pkg/apis/core/v1/conversion.go, pkg/registry/core/*/strategy.go)
    "pods": (_FieldSpec("", _pod_fields, {
        **_same(*_META_LABELS, "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                "status.podIPs", "status.nominatedNodeName"),
        "spec.host": "spec.nodeName",  # old v1 clients
    }),),
    "nodes": (_FieldSpec("", _node_fields, _same("metadata.name", "spec.unschedulable")),),
    "replicationcontrollers": (_FieldSpec(
        "", _with(True, {"status.replicas": ("status", "replicas")}, count=True),
        _same(*_META_LABELS, "status.replicas")),),
    "events": (
        _FieldSpec("", _event_fields, _same(
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
            "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
            "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
            *_META_LABELS)),
        _FieldSpec("events.k8s.io", _event_fields, {
            "reason": "reason",
            "regarding.kind": "involvedObject.kind",
            "regarding.namespace": "involvedObject.namespace",
            "regarding.name": "involvedObject.name",
            "regarding.uid": "involvedObject.uid",
            "regarding.apiVersion": "involvedObject.apiVersion",
            "regarding.resourceVersion": "involvedObject.resourceVersion",
            "regarding.fieldPath": "involvedObject.fieldPath",
            "reportingController": "reportingComponent",
            "source": "source",
            "type": "type",
            **_DEFAULT_LABELS,
        }),
    ),
    "namespaces": (_FieldSpec("", _namespace_fields, _same("status.phase", "metadata.name")),),
    "secrets": (_FieldSpec("", _with(True, {"type": ("type",)}), _same("type", *_META_LABELS)),),
    "services": (_FieldSpec(
        "", _with(True, {"spec.clusterIP": ("spec", "clusterIP"), "spec.type": ("spec", "type")}),
        _same(*_META_LABELS, "spec.clusterIP", "spec.type")),),
    "persistentvolumes": (_FieldSpec("", _legacy_name(False)),),
    "persistentvolumeclaims": (_FieldSpec("", _legacy_name(True)),),
    # apps/v1 registers no conversion func, so only metadata.* pass the default one, even
    # though the strategy exposes status.replicas.
    "replicasets": (_FieldSpec(
        "apps", _with(True, {"status.replicas": ("status", "replicas")}, count=True)),),
    # batch/v1
    "jobs": (_FieldSpec(
        "batch", _with(True, {"status.successful": ("status", "succeeded")}, count=True),
        _same(*_META_LABELS, "status.successful"),
        lambda label: f"field label {go_quote(label)} not supported for batchv1.Job"),),
    # certificates.k8s.io
    "certificatesigningrequests": (_FieldSpec(
        "certificates.k8s.io", _with(False, {"spec.signerName": ("spec", "signerName")}),
        _same("metadata.name", "spec.signerName")),),
    "clustertrustbundles": (_FieldSpec(
        "certificates.k8s.io", _with(False, {"spec.signerName": ("spec", "signerName")}),
        _same("metadata.name", "spec.signerName")),),
    # resource.k8s.io
    "resourceslices": (_FieldSpec(
        "resource.k8s.io",
        _with(False, {"spec.nodeName": ("spec", "nodeName"), "spec.driver": ("spec", "driver")}),
        _same("metadata.name", "spec.nodeName", "spec.driver"),
        lambda label: ("field label not supported for resource.k8s.io/v1, "
                       f"Kind=ResourceSlice: {label}")),),
}


def _spec(resource: str, group: str | None) -> _FieldSpec | None:
    specs = _SPECS.get(resource)
    if not specs:
        return None
    if group is None:
        return specs[0]
    return next((s for s in specs if s.group == group), None)


def field_set(resource: str, obj: Mapping[str, Any], *, group: str | None = None,
              namespaced: bool | None = None) -> dict[str, str]:
    """The selectable fields of `obj`, a `resource` (plural name) object (upstream GetAttrs).

    `group` disambiguates when given (an unknown group/resource pair gets the default
    fields). `namespaced` matters only for resources without their own field set: it says
    whether `metadata.namespace` is included; by default, when the object has a namespace.
    """
    spec = _spec(resource, group)
    if spec is not None:
        return spec.fields(obj)
    if namespaced is None:
        namespaced = bool(_d(obj.get("metadata")).get("namespace"))
    return _meta(obj, namespaced)


def validate_field_selector(resource: str, selector: FieldSelector, *,
                            group: str | None = None) -> FieldSelector:
    """Check every field label against what the resource's served version accepts.

    Raises a 400 `StatusError` with upstream's message (e.g. `field label not supported:
    spec.foo`). Returns the selector with labels converted to the field-set names they
    select on (`spec.host` -> `spec.nodeName` for pods, `regarding.*` -> `involvedObject.*`
    for events.k8s.io); match objects against the returned selector.
    """
    if selector.empty:
        return selector
    spec = _spec(resource, group)
    labels = _DEFAULT_LABELS if spec is None or spec.labels is None else spec.labels
    error = _default_not_supported if spec is None or spec.labels is None else spec.error
    converted: list[FieldRequirement] = []
    changed = False
    for req in selector.requirements:
        target = labels.get(req.field)
        if target is None:
            raise bad_request(error(req.field))
        if target != req.field:
            changed = True
            req = req._replace(field=target)
        converted.append(req)
    return FieldSelector(converted) if changed else selector
