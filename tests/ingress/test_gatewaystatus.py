"""The Gateway API status the controller writes: conditions with the generation, a
transition time kept while the status holds, other controllers' route parents kept, and the
reasons a route is not accepted or its references not resolved."""

from __future__ import annotations

from typing import Any

from kybernetes.ingress import gatewaystatus, model
from kybernetes.ingress.gateway import GatewayBuilder
from tests.ingress.objects import endpoint_slice, service

Obj = dict[str, Any]
CONTROLLER = "kybernetes.io/gateway-nginx"
CLASSES = [{"metadata": {"name": "nginx"}, "spec": {"controllerName": CONTROLLER}}]
GATEWAY = {"metadata": {"name": "gw", "namespace": "default", "generation": 3},
           "spec": {"gatewayClassName": "nginx", "listeners": [
               {"name": "web", "port": 80, "protocol": "HTTP", "hostname": "*.test"}]}}


def route(name: str, backend: str, *, namespace: str = "default", hostname: str = "a.test",
          backend_namespace: str | None = None, status: Obj | None = None) -> Obj:
    ref: Obj = {"name": backend, "port": 80}
    if backend_namespace:
        ref["namespace"] = backend_namespace
    return {"metadata": {"name": name, "namespace": namespace, "generation": 2},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "default"}],
                     "hostnames": [hostname], "rules": [{"backendRefs": [ref]}]},
            "status": status or {}}


def build(*routes: Obj) -> Any:
    builder = model.Builder({"default/web": service("web")},
                            {"default/web": [endpoint_slice("web", "10.42.0.5")]}, {})
    builder.build([])
    return GatewayBuilder(builder, CONTROLLER).build(CLASSES, [GATEWAY], list(routes))


def reasons(status: Obj) -> list[tuple[str, str, str]]:
    return [(c["type"], c["status"], c["reason"])
            for p in status["parents"] if p["controllerName"] == CONTROLLER
            for c in p["conditions"]]


def test_routes_accepted_or_told_why_not() -> None:
    routes = [route("ok", "web"), route("missing", "nothing"),
              route("foreign", "web", namespace="other"),
              route("elsewhere", "web", hostname="a.example.org"),
              route("cross", "web", backend_namespace="other")]
    built = build(*routes)
    by_name = {r["metadata"]["name"]: gatewaystatus.route_status(
        r, built, model.key(r), CONTROLLER) for r in routes}
    assert reasons(by_name["ok"]) == [("Accepted", "True", "Accepted"),
                                      ("ResolvedRefs", "True", "ResolvedRefs")]
    assert reasons(by_name["missing"])[1] == ("ResolvedRefs", "False", "BackendNotFound")
    assert reasons(by_name["foreign"]) == [("Accepted", "False", "NotAllowedByListeners")]
    assert reasons(by_name["elsewhere"])[0] == \
        ("Accepted", "False", "NoMatchingListenerHostname")
    assert reasons(by_name["cross"])[1] == ("ResolvedRefs", "False", "RefNotPermitted")
    assert built.attached["default/gw"] == {"web": 3}  # ok, missing, cross


def test_conditions_keep_their_time_and_other_controllers_parents() -> None:
    other = {"parentRef": {"name": "theirs"}, "controllerName": "example.com/other",
             "conditions": []}
    first = route("r", "web", status={"parents": [other]})
    built = build(first)
    written = gatewaystatus.route_status(first, built, "default/r", CONTROLLER)
    assert written["parents"][0] == other
    accepted = written["parents"][1]["conditions"][0]
    assert accepted["observedGeneration"] == 2
    again = route("r", "web", status={"parents": [other, {
        **written["parents"][1], "conditions": [{**accepted,
                                                 "lastTransitionTime": "2020-01-01T00:00:00Z"}]}]})
    rewritten = gatewaystatus.route_status(again, built, "default/r", CONTROLLER)
    assert rewritten["parents"][1]["conditions"][0]["lastTransitionTime"] == \
        "2020-01-01T00:00:00Z"
    assert not gatewaystatus.differs(
        {"status": rewritten}, gatewaystatus.route_status(again, built, "default/r", CONTROLLER))


def test_the_gateway_is_programmed_with_the_addresses() -> None:
    built = build(route("ok", "web"))
    written = gatewaystatus.gateway_status(GATEWAY, built, "default/gw", ["198.51.100.7"])
    assert written["addresses"] == [{"type": "IPAddress", "value": "198.51.100.7"}]
    assert [(c["type"], c["status"], c["observedGeneration"])
            for c in written["conditions"]] == [("Accepted", "True", 3),
                                                ("Programmed", "True", 3)]
    (listener,) = written["listeners"]
    assert listener["attachedRoutes"] == 1
