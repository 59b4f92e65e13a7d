"""The API server's Prometheus metrics (upstream's staging/src/k8s.io/apiserver/pkg/endpoints/
metrics), on a registry of the server's own: `kyb server` runs several components in one
process, each with its own `/metrics`.

`ApiServerMetrics.record` is the one recording point, called by the application once a
request's response is sent (a watch's when it ends, as upstream's): `apiserver_request_total`
and `apiserver_request_duration_seconds` by upstream's labels, the verb cleaned as
upstream's `CleanVerb` (LIST for collection GETs, WATCH, APPLY for apply patches). The
labels are cached per path and the label children per label tuple, so a request costs two
lookups and two updates (about 2 us, against some 150 us a GET takes). `longrunning` counts
the watches being served (`apiserver_longrunning_requests`, `apiserver_registered_watchers`
by group, version and kind). Gauges read at scrape time: the watch cache's revision, the
longest event-loop stall (`LoopMonitor`) and the process start time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.utils import INF

from kybernetes.apiserver.routing import parse_resource_path

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# upstream's requestLatencies buckets
_DURATION_BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0,
                     4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, INF)
_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope",
           "component")
_COMPONENT = "apiserver"

Labels = tuple[str, str, str, str, str, str, str, str]


def request_labels(method: str, path: str, query: dict[str, str], content_type: str
                   ) -> Labels:
    """Upstream's label values for one request."""
    return _labels(method, path, bool(query.get("dryRun")),
                   query.get("watch") in ("true", "1"),
                   method == "PATCH" and content_type.startswith("application/apply-patch"))


@functools.lru_cache(maxsize=4096)
def _labels(method: str, path: str, dry_run: bool, watch: bool, apply: bool) -> Labels:
    """Cached by path: lists, creates and watches repeat theirs."""
    rp = parse_resource_path(path)
    dry = "All" if dry_run else ""
    if rp is None or not rp.resource:
        return (method, dry, "", "", "", "", "", _COMPONENT)
    scope = "resource" if rp.name else "namespace" if rp.namespace else "cluster"
    verb = method
    if rp.legacy_watch or watch:
        verb = "WATCH"
    elif method == "GET" and not rp.name:
        verb = "LIST"
    elif apply:
        verb = "APPLY"
    return (verb, dry, rp.group, rp.version, rp.resource, rp.subresource, scope, _COMPONENT)


class ApiServerMetrics:
    def __init__(self, revision: Callable[[], int], max_stall: Callable[[], float],
                 kind: Callable[[str, str, str], str]) -> None:
        self._kind = kind
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "apiserver_request", "[STABLE] Counter of apiserver requests broken out for each "
            "verb, dry run value, group, version, resource, scope, component, and HTTP "
            "response code.", (*_LABELS, "code"), registry=registry)
        self._durations = Histogram(
            "apiserver_request_duration_seconds", "[STABLE] Response latency distribution in "
            "seconds for each verb, dry run value, group, version, resource, subresource, "
            "scope and component.", _LABELS, buckets=_DURATION_BUCKETS, registry=registry)
        self._longrunning = Gauge(
            "apiserver_longrunning_requests", "[STABLE] Gauge of all active long-running "
            "apiserver requests broken out by verb, group, version, resource, scope and "
            "component.", ("verb", "group", "version", "resource", "subresource", "scope",
                           "component"), registry=registry)
        self._watchers = Gauge(
            "apiserver_registered_watchers", "[ALPHA] Number of currently registered watchers "
            "for a given resources", ("group", "version", "kind"), registry=registry)
        Gauge("kybernetes_storage_revision", "Current revision of the watch cache.",
              registry=registry).set_function(lambda: float(revision()))
        Gauge("kybernetes_event_loop_max_stall_seconds", "Longest time the event loop was "
              "held.", registry=registry).set_function(max_stall)
        Gauge("process_start_time_seconds", "Start time of the process since unix epoch in "
              "seconds.", registry=registry).set(time.time())
        self._children: dict[tuple[Labels, int], tuple[Counter, Histogram]] = {}

    def record(self, labels: Labels, code: int, seconds: float) -> None:
        """One served request, which took `seconds`."""
        children = self._children.get((labels, code))
        if children is None:
            children = self._children[(labels, code)] = (
                self._requests.labels(*labels, str(code)), self._durations.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    @contextmanager
    def longrunning(self, labels: Labels) -> Iterator[None]:
        """While a watch (or other stream) is being served."""
        verb, _, group, version, resource, subresource, scope, component = labels
        gauge = self._longrunning.labels(verb, group, version, resource, subresource, scope,
                                         component)
        watcher = None if verb != "WATCH" else self._watchers.labels(
            group, version, self._kind(group, version, resource))
        gauge.inc()
        if watcher is not None:
            watcher.inc()
        try:
            yield
        finally:
            gauge.dec()
            if watcher is not None:
                watcher.dec()

    def render(self) -> bytes:
        return generate_latest(self.registry)
