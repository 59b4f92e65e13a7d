"""The API server's field manager: `metadata.managedFields` on every write, and server-side apply.

A port of `k8s.io/apimachinery/pkg/util/managedfields/internal` (the apiserver's
fieldmanager) over structured-merge-diff's `merge.Updater`, as pure functions over dicts.

Design notes
------------
Upstream stacks managers; each step here is the same step, in the same order:

* `FieldManager`: managed fields are decoded from the request object, or from the live
  object when the request has none (or when writing a subresource); an empty list (or one
  empty entry) resets them. Undecodable entries fall back to the live object's.
* `skipNonApplied`: an update of an object that has no managed fields is not tracked (a
  create is); the first apply to such an object first gives everything it holds to an Update
  entry named "before-first-apply".
* `capManagers`: after an update, at most 10 Update entries remain; the oldest are merged
  into "ancient-changes" (one per apiVersion).
* `buildManagerInfo`: a manager is identified by (name, operation, apiVersion for Updates,
  subresource); an empty name is "unknown".
* `managedFieldsUpdater`: an update computes what changed as an anonymous operation and
  merges that into the updater's entry, stamping the time only if something changed; an
  apply stamps the time only if the object changed.
* `stripMeta`: apiVersion, kind, metadata itself and its name, namespace, uid,
  resourceVersion, generation, creationTimestamp, selfLink, clusterName and managedFields
  are never owned.
* `lastAppliedManager` / `lastAppliedUpdater` (manager "kubectl" only): conflicts on fields
  the client-side-apply annotation shows as applied are overridden, and the annotation is
  kept in sync with what was applied.
* The updater: an Update takes the changed fields from every other manager (fields removed
  from the object leave every manager); an Apply merges, prunes, and reports conflicts
  (a field owned by another manager whose value the apply changes) unless forced.

Reset fields (the fields a strategy resets: `status` on the main resource, `spec` on
`/status`) are excluded from all ownership, as upstream's `GetResetFields`.

Performance: the object comparison skips equal subtrees (dict equality runs in C), sets are
the stored fieldsV1 dicts themselves and are only rebuilt along changed paths, and untouched
entries are re-emitted without re-serialising. A Deployment update runs in well under a
millisecond.

Left out: conversion of managed fields between API versions (every entry is compared in
the object's version, whatever its apiVersion says) and the reconciliation of entries
after a CRD schema changes a field between atomic and granular.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.api import timeutil
from kybernetes.api.errors import StatusError, bad_request
from kybernetes.api.managedfields import fieldpath as fp
from kybernetes.api.managedfields.fieldpath import Node, PathError
from kybernetes.api.managedfields.merge import merge, prune
from kybernetes.api.managedfields.typed import (
    MISSING,
    SchemaError,
    Type,
    compare,
    compile_schema,
    is_builtin,
    to_field_set,
)

__all__ = [
    "LAST_APPLIED_ANNOTATION",
    "MAX_UPDATE_MANAGERS",
    "default_reset_fields",
    "server_side_apply",
    "track_update",
]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10
_ANCIENT = "ancient-changes"
_BEFORE_FIRST_APPLY = "before-first-apply"
_ANNOTATIONS_SIZE_LIMIT = 256 * (1 << 10)

_STRIP = fp.encode(fp.make_set([
    ("f:apiVersion",), ("f:kind",), ("f:metadata",),
    *(("f:metadata", "f:" + name) for name in (
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
        "generation", "managedFields", "resourceVersion")),
]))

# (manager, operation, apiVersion ("" for Apply), subresource): upstream's identifier.
Ident = tuple[str, str, str, str]


@dataclass(slots=True)
class _Managed:
    fields: Node
    api_version: str
    applied: bool


class _State:
    __slots__ = ("managers", "times")

    def __init__(self) -> None:
        self.managers: dict[Ident, _Managed] = {}
        self.times: dict[Ident, Any] = {}


class _DecodeError(ValueError):
    pass


class _Conflicts(Exception):
    def __init__(self, conflicts: dict[Ident, Node]) -> None:
        super().__init__("conflicts")
        self.conflicts = conflicts


# --- public API -------------------------------------------------------------------------------


def default_reset_fields(schema: dict[str, Any] | None,
                         subresource: str = "") -> tuple[tuple[str, ...], ...]:
    """The fields a built-in kind's strategy resets, for `reset_fields`.

    Built-in kinds with a status reset `status` on the main resource and `spec` on
    `/status`; other schemas (custom resources) reset nothing unless the caller says so.
    """
    if not is_builtin(schema):
        return ()
    assert schema is not None
    props = schema.get("properties") or {}
    if subresource == "" and "status" in props:
        return (("status",),)
    if subresource == "status" and "spec" in props:
        return (("spec",),)
    return ()


def track_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str,
                 schema: dict[str, Any] | None, api_version: str, now: str,
                 subresource: str = "",
                 reset_fields: Iterable[Sequence[str]] | None = None) -> None:
    """Record a create (`old` None), update or patch by `manager` in `new`'s managedFields.

    `new` is the object about to be stored; its `metadata.managedFields` is replaced (as
    upstream's `FieldManager.UpdateNoErrors`): the fields that changed from `old` are given
    to `manager`'s Update entry (taken from any other manager), fields removed leave every
    entry. `schema` is the kind's top-level definition (None for a custom resource without
    one), `api_version` the version written, `now` an RFC 3339 time for the entry,
    `subresource` e.g. "status" or "scale". `reset_fields` (paths of field names) defaults
    to `default_reset_fields(schema, subresource)`. Never raises for bad managed fields or
    objects that do not fit the schema: the live object's managed fields are kept instead.
    """
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return
    old_meta = old.get("metadata") if isinstance(old, dict) else None
    if not isinstance(old_meta, dict):
        old_meta = {}
    live_entries = old_meta.get("managedFields")
    try:
        state = _decode_live_or_new(live_entries, meta.get("managedFields"), bool(subresource))
    except _DecodeError:
        state = _State()
    meta.pop("managedFields", None)
    if not state.managers and old is not None and old_meta.get("uid"):
        return  # upstream does not start tracking on update
    try:
        t = compile_schema(schema)
        reset, skip = _reset(reset_fields, schema, subresource)
        old_root = _without_managed_fields(old) if old is not None else {}
        ident = (manager or "unknown", "Update", api_version, subresource)
        _update(state, old_root, new, t, ident, api_version, now, reset, skip)
        entries = _encode(state)
    except (ValueError, TypeError, RecursionError):  # SchemaError, PathError included
        if live_entries is not None:
            meta["managedFields"] = _copy(live_entries)
        return
    if entries:
        meta["managedFields"] = entries


def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str,
                      force: bool, schema: dict[str, Any] | None, api_version: str, now: str,
                      subresource: str = "",
                      reset_fields: Iterable[Sequence[str]] | None = None) -> dict[str, Any]:
    """Server-side apply of configuration `applied` by `manager` to `live` (None: create).

    Returns the new object, with its managedFields updated; `live` and `applied` are not
    modified and the result shares nothing with them. Raises a 409 `StatusError` (reason
    Conflict, `details.causes` of reason FieldManagerConflict) when the configuration changes
    fields owned by other managers and `force` is false, and a 400 for a configuration of
    another kind or version, one that sets managedFields, or one that does not fit the
    schema (e.g. duplicate list-map keys). Other arguments as for `track_update`.
    """
    if not isinstance(applied, dict):
        raise bad_request("error decoding patch: the applied configuration must be an object")
    _check_kind(live, applied, schema, api_version)
    applied_meta = applied.get("metadata")
    if isinstance(applied_meta, dict) and applied_meta.get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    t = compile_schema(schema)
    reset, skip = _reset(reset_fields, schema, subresource)
    live_root = _without_managed_fields(live) if live is not None else {}
    live_meta = live.get("metadata") if isinstance(live, dict) else None
    entries = live_meta.get("managedFields") if isinstance(live_meta, dict) else None
    try:
        state = _decode(entries, trusted=True)
    except _DecodeError:
        state = _State()
    try:
        cfg_set = to_field_set(applied, t, strict=True)
    except SchemaError as err:
        raise bad_request(f"failed to create typed patch object ({_describe(applied)}): "
                          f"{err}") from None
    if reset:
        cfg_set = fp.recursive_difference(cfg_set, reset)
    args = (live_root, applied, cfg_set, t, manager, api_version, now, subresource, reset, skip)
    try:
        try:
            result, state = _apply(state, *args, force=force)
        except _Conflicts as conflicts:
            if manager != "kubectl":
                raise
            allowed = _allowed_conflicts(live_root, t, api_version)
            if allowed is None:
                raise
            remaining = {ident: fp.difference(s, allowed)
                         for ident, s in conflicts.conflicts.items()}
            remaining = {ident: s for ident, s in remaining.items() if s}
            if remaining:
                raise _Conflicts(remaining) from None
            result, state = _apply(state, *args, force=True)
    except _Conflicts as conflicts:
        raise _conflict_error(conflicts.conflicts) from None
    except SchemaError as err:
        raise bad_request(f"failed to apply ({_describe(applied)}): {err}") from None
    out: dict[str, Any] = _copy(result, drop_nulls=is_builtin(schema))
    if not isinstance(out.get("metadata"), dict):
        out["metadata"] = {}
    encoded = _encode(state)
    if encoded:
        out["metadata"]["managedFields"] = encoded
    if manager == "kubectl":
        _sync_last_applied(out, applied)
    return out


# --- update and apply -------------------------------------------------------------------------


def _update(state: _State, old_root: Any, new_root: Any, t: Type, ident: Ident,
            api_version: str, now: str, reset: Node, skip: frozenset[str]) -> None:
    changed, removed = compare(old_root, new_root, t, skip)
    if reset:
        changed = fp.recursive_difference(changed, reset)
        removed = fp.recursive_difference(removed, reset)
    touched = fp.union(changed, removed)
    managers = state.managers
    for key, entry in list(managers.items()):
        remaining = fp.difference(entry.fields, touched) if touched else entry.fields
        if not remaining:
            del managers[key]
        elif remaining is not entry.fields:
            managers[key] = _Managed(remaining, entry.api_version, entry.applied)
    current = fp.difference(changed, _STRIP)
    if current:
        previous = managers.get(ident)
        fields = fp.union(previous.fields, current) if previous else current
        managers[ident] = _Managed(fields, api_version, False)
        state.times[ident] = now
    _cap_update_managers(state)


def _apply(state: _State, live_root: dict[str, Any], applied: dict[str, Any], cfg_set: Node,
           t: Type, manager: str, api_version: str, now: str, subresource: str, reset: Node,
           skip: frozenset[str], *, force: bool) -> tuple[Any, _State]:
    work = _State()
    work.managers = dict(state.managers)
    work.times = dict(state.times)
    if not work.managers:
        before = (_BEFORE_FIRST_APPLY, "Update", api_version, subresource)
        _update(work, {}, live_root, t, before, api_version, now, reset, skip)
    ident = (manager or "unknown", "Apply", "", subresource)
    managers = work.managers
    merged = merge(live_root, applied, t)
    last = managers.get(ident)
    managers[ident] = _Managed(cfg_set, api_version, True)
    if last is not None:
        merged = prune(merged, t, last.fields, cfg_set,
                       [entry.fields for entry in managers.values()])
    changed, removed = compare(live_root, merged, t, skip)
    if reset:
        changed = fp.recursive_difference(changed, reset)
        removed = fp.recursive_difference(removed, reset)
    conflicts: dict[Ident, Node] = {}
    if changed:
        for key, entry in managers.items():
            if key != ident:
                overlap = fp.intersection(entry.fields, changed)
                if overlap:
                    conflicts[key] = overlap
    if conflicts and not force:
        raise _Conflicts(conflicts)
    touched = fp.union(changed, removed)
    for key, entry in list(managers.items()):
        if key == ident:
            remaining = entry.fields
        else:
            remaining = fp.difference(entry.fields, touched) if touched else entry.fields
        if not remaining:
            del managers[key]
        elif remaining is not entry.fields:
            managers[key] = _Managed(remaining, entry.api_version, entry.applied)
    mine = managers.get(ident)
    if mine is not None:
        stripped = fp.difference(mine.fields, _STRIP)
        if not stripped:
            del managers[ident]
        elif stripped is not mine.fields:
            managers[ident] = _Managed(stripped, mine.api_version, mine.applied)
    if merged == live_root:
        return live_root, work
    work.times[ident] = now
    return merged, work


def _allowed_conflicts(live_root: dict[str, Any], t: Type, api_version: str) -> Node | None:
    """Fields the client-side-apply annotation shows as applied and still as applied."""
    meta = live_root.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(LAST_APPLIED_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text:
        return None
    try:
        last_applied = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(last_applied, dict) or last_applied.get("apiVersion") != api_version:
        return None
    try:
        applied_set = to_field_set(last_applied, t, strict=True)
        changed, removed = compare(last_applied, live_root, t)
    except (SchemaError, PathError):
        return None
    return fp.difference(fp.difference(applied_set, changed), removed)


def _sync_last_applied(obj: dict[str, Any], applied: dict[str, Any]) -> None:
    meta = obj["metadata"]
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED_ANNOTATION):
        return
    config = dict(applied)
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and isinstance(config_meta.get("annotations"), dict):
        config_meta = dict(config_meta)
        config_annotations = dict(config_meta["annotations"])
        config_annotations.pop(LAST_APPLIED_ANNOTATION, None)
        config_meta["annotations"] = config_annotations
        config["metadata"] = config_meta
    try:
        value = fp.go_json(config) + "\n"
    except PathError:
        return
    annotations = dict(annotations)
    annotations[LAST_APPLIED_ANNOTATION] = value
    size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
    if size > _ANNOTATIONS_SIZE_LIMIT:
        del annotations[LAST_APPLIED_ANNOTATION]
    meta["annotations"] = annotations


# --- managers ---------------------------------------------------------------------------------


def _ident_json(ident: Ident) -> str:
    """upstream's `BuildManagerIdentifier` (the JSON of the entry's identifying fields)."""
    manager, operation, api_version, subresource = ident
    parts = []
    if manager:
        parts.append('"manager":' + fp.go_json(manager))
    parts.append('"operation":' + fp.go_json(operation))
    if api_version:
        parts.append('"apiVersion":' + fp.go_json(api_version))
    if subresource:
        parts.append('"subresource":' + fp.go_json(subresource))
    return "{" + ",".join(parts) + "}"


def _print_manager(ident: Ident) -> str:
    manager, operation, api_version, subresource = ident
    text = fp.go_quote(manager)
    if subresource:
        text = f"{text} with subresource {fp.go_quote(subresource)}"
    if operation == "Update":
        text = f"{text} using {api_version}"
    return text


def _conflict_error(conflicts: dict[Ident, Node]) -> StatusError:
    found: list[tuple[Ident, str]] = []
    for ident in sorted(conflicts, key=_ident_json):
        found.extend((ident, fp.path_string(path)) for path in fp.iterate_paths(conflicts[ident]))
    if len(found) == 1:
        ident, path = found[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(ident)}: {path}"
    else:
        lines: list[str] = []
        current: Ident | None = None
        for ident, path in found:
            if ident != current:
                lines.append(f"conflicts with {_print_manager(ident)}:")
                current = ident
            lines.append(f"- {path}")
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    causes = [{"reason": "FieldManagerConflict",
               "message": f"conflict with {_print_manager(ident)}", "field": path}
              for ident, path in found]
    return StatusError(409, "Conflict", message, {"causes": causes})


@functools.lru_cache(maxsize=1024)
def _seconds(stamp: Any) -> int:
    parsed = timeutil.parse_time(stamp)
    return int(parsed.timestamp()) if parsed is not None else 0


def _cap_update_managers(state: _State) -> None:
    managers, times = state.managers, state.times
    updaters = [ident for ident, entry in managers.items() if not entry.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda ident: (_seconds(times.get(ident)), _ident_json(ident)))
    first_of_version: dict[str, Ident] = {}
    length = len(updaters)
    for ident in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        entry = managers.get(ident)
        if entry is None:
            continue
        version = entry.api_version
        bucket: Ident = (_ANCIENT, "Update", version, "")
        first = first_of_version.get(version)
        if first is None:
            first_of_version[version] = ident
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first)
        managers[bucket] = _Managed(fp.union(managers[bucket].fields, entry.fields),
                                    entry.api_version, entry.applied)
        del managers[ident]
        length -= 1
        times[bucket] = times.get(ident)


# --- encoding ---------------------------------------------------------------------------------


def _is_reset(entries: Any) -> bool:
    if not isinstance(entries, list):
        return False
    if not entries:
        return True
    return len(entries) == 1 and isinstance(entries[0], dict) and not any(
        v not in (None, "", {}) for v in entries[0].values())


def _decode_live_or_new(live: Any, new: Any, subresource: bool) -> _State:
    if subresource:
        return _decode_or_empty(live)
    if _is_reset(new):
        return _State()
    if new is not None:
        try:
            state = _decode(new, trusted=new is live or new == live)
        except _DecodeError:
            state = _State()
        if state.managers:
            return state
    return _decode_or_empty(live)


def _decode_or_empty(entries: Any) -> _State:
    try:
        return _decode(entries, trusted=True)
    except _DecodeError:
        return _State()


def _decode(entries: Any, *, trusted: bool) -> _State:
    """upstream `DecodeManagedFields`; untrusted documents are checked and canonicalised."""
    state = _State()
    if entries is None:
        return state
    if not isinstance(entries, list):
        raise _DecodeError("managedFields must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _DecodeError(f"managed fields entry {i} must be an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise _DecodeError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise _DecodeError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType")
        if not fields_type:
            raise _DecodeError(f"missing fieldsType in managed fields entry {i}")
        if fields_type != "FieldsV1":
            raise _DecodeError(f"invalid fieldsType {fields_type!r} in managed fields entry {i}")
        fields = entry.get("fieldsV1")
        if fields is None:
            fields = {}
        elif not trusted or type(fields) is not dict:
            try:
                fields = fp.canonicalize(fields)
            except PathError as err:
                raise _DecodeError(str(err)) from None
        manager = entry.get("manager") or ""
        subresource = entry.get("subresource") or ""
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise _DecodeError(f"invalid managed fields entry {i}")
        ident = (manager, operation, api_version if operation == "Update" else "", subresource)
        state.managers[ident] = _Managed(fields, api_version, operation == "Apply")
        state.times[ident] = entry.get("time")
    return state


def _encode(state: _State) -> list[dict[str, Any]] | None:
    """upstream `encodeManagedFields`: entries sorted by operation, time, manager, version."""
    if not state.managers:
        return None
    entries: list[dict[str, Any]] = []
    keys: list[tuple[Any, ...]] = []
    for ident, entry in state.managers.items():
        manager, operation, _, subresource = ident
        out: dict[str, Any] = {}
        if manager:
            out["manager"] = manager
        out["operation"] = "Apply" if entry.applied else operation
        out["apiVersion"] = entry.api_version
        stamp = state.times.get(ident)
        if stamp is not None:
            out["time"] = stamp
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = fp.encode(entry.fields)
        if subresource:
            out["subresource"] = subresource
        entries.append(out)
        keys.append((out["operation"], _seconds(stamp), manager, entry.api_version,
                     subresource))
    order = sorted(range(len(entries)), key=keys.__getitem__)
    copied: list[dict[str, Any]] = _copy([entries[i] for i in order])
    return copied


# --- helpers ----------------------------------------------------------------------------------


def _reset(reset_fields: Iterable[Sequence[str]] | None, schema: dict[str, Any] | None,
           subresource: str) -> tuple[Node, frozenset[str]]:
    """The reset fields as a set, and the top-level ones (skipped outright by `compare`)."""
    paths = default_reset_fields(schema, subresource) if reset_fields is None else reset_fields
    full = [tuple("f:" + name for name in path) for path in paths if path]
    top = frozenset(path[0][2:] for path in full if len(path) == 1)
    return fp.make_set(full), top


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        return {**obj, "metadata": meta}
    return obj


def _gvk(api_version: Any, kind: Any) -> str:
    api_version = api_version if isinstance(api_version, str) else ""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind if isinstance(kind, str) else ''}"


def _check_kind(live: dict[str, Any] | None, applied: dict[str, Any],
                schema: dict[str, Any] | None, api_version: str) -> None:
    """upstream's versionCheckManager: the configuration must be of the resource's kind."""
    kind = live.get("kind") if isinstance(live, dict) else None
    if not kind and schema is not None:
        group, _, version = api_version.rpartition("/")
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            if (isinstance(gvk, dict) and gvk.get("group", "") == group
                    and gvk.get("version") == version):
                kind = gvk.get("kind")
                break
    if applied.get("apiVersion") != api_version or (kind and applied.get("kind") != kind):
        raise bad_request(
            f"invalid object type: {_gvk(applied.get('apiVersion'), applied.get('kind'))}")


def _describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    namespace = meta.get("namespace") or "<unknown>"
    name = meta.get("name") or "<unknown>"
    return f"{namespace}/{name}; {_gvk(obj.get('apiVersion'), obj.get('kind'))}"


def _copy(value: Any, drop_nulls: bool = False) -> Any:
    """A deep copy of JSON data (nulls in maps dropped on request)."""
    if not drop_nulls:
        try:
            return orjson.loads(orjson.dumps(value))
        except (TypeError, orjson.JSONEncodeError):
            pass
    return _deep_copy(value, drop_nulls)


def _deep_copy(value: Any, drop_nulls: bool) -> Any:
    if type(value) is dict:
        return {k: _deep_copy(v, drop_nulls) for k, v in value.items()
                if not (drop_nulls and v is None)}
    if type(value) is list:
        return [_deep_copy(v, drop_nulls) for v in value]
    if value is MISSING:
        return None
    return value
