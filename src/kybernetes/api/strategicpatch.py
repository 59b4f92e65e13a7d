"""Strategic merge patch, ported from upstream's `k8s.io/apimachinery/pkg/util/strategicpatch`.

`strategic_merge_patch` applies a patch as the API server does for
`application/strategic-merge-patch+json` (upstream's `StrategicMergeMapPatch`, the apply half
of `patch.go`): maps merge recursively and `null` deletes a key; a list whose schema property
carries `x-kubernetes-patch-strategy: merge` is merged, its items matched by
`x-kubernetes-patch-merge-key` (a list of primitives becomes a union); other lists are
replaced. The directives `$patch` (`replace`/`delete`, in maps and list items), `$retainKeys`,
`$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` are honoured. A field the
schema does not describe has no patch metadata, so it merges as a JSON merge patch would.

The port keeps upstream's behaviour in detail: the ordering rules of `normalizeElementOrder`
(including how Go's slice aliasing decides where added items land next to deleted ones), the
`removeDirectives` / null discarding of added values, and the error messages. Errors raise a
400 `StatusError` (upstream answers some of them with 500 or 422).

`json_merge_patch` is RFC 7386 as the API server applies it (evanphx/json-patch, which also
drops nulls inside objects nested in arrays).

Both functions are pure: inputs are never mutated and results share no dicts or lists with
them. Documents are JSON data (dict with str keys, list, str, int, float, bool, None); as in
Go, `1` and `1.0` (int64 and float64) are different values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from kybernetes.api.errors import StatusError, bad_request
from kybernetes.api.schema import REF_PREFIX, definitions, resolve

__all__ = ["json_merge_patch", "strategic_merge_patch"]

_DIRECTIVE = "$patch"
_DELETE = "delete"
_REPLACE = "replace"
_MERGE = "merge"
_RETAIN_KEYS_STRATEGY = "retainKeys"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"
_ERR_LIST_OF_LISTS = "lists of lists are not supported"

_MAP_TYPE = "map[string]interface {}"
_SLICE_TYPE = "[]interface {}"
_GO_TYPES: dict[type, str] = {
    dict: _MAP_TYPE, list: _SLICE_TYPE, str: "string", bool: "bool", int: "int64",
    float: "float64",
}

JsonMap = dict[str, Any]


# --- public API -----------------------------------------------------------------------------


def strategic_merge_patch(
    original: dict[str, Any], patch: dict[str, Any], schema: dict[str, Any] | None
) -> dict[str, Any]:
    """Apply strategic merge `patch` to `original`, reading patch metadata from `schema`.

    `schema` is the top-level definition of the object's kind (e.g.
    `definitions()[definition_for_kind("apps", "v1", "Deployment")]`); with None the patch is
    applied as a JSON merge patch (RFC 7386). Raises a 400 `StatusError` for invalid patches.
    """
    if patch is None:
        patch = {}
    if type(patch) is not dict:
        raise _unmarshal_error(patch)
    if original is None:
        original = {}
    if type(original) is not dict:
        raise _unmarshal_error(original)
    if schema is None:
        return _json_merge(_copy_original(original), patch)
    return _merge_map(_copy_original(original), patch, _meta_for(schema))


def json_merge_patch(original: Any, patch: Any) -> Any:
    """Apply JSON merge patch `patch` (RFC 7386) to `original`."""
    if type(patch) is not dict:
        return _copy(patch)
    target = _copy_original(original) if type(original) is dict else {}
    return _json_merge(target, patch)


def _json_merge(target: JsonMap, patch: JsonMap) -> JsonMap:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif type(value) is dict:
            current = target.get(key)
            target[key] = _json_merge(current if type(current) is dict else {}, value)
        else:
            target[key] = _prune_nulls(value)
    return target


# --- schema patch metadata ------------------------------------------------------------------


class _Field:
    """Patch metadata of one field, upstream's `PatchMeta` plus lazily resolved subschemas."""

    __slots__ = ("_items", "_items_done", "_raw", "_value", "_value_done", "error",
                 "merge_key", "strategy")

    def __init__(self, raw: JsonMap | None, strategies: Any, merge_key: Any) -> None:
        self._raw = raw
        self._value: _Meta | None = None
        self._items: _Meta | None = None
        self._value_done = raw is None
        self._items_done = raw is None
        self.merge_key = merge_key if isinstance(merge_key, str) else ""
        self.strategy = ""
        self.error = ""
        parts = strategies.split(",") if isinstance(strategies, str) and strategies else []
        # Upstream's extractRetainKeysPatchStrategy: retainKeys plus at most one other strategy.
        if len(parts) == 1:
            self.strategy = "" if parts[0] == _RETAIN_KEYS_STRATEGY else parts[0]
        elif len(parts) == 2 and _RETAIN_KEYS_STRATEGY in parts:
            self.strategy = parts[1] if parts[0] == _RETAIN_KEYS_STRATEGY else parts[0]
        elif parts:
            self.error = f"unexpected patch strategy: [{' '.join(parts)}]"

    def patch_strategy(self) -> str:
        if self.error:
            raise bad_request(self.error)
        return self.strategy

    def value(self) -> _Meta | None:
        """The field's own schema (upstream's LookupPatchMetadataForStruct)."""
        if not self._value_done:
            assert self._raw is not None
            self._value = _meta_for(self._raw)
            self._value_done = True
        return self._value

    def items(self) -> _Meta | None:
        """The schema of the field's list items (upstream's LookupPatchMetadataForSlice)."""
        if not self._items_done:
            assert self._raw is not None
            items = resolve(self._raw).get("items")
            self._items = _meta_for(items) if isinstance(items, dict) else None
            self._items_done = True
        return self._items


