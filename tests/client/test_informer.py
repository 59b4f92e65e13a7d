"""Informer behaviour against a fake API: events, relist diffs, handler isolation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client.config import ClientConfig
from kybernetes.client.informer import Informer, SharedInformerFactory, field_index
from kybernetes.client.ratelimit import Backoff
from kybernetes.client.rest import ApiClient, resource
from tests.client.helpers import FakeApi, eventually

CONFIGMAPS = resource("", "v1", "configmaps")
Obj = dict[str, Any]


class Log:
    """Handlers that record (verb, name, data value)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def on_add(self, obj: Obj) -> None:
        self.events.append(("add", obj["metadata"]["name"], obj["data"]["v"]))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", new["metadata"]["name"], new["data"]["v"]))

    def on_delete(self, obj: Obj) -> None:
        self.events.append(("delete", obj["metadata"]["name"], obj["data"]["v"]))


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def client(fake: FakeApi) -> AsyncIterator[ApiClient]:
    async with ApiClient(ClientConfig(server="https://x", qps=0),
                         transport=fake.transport()) as client:
        yield client


def fast_backoff() -> Backoff:
    return Backoff(0.001, 0.01, jitter=0)


@contextlib.asynccontextmanager
async def logged(informer: Informer) -> AsyncIterator[Log]:
    """`informer` started with a `Log` as its handlers, and stopped on the way out."""
    log = Log()
    informer.add_event_handler(log.on_add, log.on_update, log.on_delete)
    informer.start()
    try:
        yield log
    finally:
        await informer.stop()


async def test_list_then_watch_events_reach_handlers_and_store(fake: FakeApi,
                                                               client: ApiClient) -> None:
    fake.put("a", "1")
    fake.put("b", "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns", page_size=1)
    log = Log()
    registration = informer.add_event_handler(log.on_add, log.on_update, log.on_delete)
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        assert fake.lists == 2, "the initial list is paginated"
        await eventually(lambda: registration.has_synced)
        assert sorted(log.events) == [("add", "a", "1"), ("add", "b", "1")]
        await eventually(lambda: bool(fake.watches))
        assert fake.watch.params["resourceVersion"] == str(fake.rv)
        fake.watch.send("MODIFIED", fake.put("a", "2"))
        fake.watch.send("ADDED", fake.put("c", "1"))
        fake.watch.send("DELETED", fake.remove("b"))
        await eventually(lambda: len(log.events) == 5)
        assert log.events[2:] == [("update", "a", "2"), ("add", "c", "1"),
                                  ("delete", "b", "1")]
        assert sorted(informer.store.keys()) == ["ns/a", "ns/c"]
        assert informer.last_sync_resource_version == str(fake.rv)
    finally:
        await informer.stop()


async def test_gone_relists_and_synthesises_missed_changes(fake: FakeApi,
                                                           client: ApiClient) -> None:
    """After a 410 the relist is diffed against the cache: vanished keys are deleted,
    changed ones updated, new ones added; unchanged ones stay quiet."""
    for name in ("keep", "change", "vanish"):
        fake.put(name, "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns", backoff=fast_backoff())
    async with logged(informer) as log:
        await informer.wait_for_sync(5)
        await eventually(lambda: len(fake.watches) == 1)
        # Changes the watch never delivers (the client was cut off), then 410.
        fake.put("change", "2")
        fake.remove("vanish")
        fake.put("new", "1")
        fake.watch.error(410, "Expired", "too old resource version")
        await eventually(lambda: len(log.events) == 6)
        assert sorted(log.events[3:]) == [("add", "new", "1"), ("delete", "vanish", "1"),
                                          ("update", "change", "2")]
        assert sorted(informer.store.keys()) == ["ns/change", "ns/keep", "ns/new"]
        assert informer.stats.relists_after_gone == 1 and fake.lists == 2
        await eventually(lambda: len(fake.watches) == 2)
        assert fake.watch.params["resourceVersion"] == str(fake.rv)


