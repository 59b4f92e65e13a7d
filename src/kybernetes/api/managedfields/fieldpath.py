"""Field path sets, as sigs.k8s.io/structured-merge-diff's `fieldpath` package.

Design notes
------------
Upstream keeps a `fieldpath.Set` as a trie (sorted `Members` plus sorted `Children`) and
serialises it as the `fieldsV1` JSON of a managedFields entry. Here a set *is* that JSON
shape, so decoding a stored entry costs nothing and an untouched entry is re-emitted as is:

* A set is a dict from serialised path element (`"f:spec"`, `'k:{"name":"web"}'`,
  `'v:"example.com/finalizer"'`, `"i:0"`) to a *node*.
* A node says whether its path is a member and what lies below it: `{}` is a member with
  no children; a dict without `"."` is a non-member whose entries are the child set; a dict
  with `".": {}` is a member that also has children. A non-member with no children is never
  stored.

Sets are treated as immutable values: the operations return their first operand unchanged
(the same object) when nothing changes and share untouched subtrees, which keeps the common
write (an update that touches one or two fields) cheap. Nodes built here are `Built` dicts;
`encode` sorts those into upstream's order (`"."` first, then field names, keys, values and
indices, each ordered as upstream's `PathElement.Compare`) and passes trusted stored nodes
(plain dicts, already in that order) through untouched.

Path elements are serialised as upstream's `SerializePathElement` does with jsoniter's
standard-library-compatible config: compact JSON, list-map keys sorted by name, HTML
characters escaped as `\\u003c`, floats written as Go's encoding/json writes them.
"""

from __future__ import annotations

import decimal
import functools
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from kybernetes.api.goquote import go_quote

__all__ = [
    "Built",
    "Node",
    "PathError",
    "canonicalize",
    "difference",
    "element_string",
    "encode",
    "field",
    "go_json",
    "go_quote",
    "has",
    "intersection",
    "is_empty",
    "is_member",
    "iterate_paths",
    "json_string",
    "key_element",
    "make_set",
    "path_string",
    "recursive_difference",
    "union",
    "value_element",
]

Node = dict[str, Any]
"""A set (or a node of one) in `fieldsV1` form; see the module notes."""

SELF = "."


class Built(dict[str, Any]):
    """A node built by this package, not yet in canonical key order."""

    __slots__ = ()


class PathError(ValueError):
    """A malformed serialised path element or fieldsV1 document."""


def is_member(node: Node) -> bool:
    """Whether the path leading to `node` is itself in the set."""
    return not node or SELF in node


def is_empty(s: Node | None) -> bool:
    return not s


# --- path elements ----------------------------------------------------------------------------

_PLAIN = re.compile(r'[^"\\<>&\x00-\x1f\u2028\u2029]*\Z')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
            "\u2029": "\\u2029"}


