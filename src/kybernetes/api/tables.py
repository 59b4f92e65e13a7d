"""Server-side `Table` output (meta.k8s.io/v1), as `kubectl get` asks for it.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
columns the server returns, so the columns and cells here follow upstream's printers
(`pkg/printers/internalversion/printers.go`, in `kybernetes.api.printers`) exactly.
As upstream's API server does, tables are always generated "wide": every column is
defined and every row carries every cell; kubectl hides the `priority: 1` columns unless
`-o wide`. Resources without a printer (roles, limit ranges, custom resources) get the
default table of `rest.NewDefaultTableConvertor`: Name and Created At.

`build_table` is a pure function over plain dicts, given the resource's printer (its
strategy's, apiserver/strategies); the caller fills `metadata` (`resourceVersion`,
`continue`, `remainingItemCount`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kybernetes.api import errors, timeutil
from kybernetes.api.printers import Context, Printer
from kybernetes.api.printers._common import col, get, name, name_col, rfc3339

__all__ = ["DEFAULT_COLUMNS", "INCLUDE_OBJECT_VALUES", "build_table", "column_definitions"]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

DEFAULT_COLUMNS: tuple[dict[str, Any], ...] = (
    name_col(),
    col("Created At", "date", "meta.ObjectMeta.creationTimestamp"),
)


def column_definitions(printer: Printer | None) -> list[dict[str, Any]]:
    """The `columnDefinitions` of `printer`'s table (None: the default table's), as copies
    safe to modify."""
    columns = printer.columns if printer is not None else DEFAULT_COLUMNS
    return [dict(column) for column in columns]


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": get(obj, "metadata", default={})}


def _default_cells(obj: dict[str, Any]) -> list[Any]:
    return [name(obj), rfc3339(get(obj, "metadata", "creationTimestamp"))]


def build_table(printer: Printer | None, objects: list[dict[str, Any]], *,
                include_object: str = "Metadata", now: datetime | None = None,
                no_headers: bool = False) -> dict[str, Any]:
    """A meta.k8s.io/v1 `Table` of `objects`, all of one resource, by its `printer`
    (None: the default Name / Created At table).

    `include_object` is upstream's `includeObject`: "Metadata" (the default; each row's
    `object` is a `PartialObjectMetadata`), "Object" (the object itself) or "None" (null).
    `now` is the clock for ages (default: the current UTC time). `no_headers` leaves
    `columnDefinitions` null, as `?includeObject=...&noHeaders=true` does upstream.
    Raises a BadRequest `StatusError` for an unknown `include_object`.
    """
    include = include_object or "Metadata"
    if include not in INCLUDE_OBJECT_VALUES:
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    if now is None:
        now = timeutil.now()
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    items = list(objects)
    if printer is not None and printer.order is not None:
        items = printer.order(items)
    ctx = Context(now=now, objects=items)
    rows: list[dict[str, Any]] = []
    for obj in items:
        row: dict[str, Any] = {}
        if printer is None:
            row["cells"] = _default_cells(obj)
        else:
            row["cells"] = printer.cells(obj, ctx)
            conditions = printer.conditions(obj) if printer.conditions is not None else []
            if conditions:
                row["conditions"] = conditions
        row["object"] = _row_object(obj, include)
        rows.append(row)

    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": None if no_headers else column_definitions(printer),
        "rows": rows,
    }
