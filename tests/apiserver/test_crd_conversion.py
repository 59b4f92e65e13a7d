"""A CRD with two versions and webhook conversion, in an in-process API server: the test's
conversion webhook (HTTPS on loopback, its CA as caBundle, reached at its URL or through a
Service) renames `spec.size` (v1, the storage version) to `spec.dimension` (v2). Objects
created in either version are stored in v1 and read in both; a list is converted in one
review and a watch's events too; the webhook's failures and broken answers fail requests
with upstream's 500 messages; each version's own schema validates, prunes and defaults its
requests; a watch ends when the CRD is deleted and its requests are then answered 404."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.apiserver.inprocess import apiserver, http_client
from tests.webhook_server import WebhookServer

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.server import ApiServer
from kybernetes.apiserver.store import DeleteOptions

GROUP = "kyb.example.com"
NAME = f"widgets.{GROUP}"
PATH = f"/apis/{GROUP}/v2/namespaces/default/widgets"


def _schema(size_field: str, count_max: int | None) -> dict[str, Any]:
    count: dict[str, Any] = {"type": "integer", "minimum": 0}
    if count_max is not None:
        count["maximum"] = count_max
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        size_field: {"type": "string"}, "count": count,
        **({"color": {"type": "string", "default": "blue"}} if size_field == "dimension"
           else {})}}}}


def _crd(client_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "conversion": {"strategy": "Webhook", "webhook": {
                     "conversionReviewVersions": ["v1"],
                     "clientConfig": client_config}},
                 "versions": [
                     {"name": "v1", "served": True, "storage": True,
                      "schema": {"openAPIV3Schema": _schema("size", None)}},
                     {"name": "v2", "served": True, "storage": False,
                      "schema": {"openAPIV3Schema": _schema("dimension", 10)}}]},
    }


# What the webhook does: "convert" or a way to break its answer.
MODE = {"how": "convert"}


def _converted(obj: dict[str, Any], desired: str) -> dict[str, Any]:
    spec = dict(obj.get("spec") or {})
    if desired.endswith("/v2") and "size" in spec:
        spec["dimension"] = spec.pop("size")
    if desired.endswith("/v1") and "dimension" in spec:
        spec["size"] = spec.pop("dimension")
    return {**obj, "apiVersion": desired, "spec": spec}


def answer(_path: str, review: dict[str, Any]) -> dict[str, Any]:
    request = review["request"]
    objects = [_converted(o, request["desiredAPIVersion"]) for o in request["objects"]]
    uid, how = request["uid"], MODE["how"]
    result: dict[str, Any] = {"status": "Success"}
    if how == "fail":
        result = {"status": "Failure", "message": "the dimension is unknown"}
    elif how == "uid":
        uid = "another"
    elif how == "count":
        objects = []
    elif how == "rename":
        objects = [{**o, "metadata": {**o["metadata"], "name": "other"}} for o in objects]
    elif how == "labels":
        objects = [{**o, "metadata": {**o["metadata"], "labels": {"converted": "yes"},
                                      "generation": 99}} for o in objects]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": uid, "convertedObjects": objects, "result": result}}


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[WebhookServer]:
    MODE["how"] = "convert"
    running = WebhookServer(tmp_path, answer)
    yield running
    running.stop()


async def _eventually(check: Callable[[], Any], what: str) -> Any:
    for _ in range(200):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def _served(tmp_path: Path, hooks: WebhookServer,
                  client_config: dict[str, Any] | None = None
                  ) -> AsyncIterator[tuple[ApiServer, ResourceInfo, ResourceInfo]]:
    """A server whose CRD controller serves the widgets CRD, its webhook called at
    `client_config` (else at the test server's URL): it, and the two versions."""
    async with apiserver(tmp_path / "data", authorization_mode="AlwaysAllow") as server:
        task = asyncio.create_task(server.crds.run())
        try:
            crds = server.registry.get("apiextensions.k8s.io", "v1",
                                       "customresourcedefinitions")
            assert crds is not None
            await server.store.create(crds, "", _crd(client_config or {
                "url": hooks.url("/convert"), "caBundle": hooks.ca_bundle}))
            v2 = await _eventually(lambda: server.registry.get(GROUP, "v2", "widgets"),
                                   "widgets to be served")
            v1 = server.registry.get(GROUP, "v1", "widgets")
            assert v1 is not None
            yield server, v1, v2
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _widget(version: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{version}", "kind": "Widget",
            "metadata": {"name": name}, "spec": spec}


async def _stored(server: ApiServer, v1: ResourceInfo, name: str) -> dict[str, Any]:
    """The object as stored (the storage version)."""
    await server.store.cache.wait_fresh()
    found = server.store.cache.get(v1.key("default", name))
    assert found is not None
    return found.obj


def _reviewed(hooks: WebhookServer) -> list[tuple[str, list[str]]]:
    """Each review's desired version and the names of its objects; then forgotten."""
    seen = [(r["request"]["desiredAPIVersion"],
             [o["metadata"]["name"] for o in r["request"]["objects"]]) for r in hooks.reviews]
    hooks.reviews.clear()
    return seen


async def test_objects_are_converted_by_the_webhook(tmp_path: Path,
                                                    hooks: WebhookServer) -> None:
    async with _served(tmp_path, hooks) as (server, v1, v2):
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        assert _reviewed(hooks) == []
        read = await server.store.get(v2, "default", "a")
        assert read.obj["apiVersion"] == f"{GROUP}/v2"
        # Read as v2, the v2 schema's default is filled.
        assert read.obj["spec"] == {"dimension": "big", "color": "blue"}
        assert _reviewed(hooks) == [(f"{GROUP}/v2", ["a"])]

        # Created as v2: validated and defaulted as v2, stored as v1.
        made = await server.store.create(v2, "default", _widget("v2", "b", dimension="small"))
        assert made["spec"] == {"dimension": "small", "color": "blue"}
        assert _reviewed(hooks) == [(f"{GROUP}/v1", ["b"])]
        stored = await _stored(server, v1, "b")
        assert (stored["apiVersion"], stored["spec"]) == (f"{GROUP}/v1", {"size": "small"})

        async with http_client(server.app) as http:
            # A list is converted in one review; a v1 list needs none.
            listed = (await http.get(PATH)).json()
            assert [(o["apiVersion"], o["spec"]["dimension"]) for o in listed["items"]] == [
                (f"{GROUP}/v2", "big"), (f"{GROUP}/v2", "small")]
            assert _reviewed(hooks) == [(f"{GROUP}/v2", ["a", "b"])]
            listed = (await http.get(f"/apis/{GROUP}/v1/namespaces/default/widgets")).json()
            assert [o["spec"]["size"] for o in listed["items"]] == ["big", "small"]
            assert _reviewed(hooks) == []

            # A merge patch of the v2 object: converted from storage, patched, converted
            # back.
            patched = await http.patch(f"{PATH}/a", content=b'{"spec":{"dimension":"huge"}}',
                                       headers={"content-type":
                                                "application/merge-patch+json"})
            assert patched.status_code == 200, patched.text
            assert patched.json()["spec"]["dimension"] == "huge"
            assert (await _stored(server, v1, "a"))["spec"] == {"size": "huge"}


async def test_each_version_validates_with_its_own_schema(tmp_path: Path,
                                                          hooks: WebhookServer) -> None:
    async with _served(tmp_path, hooks) as (server, v1, v2):
        # v2 allows at most 10; v1 (the storage version) has no maximum.
        await server.store.create(v1, "default", _widget("v1", "many", size="s", count=11))
        with pytest.raises(errors.StatusError) as refused:
            await server.store.create(v2, "default",
                                      _widget("v2", "many2", dimension="s", count=11))
        assert refused.value.code == 422
        assert refused.value.message == (
            'Widget.kyb.example.com "many2" is invalid: spec.count: Invalid value: 11: '
            "spec.count in body should be less than or equal to 10")
        # v2's fields are known to v2's schema: not pruned as unknown to v1's.
        made = await server.store.create(v2, "default", _widget("v2", "kept", dimension="s",
                                                                 extra="x"))
        assert made["spec"] == {"dimension": "s", "color": "blue"}
        assert (await _stored(server, v1, "kept"))["spec"] == {"size": "s"}


@pytest.mark.parametrize(("how", "message"), [
    ("fail", "conversion webhook for kyb.example.com/v1, Kind=Widget failed: the dimension "
             "is unknown"),
    ("uid", 'conversion webhook for kyb.example.com/v1, Kind=Widget failed: expected '
            'response.uid="{uid}", got "another"'),
    ("count", "conversion webhook for kyb.example.com/v1, Kind=Widget returned 0 objects, "
              "expected 1"),
    ("rename", "conversion webhook for kyb.example.com/v1, Kind=Widget returned invalid "
               "object: must have the same name: a != other"),
])
async def test_webhook_failures_fail_the_request(tmp_path: Path, hooks: WebhookServer,
                                                 how: str, message: str) -> None:
    async with _served(tmp_path, hooks) as (server, v1, v2):
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        MODE["how"] = how
        with pytest.raises(errors.StatusError) as failed:
            await server.store.get(v2, "default", "a")
        uid = hooks.reviews[-1]["request"]["uid"]
        assert (failed.value.code, failed.value.reason, failed.value.message) == (
            500, "", message.format(uid=uid))


async def test_only_labels_and_annotations_of_the_answer_are_kept(
        tmp_path: Path, hooks: WebhookServer) -> None:
    async with _served(tmp_path, hooks) as (server, v1, v2):
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        MODE["how"] = "labels"
        read = (await server.store.get(v2, "default", "a")).obj
        assert read["metadata"]["labels"] == {"converted": "yes"}
        assert read["metadata"]["generation"] == 1


async def test_an_unreachable_webhook_fails_with_upstreams_message(
        tmp_path: Path, hooks: WebhookServer) -> None:
    async with _served(tmp_path, hooks) as (server, v1, v2):
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        hooks.stop()
        with pytest.raises(errors.StatusError) as failed:
            await server.store.get(v2, "default", "a")
        assert failed.value.code == 500
        assert failed.value.message == (
            "conversion webhook for kyb.example.com/v1, Kind=Widget failed: Post "
            f'"https://127.0.0.1:{hooks.port}/convert?timeout=30s": dial tcp '
            f"127.0.0.1:{hooks.port}: connect: connection refused")


async def test_a_watch_is_converted_and_ends_with_its_crd(tmp_path: Path,
                                                         hooks: WebhookServer) -> None:
    async with _served(tmp_path, hooks) as (server, v1, _), \
            http_client(server.app, timeout=30) as http:
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        await server.store.create(v1, "default", _widget("v1", "b", size="small"))
        hooks.reviews.clear()
        # The ASGI transport answers once the stream ends: it ends when the CRD goes.
        watch = asyncio.create_task(http.get(PATH, params={"watch": "true",
                                                           "timeoutSeconds": "60"}))
        await _eventually(lambda: hooks.reviews, "the initial events' review")
        crds = server.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crds is not None
        await server.store.delete(crds, "", NAME, DeleteOptions())
        answered: httpx.Response = await asyncio.wait_for(watch, 20)
        events = [orjson.loads(line) for line in answered.content.splitlines()]
        assert [(e["type"], e["object"]["apiVersion"], e["object"]["spec"]["dimension"])
                for e in events] == [
            ("ADDED", f"{GROUP}/v2", "big"), ("ADDED", f"{GROUP}/v2", "small"),
            ("DELETED", f"{GROUP}/v2", "big"), ("DELETED", f"{GROUP}/v2", "small")]
        # The initial events were converted in one review.
        assert _reviewed(hooks)[0] == (f"{GROUP}/v2", ["a", "b"])
        gone = await http.get(PATH)
        assert gone.status_code == 404


async def test_a_service_reference_reaches_the_webhook(tmp_path: Path,
                                                      hooks: WebhookServer) -> None:
    """clientConfig.service: resolved through the Service's EndpointSlice, the certificate
    checked against <service>.<namespace>.svc."""
    config = {"service": {"namespace": "webhook-service", "name": "hooks",
                          "path": "/convert"}, "caBundle": hooks.ca_bundle}
    async with _served(tmp_path, hooks, config) as (server, v1, v2):
        for group, resource, namespace, obj in (
                ("", "namespaces", "", {"metadata": {"name": "webhook-service"}}),
                ("", "services", "webhook-service", {
                    "metadata": {"name": "hooks"},
                    "spec": {"ports": [{"name": "https", "port": 443,
                                        "targetPort": hooks.port}]}}),
                ("discovery.k8s.io", "endpointslices", "webhook-service", {
                    "metadata": {"name": "hooks-1",
                                 "labels": {"kubernetes.io/service-name": "hooks"}},
                    "addressType": "IPv4",
                    "ports": [{"name": "https", "port": hooks.port, "protocol": "TCP"}],
                    "endpoints": [{"addresses": ["127.0.0.1"],
                                   "conditions": {"ready": True}}]})):
            info = server.registry.get(group, "v1", resource)
            assert info is not None
            await server.store.create(info, namespace, {
                "apiVersion": info.group_version, "kind": info.kind, **obj})
        await server.store.cache.wait_fresh()
        await server.store.create(v1, "default", _widget("v1", "a", size="big"))
        read = await server.store.get(v2, "default", "a")
        assert read.obj["spec"]["dimension"] == "big"
        assert _reviewed(hooks) == [(f"{GROUP}/v2", ["a"])]
