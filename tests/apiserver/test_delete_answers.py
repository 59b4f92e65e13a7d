"""What a delete answers, as upstream's generic store and handlers: the deleted object for
kinds whose storage sets `ReturnDeletedObject`, else a Success `Status`; the object as it
now is while finalizers hold it (202 only with `orphanDependents: false`); for a
deletecollection, the list as it was. Every JSON body ends with a newline, and `Status`
bodies carry upstream's field order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.apiserver import inprocess

from kybernetes.api import errors
from kybernetes.apiserver.http import status_response

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
SERVICEACCOUNTS = "/api/v1/namespaces/default/serviceaccounts"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as client:
        yield client


def named(name: str, kind: str = "ConfigMap", **meta: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, **meta}}


async def test_a_kind_without_return_deleted_object_answers_a_status(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(CONFIGMAPS, json=named("cm")))
    answer = await http.delete(f"{CONFIGMAPS}/cm")
    assert answer.status_code == 200
    uid = created["metadata"]["uid"]
    assert answer.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
        b'"details":{"name":"cm","kind":"configmaps","uid":"' + uid.encode() + b'"}}\n')


async def test_a_grouped_kind_names_its_group_after_the_name(http: httpx.AsyncClient) -> None:
    url = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    inprocess.ok(await http.post(url, json={"apiVersion": "coordination.k8s.io/v1",
                                            "kind": "Lease", "metadata": {"name": "l"}}))
    details = (await http.delete(f"{url}/l")).json()["details"]
    assert list(details) == ["name", "group", "kind", "uid"]
    assert details["group"] == "coordination.k8s.io"


async def test_return_deleted_object_kinds_answer_the_object(http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(SERVICEACCOUNTS, json=named("sa", "ServiceAccount")))
    answer = await http.delete(f"{SERVICEACCOUNTS}/sa")
    assert answer.status_code == 200
    assert answer.json()["kind"] == "ServiceAccount"
    assert answer.content.endswith(b"}\n")
    classes = "/apis/storage.k8s.io/v1/storageclasses"
    inprocess.ok(await http.post(classes, json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "fast"}, "provisioner": "example.com/p"}))
    assert (await http.delete(f"{classes}/fast")).json()["kind"] == "StorageClass"


async def test_an_object_finalizers_hold_comes_back_as_it_now_is(
        http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(CONFIGMAPS, json=named("held", finalizers=["example.com/x"])))
    answer = await http.delete(f"{CONFIGMAPS}/held")
    assert answer.status_code == 200
    assert answer.json()["metadata"]["deletionTimestamp"]
    inprocess.ok(await http.post(CONFIGMAPS, json=named("cascade",
                                                        finalizers=["example.com/x"])))
    answer = await http.request("DELETE", f"{CONFIGMAPS}/cascade",
                                content=orjson.dumps({"orphanDependents": False}),
                                headers={"Content-Type": "application/json"})
    assert answer.status_code == 202
    assert answer.json()["kind"] == "ConfigMap"


async def test_deletecollection_answers_the_list_as_it_was(http: httpx.AsyncClient) -> None:
    for name in ("a", "b"):
        inprocess.ok(await http.post(CONFIGMAPS, json=named(name, labels={"x": "y"})))
    answer = await http.delete(CONFIGMAPS, params={"labelSelector": "x=y"})
    assert answer.status_code == 200
    assert answer.content.endswith(b"]}\n")
    body = answer.json()
    assert body["kind"] == "ConfigMapList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "b"]
    assert "deletionTimestamp" not in body["items"][0]["metadata"]
    assert inprocess.ok(await http.get(CONFIGMAPS, params={"labelSelector": "x=y"}))[
        "items"] == []


async def test_failure_status_bytes_match_upstreams(http: httpx.AsyncClient) -> None:
    inprocess.ok(await http.post(CONFIGMAPS, json=named("dup")))
    answer = await http.post(CONFIGMAPS, json=named("dup"))
    assert answer.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"configmaps \\"dup\\" already exists","reason":"AlreadyExists",'
        b'"details":{"name":"dup","kind":"configmaps"},"code":409}\n')
    invalid = await http.post(CONFIGMAPS, json=named("Bad_Name"))
    body = invalid.json()
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "message", "reason",
                          "details", "code"]
    assert list(body["details"]) == ["name", "kind", "causes"]
    assert list(body["details"]["causes"][0]) == ["reason", "message", "field"]
    assert invalid.content.endswith(b"}\n")


def test_the_python_clients_expected_status_bytes() -> None:
    err = errors.already_exists("apiregistration.k8s.io", "apiservices",
                                "v1alpha1.wardle.k8s.io")
    assert status_response(err).body == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
        b'"apiservices.apiregistration.k8s.io \\"v1alpha1.wardle.k8s.io\\" already exists",'
        b'"reason":"AlreadyExists","details":{"name":"v1alpha1.wardle.k8s.io",'
        b'"group":"apiregistration.k8s.io","kind":"apiservices"},"code":409}\n')
