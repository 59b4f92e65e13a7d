"""The last two points per node and per container, and the metrics between them (upstream
metrics-server's pkg/storage: `node_storage.go`, `pod_storage.go`).

Each scrape cycle stores the batch of every node that answered (a node that did not drops
out until it answers again). A new point newer than the last moves the last to `prev`; one
no newer keeps the earlier `prev`. A container's points count only while its start time
stays the same (a restart starts over); a container started within the last resolution
gets a `prev` at its start time with zero cpu, so a new pod has metrics after one scrape.

A metric is the rate of cpu between `prev` and `last` (nanocores, over `window` = the time
between them, stamped with the last's time) and the last memory working set; a pod has one
only when every container has both points (the window and time of the earliest).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kybernetes.api import timeutil
from kybernetes.metrics.scrape import NodeBatch, Point

Obj = dict[str, Any]
PodKey = tuple[str, str]  # namespace, name
API_VERSION = "metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class Usage:
    cpu_nanocores: int
    memory_bytes: int
    timestamp: float
    window: float


def usage(last: Point, prev: Point) -> Usage | None:
    """None when the cpu figure went down (a reset upstream refuses to turn into a rate)."""
    window = last.timestamp - prev.timestamp
    if window <= 0 or last.cpu_nanoseconds < prev.cpu_nanoseconds:
        return None
    rate = int((last.cpu_nanoseconds - prev.cpu_nanoseconds) / window)
    return Usage(rate, last.memory_bytes, last.timestamp, window)


def _moved(new: Point, last: Point | None, prev: Point | None, *,
           same_start: bool) -> Point | None:
    """The `prev` to keep beside `new`."""
    if last is not None and (not same_start or last.start_time == new.start_time):
        if new.timestamp > last.timestamp:
            return last
        if prev is not None and prev.timestamp < new.timestamp and \
                (not same_start or prev.start_time == new.start_time):
            return prev
    return None


class MetricsStorage:
    def __init__(self, resolution: float) -> None:
        self.resolution = resolution
        self._nodes_last: dict[str, Point] = {}
        self._nodes_prev: dict[str, Point] = {}
        self._pods_last: dict[PodKey, dict[str, Point]] = {}
        self._pods_prev: dict[PodKey, dict[str, Point]] = {}

    def store(self, batches: Mapping[str, NodeBatch]) -> None:
        nodes_last: dict[str, Point] = {}
        nodes_prev: dict[str, Point] = {}
        pods_last: dict[PodKey, dict[str, Point]] = {}
        pods_prev: dict[PodKey, dict[str, Point]] = {}
        for name, batch in batches.items():
            if batch.node is not None:
                nodes_last[name] = batch.node
                prev = _moved(batch.node, self._nodes_last.get(name),
                              self._nodes_prev.get(name), same_start=False)
                if prev is not None:
                    nodes_prev[name] = prev
            for key, containers in batch.pods.items():
                if key in pods_last:
                    continue  # a pod reported by two nodes: the first one's
                old_last = self._pods_last.get(key) or {}
                old_prev = self._pods_prev.get(key) or {}
                pods_last[key] = dict(containers)
                kept: dict[str, Point] = {}
                for container, point in containers.items():
                    prev = _moved(point, old_last.get(container), old_prev.get(container),
                                  same_start=True)
                    if prev is None and point.start_time and \
                            0 < point.timestamp - point.start_time < self.resolution:
                        prev = replace(point, timestamp=point.start_time, cpu_nanoseconds=0)
                    if prev is not None:
                        kept[container] = prev
                pods_prev[key] = kept
        self._nodes_last, self._nodes_prev = nodes_last, nodes_prev
        self._pods_last, self._pods_prev = pods_last, pods_prev

    def node_usage(self, name: str) -> Usage | None:
        last, prev = self._nodes_last.get(name), self._nodes_prev.get(name)
        return None if last is None or prev is None else usage(last, prev)

    def pod_usage(self, namespace: str, name: str) -> list[tuple[str, Usage]] | None:
        last, prev = self._pods_last.get((namespace, name)), \
            self._pods_prev.get((namespace, name))
        if not last or prev is None:
            return None
        out = []
        for container, point in last.items():
            earlier = prev.get(container)
            found = None if earlier is None else usage(point, earlier)
            if found is None:
                return None
            out.append((container, found))
        return sorted(out)


# -- the API's objects ----------------------------------------------------------------------

def _time(seconds: float) -> str:
    return timeutil.rfc3339(datetime.fromtimestamp(seconds, UTC))


def go_duration(seconds: float) -> str:
    """A metav1.Duration as Go prints it ("15s", "14.998s", "1m0.5s")."""
    nanos = round(seconds * 1e9)
    minutes, rest = divmod(nanos, 60 * 10**9)
    hours, minutes = divmod(minutes, 60)
    text = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


_DECIMAL_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T",
                    15: "P", 18: "E"}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def cpu_quantity(nanocores: int) -> str:
    """Upstream's canonical text of `NewScaledQuantity(n, -9)` (DecimalSI): the largest
    power-of-1000 suffix that keeps the number whole ("250m", "1", "1234567n")."""
    if nanocores == 0:
        return "0"
    exponent = -9
    while nanocores % 1000 == 0 and exponent < 18:
        nanocores //= 1000
        exponent += 3
    return f"{nanocores}{_DECIMAL_SUFFIXES[exponent]}"


def memory_quantity(size: int) -> str:
    """Upstream's canonical text of a BinarySI byte count ("64Mi", "1000001", "512")."""
    if -1024 < size < 1024:
        return str(size)
    power = 0
    while size % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
        size //= 1024
        power += 1
    return f"{size}{_BINARY_SUFFIXES[power]}"


def resource_list(found: Usage) -> Obj:
    return {"cpu": cpu_quantity(found.cpu_nanocores),
            "memory": memory_quantity(found.memory_bytes)}


def _metadata(obj: Mapping[str, Any], *, namespaced: bool) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {"name": meta.get("name", "")}
    if namespaced:
        out["namespace"] = meta.get("namespace", "")
    out["creationTimestamp"] = timeutil.now_rfc3339()
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out


def node_metrics(node: Mapping[str, Any], found: Usage) -> Obj:
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": _metadata(node, namespaced=False), "timestamp": _time(found.timestamp),
            "window": go_duration(found.window), "usage": resource_list(found)}


def pod_metrics(pod: Mapping[str, Any], containers: list[tuple[str, Usage]]) -> Obj:
    earliest = min((u for _, u in containers), key=lambda u: u.timestamp)
    return {"kind": "PodMetrics", "apiVersion": API_VERSION,
            "metadata": _metadata(pod, namespaced=True), "timestamp": _time(earliest.timestamp),
            "window": go_duration(earliest.window),
            "containers": [{"name": name, "usage": resource_list(u)}
                           for name, u in containers]}
