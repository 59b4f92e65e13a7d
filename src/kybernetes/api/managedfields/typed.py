"""Walking objects with their schema's list and map types, as structured-merge-diff's `typed`.

Design notes
------------
`compile_schema` turns an OpenAPI definition into a small type graph, following upstream's
conversion (kube-openapi `schemaconv`):

* objects become a `MapT` (struct fields plus an element type for other keys);
  `x-kubernetes-map-type: atomic` (on the definition, or on a property that `$ref`s it)
  makes it atomic; keys the schema does not declare are *deduced* (maps granular, lists
  atomic), which is also the whole type of a custom resource without a schema;
* arrays are atomic unless `x-kubernetes-list-type` is `set`/`map` (or, without it,
  `x-kubernetes-patch-strategy: merge`, keyed by `x-kubernetes-patch-merge-key`); atomic
  lists compile to `LEAF`, associative ones to a `ListT` with their key names and key
  defaults (from `default`, plus upstream's `+default="TCP"` of container and service ports,
  which our swagger-derived definitions lack);
* scalars, `Quantity`, `RawExtension` and int-or-string compile to `LEAF`.

Built-in definitions are compiled once per name (they reference each other and recurse);
other schemas (CRDs) are compiled per schema object and cached by identity.

For built-in kinds each struct type also records its Go *zero shape*: the fields Go always
emits for a struct even when empty (non-pointer structs as `{}`, non-`omitempty` slices,
maps and pointers as `null`). Upstream compares Go objects, so a brand-new Deployment is
compared with a zero Deployment whose `spec`, `spec.template` and `spec.strategy` already
exist; that is why `f:spec` carries no `".": {}` in an Update entry while `f:labels` does.
`compare` substitutes the zero shape for such absent fields to give the same sets.

Walkers are plain recursive functions over JSON data (dict, list, str, int, float, bool,
None); the sentinel `MISSING` stands for Go's nil (an absent value), distinct from JSON
null. Values whose shape does not fit their type (a scalar where a map is declared) are
handled as leaves rather than rejected: request validation reports such errors better.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any, Final

import orjson

from kybernetes.api.managedfields import fieldpath as fp
from kybernetes.api.managedfields.fieldpath import SELF, Built, Node
from kybernetes.api.schema import REF_PREFIX, definitions

__all__ = [
    "DEDUCED",
    "LEAF",
    "MISSING",
    "ListT",
    "MapT",
    "SchemaError",
    "Type",
    "compare",
    "compile_schema",
    "ensure_named_fields_are_members",
    "is_builtin",
    "item_element",
    "remove_items",
    "to_field_set",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""An absent value (Go's nil), as opposed to JSON null (None)."""


class SchemaError(ValueError):
    """An object that does not fit its schema (duplicate or key-less list-map items...)."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.detail = message
        self.path = path

    def prefixed(self, pe: str) -> SchemaError:
        return SchemaError(self.detail, (pe, *self.path))

    def __str__(self) -> str:
        where = fp.path_string(self.path)
        return f"{where}: {self.detail}" if where else self.detail


class Leaf:
    """Scalars, atomic lists and anything else compared and merged as a whole."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LEAF"


class MapT:
    """A struct or granular map: declared `fields`, `elem` for other keys."""

    __slots__ = ("atomic", "elem", "fields", "name", "zero")

    def __init__(self, name: str = "", atomic: bool = False) -> None:
        self.name = name
        self.atomic = atomic
        self.fields: dict[str, Type] = {}
        self.elem: Type = self
        self.zero: dict[str, Any] | None = None

    def variant(self, atomic: bool) -> MapT:
        other = MapT(self.name, atomic)
        other.fields, other.elem, other.zero = self.fields, self.elem, self.zero
        return other

    def __repr__(self) -> str:
        return f"MapT({self.name or 'inline'}{', atomic' if self.atomic else ''})"