_UNKNOWN = _Field(None, "", "")


class _Meta:
    """An object schema; fields are compiled on first use and kept (schemas are static)."""

    __slots__ = ("_additional", "_fields", "_props")

    def __init__(self, schema: JsonMap) -> None:
        props = schema.get("properties")
        self._props: JsonMap = props if isinstance(props, dict) else {}
        extra = schema.get("additionalProperties")
        # A map's values carry no patch metadata (upstream returns the map's element type).
        self._additional = _Field(extra, "", "") if isinstance(extra, dict) else _UNKNOWN
        self._fields: dict[str, _Field] = {}

    def field(self, key: str) -> _Field:
        found = self._fields.get(key)
        if found is not None:
            return found
        raw = self._props.get(key)
        if not isinstance(raw, dict):
            return self._additional
        found = _Field(raw, raw.get("x-kubernetes-patch-strategy"),
                       raw.get("x-kubernetes-patch-merge-key"))
        self._fields[key] = found
        return found


def _meta_for(node: JsonMap) -> _Meta:
    ref = node.get("$ref")
    all_of = node.get("allOf")
    if ref is None and isinstance(all_of, list) and len(all_of) == 1 \
            and isinstance(all_of[0], dict):
        ref = all_of[0].get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return _definition_meta(ref[len(REF_PREFIX):])
    return _Meta(node)


@functools.cache
def _definition_meta(name: str) -> _Meta:
    return _Meta(definitions().get(name, {}))


def _field(meta: _Meta | None, key: str) -> _Field:
    return _UNKNOWN if meta is None else meta.field(key)


# --- mergeMap -------------------------------------------------------------------------------


