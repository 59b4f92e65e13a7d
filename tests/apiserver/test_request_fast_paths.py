"""The request fast paths keep their answers: a LIST bigger than one response piece arrives
whole (sent in pieces, assembled in one join), a JSON body whose strings hold many brackets
is not mistaken for a deep one, and a patch checked by its own fields warns and refuses as
a check of the whole object does. Through the ASGI app."""

from __future__ import annotations

import httpx
import orjson
from tests.apiserver.inprocess import controller_apiserver, controller_http

from kybernetes.apiserver.http import BODY_PIECE_BYTES
from kybernetes.apiserver.negotiation import MAX_DEPTH

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
JSON = {"content-type": "application/json"}


async def test_a_list_larger_than_a_piece_arrives_whole(http: httpx.AsyncClient) -> None:
    value = "x" * 100_000
    count = 3 * BODY_PIECE_BYTES // len(value) + 1
    for i in range(count):
        created = await http.post(CONFIGMAPS, json={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{i}"},
            "data": {"v": value}})
        assert created.status_code == 201, created.text
    response = await http.get(CONFIGMAPS)
    assert response.status_code == 200
    assert len(response.content) > 3 * BODY_PIECE_BYTES
    assert response.content.endswith(b"]}\n")
    listed = orjson.loads(response.content)
    assert sorted(o["metadata"]["name"] for o in listed["items"]) == \
        sorted(f"big-{i}" for i in range(count))
    assert all(o["data"]["v"] == value for o in listed["items"])


async def test_an_empty_list_is_well_formed(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/namespaces/empty/configmaps")
    assert response.content.endswith(b'"items":[]}\n')
    assert orjson.loads(response.content)["items"] == []


async def test_brackets_inside_strings_are_not_depth(http: httpx.AsyncClient) -> None:
    text = "{[" * MAX_DEPTH
    body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "brackets"}, "data": {"v": text}})
    created = await http.post(CONFIGMAPS, content=body, headers=JSON)
    assert created.status_code == 201, created.text
    assert (await http.get(f"{CONFIGMAPS}/brackets")).json()["data"]["v"] == text


async def test_patches_are_checked_whether_or_not_they_are_clean(
        http: httpx.AsyncClient) -> None:
    """A clean merge patch skips the whole-object walk; an unknown field, a wrongly typed
    one or a strategic merge directive still gets the whole object's check."""
    created = await http.post(CONFIGMAPS, json={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "patched"},
        "data": {"a": "1", "b": "2"}})
    assert created.status_code == 201, created.text
    path = f"{CONFIGMAPS}/patched"
    merge = {"content-type": "application/merge-patch+json"}
    strategic = {"content-type": "application/strategic-merge-patch+json"}
    clean = await http.patch(path, content=b'{"data":{"a":"3","b":null}}', headers=merge)
    assert clean.status_code == 200 and "warning" not in clean.headers
    assert clean.json()["data"] == {"a": "3"}
    warned = await http.patch(path, content=b'{"dataa":{"x":"y"}}', headers=merge)
    assert warned.status_code == 200
    assert 'unknown field \\"dataa\\"' in warned.headers["warning"]
    assert "dataa" not in warned.json()
    strict = await http.patch(path, params={"fieldValidation": "Strict"},
                              content=b'{"dataa":{"x":"y"}}', headers=strategic)
    assert strict.status_code == 400 and 'unknown field "dataa"' in strict.json()["message"]
    typed = await http.patch(path, content=b'{"data":{"a":5}}', headers=merge)
    assert typed.status_code == 400, typed.text
    directive = await http.patch(path, content=b'{"data":{"$patch":"replace","c":"4"}}',
                                 headers=strategic)
    assert directive.status_code == 200, directive.text
    assert directive.json()["data"] == {"c": "4"}