class ListT:
    """An associative list: a list-map keyed by `keys`, or a set when `keys` is empty."""

    __slots__ = ("defaults", "elem", "keys", "single")

    def __init__(self, keys: tuple[str, ...], elem: Type, defaults: dict[str, Any]) -> None:
        self.keys = keys
        self.elem = elem
        self.defaults = defaults
        # The common single-key case, pre-serialised: 'k:{"name":'.
        self.single = f"k:{{{fp.go_json(keys[0])}:" if len(keys) == 1 else ""

    def __repr__(self) -> str:
        return f"ListT(keys={list(self.keys)})"


Type = Leaf | MapT | ListT

LEAF: Final = Leaf()
DEDUCED: Final = MapT("__untyped_deduced_")
"""Upstream's deduced type: maps granular (of deduced values), lists atomic."""

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
# `+default=` markers on list-map key fields, missing from the swagger-derived definitions.
_BUILTIN_KEY_DEFAULTS: dict[str, dict[str, Any]] = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"},
}
_GO_ZERO_STRUCT: Final[dict[str, Any]] = {}


# --- compilation ------------------------------------------------------------------------------


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    if ref is None:
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            ref = all_of[0].get("$ref")
    if isinstance(ref, str):
        return ref.removeprefix(REF_PREFIX).removeprefix("#/$defs/")
    return None


