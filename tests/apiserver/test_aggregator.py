"""The aggregator's routing and discovery of proxied groups (the proxying itself runs in
tests/e2e/test_top.py against the metrics server)."""

from __future__ import annotations

import contextvars
import ssl

from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.aggregator import Aggregator, ServiceRef, identity_headers
from kybernetes.apiserver.authn.user import UserInfo


def aggregator() -> Aggregator:
    found = Aggregator(ssl.create_default_context)
    found.register("metrics.k8s.io", "v1beta1", "https://127.0.0.1:1/")
    return found


def test_which_paths_are_proxied() -> None:
    a = aggregator()
    assert a.backend_for("/apis/metrics.k8s.io/v1beta1/nodes") is not None
    assert a.backend_for("/apis/metrics.k8s.io/v1beta1") is not None
    assert a.backend_for("/apis/metrics.k8s.io") is None  # the group: answered here
    assert a.backend_for("/apis/metrics.k8s.io/v1/nodes") is None
    assert a.backend_for("/apis/apps/v1/deployments") is None
    assert a.backend_for("/api/v1/pods") is None


def test_discovery_of_a_proxied_group() -> None:
    a = aggregator()
    listed = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    assert a.api_groups() == [{"name": "metrics.k8s.io", "versions": [listed],
                               "preferredVersion": listed}]
    assert a.api_group("metrics.k8s.io") == {"kind": "APIGroup", "apiVersion": "v1",
                                             "name": "metrics.k8s.io", "versions": [listed],
                                             "preferredVersion": listed}
    # Before the backend answered its discovery: listed, stale, no resources.
    [item] = a.aggregated_items()
    assert item["versions"] == [{"version": "v1beta1", "freshness": "Stale", "resources": []}]
    a.backends[("metrics.k8s.io", "v1beta1")].resources = {"resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]}]}
    [item] = a.aggregated_items()
    assert item["versions"][0]["freshness"] == "Current"
    assert item["versions"][0]["resources"] == [{
        "resource": "pods", "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1",
                                             "kind": "PodMetrics"},
        "scope": "Namespaced", "singularResource": "podmetrics", "verbs": ["get", "list"]}]


def test_the_user_goes_in_request_headers() -> None:
    def as_jane() -> list[tuple[str, str]]:
        requestcontext.set_user(UserInfo("jane", groups=("dev", "system:authenticated"),
                                         extra={"scopes.io/x": ("a", "b")}))
        return identity_headers()

    # In a context of its own, as a request's: the test's stays the server's identity.
    assert contextvars.copy_context().run(as_jane) == [
        ("x-remote-user", "jane"), ("x-remote-group", "dev"),
        ("x-remote-group", "system:authenticated"), ("x-remote-extra-scopes.io%2Fx", "a"),
        ("x-remote-extra-scopes.io%2Fx", "b")]


def test_groups_and_versions_in_priority_order() -> None:
    a = Aggregator(ssl.create_default_context)
    ref = ServiceRef("ns", "svc")
    for group, version, group_priority, version_priority in [
            ("low.example.com", "v1", 100, 15), ("high.example.com", "v1beta1", 2000, 10),
            ("high.example.com", "v1", 1000, 20), ("high.example.com", "v2alpha1", 1000, 20)]:
        a.register_service(group, version, ref, group_priority=group_priority,
                           version_priority=version_priority, available=True)
    groups = a.api_groups()
    assert [g["name"] for g in groups] == ["high.example.com", "low.example.com"]
    # Equal versionPriority: the kube-aware order (GA before alpha).
    assert [v["version"] for v in groups[0]["versions"]] == ["v1", "v2alpha1", "v1beta1"]
    assert groups[0]["preferredVersion"]["version"] == "v1"
    # Only components of this process have their APIServices kept as local ones.
    assert a.group_versions() == {}
    a.unregister("low.example.com", "v1")
    assert [g["name"] for g in a.api_groups()] == ["high.example.com"]


def test_an_unavailable_service_backend_is_stale() -> None:
    a = Aggregator(ssl.create_default_context)
    a.register_service("wardle.example.com", "v1alpha1", ServiceRef("ns", "svc"),
                       group_priority=1000, version_priority=15, available=False)
    backend = a.backends[("wardle.example.com", "v1alpha1")]
    backend.resources = {"resources": []}
    [item] = a.aggregated_items()
    assert item["versions"][0]["freshness"] == "Stale"
    # What the APIService says now is kept, with the discovery fetched so far.
    a.register_service("wardle.example.com", "v1alpha1", ServiceRef("ns", "svc"),
                       group_priority=1000, version_priority=15, available=True)
    assert a.backends[("wardle.example.com", "v1alpha1")] is backend
    [item] = a.aggregated_items()
    assert item["versions"][0]["freshness"] == "Current"
