"""The ingress model: which Ingresses are handled, how paths become nginx locations, how
Ingresses merge, where backends lead."""

from __future__ import annotations

from typing import Any

from kybernetes.ingress import model
from tests.ingress.objects import endpoint_slice, ingress, rule, service

Obj = dict[str, Any]
CONTROLLER = "kybernetes.io/ingress-nginx"


def build(ingresses: list[Obj], services: list[Obj], slices: list[Obj],
          secrets: list[Obj] | None = None) -> model.Config:
    by_service: dict[str, list[Obj]] = {}
    for s in slices:
        name = s["metadata"]["labels"]["kubernetes.io/service-name"]
        by_service.setdefault(f"{s['metadata']['namespace']}/{name}", []).append(s)
    return model.Builder({model.key(s): s for s in services}, by_service,
                         {model.key(s): s for s in secrets or []}).build(ingresses)


def test_classes_decide_what_is_handled() -> None:
    classes: list[Obj] = [{"metadata": {"name": "nginx", "annotations": {
        model.DEFAULT_CLASS_ANNOTATION: "true"}}, "spec": {"controller": CONTROLLER}},
        {"metadata": {"name": "other"}, "spec": {"controller": "example.com/other"}}]
    ours = model.our_classes(classes, CONTROLLER)
    assert ours == {"nginx": True}
    assert model.handles({"spec": {"ingressClassName": "nginx"}}, ours)
    assert not model.handles({"spec": {"ingressClassName": "other"}}, ours)
    assert model.handles({"metadata": {"annotations": {model.CLASS_ANNOTATION: "nginx"}},
                          "spec": {}}, ours)
    assert model.handles({"spec": {}}, ours)  # no class: ours is the default
    assert not model.handles({"spec": {}}, {"nginx": False})


def test_path_types_become_upstreams_locations() -> None:
    config = build([ingress("a", [rule("a.test", ("/exact", "Exact", "web"),
                                       ("/foo/", "Prefix", "web"), ("/", "Prefix", "web"),
                                       ("/impl", "ImplementationSpecific", "web"))])],
                   [service("web")], [endpoint_slice("web", "10.42.0.5", "10.42.0.6")])
    server = config.servers["a.test"]
    assert set(server.locations) == {("=", "/exact"), ("=", "/foo"), ("", "/foo/"),
                                     ("", "/"), ("", "/impl")}
    upstream = config.upstreams["default-web-80"]
    assert upstream.endpoints == ("10.42.0.5:8080", "10.42.0.6:8080")
    assert model.DEFAULT_SERVER in config.servers


def test_the_oldest_ingress_wins_a_path_and_hosts_merge() -> None:
    old = ingress("old", [rule("a.test", ("/", "Prefix", "one"))], created="2026-01-01T00:00:00Z")
    new = ingress("new", [rule("a.test", ("/", "Prefix", "two"), ("/api", "Prefix", "two"))],
                  created="2026-02-01T00:00:00Z")
    config = build([new, old], [service("one"), service("two")],
                   [endpoint_slice("one", "10.42.0.1"), endpoint_slice("two", "10.42.0.2")])
    locations = config.servers["a.test"].locations
    assert locations[("", "/")].upstream == "default-one-80"
    assert locations[("", "/api/")].upstream == "default-two-80"


def test_a_backend_without_ready_endpoints_or_service_has_no_upstream() -> None:
    config = build([ingress("a", [rule("a.test", ("/", "Prefix", "web"),
                                       ("/gone", "Prefix", "missing"))])],
                   [service("web")], [endpoint_slice("web", "10.42.0.5", ready=False)])
    locations = config.servers["a.test"].locations
    assert locations[("", "/")].upstream is None
    assert locations[("", "/gone/")].upstream is None
    assert config.upstreams == {}


def test_wildcard_hosts_match_one_label() -> None:
    assert model.server_name("*.example.test") == r"~^[^.]+\.example\.test$"
    assert model.server_name("a.example.test") == "a.example.test"


def test_default_backend_serves_unmatched_paths() -> None:
    config = build([ingress("a", [rule("a.test", ("/api", "Prefix", "web"))],
                            defaultBackend={"service": {"name": "web",
                                                        "port": {"number": 80}}})],
                   [service("web")], [endpoint_slice("web", "10.42.0.5")])
    fallback = config.servers["a.test"].fallback
    assert fallback is not None and fallback.upstream == "default-web-80"
    default = config.servers[model.DEFAULT_SERVER].fallback
    assert default is not None and default.upstream == "default-web-80"


def test_annotations_make_regex_locations_and_variants() -> None:
    config = build([ingress("a", [rule("a.test", ("/app(/|$)(.*)", "ImplementationSpecific",
                                                  "web"))],
                            annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
                                         "nginx.ingress.kubernetes.io/affinity": "cookie"})],
                   [service("web")], [endpoint_slice("web", "10.42.0.5")])
    (location,) = config.servers["a.test"].locations.values()
    assert (location.modifier, location.path) == ("~*", "^/app(/|$)(.*)")
    assert location.upstream == "default-web-80-cookie-INGRESSCOOKIE"
