"""additionalPrinterColumns as a Table printer (upstream's apiserver/tableconvertor).

The Name column comes first; then each column of the served version (or, when it lists
none, `Age` from `.metadata.creationTimestamp`). A cell is the value at the column's
simple JSONPath (`.spec.replicas`, `.status.conditions[0].type`, `.metadata.labels['a.b']`,
`[*]` for every item): null when nothing is there, an age for `date` columns, the value
itself for numbers and booleans, text for strings; several results are joined by commas.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from kybernetes.api.printers import Context, Printer
from kybernetes.api.printers._common import col, name, name_col, since

Obj = dict[str, Any]

_STEP = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[(\*|-?\d+)\]")

DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)


def parse_path(path: str) -> list[str | int] | None:
    """The steps of a simple JSONPath (`{...}` braces allowed), None when it is not one;
    `*` selects every item."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            return None
        field, quoted, dquoted, index = match.groups()
        if index is not None:
            steps.append("*" if index == "*" else int(index))
        else:
            steps.append(field if field is not None else (quoted if quoted is not None
                                                         else dquoted))
        pos = match.end()
    return steps


def find(obj: Any, steps: list[str | int]) -> list[Any]:
    values = [obj]
    for step in steps:
        found: list[Any] = []
        for value in values:
            if step == "*":
                if isinstance(value, list):
                    found.extend(value)
                elif isinstance(value, dict):
                    found.extend(value.values())
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    found.append(value[step])
            elif isinstance(value, dict) and step in value:
                found.append(value[step])
        values = found
    return values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)) or value is None:
        return orjson.dumps(value).decode()
    return str(value)


def _cell(column: Obj, steps: list[str | int] | None, obj: Obj, ctx: Context) -> Any:
    if steps is None:
        return None
    values = find(obj, steps)
    if not values:
        return None
    kind = column.get("type")
    if len(values) > 1:
        return ",".join(_text(v) for v in values)
    value = values[0]
    if kind == "date":
        return since(value, ctx) if isinstance(value, str) else None
    if kind in ("integer", "number") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    return _text(value)


def printer(columns: list[Obj]) -> Printer:
    """The Table printer of a version's additionalPrinterColumns."""
    specs = [c for c in columns if isinstance(c, dict)] or list(DEFAULT_COLUMNS)
    definitions = (name_col(), *(
        {**col(str(c.get("name") or ""), str(c.get("type") or "string"),
               text=str(c.get("description") or "")),
         "format": str(c.get("format") or ""), "priority": int(c.get("priority") or 0)}
        for c in specs))
    paths = [parse_path(str(c.get("jsonPath") or "")) for c in specs]

    def cells(obj: Obj, ctx: Context) -> list[Any]:
        return [name(obj)] + [_cell(c, p, obj, ctx) for c, p in zip(specs, paths, strict=True)]

    return Printer(definitions, cells)
