"""Merging an applied configuration into a live object, and removing what an applier dropped.

Design notes
------------
`merge` is structured-merge-diff's `TypedValue.Merge` with its only rule, "keep the right-hand
side": maps and granular structs merge key by key, associative lists merge item by item
(matched by key, or by value for sets) in upstream's order (live order where the applied
configuration does not reorder, the configuration's order where it does), and everything
else (scalars, atomic lists and maps) is replaced by the configuration's value. Like
upstream, a JSON null in the configuration replaces a scalar but leaves a granular map as
it is (while still claiming ownership of it).

`prune` is `merge.Updater.prune`: a field, list item or map entry is removed iff the
applier applied it last time, does not apply it now, and no other manager owns it. It is
computed with upstream's exact sequence of set operations (remove everything last applied,
add back what anyone owns, then only actually remove what was last applied) so partially
owned structs behave identically. When the previous applied set is covered by the new one
nothing can be pruned and the walk is skipped.

Results share unchanged subtrees with their inputs; callers copy before handing objects out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kybernetes.api.managedfields import fieldpath as fp
from kybernetes.api.managedfields.fieldpath import Node
from kybernetes.api.managedfields.typed import (
    MISSING,
    ListT,
    MapT,
    SchemaError,
    Type,
    ensure_named_fields_are_members,
    item_element,
    remove_items,
    to_field_set,
)

__all__ = ["merge", "prune"]


def merge(live: Any, config: Any, t: Type) -> Any:
    """upstream `TypedValue.Merge(live, config)`; `live` may be MISSING (a new object)."""
    if config is MISSING:
        return live
    if live is MISSING:
        return config
    return _merge(live, config, t)


def _merge(lhs: Any, rhs: Any, t: Type) -> Any:
    if type(t) is MapT:
        if not t.atomic:
            tl, tr = type(lhs), type(rhs)
            if (tl is dict or lhs is None) and (tr is dict or rhs is None):
                if not lhs and not rhs:
                    return rhs
                return _merge_map(lhs or {}, rhs or {}, t)
    elif type(t) is ListT:
        tl, tr = type(lhs), type(rhs)
        if (tl is list or lhs is None) and (tr is list or rhs is None):
            if not lhs and not rhs:
                return rhs
            return _merge_list(lhs or [], rhs or [], t)
    return rhs


def _merge_map(lhs: dict[str, Any], rhs: dict[str, Any], t: MapT) -> dict[str, Any]:
    if not rhs:
        return lhs
    out: dict[str, Any] = {}
    fields, elem = t.fields, t.elem
    for key, lv in lhs.items():
        rv = rhs.get(key, MISSING)
        if rv is MISSING or rv is lv:
            out[key] = lv
        else:
            try:
                out[key] = _merge(lv, rv, fields.get(key) or elem)
            except SchemaError as err:
                raise err.prefixed("f:" + key) from None
    for key, rv in rhs.items():
        if key not in lhs:
            out[key] = rv
    return out


def _index(items: list[Any], t: ListT, allow_duplicates: bool) -> tuple[list[str], dict[str, Any]]:
    pes: list[str] = []
    observed: dict[str, Any] = {}
    for i, item in enumerate(items):
        try:
            pe = item_element(item, t)
        except SchemaError as err:
            raise SchemaError(f"element {i}: {err.detail}") from None
        if pe in observed:
            if not allow_duplicates:
                raise SchemaError(f"duplicate entries for key {fp.element_string(pe)}")
            observed[pe] = None  # duplicated items are not merged with the new value
        else:
            observed[pe] = item
        pes.append(pe)
    return pes, observed


def _merge_list(lhs: list[Any], rhs: list[Any], t: ListT) -> list[Any]:
    # A port of upstream's mergingWalker.visitListItems.
    rhs_pes, observed_rhs = _index(rhs, t, allow_duplicates=False)
    lhs_pes, observed_lhs = _index(lhs, t, allow_duplicates=True)
    elem = t.elem
    out: list[Any] = []

    def item(pe: str, lchild: Any, rchild: Any) -> None:
        if rchild is MISSING:
            out.append(lchild)
        elif lchild is MISSING:
            out.append(rchild)
        else:
            try:
                out.append(_merge(lchild, rchild, elem))
            except SchemaError as err:
                raise err.prefixed(pe) from None

    shared = [pe for pe in rhs_pes if pe in observed_lhs]
    next_shared: str | None = shared[0] if shared else None
    shared_at = 1
    merged_rhs: set[str] = set()
    n_lhs, n_rhs = len(lhs_pes), len(rhs_pes)
    li = ri = 0
    while li < n_lhs or ri < n_rhs:
        if li < n_lhs and ri < n_rhs:
            pe = lhs_pes[li]
            if pe == rhs_pes[ri]:
                merged_rhs.add(pe)
                item(pe, observed_lhs[pe], observed_rhs[pe])
                li += 1
                ri += 1
                next_shared = shared[shared_at] if shared_at < len(shared) else None
                shared_at += 1
                continue
            if pe in observed_rhs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < n_lhs:
            pe = lhs_pes[li]
            if pe not in observed_rhs:
                item(pe, lhs[li], MISSING)
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < n_rhs:
            pe = rhs_pes[ri]
            merged_rhs.add(pe)
            item(pe, observed_lhs.get(pe, MISSING), observed_rhs[pe])
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared[shared_at] if shared_at < len(shared) else None
                shared_at += 1
    return out


# --- prune ------------------------------------------------------------------------------------


def prune(merged: Any, t: Type, last: Node | None, current: Node,
          owned: Iterable[Node]) -> Any:
    """Remove from `merged` what the applier applied last time (`last`) but not now
    (`current`), unless a manager in `owned` (all managers, the applier's new set included)
    still owns it."""
    if not last or not fp.difference(last, current):
        return merged
    last_e = ensure_named_fields_are_members(last, t)
    pruned = remove_items(merged, last_e, t)
    # addBackOwnedItems
    managed: Node = {}
    for s in owned:
        managed = fp.union(managed, s)
    merged_set = ensure_named_fields_are_members(to_field_set(merged, t), t)
    pruned_set = ensure_named_fields_are_members(_field_set(pruned, t), t)
    keep = fp.union(pruned_set, ensure_named_fields_are_members(managed, t))
    pruned = remove_items(merged, fp.difference(merged_set, keep), t)
    # addBackDanglingItems
    pruned_set = ensure_named_fields_are_members(_field_set(pruned, t), t)
    result = remove_items(merged, fp.intersection(fp.difference(merged_set, pruned_set),
                                                  last_e), t)
    return {} if result is MISSING else result


def _field_set(value: Any, t: Type) -> Node:
    return {} if value is MISSING else to_field_set(value, t)