def _merge_map(original: JsonMap, patch: JsonMap, meta: _Meta | None) -> JsonMap:
    """Upstream's mergeMap with MergeParallelList and IgnoreUnmatchedNulls; `original` is ours
    to mutate, `patch` is only read."""
    if _DIRECTIVE in patch:
        return _directive_in_map(patch[_DIRECTIVE], patch)
    skip: set[str] | None = None
    if _RETAIN_KEYS in patch:
        _apply_retain_keys(original, patch)
        skip = {_RETAIN_KEYS}
    for key in patch:
        if key.startswith(_SET_ELEMENT_ORDER):
            skip = skip if skip is not None else set()
            _merge_set_element_order(original, patch, meta, skip)
            break

    for key, value in patch.items():
        if skip is not None and key in skip:
            continue
        is_delete_list = False
        if key.startswith(_DELETE_FROM_PRIMITIVE):
            key = _extract_key(key, _DELETE_FROM_PRIMITIVE, _ERR_PRIMITIVE_LIST)
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or type(original[key]) is not type(value):
            if is_delete_list:
                continue
            added, keep = _added_value(value)
            if keep:
                original[key] = added
            else:
                original.pop(key, None)
            continue
        current = original[key]
        if type(value) is dict:
            field = _field(meta, key)
            if field.patch_strategy() == _REPLACE:
                original[key] = _copy(value)
            else:
                original[key] = _merge_map(current, value, field.value())
        elif type(value) is list:
            field = _field(meta, key)
            if field.patch_strategy() == _MERGE or is_delete_list:
                original[key] = _merge_slice(current, value, field.items(), field.merge_key,
                                             is_delete_list)
            else:
                original[key] = _copy(value)
        else:
            original[key] = value
    return original


