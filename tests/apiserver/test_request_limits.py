"""No single request may hold the server: bounded quantities, YAML alias bombs and deep
documents refused before anything is built, watch timeouts parsed as integers and capped
(issue 24). Through the ASGI app, authorization off."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from tests.apiserver.inprocess import controller_apiserver, controller_http

from kybernetes.apiserver.watch import MAX_TIMEOUT, watch_timeout

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
YAML = {"content-type": "application/yaml"}


def _status(response: httpx.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["code"] == code
    return body


BOMB = b"""apiVersion: v1
kind: ConfigMap
metadata: {name: bomb}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


async def test_yaml_alias_bomb_is_refused(http: httpx.AsyncClient) -> None:
    body = _status(await http.post(CONFIGMAPS, content=BOMB, headers=YAML), 400)
    assert "excessive aliasing" in body["message"]
    # A few honest aliases are fine.
    honest = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\ndata: &d {a: b}\n"
    assert (await http.post(CONFIGMAPS, content=honest, headers=YAML)).status_code == 201


@pytest.mark.parametrize("document", [
    b"data: " + b"[" * 10_000 + b"]" * 10_000,
    b"data:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 1200)),
], ids=["flow", "block"])
async def test_deep_yaml_is_a_400(http: httpx.AsyncClient, document: bytes) -> None:
    response = await http.post(CONFIGMAPS, content=b"apiVersion: v1\nkind: ConfigMap\n" +
                               document, headers=YAML)
    assert response.status_code == 400, response.text


async def test_deep_json_is_a_400(http: httpx.AsyncClient) -> None:
    nested = '{"a":' * 300 + "1" + "}" * 300
    body = ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":' + nested +
            "}").encode()
    _status(await http.post(CONFIGMAPS, content=body,
                            headers={"content-type": "application/json"}), 400)
    assert (await http.get(f"{CONFIGMAPS}/deep")).status_code == 404


async def test_a_huge_exponent_is_capped_not_computed(http: httpx.AsyncClient) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
               "limits": {"cpu": "1e100001"}}}]}}
    response = await http.post("/api/v1/namespaces/default/pods?dryRun=All",
                               content=orjson.dumps(pod),
                               headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    limits = response.json()["spec"]["containers"][0]["resources"]["limits"]
    assert limits["cpu"] == "9223372036854775807"


@pytest.mark.parametrize("seconds", ["inf", "1e400", "1.5", "-", "9" * 30, "nan"])
async def test_watch_timeout_must_be_an_integer(http: httpx.AsyncClient, seconds: str) -> None:
    response = await http.get(f"{CONFIGMAPS}?watch=true&timeoutSeconds={seconds}")
    body = _status(response, 400)
    assert "timeoutSeconds" in body["message"]


def test_watch_timeouts_are_capped() -> None:
    assert watch_timeout("5") == 5
    assert watch_timeout(str(10**15)) == MAX_TIMEOUT
    assert 1800 <= watch_timeout("") <= MAX_TIMEOUT
    assert 1800 <= watch_timeout("0") <= MAX_TIMEOUT


@pytest.mark.parametrize("key", ["a.b", "x[0]", "[", "é", "k]", "0"])
async def test_unknown_fields_with_any_key_are_dropped(http: httpx.AsyncClient,
                                                       key: str) -> None:
    """Unknown fields whose names hold path syntax or non-ASCII are dropped and warned
    about, never a 500 (issue 23), and the header stays printable ASCII."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"},
            "data": {"a": "b"}, key: {"nested": [1, {key: 2}]}}
    response = await http.post(f"{CONFIGMAPS}?dryRun=All", content=orjson.dumps(body),
                               headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert key not in response.json()
    warning = response.headers["warning"]
    assert warning.startswith('299 - "unknown field') and warning.isascii()


@pytest.mark.parametrize(("body", "code"), [
    # KeyError: 'metadata' in decoding (issue 23): no metadata, or metadata not an object.
    (b'{"apiVersion": "v1", "kind": "ConfigMap"}', 422),
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": []}', 400),
    (b'[]', 400),
    (b'"configmap"', 400),
    # IndexError in pruning: unknown fields inside later items of a list.
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "ownerReferences":'
     b' [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u"}, {"zz": [{"\xc3\xa9": 1}]}'
     b']}}', 422),
])
async def test_malformed_bodies_are_refused_not_500(http: httpx.AsyncClient, body: bytes,
                                                    code: int) -> None:
    response = await http.post(f"{CONFIGMAPS}?dryRun=All", content=body,
                               headers={"content-type": "application/json"})
    _status(response, code)


@pytest.mark.parametrize("name", ["é", "名前", "a%0Ab"])
async def test_names_that_cannot_be_headers_are_refused_cleanly(http: httpx.AsyncClient,
                                                                name: str) -> None:
    """Names come back in Status messages, never raw in headers (issue 23's
    UnicodeEncodeError and invalid header value classes)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    response = await http.put(f"{CONFIGMAPS}/{name}", content=orjson.dumps(body),
                              headers={"content-type": "application/json"})
    assert response.status_code in (400, 404, 422), response.text
    assert all(value.isascii() for value in response.headers.values())
