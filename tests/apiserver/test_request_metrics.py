"""The API server's request metrics: upstream's labels for each kind of request, and the
series on the server's own registry as prometheus-client's parser reads them; storage
latency by operation and resource."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.apiserver.metrics import ApiServerMetrics, request_labels
from kybernetes.apiserver.storagemetrics import TimedStorage, resource_of
from kybernetes.storage.sqlite import SQLiteStorage

APPLY = "application/apply-patch+yaml"


@pytest.mark.parametrize(("method", "path", "query", "content_type", "expected"), [
    ("GET", "/api/v1/namespaces/ns/pods", {}, "",
     ("LIST", "", "", "v1", "pods", "", "namespace")),
    ("GET", "/api/v1/pods", {"watch": "true"}, "",
     ("WATCH", "", "", "v1", "pods", "", "cluster")),
    ("GET", "/api/v1/watch/namespaces/ns/pods", {}, "",
     ("WATCH", "", "", "v1", "pods", "", "namespace")),
    ("GET", "/apis/apps/v1/namespaces/ns/deployments/web/scale", {}, "",
     ("GET", "", "apps", "v1", "deployments", "scale", "resource")),
    ("POST", "/api/v1/namespaces/ns/configmaps", {"dryRun": "All"}, "application/json",
     ("POST", "All", "", "v1", "configmaps", "", "namespace")),
    ("PATCH", "/api/v1/nodes/n1/status", {}, APPLY,
     ("APPLY", "", "", "v1", "nodes", "status", "resource")),
    ("DELETE", "/api/v1/namespaces/ns/pods", {}, "",
     ("DELETE", "", "", "v1", "pods", "", "namespace")),
    ("GET", "/healthz", {}, "", ("GET", "", "", "", "", "", "")),
])
def test_labels_are_upstreams(method: str, path: str, query: dict[str, str],
                              content_type: str, expected: tuple[str, ...]) -> None:
    assert request_labels(method, path, query, content_type) == (*expected, "apiserver")


def test_series_on_the_servers_registry() -> None:
    metrics = ApiServerMetrics(lambda: 7, lambda: 0.25, lambda g, v, r: "Pod")
    labels = request_labels("GET", "/api/v1/pods", {}, "")
    metrics.record(labels, 200, 0.01)
    metrics.record(labels, 200, 0.3)
    watch = request_labels("GET", "/api/v1/pods", {"watch": "1"}, "")
    with metrics.longrunning(watch):
        during = metrics.render().decode()
    after = metrics.render().decode()

    def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    found = samples(after)
    common = (("component", "apiserver"), ("dry_run", ""), ("group", ""), ("resource", "pods"),
              ("scope", "cluster"), ("subresource", ""))
    assert found[("apiserver_request_total",
                  tuple(sorted((*common, ("verb", "LIST"), ("code", "200"), ("version", "v1")))))
                 ] == 2
    key = tuple(sorted((*common, ("verb", "LIST"), ("version", "v1"))))
    assert found[("apiserver_request_duration_seconds_count", key)] == 2
    assert found[("apiserver_request_duration_seconds_bucket",
                  tuple(sorted((*key, ("le", "0.025")))))] == 1
    assert found[("kybernetes_storage_revision", ())] == 7
    assert found[("kybernetes_event_loop_max_stall_seconds", ())] == 0.25
    watchers = ("apiserver_registered_watchers",
                (("group", ""), ("kind", "Pod"), ("version", "v1")))
    assert samples(during)[watchers] == 1
    assert found[watchers] == 0


@pytest.mark.parametrize(("key", "resource"), [
    ("/registry/pods/ns/web", "pods"), ("/registry/pods/", "pods"),
    ("/registry/namespaces/ns", "namespaces"),
    ("/registry/example.com/widgets/ns/w", "widgets.example.com")])
def test_storage_requests_are_typed_by_resource(key: str, resource: str) -> None:
    assert resource_of(key) == resource


async def test_storage_latency_is_observed_per_operation(tmp_path: Path) -> None:
    storage = TimedStorage(SQLiteStorage(tmp_path / "state.db"))
    await storage.start()
    try:
        kv = await storage.create("/registry/pods/ns/a", b"{}")
        await storage.update("/registry/pods/ns/a", b"{}", expected_revision=kv.mod_revision)
        await storage.list("/registry/pods/")
        await storage.get("/registry/configmaps/ns/missing")
    finally:
        await storage.close()
    registry = CollectorRegistry()
    registry.register(storage.histogram)
    counts = {(s.labels["operation"], s.labels["type"]): s.value
              for family in text_string_to_metric_families(generate_latest(registry).decode())
              for s in family.samples if s.name == "etcd_request_duration_seconds_count"}
    assert counts == {("create", "pods"): 1, ("update", "pods"): 1, ("list", "pods"): 1,
                      ("get", "configmaps"): 1}
