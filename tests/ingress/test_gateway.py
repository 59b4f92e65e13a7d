"""The Gateway API on real nginx, on loopback: HTTPRoutes attached to a Gateway's listeners
route by path, header and method in the specification's order of precedence (falling to a
shorter prefix when a longer one's headers do not match), split traffic by weight, apply
their filters, and answer 500 for a backend that does not exist and 503 for one without
endpoints; hostnames intersect as the specification says."""

from __future__ import annotations

import asyncio
import shutil
import socket
from typing import Any

import pytest

from kybernetes.ingress.gateway import GROUP, intersect
from tests.ingress.plane import CONTROLLER, Plane, get

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")
Obj = dict[str, Any]
CLASSES = [{"metadata": {"name": "nginx"}, "spec": {"controllerName": CONTROLLER}},
           {"metadata": {"name": "other"}, "spec": {"controllerName": "example.com/other"}}]


def gateway(name: str, port: int, *, cls: str = "nginx", **listener: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default",
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"gatewayClassName": cls, "listeners": [
                {"name": "web", "port": port, "protocol": "HTTP", **listener}]}}


def route(name: str, rules: list[Obj], *, hostnames: tuple[str, ...] = ("gw.test",),
          parent: str = "gw", namespace: str = "default", created: str = "") -> Obj:
    return {"metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": created or "2026-01-01T00:00:00Z"},
            "spec": {"parentRefs": [{"name": parent, "namespace": "default"}],
                     "hostnames": list(hostnames), "rules": rules}}


def backend(name: str, weight: int = 1, port: int = 80) -> Obj:
    return {"name": name, "port": port, "weight": weight}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve(plane: Plane, *routes: Obj, port: int | None = None) -> int:
    port = port or plane.listen.http_port
    await plane.apply([], gateway=(CLASSES, [gateway("gw", port)], list(routes)))
    return port


def test_hostnames_intersect() -> None:
    assert intersect("", "a.test") == "a.test"
    assert intersect("*.example.test", "a.example.test") == "a.example.test"
    assert intersect("a.example.test", "*.example.test") == "a.example.test"
    assert intersect("*.example.test", "*.a.example.test") == "*.a.example.test"
    assert intersect("a.test", "b.test") is None


async def test_paths_headers_and_methods_by_precedence(plane: Plane) -> None:
    await serve(plane, route("r", [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [backend("one")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                      "headers": [{"name": "X-Canary", "value": "yes"}]}],
         "backendRefs": [backend("two")]},
        {"matches": [{"path": {"type": "Exact", "value": "/exact"}, "method": "GET"}],
         "backendRefs": [backend("two")]},
        {"matches": [{"path": {"type": "RegularExpression", "value": "^/re/[0-9]+$"}}],
         "backendRefs": [backend("two")]}]))
    assert await get(plane, "gw.test", "/x") == (200, "one /x")
    # /api's only rule needs the header: without it, the request falls to "/"
    assert await get(plane, "gw.test", "/api/v1") == (200, "one /api/v1")
    assert await get(plane, "gw.test", "/api/v1", headers={"X-Canary": "yes"}) == \
        (200, "two /api/v1")
    assert await get(plane, "gw.test", "/exact") == (200, "two /exact")
    assert await get(plane, "gw.test", "/re/42") == (200, "two /re/42")
    assert (await get(plane, "other.test", "/"))[0] == 404


async def test_weights_split_traffic(plane: Plane) -> None:
    await serve(plane, route("r", [{"backendRefs": [backend("one", 80), backend("two", 20)]}]))

    def count() -> dict[str, int]:
        seen = {"one": 0, "two": 0}
        for _ in range(200):
            status, body, _ = plane.get("gw.test", "/")
            assert status == 200
            seen[body.split()[0]] += 1
        return seen
    seen = await asyncio.to_thread(count)
    assert 120 <= seen["one"] <= 190 and seen["one"] + seen["two"] == 200


async def test_filters(plane: Plane) -> None:
    await serve(plane, route("r", [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/headers"}}],
         "filters": [
             {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                 "set": [{"name": "X-Added", "value": "by-gateway"}]}},
             {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                 "add": [{"name": "X-Answer", "value": "42"}]}}],
         "backendRefs": [backend("one")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
         "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
             "type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}],
         "backendRefs": [backend("two")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/moved"}}],
         "filters": [{"type": "RequestRedirect", "requestRedirect": {
             "scheme": "https", "hostname": "elsewhere.test", "statusCode": 301}}]}]))
    status, body, response = await asyncio.to_thread(plane.get, "gw.test", "/headers/a")
    assert (status, body) == (200, "one /headers/a")
    assert response.getheader("x-seen-x-added") == "by-gateway"
    assert response.getheader("x-seen-host") == "gw.test"
    assert response.getheader("X-Answer") == "42"
    assert await get(plane, "gw.test", "/old/page?q=1") == (200, "two /new/page?q=1")
    assert await get(plane, "gw.test", "/old") == (200, "two /new")
    status, _, response = await asyncio.to_thread(plane.get, "gw.test", "/moved/x?y=2")
    assert status == 301
    assert response.getheader("Location") == "https://elsewhere.test/moved/x?y=2"


async def test_invalid_and_unavailable_backends(plane: Plane) -> None:
    await serve(plane, route("r", [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/missing"}}],
         "backendRefs": [backend("nothing")]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/wrong-port"}}],
         "backendRefs": [backend("one", port=9999)]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/elsewhere"}}],
         "backendRefs": [{**backend("one"), "namespace": "other"}]}]))
    assert (await get(plane, "gw.test", "/missing"))[0] == 500
    assert (await get(plane, "gw.test", "/elsewhere"))[0] == 500  # no ReferenceGrant
    assert (await get(plane, "gw.test", "/wrong-port"))[0] == 503


async def test_a_listener_on_its_own_port_and_what_may_attach(plane: Plane) -> None:
    port = free_port()
    gateways = [gateway("gw", port, hostname="*.own.test"),
                gateway("theirs", plane.listen.http_port, cls="other")]
    routes = [route("r", [{"backendRefs": [backend("one")]}], hostnames=("a.own.test",)),
              route("foreign", [{"backendRefs": [backend("two")]}], hostnames=("b.own.test",),
                    namespace="elsewhere"),
              route("not-ours", [{"backendRefs": [backend("two")]}], parent="theirs")]
    await plane.apply([], gateway=(CLASSES, gateways, routes))

    def at(host: str) -> int:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/", headers={"Host": host})
            return conn.getresponse().status
        finally:
            conn.close()
    assert await asyncio.to_thread(at, "a.own.test") == 200
    assert await asyncio.to_thread(at, "b.own.test") == 404  # another namespace: not allowed
    assert (await get(plane, "gw.test", "/"))[0] == 404  # the other class's Gateway
    assert GROUP == "gateway.networking.k8s.io"