async def test_broken_watch_resumes_from_last_resource_version(fake: FakeApi,
                                                               client: ApiClient) -> None:
    fake.put("a", "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns", backoff=fast_backoff())
    async with logged(informer):
        await informer.wait_for_sync(5)
        await eventually(lambda: len(fake.watches) == 1)
        fake.watch.send("MODIFIED", fake.put("a", "2"))
        rv = str(fake.rv)
        await eventually(lambda: informer.last_sync_resource_version == rv)
        fake.watch.raw(b'{"type":"MODIFIED","obj')  # cut mid-event
        fake.watch.end()
        await eventually(lambda: len(fake.watches) == 2)
        assert fake.watch.params["resourceVersion"] == rv
        assert fake.lists == 1, "no relist while the server still has the revision"
        fake.watch.send("BOOKMARK", {"metadata": {"resourceVersion": "999"}})
        await eventually(lambda: informer.last_sync_resource_version == "999")


async def test_watch_list_mode_replaces_at_the_end_marker(fake: FakeApi,
                                                         client: ApiClient) -> None:
    fake.put("a", "1")
    fake.put("b", "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns", watch_list=True)
    async with logged(informer) as log:
        assert await informer.wait_for_sync(5)
        assert fake.lists == 0
        assert sorted(informer.store.keys()) == ["ns/a", "ns/b"]
        fake.watch.send("DELETED", fake.remove("a"))
        await eventually(lambda: ("delete", "a", "1") in log.events)


async def test_a_slow_handler_delays_only_itself(fake: FakeApi, client: ApiClient) -> None:
    informer = Informer(client, CONFIGMAPS, namespace="ns")
    release = asyncio.Event()
    slow_seen: list[str] = []
    fast = Log()

    async def slow_add(obj: Obj) -> None:
        await release.wait()
        slow_seen.append(obj["metadata"]["name"])

    slow = informer.add_event_handler(slow_add)
    informer.add_event_handler(fast.on_add, fast.on_update, fast.on_delete)
    informer.start()
    try:
        await informer.wait_for_sync(5)
        await eventually(lambda: bool(fake.watches))
        for name in ("a", "b", "c"):
            fake.watch.send("ADDED", fake.put(name, "1"))
        await eventually(lambda: len(fast.events) == 3)
        assert slow_seen == [] and slow.pending >= 2
        assert len(informer.store) == 3, "the store does not wait for handlers"
        release.set()
        await eventually(lambda: slow_seen == ["a", "b", "c"])
    finally:
        await informer.stop()


async def test_failing_handler_keeps_receiving(fake: FakeApi, client: ApiClient) -> None:
    seen: list[str] = []

    def flaky(obj: Obj) -> None:
        seen.append(obj["metadata"]["name"])
        raise RuntimeError("handler bug")

    fake.put("a", "1")
    fake.put("b", "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns")
    informer.add_event_handler(flaky)
    informer.start()
    try:
        await eventually(lambda: sorted(seen) == ["a", "b"])
    finally:
        await informer.stop()


async def test_late_handler_gets_current_objects_and_resync(fake: FakeApi,
                                                           client: ApiClient) -> None:
    fake.put("a", "1")
    informer = Informer(client, CONFIGMAPS, namespace="ns", resync_period=0.02,
                        indexers={"value": field_index("data.v")})
    informer.start()
    try:
        await informer.wait_for_sync(5)
        late = Log()
        registration = informer.add_event_handler(late.on_add, late.on_update)
        await eventually(lambda: registration.has_synced)
        assert late.events[0] == ("add", "a", "1")
        await eventually(lambda: ("update", "a", "1") in late.events)  # a resync
        assert informer.store.index_keys("value", "1") == ["ns/a"]
    finally:
        await informer.stop()


async def test_factory_shares_informers(client: ApiClient) -> None:
    factory = SharedInformerFactory(client, namespace="ns")
    first = factory.informer(CONFIGMAPS)
    again = factory.informer(("", "v1", "configmaps"), indexers={"v": field_index("data.v")})
    other = factory.informer(CONFIGMAPS, label_selector="app=x")
    assert first is again and first is not other
    assert "v" in first.store.indexers
    factory.start()
    assert await factory.wait_for_cache_sync(5)
    assert all(i.has_synced for i in factory.informers)
    await factory.shutdown()
