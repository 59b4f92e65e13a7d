"""Shared pieces of the Table printers: columns, field access, and upstream's formatters.

Each formatter mirrors the Go helper the upstream printers call, so that cells match
byte for byte: `duration.HumanDuration`, `labels.FormatLabels`,
`metav1.FormatLabelSelector`, `resource.Quantity.String()` and friends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kybernetes.api import timeutil
from kybernetes.api.printers._docs import DOCS
from kybernetes.api.quantity import serialize_quantity
from kybernetes.api.schema import definitions
from kybernetes.api.selectors import label_selector_from_dict

Obj = dict[str, Any]
Cells = list[Any]


@dataclass
class Context:
    """What a printer may consult besides the object: the clock and the whole list."""

    now: datetime
    objects: list[Obj]
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Printer:
    """A resource's column definitions and the function that turns one object into cells.

    `conditions` adds `TableRow.conditions` (pods); `order` re-sorts the list first (as
    upstream's list printer for FlowSchemas does).
    """

    columns: tuple[dict[str, Any], ...]
    cells: Callable[[Obj, Context], Cells]
    conditions: Callable[[Obj], list[dict[str, Any]]] | None = None
    order: Callable[[list[Obj]], list[Obj]] | None = None


def col(name: str, type_: str, doc: str = "", *, priority: int = 0,
        fmt: str = "", text: str | None = None) -> dict[str, Any]:
    """A `TableColumnDefinition`; `doc` is a key into DOCS, `text` a literal description."""
    description = text if text is not None else DOCS.get(doc, "")
    return {"name": name, "type": type_, "format": fmt, "description": description,
            "priority": priority}


def name_col() -> dict[str, Any]:
    return col("Name", "string", "meta.ObjectMeta.name", fmt="name")


def age_col() -> dict[str, Any]:
    return col("Age", "string", "meta.ObjectMeta.creationTimestamp")


CONTAINERS_TEXT = "Names of each container in the template."
IMAGES_TEXT = "Images referenced by each container in the template."


def containers_cols(priority: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    return (col("Containers", "string", priority=priority, text=CONTAINERS_TEXT),
            col("Images", "string", priority=priority, text=IMAGES_TEXT))


# --- field access ----------------------------------------------------------------------

def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` when any step is missing or null."""
    cur = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(cur, list) or not -len(cur) <= key < len(cur):
                return default
            cur = cur[key]
        else:
            if not isinstance(cur, dict):
                return default
            cur = cur.get(key)
        if cur is None:
            return default
    return cur


def s(obj: Any, *path: str | int) -> str:
    """A string field ("" when unset), as a Go string's zero value."""
    value = get(obj, *path, default="")
    return value if isinstance(value, str) else str(value)


def i(obj: Any, *path: str | int, default: int = 0) -> int:
    """An integer field (Go's zero value, or `default`, when unset)."""
    value = get(obj, *path, default=default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def b(obj: Any, *path: str | int, default: bool = False) -> bool:
    value = get(obj, *path, default=default)
    return value if isinstance(value, bool) else default


def lst(obj: Any, *path: str | int) -> list[Any]:
    value = get(obj, *path, default=[])
    return value if isinstance(value, list) else []


def dct(obj: Any, *path: str | int) -> dict[str, Any]:
    value = get(obj, *path, default={})
    return value if isinstance(value, dict) else {}


def name(obj: Obj) -> str:
    return s(obj, "metadata", "name")


def is_deleting(obj: Obj) -> bool:
    return get(obj, "metadata", "deletionTimestamp") is not None


# --- time ------------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    """A `metav1.Time`/`MicroTime`; None stands for Go's zero time (unset or year 1)."""
    parsed = timeutil.parse_time(value)
    if parsed is None:
        return None
    if parsed.year == 1 and parsed.month == 1 and parsed.day == 1 and parsed.hour == 0 \
            and parsed.minute == 0 and parsed.second == 0 and parsed.microsecond == 0:
        return None
    return parsed


def _nanos(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def human_duration(nanos: int) -> str:
    """Upstream's `duration.HumanDuration`: about two significant figures (5s, 3m2s, 2d3h)."""
    # int(d.Seconds()) truncates toward zero
    seconds = nanos // 1_000_000_000 if nanos >= 0 else -(-nanos // 1_000_000_000)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = nanos // 60_000_000_000
    if minutes < 10:
        sec = (nanos // 1_000_000_000) % 60
        return f"{minutes}m" if sec == 0 else f"{minutes}m{sec}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = nanos // 3_600_000_000_000
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        hrs = hours % 24
        return f"{hours // 24}d" if hrs == 0 else f"{hours // 24}d{hrs}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def duration_between(start: datetime, end: datetime) -> str:
    return human_duration(_nanos(end, start))


def since(value: Any, ctx: Context) -> str:
    """`translateTimestampSince`: the age of a timestamp, or `<unknown>` when unset."""
    when = value if isinstance(value, datetime) else parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration(_nanos(ctx.now, when))


def age(obj: Obj, ctx: Context) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), ctx)


def rfc3339(value: Any) -> str:
    """`Time.UTC().Format(time.RFC3339)`, the zero time included."""
    when = parse_time(value)
    if when is None:
        return "0001-01-01T00:00:00Z"
    return timeutil.rfc3339(when)


# --- labels and selectors --------------------------------------------------------------

def format_labels(labels: Any) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, or `<none>`."""
    pairs = sorted(f"{k}={v}" for k, v in (labels or {}).items())
    return ",".join(pairs) or "<none>"


def selector_string(selector: Any) -> str:
    """`metav1.LabelSelectorAsSelector(sel).String()`; raises ValueError when invalid."""
    return str(label_selector_from_dict(selector if isinstance(selector, dict) else None))


def format_label_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: the selector string, `<none>` or `<error>`."""
    try:
        text = selector_string(selector)
    except ValueError:
        return "<error>"
    return text or "<none>"


# --- containers, lists, booleans -------------------------------------------------------

def layout_containers(containers: Iterable[Any]) -> tuple[str, str]:
    """`layoutContainerCells`: comma-joined container names and images."""
    items = [c for c in containers if isinstance(c, dict)]
    return ",".join(s(c, "name") for c in items), ",".join(s(c, "image") for c in items)


def bool_ptr(value: Any) -> str:
    """`printBoolPtr`: True, False or `<unset>`."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return "<unset>"


def list_with_more(items: list[str], more: bool, count: int, limit: int) -> str:
    text = ",".join(items)
    if more:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def lb_ingress(ingress: Iterable[Any]) -> str:
    """`loadBalancerStatusStringer` at wide width: sorted unique IPs or hostnames."""
    found = set()
    for entry in ingress:
        if s(entry, "ip"):
            found.add(s(entry, "ip"))
        elif s(entry, "hostname"):
            found.add(s(entry, "hostname"))
    return ",".join(sorted(found))


def int_or_string(value: Any) -> str:
    """`intstr.IntOrString.String()`."""
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def join_host_port(host: str, port: int) -> str:
    """`net.JoinHostPort`: brackets around IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- quantities ------------------------------------------------------------------------

def quantity(value: Any) -> str:
    """`resource.Quantity.String()` of a serialized quantity ("0" when unset)."""
    if value is None or value == "":
        return "0"
    try:
        return serialize_quantity(value)
    except ValueError:
        return str(value)


def quantity_ptr(value: Any) -> str:
    """`(*Quantity).String()`: `<nil>` for a missing pointer."""
    return "<nil>" if value is None else quantity(value)


def swagger(definition: str, field_name: str) -> str:
    """A field's description in upstream's OpenAPI definitions (`io.k8s.api...`): the
    `SwaggerDoc()` text upstream's printers give their columns."""
    props = definitions().get(definition, {}).get("properties", {})
    return str(props.get(field_name, {}).get("description", ""))