def _list_relationship(node: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type == "set":
            return "associative", ()
        if list_type == "map":
            keys = node.get("x-kubernetes-list-map-keys")
            if isinstance(keys, list):
                return "associative", tuple(k for k in keys if isinstance(k, str))
            return "associative", ()
        return "atomic", ()
    strategy = node.get("x-kubernetes-patch-strategy")
    if strategy in ("merge", "merge,retainKeys"):
        key = node.get("x-kubernetes-patch-merge-key")
        return "associative", ((key,) if isinstance(key, str) else ())
    return "atomic", ()


class _Compiler:
    """Compiles one schema; `named` types are shared module-wide."""

    def __init__(self) -> None:
        self.inline_memo: dict[int, Type] = {}

    def prop(self, node: Any) -> Type:
        if not isinstance(node, dict):
            return DEDUCED
        name = _ref_name(node)
        if name is not None:
            base = _named(name)
            override = node.get("x-kubernetes-map-type")
            if isinstance(base, MapT) and override in ("atomic", "granular"):
                atomic = override == "atomic"
                if atomic != base.atomic:
                    return base.variant(atomic)
            return base
        return self.inline(node)

    def inline(self, node: dict[str, Any], name: str = "") -> Type:
        memo = self.inline_memo.get(id(node))
        if memo is not None:
            return memo
        typ = node.get("type")
        props = node.get("properties")
        if typ == "object" or (typ is None and isinstance(props, dict)):
            t = MapT(name, node.get("x-kubernetes-map-type") == "atomic")
            self.inline_memo[id(node)] = t
            if isinstance(props, dict):
                t.fields = {k: self.prop(v) for k, v in props.items()}
            extra = node.get("additionalProperties")
            t.elem = self.prop(extra) if isinstance(extra, dict) else DEDUCED
            if name:
                t.zero = _zero_shape(name)
            return t
        if typ == "array" or (typ is None and isinstance(node.get("items"), dict)):
            relationship, keys = _list_relationship(node)
            if relationship == "atomic":
                return LEAF
            items = node.get("items")
            lt = ListT(keys, LEAF, {})
            self.inline_memo[id(node)] = lt
            lt.elem = self.prop(items) if isinstance(items, dict) else LEAF
            if keys and isinstance(items, dict):
                lt.defaults = self._key_defaults(items, keys)
            return lt
        if typ is None:
            return DEDUCED
        return LEAF

    def _key_defaults(self, items: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        name = _ref_name(items)
        body = definitions().get(name, {}) if name is not None else items
        props = body.get("properties") if isinstance(body, dict) else None
        defaults: dict[str, Any] = {}
        if isinstance(props, dict):
            for key in keys:
                prop = props.get(key)
                if isinstance(prop, dict) and prop.get("default") is not None:
                    defaults[key] = prop["default"]
        if name is not None:
            defaults.update(_BUILTIN_KEY_DEFAULTS.get(name, {}))
        return defaults


_NAMED: dict[str, Type] = {}
_BUILTIN_COMPILER = _Compiler()


def _named(name: str) -> Type:
    t = _NAMED.get(name)
    if t is not None:
        return t
    if name in (_QUANTITY, _RAW_EXTENSION):
        t = LEAF
    else:
        body = definitions().get(name)
        t = DEDUCED if body is None else _BUILTIN_COMPILER.inline(body, name)
    _NAMED[name] = t
    return t


@functools.cache
def _builtin_names() -> dict[int, str]:
    return {id(body): name for name, body in definitions().items()}


def is_builtin(schema: dict[str, Any] | None) -> bool:
    """Whether `schema` is one of upstream's built-in definitions (by identity)."""
    return schema is not None and id(schema) in _builtin_names() \
        and definitions().get(_builtin_names()[id(schema)]) is schema


_INLINE_CACHE: dict[int, tuple[dict[str, Any], Type]] = {}
_INLINE_CACHE_MAX = 256
# Compiled types become visible to other threads only once complete: `_NAMED` holds types
# under construction (recursive definitions refer to themselves), `_READY` finished ones.
_READY: dict[str, Type] = {}
_LOCK = threading.RLock()


def compile_schema(schema: dict[str, Any] | None) -> Type:
    """The type of an object with top-level schema `schema` (None: deduced, a CR without one).

    `schema` is a definition from `kybernetes.api.schema.definitions()` or any OpenAPI object
    schema (e.g. a CRD version's `openAPIV3Schema`).
    """
    if schema is None:
        return DEDUCED
    if is_builtin(schema):
        name = _builtin_names()[id(schema)]
        ready = _READY.get(name)
        if ready is not None:
            return ready
        with _LOCK:
            t = _named(name)
            _READY.update(_NAMED)
        return t
    cached = _INLINE_CACHE.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    with _LOCK:
        ref = _ref_name(schema)
        t = _named(ref) if ref is not None else _Compiler().inline(schema)
        _READY.update(_NAMED)
        if len(_INLINE_CACHE) >= _INLINE_CACHE_MAX:
            _INLINE_CACHE.clear()
        _INLINE_CACHE[id(schema)] = (schema, t)
    return t


# --- Go zero shapes ---------------------------------------------------------------------------

_F_OMITEMPTY, _F_POINTER, _F_REPEATED = 1, 4, 8


@functools.cache
def _go_fields() -> dict[str, list[list[Any]]]:
    try:
        raw = (resources.files("kybernetes.api") / "protobuf_fields.json").read_bytes()
        table = orjson.loads(raw).get("types", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return table if isinstance(table, dict) else {}


def _is_struct(type_name: Any) -> bool:
    if not isinstance(type_name, str) or type_name in (_QUANTITY, _RAW_EXTENSION):
        return False
    body = definitions().get(type_name)
    return isinstance(body, dict) and body.get("type") == "object"


def _zero_shape(name: str) -> dict[str, Any] | None:
    rows = _go_fields().get(name)
    if not rows:
        return None
    zero: dict[str, Any] = {}
    _collect_zero(rows, zero, 0)
    return zero or None


def _collect_zero(rows: Iterable[Any], zero: dict[str, Any], depth: int) -> None:
    for row in rows:
        if not isinstance(row, list) or len(row) < 5:
            continue
        json_name, flags, go_type = row[0], row[3], row[4]
        if not isinstance(flags, int):
            continue
        if json_name == "":
            inline_rows = _go_fields().get(go_type) if isinstance(go_type, str) else None
            if inline_rows and depth < 8:
                _collect_zero(inline_rows, zero, depth + 1)
            continue
        if flags & (_F_POINTER | _F_REPEATED):
            if not flags & _F_OMITEMPTY:
                zero[json_name] = None
        elif _is_struct(go_type):
            zero[json_name] = _GO_ZERO_STRUCT


# --- list items -------------------------------------------------------------------------------


def item_element(item: Any, lt: ListT) -> str:
    """The path element of one item of an associative list."""
    keys = lt.keys
    if keys:
        if type(item) is not dict:
            if item is None:
                raise SchemaError("associative list with keys may not have a null element")
            raise SchemaError("associative list with keys may not have non-map elements")
        if lt.single:
            value = item.get(keys[0], MISSING)
            if value is MISSING:
                value = lt.defaults.get(keys[0], MISSING)
                if value is MISSING:
                    raise SchemaError(
                        "associative list with keys has an element that omits all key fields "
                        f"{_go_list(keys)} (and doesn't have default values for any key "
                        "fields)")
            if type(value) is str:
                return f"{lt.single}{fp.json_string(value)}}}"
            return f"{lt.single}{fp.go_json(value)}}}"
        found: dict[str, Any] = {}
        for key in keys:
            value = item.get(key, MISSING)
            if value is MISSING:
                value = lt.defaults.get(key, MISSING)
            if value is not MISSING:
                found[key] = value
        if not found:
            raise SchemaError(
                "associative list with keys has an element that omits all key fields "
                f"{_go_list(keys)} (and doesn't have default values for any key fields)")
        return fp.key_element(found)
    if type(item) is dict:
        raise SchemaError("associative list without keys has an element that's a map type")
    if type(item) is list:
        raise SchemaError("not supported: associative list with lists as elements")
    if item is None:
        raise SchemaError("associative list without keys has an element that's an explicit null")
    return fp.value_element(item)


def _go_list(keys: tuple[str, ...]) -> str:
    return "[" + " ".join(fp.go_quote(k) for k in keys) + "]"


def _elements(items: list[Any], lt: ListT) -> list[str]:
    out = []
    for i, item in enumerate(items):
        try:
            out.append(item_element(item, lt))
        except SchemaError as err:
            raise SchemaError(f"element {i}: {err.detail}") from None
    return out


# --- compare ----------------------------------------------------------------------------------

_Pair = tuple[Node | None, Node | None]
_NO_ITEMS: list[Any] = []


def compare(lhs: Any, rhs: Any, t: Type,
            skip: frozenset[str] = frozenset()) -> tuple[Node, Node]:
    """upstream `TypedValue.Compare`: the sets (modified or added, removed) from `lhs` to
    `rhs`.

    Top-level keys in `skip` are not compared.
    """
    if skip and type(lhs) is dict and type(rhs) is dict:
        lhs = {k: v for k, v in lhs.items() if k not in skip}
        rhs = {k: v for k, v in rhs.items() if k not in skip}
    changed, removed = _cmp(lhs, rhs, t)
    return _root(changed), _root(removed)


def _root(node: Node | None) -> Node:
    if not node:
        return Built()
    if SELF in node:
        node = Built(node)
        del node[SELF]
    return node


def _cmp(lhs: Any, rhs: Any, t: Type) -> _Pair:
    if type(t) is MapT:
        if not t.atomic:
            tl, tr = type(lhs), type(rhs)
            if ((tl is dict or lhs is None or lhs is MISSING)
                    and (tr is dict or rhs is None or rhs is MISSING)
                    and ((tl is dict and lhs) or (tr is dict and rhs))):
                return _cmp_map(lhs, rhs, t)
    elif type(t) is ListT:
        tl, tr = type(lhs), type(rhs)
        if ((tl is list or lhs is None or lhs is MISSING)
                and (tr is list or rhs is None or rhs is MISSING)
                and ((tl is list and lhs) or (tr is list and rhs))):
            return _cmp_list(lhs, rhs, t)
    if lhs is MISSING:
        return {}, None
    if rhs is MISSING:
        return None, {}
    if lhs == rhs and (type(lhs) is bool) is (type(rhs) is bool):
        return None, None
    return {}, None


def _cmp_map(lhs: Any, rhs: Any, t: MapT) -> _Pair:
    lmiss, rmiss = lhs is MISSING, rhs is MISSING
    ld = lhs if type(lhs) is dict else None
    rd = rhs if type(rhs) is dict else None
    changed = Built()
    removed = Built()
    if lmiss:
        changed[SELF] = {}
    if rmiss:
        removed[SELF] = {}
    fields, elem, zero = t.fields, t.elem, t.zero
    if ld:
        for key, lv in ld.items():
            if rd is None:
                rv = MISSING
            else:
                rv = rd.get(key, MISSING)
                if rv is MISSING and zero is not None:
                    rv = zero.get(key, MISSING)
            if rv is lv or (type(rv) is type(lv) and rv == lv):
                continue
            try:
                a, b = _cmp(lv, rv, fields.get(key) or elem)
            except SchemaError as err:
                raise err.prefixed("f:" + key) from None
            if a is not None:
                changed["f:" + key] = a
            if b is not None:
                removed["f:" + key] = b
    if rd:
        for key, rv in rd.items():
            if ld is not None and key in ld:
                continue
            lv = MISSING
            if ld is not None and zero is not None:
                lv = zero.get(key, MISSING)
                if type(rv) is type(lv) and rv == lv:
                    continue
            try:
                a, b = _cmp(lv, rv, fields.get(key) or elem)
            except SchemaError as err:
                raise err.prefixed("f:" + key) from None
            if a is not None:
                changed["f:" + key] = a
            if b is not None:
                removed["f:" + key] = b
    return _close(changed, lmiss), _close(removed, rmiss)


def _close(node: Built, member: bool) -> Node | None:
    if member:
        return node if len(node) > 1 else {}
    return node or None


def _cmp_list(lhs: Any, rhs: Any, t: ListT) -> _Pair:
    lmiss, rmiss = lhs is MISSING, rhs is MISSING
    changed = Built()
    removed = Built()
    if lmiss:
        changed[SELF] = {}
    if rmiss:
        removed[SELF] = {}
    lmap: dict[str, list[Any]] = {}
    if type(lhs) is list:
        for pe, item in zip(_elements(lhs, t), lhs, strict=True):
            group = lmap.get(pe)
            if group is None:
                lmap[pe] = [item]
            else:
                group.append(item)
    rmap: dict[str, list[Any]] = {}
    if type(rhs) is list:
        for pe, item in zip(_elements(rhs, t), rhs, strict=True):
            group = rmap.get(pe)
            if group is None:
                rmap[pe] = [item]
            else:
                group.append(item)
    elem = t.elem
    order = list(lmap)
    order.extend(pe for pe in rmap if pe not in lmap)
    for pe in order:
        lgroup = lmap.get(pe) or _NO_ITEMS
        rgroup = rmap.get(pe) or _NO_ITEMS
        nl, nr = len(lgroup), len(rgroup)
        if nl <= 1 and nr <= 1:
            lv = lgroup[0] if nl else MISSING
            rv = rgroup[0] if nr else MISSING
            if rv is lv or (type(rv) is type(lv) and rv == lv):
                continue
            try:
                a, b = _cmp(lv, rv, elem)
            except SchemaError as err:
                raise err.prefixed(pe) from None
            if a is not None:
                changed[pe] = a
            if b is not None:
                removed[pe] = b
        elif nl >= 2 and nr >= 2:
            if lgroup != rgroup:
                changed[pe] = {}
        elif nl >= 2:
            if nr:
                a, _ = _cmp(MISSING, rgroup[0], elem)
                if a is not None:
                    changed[pe] = a
            removed[pe] = {}
        else:
            if nl:
                _, b = _cmp(lgroup[0], MISSING, elem)
                if b is not None:
                    removed[pe] = b
            changed[pe] = {}
    return _close(changed, lmiss), _close(removed, rmiss)


# --- field sets -------------------------------------------------------------------------------


def to_field_set(value: Any, t: Type, strict: bool = False) -> Node:
    """upstream `TypedValue.ToFieldSet`: every leaf field and list/map item of `value`.

    With `strict`, duplicate items of an associative list are an error (upstream validates
    an applied configuration so); otherwise they are owned as a whole.
    """
    node = _fs(value, t, strict)
    return _root(node)


def _with_self(node: Node | None) -> Node:
    if not node:
        return {}
    if SELF not in node:
        node[SELF] = {}
    return node


def _fs(value: Any, t: Type, strict: bool) -> Node | None:
    if type(t) is MapT:
        if t.atomic:
            return {}
        if type(value) is dict:
            out = Built()
            fields, elem = t.fields, t.elem
            for key, child in value.items():
                ct = fields.get(key)
                declared = ct is not None
                try:
                    node = _fs(child, elem if ct is None else ct, strict)
                except SchemaError as err:
                    raise err.prefixed("f:" + key) from None
                if not declared or child is None or (type(child) is dict and not child):
                    node = _with_self(node)
                if node is not None:
                    out["f:" + key] = node
            return out or None
        return None if value is None else {}
    if type(t) is ListT:
        if type(value) is list:
            out = Built()
            elements = _elements(value, t)
            dups: set[str] = set()
            if len(set(elements)) != len(elements):
                seen: set[str] = set()
                for pe in elements:
                    if pe in seen:
                        if strict:
                            raise SchemaError(
                                f"duplicate entries for key {fp.element_string(pe)}")
                        dups.add(pe)
                    seen.add(pe)
            elem = t.elem
            for pe, item in zip(elements, value, strict=True):
                if pe in dups:
                    out[pe] = {}
                    continue
                try:
                    out[pe] = _with_self(_fs(item, elem, strict))
                except SchemaError as err:
                    raise err.prefixed(pe) from None
            return out or None
        return None if value is None else {}
    return {}


def ensure_named_fields_are_members(s: Node, t: Type | None) -> Node:
    """upstream `Set.EnsureNamedFieldsAreMembers`: a struct field with owned children is
    itself made a member, so removing it removes the whole field."""
    out: Node | None = None
    for pe, node in s.items():
        if not node or pe == SELF:
            continue
        named = False
        ct: Type | None = None
        kind = pe[:2]
        if kind == "f:" and isinstance(t, MapT):
            ct = t.fields.get(pe[2:])
            named = ct is not None
            if not named:
                ct = t.elem
        elif kind == "k:" and isinstance(t, ListT):
            ct = t.elem
        new = ensure_named_fields_are_members(node, ct) if ct is not None else node
        if named and SELF not in new:
            new = Built({SELF: {}, **new})
        if new is not node:
            if out is None:
                out = Built(s)
            out[pe] = new
    return s if out is None else out


# --- removal ----------------------------------------------------------------------------------


def remove_items(value: Any, s: Node, t: Type) -> Any:
    """upstream `TypedValue.RemoveItems`: `value` without the fields and items in `s`.

    A map or list left empty by the removal is dropped (upstream leaves a null that the
    conversion back to an object drops).
    """
    if not s:
        return value
    return _remove(value, s, t)


def _remove(value: Any, s: Node, t: Type) -> Any:
    if type(t) is MapT and not t.atomic and type(value) is dict:
        if not value:
            return MISSING
        out: dict[str, Any] = {}
        fields, elem = t.fields, t.elem
        for key, child in value.items():
            node = s.get("f:" + key)
            if node is None:
                out[key] = child
                continue
            if fp.is_member(node):
                continue
            kept = _remove(child, node, fields.get(key) or elem)
            if kept is not MISSING:
                out[key] = kept
        return out if out else MISSING
    if type(t) is ListT and type(value) is list:
        if not value:
            return MISSING
        items: list[Any] = []
        for item in value:
            try:
                pe = item_element(item, t)
            except SchemaError:
                items.append(item)
                continue
            node = s.get(pe)
            if node is None:
                items.append(item)
                continue
            if fp.is_member(node):
                continue
            kept = _remove(item, node, t.elem)
            if kept is not MISSING:
                items.append(kept)
        return items if items else MISSING
    return value
