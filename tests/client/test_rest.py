"""ApiClient against a fake transport: paths, bodies, errors, paging, watch parsing, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import orjson
import pytest

from kybernetes.api.registry import builtin_registry
from kybernetes.client.config import ClientConfig
from kybernetes.client.rest import (
    AlreadyExistsError,
    ApiClient,
    ApiConnectionError,
    ApiError,
    ConflictError,
    GoneError,
    InvalidError,
    NotFoundError,
    PatchType,
    Preconditions,
    Resource,
    ServerError,
    is_already_exists,
    is_conflict,
    is_gone,
    is_not_found,
    resource,
)
from tests.client.helpers import FakeApi, FakeWatch, eventually

Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
CONFIGMAPS = resource("", "v1", "configmaps")
DEPLOYMENTS = resource("apps", "v1", "deployments")
NODES = resource("", "v1", "nodes")


def client(handler: Handler, **config: Any) -> ApiClient:
    cfg = ClientConfig(server="https://api.test:6443", **config)
    return ApiClient(cfg, transport=httpx.MockTransport(handler))


def status(code: int, reason: str, message: str = "boom") -> httpx.Response:
    return httpx.Response(code, json={"kind": "Status", "apiVersion": "v1",
                                      "status": "Failure", "code": code, "reason": reason,
                                      "message": message})


class Recorder:
    def __init__(self, reply: Callable[[httpx.Request], httpx.Response] | None = None
                 ) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply or (lambda r: httpx.Response(200, json={"ok": True}))

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


async def test_paths_for_core_group_namespaced_and_cluster_scoped() -> None:
    rec = Recorder()
    async with client(rec, namespace="team") as api:
        await api.get(CONFIGMAPS, "cm")
        assert rec.last.url.path == "/api/v1/namespaces/team/configmaps/cm"
        await api.get(DEPLOYMENTS, "web", "prod")
        assert rec.last.url.path == "/apis/apps/v1/namespaces/prod/deployments/web"
        await api.get(NODES, "n1", "ignored")
        assert rec.last.url.path == "/api/v1/nodes/n1"
        await api.get(("apps", "v1", "deployments"), "web", "prod", subresource="scale")
        assert rec.last.url.path == "/apis/apps/v1/namespaces/prod/deployments/web/scale"
        widgets = Resource("example.com", "v1", "widgets", namespaced=False)
        await api.get(widgets, "w")
        assert rec.last.url.path == "/apis/example.com/v1/widgets/w"
        info = builtin_registry().get("rbac.authorization.k8s.io", "v1", "clusterroles")
        assert info is not None
        await api.get(info, "system:controller:foo")
        assert rec.last.url.path == \
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:foo"
        await api.list(CONFIGMAPS)
        assert rec.last.url.path == "/api/v1/configmaps", "list without namespace: all"


async def test_writes_send_json_and_options() -> None:
    rec = Recorder(lambda r: httpx.Response(200, json={"kind": "ConfigMap"}))
    cm = {"metadata": {"name": "cm", "namespace": "ns1", "resourceVersion": "7"}}
    async with client(rec) as api:
        await api.create(CONFIGMAPS, cm, dry_run=True, field_manager="me")
        assert rec.last.method == "POST"
        assert rec.last.url.path == "/api/v1/namespaces/ns1/configmaps"
        assert dict(rec.last.url.params) == {"dryRun": "All", "fieldManager": "me"}
        assert orjson.loads(rec.last.content) == cm
        assert rec.last.headers["content-type"] == "application/json"

        await api.update(CONFIGMAPS, cm)
        assert (rec.last.method, rec.last.url.path) == (
            "PUT", "/api/v1/namespaces/ns1/configmaps/cm")
        await api.update_status(DEPLOYMENTS, {"metadata": {"name": "d", "namespace": "x"}})
        assert rec.last.url.path == "/apis/apps/v1/namespaces/x/deployments/d/status"

        kinds: list[tuple[PatchType, str]] = [
            ("merge", "application/merge-patch+json"),
            ("strategic", "application/strategic-merge-patch+json")]
        for kind, media in kinds:
            await api.patch(CONFIGMAPS, "cm", {"data": {"a": "b"}}, "ns1", patch_type=kind)
            assert rec.last.headers["content-type"] == media
        await api.patch(CONFIGMAPS, "cm", [{"op": "remove", "path": "/data/a"}], "ns1",
                        patch_type="json")
        assert rec.last.headers["content-type"] == "application/json-patch+json"
        assert orjson.loads(rec.last.content) == [{"op": "remove", "path": "/data/a"}]

        await api.delete(CONFIGMAPS, "cm", "ns1", propagation_policy="Foreground",
                         grace_period_seconds=0,
                         preconditions=Preconditions(uid="u1", resource_version="7"))
        assert rec.last.method == "DELETE"
        assert orjson.loads(rec.last.content) == {
            "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
            "gracePeriodSeconds": 0, "preconditions": {"uid": "u1", "resourceVersion": "7"}}


@pytest.mark.parametrize(("code", "reason", "cls", "check"), [
    (404, "NotFound", NotFoundError, is_not_found),
    (409, "AlreadyExists", AlreadyExistsError, is_already_exists),
    (409, "Conflict", ConflictError, is_conflict),
    (410, "Expired", GoneError, is_gone),
    (410, "Gone", GoneError, is_gone),
    (422, "Invalid", InvalidError, None),
    (503, "ServiceUnavailable", ServerError, None),
])
async def test_status_errors_map_to_subclasses(code: int, reason: str, cls: type[ApiError],
                                               check: Callable[[BaseException], bool] | None
                                               ) -> None:
    async with client(Recorder(lambda r: status(code, reason, "the message"))) as api:
        with pytest.raises(cls) as caught:
            await api.get(CONFIGMAPS, "cm", "ns")
    err = caught.value
    assert (err.code, err.reason, err.message) == (code, reason, "the message")
    assert err.status["kind"] == "Status"
    if check is not None:
        assert check(err)
        assert not check(RuntimeError("x"))


async def test_non_status_error_bodies_are_wrapped() -> None:
    async with client(Recorder(lambda r: httpx.Response(502, text="bad gateway"))) as api:
        with pytest.raises(ServerError) as caught:
            await api.get(CONFIGMAPS, "cm", "ns")
    assert caught.value.code == 502 and "bad gateway" in caught.value.message


async def test_transport_failures_raise_connection_errors() -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with client(refuse) as api:
        with pytest.raises(ApiConnectionError):
            await api.get(CONFIGMAPS, "cm", "ns")


async def test_retry_after_is_honoured() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "0"}, json={}),
               httpx.Response(503, headers={"Retry-After": "0"}, json={}),
               httpx.Response(200, json={"kind": "ConfigMap"})]
    rec = Recorder(lambda r: answers.pop(0))
    async with client(rec) as api:
        assert await api.get(CONFIGMAPS, "cm", "ns") == {"kind": "ConfigMap"}
    assert len(rec.requests) == 3


async def test_list_follows_continue_and_fills_kind() -> None:
    fake = FakeApi()
    for i in range(23):
        fake.put(f"cm-{i:02d}")
    async with ApiClient(ClientConfig(server="https://x"), transport=fake.transport()) as api:
        result = await api.list(CONFIGMAPS, "ns", limit=5)
        pages = [p async for p in api.list_pages(CONFIGMAPS, "ns", limit=10)]
    assert len(result) == 23 and fake.lists == 5 + 3
    assert result.resource_version == str(fake.rv)
    assert [o["metadata"]["name"] for o in result][:2] == ["cm-00", "cm-01"]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in result)
    assert [len(p["items"]) for p in pages] == [10, 10, 3]
    assert fake.requests[1].url.params["continue"] == "5"


async def test_expired_continue_token_falls_back_to_one_full_list() -> None:
    calls: list[dict[str, str]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        calls.append(params)
        if "continue" in params:
            return status(410, "Expired", "continue token too old")
        items = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
        meta = {"resourceVersion": "9"}
        if params.get("limit"):
            items = items[:1]
            meta["continue"] = "tok"
        return httpx.Response(200, json={"kind": "ConfigMapList", "apiVersion": "v1",
                                         "metadata": meta, "items": items})

    async with client(Recorder(reply)) as api:
        result = await api.list(CONFIGMAPS, "ns", limit=1)
    assert [o["metadata"]["name"] for o in result] == ["a", "b"]
    assert "limit" not in calls[-1]


async def test_watch_parses_split_and_batched_lines() -> None:
    fake = FakeApi()
    events: list[tuple[str, str]] = []
    async with ApiClient(ClientConfig(server="https://x"), transport=fake.transport()) as api:
        watch = api.watch(CONFIGMAPS, "ns", resource_version="5", timeout_seconds=30)

        async def consume() -> None:
            async for kind, obj in watch:
                events.append((kind, obj["metadata"].get("name", "")))

        task = asyncio.create_task(consume())
        await eventually(lambda: bool(fake.watches))
        stream: FakeWatch = fake.watch
        line1 = orjson.dumps({"type": "ADDED", "object": {"metadata": {
            "name": "a", "resourceVersion": "6"}}}) + b"\n"
        line2 = orjson.dumps({"type": "MODIFIED", "object": {"metadata": {
            "name": "a", "resourceVersion": "7"}}}) + b"\n"
        bookmark = orjson.dumps({"type": "BOOKMARK", "object": {"metadata": {
            "resourceVersion": "8"}}}) + b"\n"
        stream.raw(line1[:10])
        stream.raw(line1[10:] + line2[:5])
        stream.raw(line2[5:] + bookmark)
        stream.end()
        await task
        assert watch.resource_version == "8"
    assert events == [("ADDED", "a"), ("MODIFIED", "a"), ("BOOKMARK", "")]
    params = fake.requests[0].url.params
    assert params["watch"] == "true" and params["resourceVersion"] == "5"
    assert params["allowWatchBookmarks"] == "true" and params["timeoutSeconds"] == "30"


async def test_watch_error_event_raises_gone() -> None:
    fake = FakeApi()
    async with ApiClient(ClientConfig(server="https://x"), transport=fake.transport()) as api:
        watch = api.watch(CONFIGMAPS, "ns", resource_version="1")

        async def first() -> Any:
            async for event in watch:
                return event
            return None

        task = asyncio.create_task(first())
        await eventually(lambda: bool(fake.watches))
        fake.watch.error(410, "Expired", "too old resource version: 1 (50)")
        with pytest.raises(GoneError, match="too old"):
            await task
        await watch.aclose()


async def test_watch_list_parameters() -> None:
    fake = FakeApi()
    fake.put("a")
    async with ApiClient(ClientConfig(server="https://x"), transport=fake.transport()) as api:
        watch = api.watch(CONFIGMAPS, "ns", send_initial_events=True, allow_bookmarks=False)
        async with watch:
            first = await watch.__anext__()
            second = await watch.__anext__()
    assert first.type == "ADDED" and second.type == "BOOKMARK"
    params = fake.requests[0].url.params
    assert params["sendInitialEvents"] == "true"
    assert params["resourceVersionMatch"] == "NotOlderThan"
    assert params["allowWatchBookmarks"] == "true"


async def test_rate_limiter_blocks_past_the_burst() -> None:
    rec = Recorder()
    async with client(rec, qps=0.001, burst=3) as api:
        for _ in range(3):
            await api.get(CONFIGMAPS, "cm", "ns")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await api.get(CONFIGMAPS, "cm", "ns")
    assert len(rec.requests) == 3
    async with client(rec, qps=0) as api:  # disabled
        await asyncio.gather(*(api.get(CONFIGMAPS, "cm", "ns") for _ in range(50)))
    assert len(rec.requests) == 53


async def test_bearer_token_header() -> None:
    rec = Recorder()
    async with client(rec, token="secret") as api:
        await api.get(CONFIGMAPS, "cm", "ns")
    assert rec.last.headers["authorization"] == "Bearer secret"
