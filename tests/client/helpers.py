"""Test helpers: polling for a condition, and a fake API server for list and watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

Obj = dict[str, Any]


async def eventually(predicate: Callable[[], bool], *, limit: float = 20.0,
                     what: str = "condition") -> None:
    """Poll until `predicate()` holds. The limit is a safety net against hangs, not a
    performance expectation."""
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - polling state other tasks change
            await asyncio.sleep(0.01)
    assert predicate(), what


class FakeWatch(httpx.AsyncByteStream):
    """A watch response whose bytes the test pushes."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def send(self, kind: str, obj: Obj) -> None:
        self.raw(orjson.dumps({"type": kind, "object": obj}) + b"\n")

    def raw(self, chunk: bytes) -> None:
        self.queue.put_nowait(chunk)

    def error(self, code: int, reason: str, message: str = "") -> None:
        self.send("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "code": code, "reason": reason, "message": message or reason})

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.queue.get()
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


class FakeApi:
    """In-memory configmaps in namespace `ns`: paginated lists, and watches whose events
    the test sends explicitly (so it can also *not* send some, as a broken watch would)."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.rv = 100
        self.watches: list[FakeWatch] = []
        self.lists = 0
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def put(self, name: str, value: str = "") -> Obj:
        self.rv += 1
        obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "ns",
                                 "resourceVersion": str(self.rv)},
                    "data": {"v": value}}
        self.objects[name] = obj
        return obj

    def remove(self, name: str) -> Obj:
        self.rv += 1
        obj = self.objects.pop(name)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    @property
    def watch(self) -> FakeWatch:
        return self.watches[-1]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        if params.get("watch") == "true":
            watch = FakeWatch(params)
            if params.get("sendInitialEvents") == "true":
                for obj in self.objects.values():
                    watch.send("ADDED", obj)
                watch.send("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
                    "resourceVersion": str(self.rv),
                    "annotations": {"k8s.io/initial-events-end": "true"}}})
            self.watches.append(watch)
            return httpx.Response(200, stream=watch)
        self.lists += 1
        names = sorted(self.objects)
        start = int(params.get("continue") or 0)
        limit = int(params.get("limit") or 0) or len(names)
        page = names[start:start + limit]
        meta: Obj = {"resourceVersion": str(self.rv)}
        if start + limit < len(names):
            meta["continue"] = str(start + limit)
        # Items without kind/apiVersion, as upstream lists them.
        items = [{k: v for k, v in self.objects[n].items() if k not in ("kind", "apiVersion")}
                 for n in page]
        return httpx.Response(200, json={"kind": "ConfigMapList", "apiVersion": "v1",
                                         "metadata": meta, "items": items})