def json_string(s: str) -> str:
    """A JSON string literal as Go writes it (HTML characters escaped)."""
    if _PLAIN.match(s):
        return f'"{s}"'
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _go_float(f: float) -> str:
    if math.isinf(f) or math.isnan(f):
        raise PathError(f"unsupported value: {f}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    text = repr(f)
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        mantissa, _, exp = text.partition("e")
        mantissa = mantissa.removesuffix(".0")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    if "e" in text or "E" in text:
        text = format(decimal.Decimal(text), "f")
    return text.removesuffix(".0")


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json (and jsoniter's compatible mode) writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_string(k)}:{go_json(value[k])}"
                              for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise PathError(f"unsupported value type {type(value).__name__}")


def field(name: str) -> str:
    """The path element selecting field `name` of a map or struct."""
    return "f:" + name


def key_element(fields: dict[str, Any]) -> str:
    """The path element selecting the list-map item whose key fields are `fields`."""
    return "k:{" + ",".join(f"{json_string(k)}:{go_json(fields[k])}"
                            for k in sorted(fields)) + "}"


def value_element(value: Any) -> str:
    """The path element selecting the item `value` of a set."""
    return "v:" + go_json(value)


@functools.lru_cache(maxsize=4096)
def _parse_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise PathError(f"invalid path element {text!r}: {err}") from None


def _value_sort_key(v: Any) -> tuple[Any, ...]:
    # upstream value.Compare: numbers < strings < booleans < lists < maps < null.
    if v is None:
        return (5,)
    if v is True or v is False:
        return (2, v)
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, tuple(_value_sort_key(x) for x in v))
    if isinstance(v, dict):
        return (4, tuple((k, _value_sort_key(v[k])) for k in sorted(v)))
    return (6,)


@functools.lru_cache(maxsize=8192)
def _pe_sort_key(pe: str) -> tuple[Any, ...]:
    # upstream PathElement.Compare: field names < keys < values < indices; "." leads.
    kind = pe[:2]
    if pe == SELF:
        return (-1,)
    if kind == "f:":
        return (0, pe[2:])
    if kind == "k:":
        parsed = _parse_json(pe[2:])
        if not isinstance(parsed, dict):
            raise PathError(f"invalid key path element {pe!r}")
        return (1, tuple((k, _value_sort_key(v)) for k, v in parsed.items()))
    if kind == "v:":
        return (2, _value_sort_key(_parse_json(pe[2:])))
    if kind == "i:":
        return (3, int(pe[2:]))
    raise PathError(f"unknown path element {pe!r}")


def _sorted_keys(node: Node) -> list[str]:
    keys = sorted(node)
    if keys and keys[-1][0] != "f":
        keys.sort(key=_pe_sort_key)
    return keys


# --- Go-style rendering (conflict messages) ---------------------------------------------------




def _go_value_string(v: Any) -> str:
    # upstream value.ToString
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        if "e" not in text and (abs(v) >= 1e21 or (v != 0 and abs(v) < 1e-4)):
            text = f"{v:e}"
        return text.removesuffix(".0")
    if isinstance(v, list):
        return "[" + ",".join(_go_value_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={_go_value_string(x)}" for k, x in v.items())
    return str(v)


def element_string(pe: str) -> str:
    """upstream `PathElement.String()`: `.name`, `[key=value,...]`, `[=value]`, `[3]`."""
    kind, body = pe[:2], pe[2:]
    if kind == "f:":
        return "." + body
    if kind == "k:":
        parsed = _parse_json(body)
        return "[" + ",".join(f"{k}={_go_value_string(v)}" for k, v in parsed.items()) + "]"
    if kind == "v:":
        return f"[={_go_value_string(_parse_json(body))}]"
    if kind == "i:":
        return f"[{body}]"
    return "{{invalid path element}}"


def path_string(path: Sequence[str]) -> str:
    """upstream `Path.String()`, e.g. `.spec.containers[name="web"].image`."""
    return "".join(element_string(pe) for pe in path)


# --- set operations ---------------------------------------------------------------------------


def make_set(paths: Sequence[Sequence[str]]) -> Node:
    """A set holding each path (a sequence of serialised path elements)."""
    root: Node = Built()
    for path in paths:
        if not path:
            continue
        node = root
        for pe in path[:-1]:
            child = node.get(pe)
            if child is None:
                child = node[pe] = Built()
            elif not child:
                child = node[pe] = Built({SELF: {}})
            node = child
        last = path[-1]
        child = node.get(last)
        if child is None:
            node[last] = {}
        elif child and SELF not in child:
            child[SELF] = {}
    return root


def _normalise(node: Node) -> Node | None:
    if not node:
        return None
    if len(node) == 1 and SELF in node:
        return {}
    return node


def union(a: Node, b: Node) -> Node:
    """All paths in either set."""
    if not b or a is b:
        return a
    if not a:
        return b
    out: Node | None = None
    for pe, nb in b.items():
        na = a.get(pe)
        if na is None:
            new = nb
        elif na is nb:
            continue
        else:
            new = _union_node(na, nb)
            if new is na:
                continue
        if out is None:
            out = Built(a)
        out[pe] = new
    return a if out is None else out


def _union_node(na: Node, nb: Node) -> Node:
    if not na:
        if not nb:
            return na
        if SELF in nb:
            return nb
        return Built({SELF: {}, **nb})
    if not nb:
        if SELF in na:
            return na
        return Built({SELF: {}, **na})
    return union(na, nb)


def difference(a: Node, b: Node) -> Node:
    """Paths of `a` not in `b` (upstream `Set.Difference`: a removed member keeps its
    children)."""
    if not a or not b:
        return a
    out: Node | None = None
    if len(b) <= len(a):
        items = [(pe, nb) for pe, nb in b.items()]
    else:
        items = [(pe, b[pe]) for pe in a if pe in b]
    for pe, nb in items:
        na = a.get(pe)
        if na is None:
            continue
        new = _diff_node(na, nb)
        if new is na:
            continue
        if out is None:
            out = Built(a)
        if new is None:
            del out[pe]
        else:
            out[pe] = new
    return a if out is None else out


def _diff_node(na: Node, nb: Node) -> Node | None:
    if not na:
        return None if (not nb or SELF in nb) else na
    if not nb:
        if SELF not in na:
            return na
        rest = type(na)(na)
        del rest[SELF]
        return rest or None
    res = difference(na, nb)
    if res is na:
        return na
    return _normalise(res)


def intersection(a: Node, b: Node) -> Node:
    """Paths in both sets."""
    if not a or not b:
        return Built()
    if len(b) < len(a):
        a, b = b, a
    out = Built()
    for pe, na in a.items():
        nb = b.get(pe)
        if nb is None:
            continue
        node = _inter_node(na, nb)
        if node is not None:
            out[pe] = node
    return out


def _inter_node(na: Node, nb: Node) -> Node | None:
    if not na:
        return {} if is_member(nb) else None
    if not nb:
        return {} if SELF in na else None
    return _normalise(intersection(na, nb))


def recursive_difference(a: Node, b: Node) -> Node:
    """upstream `Set.RecursiveDifference`: a member of `b` removes its whole subtree."""
    if not a or not b:
        return a
    out: Node | None = None
    for pe, nb in b.items():
        na = a.get(pe)
        if na is None or pe == SELF:
            continue
        if is_member(nb):
            new: Node | None = None
        else:
            if not na:
                continue
            res = recursive_difference(na, nb)
            if res is na:
                continue
            new = _normalise(res)
        if out is None:
            out = Built(a)
        if new is None:
            del out[pe]
        else:
            out[pe] = new
    return a if out is None else out


def has(s: Node, path: Sequence[str]) -> bool:
    """Whether `path` is a member of the set."""
    if not path:
        return False
    node = s
    for pe in path[:-1]:
        child = node.get(pe)
        if not child:
            return False
        node = child
    last = node.get(path[-1])
    return last is not None and is_member(last)


def iterate_paths(s: Node, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member path, in upstream's `Set.Iterate` order (a level's members, then its
    children's subtrees)."""
    keys = [k for k in _sorted_keys(s) if k != SELF]
    for pe in keys:
        if is_member(s[pe]):
            yield (*prefix, pe)
    for pe in keys:
        node = s[pe]
        if node and any(k != SELF for k in node):
            yield from iterate_paths(node, (*prefix, pe))


# --- fieldsV1 ---------------------------------------------------------------------------------


def encode(s: Node) -> Node:
    """The set as canonical fieldsV1 (built nodes sorted; stored nodes passed through)."""
    if type(s) is not Built:
        return s
    out: Node = {}
    for pe in _sorted_keys(s):
        node = s[pe]
        if type(node) is Built:
            node = encode(node) if node else {}
            if len(node) == 1 and SELF in node:
                node = {}
        out[pe] = node
    return out


def canonicalize(fields: Any) -> Node:
    """Check an untrusted fieldsV1 document and return it in canonical form (plain dicts).

    Like upstream's decoder, unknown path element types are dropped; malformed ones raise
    `PathError`.
    """
    if not isinstance(fields, dict):
        raise PathError("fieldsV1 must be a JSON object")
    node, _ = _canonical_node(fields)
    return node if node is not None else {}


def _canonical_node(raw: dict[str, Any]) -> tuple[Node | None, bool]:
    children: Node = {}
    member = False
    keys: list[str] = []
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise PathError(f"fieldsV1 entry {key!r} must be a JSON object")
        if key == SELF:
            member = True
            continue
        kind = key[:2]
        if kind not in ("f:", "k:", "v:", "i:"):
            if len(key) >= 2 and key[1] == ":":
                continue  # an unknown element type: dropped, as upstream does
            raise PathError(f"invalid path element {key!r}")
        _pe_sort_key(key)  # validates
        keys.append(key)
    for key in sorted(keys, key=_pe_sort_key):
        node, child_member = _canonical_node(raw[key])
        if node:
            children[key] = {SELF: {}, **node} if child_member else node
        elif child_member:
            children[key] = {}
    if not children:
        return None, True
    return children, member