def _directive_in_map(directive: Any, patch: JsonMap) -> JsonMap:
    if directive == _REPLACE:
        return {k: _copy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if directive == _DELETE:
        return {}
    raise _bad_patch_type(directive, patch)


def _apply_retain_keys(original: JsonMap, patch: JsonMap) -> None:
    retain = patch[_RETAIN_KEYS]
    if type(retain) is not list:
        raise bad_request(_ERR_RETAIN_KEYS)
    allowed = {v for v in retain if type(v) is str}
    for key, value in patch.items():
        if key == _RETAIN_KEYS or value is None or key.startswith(_DELETE_FROM_PRIMITIVE) \
                or key.startswith(_SET_ELEMENT_ORDER):
            continue
        if key not in allowed:
            raise bad_request(_ERR_RETAIN_KEYS)
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _merge_set_element_order(
    original: JsonMap, patch: JsonMap, meta: _Meta | None, skip: set[str]
) -> None:
    """Upstream's mergePatchIntoOriginal: merge each list that has a `$setElementOrder` and
    order it; the directive and the list are added to `skip`."""
    for key, order in patch.items():
        if not key.startswith(_SET_ELEMENT_ORDER):
            continue
        skip.add(key)
        if type(order) is not list:
            raise _bad_arg_type(_SLICE_TYPE, order)
        field_key = _extract_key(key, _SET_ELEMENT_ORDER, _ERR_SET_ORDER)
        found_original = field_key in original
        found_patch = field_key in patch
        original_list: list[Any] = []
        patch_list: list[Any] = []
        if found_original:
            original_list = original[field_key]
            if type(original_list) is not list:
                raise _bad_arg_type(_SLICE_TYPE, original_list)
        if found_patch:
            patch_list = patch[field_key]
            if type(patch_list) is not list:
                raise _bad_arg_type(_SLICE_TYPE, patch_list)
        field = _field(meta, field_key)
        strategy = field.patch_strategy()
        merge_key = field.merge_key
        _validate_set_order(patch_list, order, merge_key)

        if found_original and not found_patch:
            merged = original_list
        elif found_patch and not found_original:
            merged = _remove_directives(patch_list)
        elif found_original and found_patch:
            if strategy == _MERGE:
                # May rearrange original_list in place as Go's append does to the backing
                # array; the ordering below reads it as the live order, as upstream does.
                merged = _merge_slice(original_list, patch_list, field.items(), merge_key, False)
            else:
                merged = _copy(patch_list)
        else:
            continue

        if merge_key:
            patch_items, server_only = _partition_maps(merged, order, merge_key)
        else:
            patch_items, server_only = _partition_primitives(merged, order)
        is_map = _slice_element_type(original_list, patch_list) is dict
        original[field_key] = _normalize_element_order(
            patch_items, server_only, order, original_list, merge_key, is_map)
        skip.add(field_key)


def _validate_set_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """Upstream's validatePatchWithSetOrderList: the patch list must follow the order list."""
    if not order or not patch_list:
        return
    if merge_key:
        non_delete = []
        for item in patch_list:
            if type(item) is not dict:
                raise _bad_arg_type(_MAP_TYPE, item)
            if not (_DIRECTIVE in item and item[_DIRECTIVE] == _DELETE):
                non_delete.append(item)
    else:
        non_delete = patch_list
    patch_index = order_index = 0
    while patch_index < len(non_delete) and order_index < len(order):
        item = non_delete[patch_index]
        if type(item) is dict and _DIRECTIVE in item:
            patch_index += 1
            continue
        if _merge_key_value_equal(item, order[order_index], merge_key):
            patch_index += 1
        order_index += 1
    if patch_index < len(non_delete) and order_index >= len(order):
        raise bad_request(f"The order in patch list:\n{_go_fmt(patch_list)}\n doesn't match "
                          f"{_SET_ELEMENT_ORDER} list:\n{_go_fmt(order)}\n")


def _merge_key_value_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _hkey(left) == _hkey(right)
    for item in (left, right):
        if type(item) is not dict:
            raise _bad_arg_type(_MAP_TYPE, item)
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return _hkey(left[merge_key]) == _hkey(right[merge_key])


def _extract_key(key: str, prefix: str, error: str) -> str:
    parts = key.split("/", 1)
    if len(parts) <= 1 or parts[0] != prefix:
        raise bad_request(error)
    return parts[1]


# --- mergeSlice -----------------------------------------------------------------------------


def _merge_slice(
    original: list[Any], patch: list[Any], items: _Meta | None, merge_key: str,
    is_delete_list: bool,
) -> list[Any]:
    """Upstream's mergeSlice. `original` is ours: it is treated as the Go backing array, so
    deletions shift it and added items fill the slots they free (its length never changes)."""
    if not original and not patch:
        return original
    kind = _slice_element_type(original, patch)
    if kind is not dict:
        if is_delete_list:
            deleted = {_hkey(v) for v in patch}
            return [v for v in original if _hkey(v) not in deleted]
        # Go's append(original, patch...) aliases original when patch is empty.
        merged = _dedupe_scalars(original + patch if patch else original)
        patch_order, server_order = patch, original
    else:
        if not merge_key:
            raise bad_request("cannot merge lists without merge key for struct")
        merged, patch_order, server_order = _merge_map_items(original, patch, items, merge_key)
    if merge_key:
        patch_items, server_only = _partition_maps(merged, patch_order, merge_key)
    else:
        patch_items, server_only = _partition_primitives(merged, patch_order)
    return _normalize_element_order(patch_items, server_only, patch_order, server_order,
                                    merge_key, kind is dict)


def _merge_map_items(
    backing: list[Any], patch: list[Any], items: _Meta | None, merge_key: str
) -> tuple[list[Any], list[Any], list[Any]]:
    """mergeSliceWithSpecialElements + mergeSliceWithoutSpecialElements on a list of maps.

    Returns the merged items, the patch items without directives and the live order."""
    size = length = len(backing)
    without: list[JsonMap] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            without.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            length = _delete_matching(backing, length, merge_key, _hkey(item[merge_key]))
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise bad_request("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, item)
    if replace:
        replaced = [_copy(v) for v in without]
        return replaced, [], replaced

    server_order = backing[:length]
    positions: dict[Any, int] = {}
    for index in range(length):
        entry = backing[index]
        if merge_key in entry:
            positions.setdefault(_hkey(entry[merge_key]), index)
    extra: list[Any] = []
    for item in without:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        hkey = _hkey(item[merge_key])
        at = positions.get(hkey)
        if at is not None:
            if at < size:
                backing[at] = _merge_map(backing[at], item, items)
            else:
                extra[at - size] = _merge_map(extra[at - size], item, items)
            continue
        added = _copy(item)
        if length < size:
            backing[length] = added
            positions[hkey] = length
            length += 1
        else:
            positions[hkey] = size + len(extra)
            extra.append(added)
    return backing[:length] + extra, without, server_order


def _delete_matching(backing: list[Any], length: int, merge_key: str, hkey: Any) -> int:
    """deleteMatchingEntries: remove every item whose merge key matches, Go-style in place."""
    index = 0
    while index < length:
        entry = backing[index]
        if merge_key in entry and _hkey(entry[merge_key]) == hkey:
            backing[index:length - 1] = backing[index + 1:length]
            length -= 1
        else:
            index += 1
    return length


def _dedupe_scalars(values: list[Any]) -> list[Any]:
    """Upstream's deduplicateScalars, which swaps duplicates with the last item in place."""
    keys = [_hkey(v) for v in values]
    if len(set(keys)) == len(keys):
        return values
    last = len(values) - 1
    i = 0
    while i < last:
        j = i + 1
        while j <= last:
            if keys[i] == keys[j]:
                values[j] = values[last]
                keys[j] = keys[last]
                last -= 1
                j -= 1
            j += 1
        i += 1
    return values[:last + 1]


def _slice_element_type(*lists: list[Any]) -> type:
    found: type | None = None
    for values in lists:
        for value in values:
            kind = type(value)
            if found is None:
                found = kind
                if kind is list:
                    raise bad_request(_ERR_LIST_OF_LISTS)
            elif kind is not found:
                raise bad_request(
                    f"list element types are not identical: {_go_fmt(list(lists))}")
    if found is None:
        raise bad_request("no elements in any of the given slices")
    return found


# --- ordering (normalizeElementOrder) -------------------------------------------------------


def _partition_primitives(
    values: list[Any], partition_by: list[Any]
) -> tuple[list[Any], list[Any]]:
    present = {_hkey(v) for v in partition_by}
    inside: list[Any] = []
    outside: list[Any] = []
    for value in values:
        (inside if _hkey(value) in present else outside).append(value)
    return inside, outside


def _partition_maps(
    values: list[Any], partition_by: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    first: dict[Any, int] = {}
    not_a_map = -1
    for index, item in enumerate(partition_by):
        if type(item) is not dict:
            if not_a_map < 0:
                not_a_map = index
        elif merge_key in item:
            first.setdefault(_hkey(item[merge_key]), index)
    inside: list[Any] = []
    outside: list[Any] = []
    for value in values:
        if type(value) is not dict:
            raise _bad_arg_type(_MAP_TYPE, value)
        if merge_key not in value:
            raise _no_merge_key(value, merge_key)
        at = first.get(_hkey(value[merge_key]))
        if not_a_map >= 0 and (at is None or not_a_map < at):
            raise bad_request(f"value for key {not_a_map} is not a map")
        (inside if at is not None else outside).append(value)
    return inside, outside


def _normalize_element_order(
    patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
    server_order: list[Any], merge_key: str, is_map: bool,
) -> list[Any]:
    """Sort patch items by the patch order and server-only items by the live order, then
    interleave them (upstream's normalizeElementOrder and mergeSortedSlice)."""
    patch_items = _normalize_slice_order(patch_items, patch_order, merge_key, is_map)
    server_only = _normalize_slice_order(server_only, server_order, merge_key, is_map)
    if not server_only or not patch_items:
        return server_only + patch_items
    positions = _positions(server_order, merge_key, is_map)
    left = [positions.get(_order_key(v, merge_key, is_map), -1) for v in server_only]
    right = [positions.get(_order_key(v, merge_key, is_map), -1) for v in patch_items]
    merged: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        if 0 <= left[i] < right[j]:
            merged.append(server_only[i])
            i += 1
        else:
            merged.append(patch_items[j])
            j += 1
    merged.extend(server_only[i:])
    merged.extend(patch_items[j:])
    return merged


def _normalize_slice_order(
    values: list[Any], order: list[Any], merge_key: str, is_map: bool
) -> list[Any]:
    to_delete: list[Any] = []
    if is_map:
        for item in (*values, *order):
            if type(item) is not dict:
                raise _bad_arg_type(_MAP_TYPE, item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
        kept = []
        for item in values:
            if _DIRECTIVE in item and item[_DIRECTIVE] == _DELETE:
                to_delete.append(item)
            else:
                kept.append(item)
        values = kept
    if len(values) < 2:
        return [*values, *to_delete]
    positions = _positions(order, merge_key, is_map)
    keyed = [(positions.get(_order_key(v, merge_key, is_map), -1), v) for v in values]
    if all(position >= 0 for position, _ in keyed):
        keyed.sort(key=lambda entry: entry[0])
    else:
        # Upstream's comparator is not an ordering when an item is missing from `order`, so
        # the result depends on Go's sort.SliceStable: reproduce that algorithm.
        _go_stable_sort(keyed, _order_less)
    return [v for _, v in keyed] + to_delete


def _order_less(left: tuple[int, Any], right: tuple[int, Any]) -> bool:
    if left[0] >= 0 and right[0] >= 0:
        return left[0] < right[0]
    return True


def _order_key(item: Any, merge_key: str, is_map: bool) -> Any:
    if is_map:
        return _hkey(item.get(merge_key) if type(item) is dict else None)
    return _hkey(item)


def _positions(order: list[Any], merge_key: str, is_map: bool) -> dict[Any, int]:
    positions: dict[Any, int] = {}
    for index, item in enumerate(order):
        positions.setdefault(_order_key(item, merge_key, is_map), index)
    return positions


def _go_stable_sort(data: list[Any], less: Callable[[Any, Any], bool]) -> None:
    """Go's sort.SliceStable (insertion sort on blocks of 20, then SymMerge), in place."""
    n = len(data)
    block = 20
    a, b = 0, block
    while b <= n:
        _insertion_sort(data, a, b, less)
        a, b = b, b + block
    _insertion_sort(data, a, n, less)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            _sym_merge(data, a, a + block, b, less)
            a, b = b, b + 2 * block
        if a + block < n:
            _sym_merge(data, a, a + block, n, less)
        block *= 2


def _insertion_sort(data: list[Any], a: int, b: int, less: Callable[[Any, Any], bool]) -> None:
    for i in range(a + 1, b):
        j = i
        while j > a and less(data[j], data[j - 1]):
            data[j], data[j - 1] = data[j - 1], data[j]
            j -= 1


def _sym_merge(
    data: list[Any], a: int, m: int, b: int, less: Callable[[Any, Any], bool]
) -> None:
    if m - a == 1:
        i, j = m, b
        while i < j:
            h = (i + j) >> 1
            if less(data[h], data[a]):
                i = h + 1
            else:
                j = h
        for k in range(a, i - 1):
            data[k], data[k + 1] = data[k + 1], data[k]
        return
    if b - m == 1:
        i, j = a, m
        while i < j:
            h = (i + j) >> 1
            if not less(data[m], data[h]):
                i = h + 1
            else:
                j = h
        for k in range(m, i, -1):
            data[k], data[k - 1] = data[k - 1], data[k]
        return
    mid = (a + b) >> 1
    n = mid + m
    if m > mid:
        start, r = n - b, mid
    else:
        start, r = a, m
    p = n - 1
    while start < r:
        c = (start + r) >> 1
        if not less(data[p - c], data[c]):
            start = c + 1
        else:
            r = c
    end = n - start
    if start < m < end:
        _rotate(data, start, m, end)
    if a < start < mid:
        _sym_merge(data, a, start, mid, less)
    if mid < end < b:
        _sym_merge(data, mid, end, b, less)


def _rotate(data: list[Any], a: int, m: int, b: int) -> None:
    i, j = m - a, b - m
    while i != j:
        if i > j:
            _swap_range(data, m - i, m, j)
            i -= j
        else:
            _swap_range(data, m - i, m + j - i, i)
            j -= i
    _swap_range(data, m - i, m, i)


def _swap_range(data: list[Any], a: int, b: int, n: int) -> None:
    for i in range(n):
        data[a + i], data[b + i] = data[b + i], data[a + i]


# --- values ---------------------------------------------------------------------------------


def _hkey(value: Any) -> tuple[type, Any]:
    """A hashable key with Go's interface equality: the type matters (1 != 1.0 != True)."""
    kind = type(value)
    if kind is dict or kind is list:
        return (kind, repr(value))
    return (kind, value)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value


def _copy_original(original: JsonMap) -> JsonMap:
    """A copy of the object patched. It was decoded from JSON (storage), which a JSON round
    trip copies several times faster than `_copy`; what JSON cannot hold exactly (a
    Decimal, a non-string key, a NaN) is copied by `_copy`."""
    try:
        copied: JsonMap = orjson.loads(orjson.dumps(original))
    except orjson.JSONEncodeError:
        return {k: _copy(v) for k, v in original.items()}
    return copied if copied == original else {k: _copy(v) for k, v in original.items()}


def _added_value(value: Any) -> tuple[Any, bool]:
    """A patch value for a field the original lacks: upstream's discardNullValuesFromPatch
    then removeDirectives (maps with a `$patch` are dropped). Returns (value, keep)."""
    kind = type(value)
    if kind is dict:
        if value.get(_DIRECTIVE) is not None:
            return None, False
        out: JsonMap = {}
        for key, item in value.items():
            if item is not None:
                added, keep = _added_value(item)
                if keep:
                    out[key] = added
        return out, True
    if kind is list:
        return [added for added, keep in map(_added_value, value) if keep], True
    return value, True


def _remove_directives(value: list[Any]) -> list[Any]:
    """Upstream's removeDirectives on a list (no null discarding), copying: maps carrying a
    `$patch` are dropped wherever they are."""
    out = []
    for item in value:
        cleaned, keep = _remove_directives_value(item)
        if keep:
            out.append(cleaned)
    return out


def _remove_directives_value(value: Any) -> tuple[Any, bool]:
    kind = type(value)
    if kind is dict:
        if _DIRECTIVE in value:
            return None, False
        out: JsonMap = {}
        for key, item in value.items():
            cleaned, keep = _remove_directives_value(item)
            if keep:
                out[key] = cleaned
        return out, True
    if kind is list:
        return _remove_directives(value), True
    return value, True


def _prune_nulls(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if kind is list:
        return [_prune_nulls(v) for v in value]
    return value


# --- upstream error messages ----------------------------------------------------------------


def _bad_arg_type(expected: str, actual: Any) -> StatusError:
    return bad_request(f"expected a {expected}, but received a {_go_type(actual)}")


def _no_merge_key(item: JsonMap, merge_key: str) -> StatusError:
    return bad_request(f"map: {_go_fmt(item)} does not contain declared merge key: {merge_key}")


def _bad_patch_type(directive: Any, item: JsonMap) -> StatusError:
    if isinstance(directive, str):
        shown = directive
    elif directive is None:
        shown = "%!s(<nil>)"
    else:
        shown = f"%!s({_go_type(directive)}={_go_fmt(directive)})"
    return bad_request(f"unknown patch type: {shown} in map: {_go_fmt(item)}")


def _unmarshal_error(value: Any) -> StatusError:
    kind = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}
    return bad_request(f"json: cannot unmarshal {kind.get(type(value), 'value')} into Go value "
                       f"of type {_MAP_TYPE}")


def _go_type(value: Any) -> str:
    if value is None:
        return "%!s(<nil>)"
    return _GO_TYPES.get(type(value), type(value).__name__)


def _go_fmt(value: Any) -> str:
    """Go's `%v` of a JSON value, e.g. `map[name:web ports:[80 443]]`."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's `%v` of a float64 (shortest `%g`, exponent from 1e+06 and below 1e-04)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    number = Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(text) + exponent - 1
    if -4 <= exp10 < 6:
        return format(number, "f")
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
