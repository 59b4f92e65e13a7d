"""The scheduler's loop against a fake API: informer events in, bindings, status patches
and events out (no server; the handlers are fed directly)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from kybernetes.client import ApiClient, ClientConfig
from kybernetes.scheduler import Scheduler, SchedulerConfiguration
from tests.scheduler.helpers import node, pod


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.bind_status = 201

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if request.url.path.endswith("/binding"):
            if self.bind_status != 201:
                return httpx.Response(self.bind_status, json={
                    "kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "code": self.bind_status, "reason": "Conflict", "message": "nope"})
            return httpx.Response(201, json={"kind": "Status", "status": "Success"})
        return httpx.Response(201 if request.method == "POST" else 200, json=body or {})

    def of(self, method: str, suffix: str) -> list[Any]:
        return [b for m, p, b in self.requests if m == method and p.endswith(suffix)]


def scheduler(api: FakeApi) -> Scheduler:
    client = ApiClient(ClientConfig(server="http://api.test", qps=0),
                       transport=httpx.MockTransport(api.handle))
    return Scheduler(client, SchedulerConfiguration(leader_elect=False))


async def settle(s: Scheduler) -> None:
    for _ in range(20):
        await asyncio.sleep(0)
    for fw in s.profiles.values():
        await fw.handle.recorder.flush()  # type: ignore[union-attr]
    while s._background:
        await asyncio.gather(*list(s._background), return_exceptions=True)


async def schedule(s: Scheduler, obj: dict[str, Any]) -> None:
    s.pods.store.add(obj)
    s._on_pod_add(obj)
    s.schedule_one(await asyncio.wait_for(s.queue.pop(), 1))
    await settle(s)


async def test_binds_and_records_scheduled() -> None:
    api = FakeApi()
    s = scheduler(api)
    s._on_node_add(node("n1"))
    await schedule(s, pod("web", cpu="1"))
    (binding,) = api.of("POST", "/pods/web/binding")
    assert binding["target"] == {"kind": "Node", "name": "n1"}
    assert binding["metadata"]["uid"]
    (event,) = api.of("POST", "/events")
    assert event["reason"] == "Scheduled" and event["type"] == "Normal"
    assert event["message"] == "Successfully assigned default/web to n1"
    assert event["source"] == {"component": "default-scheduler"}
    assert s.cache.is_assumed("default/web") and s.stats.scheduled == 1
    # The informer then reports the pod bound: the assumption is confirmed.
    bound = pod("web", cpu="1", node_name="n1")
    s._on_pod_update(s.pods.store.get("default/web"), bound)  # type: ignore[arg-type]
    assert not s.cache.is_assumed("default/web")
    await s.shutdown()


async def test_unschedulable_pod_gets_event_and_condition_once() -> None:
    api = FakeApi()
    s = scheduler(api)
    s._on_node_add(node("n1", cpu="1"))
    big = pod("big", cpu="2")
    await schedule(s, big)
    message = ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
               "available: 1 Preemption is not helpful for scheduling.")
    (event,) = api.of("POST", "/events")
    assert event["reason"] == "FailedScheduling" and event["type"] == "Warning"
    assert event["message"] == message
    (patch,) = api.of("PATCH", "/pods/big/status")
    (condition,) = patch["status"]["conditions"]
    assert condition["type"] == "PodScheduled" and condition["status"] == "False"
    assert condition["reason"] == "Unschedulable" and condition["message"] == message
    assert s.queue.unschedulable_count == 1
    # A bigger node arrives: the pod is retried (after its backoff) and bound there.
    s._on_node_add(node("n2", cpu="4"))
    assert s.queue.unschedulable_count == 0
    s.queue.start()
    s.schedule_one(await asyncio.wait_for(s.queue.pop(), 5))
    await settle(s)
    (binding,) = api.of("POST", "/pods/big/binding")
    assert binding["target"]["name"] == "n2"
    await s.shutdown()


async def test_binding_failure_forgets_and_backs_off() -> None:
    api = FakeApi()
    api.bind_status = 409
    s = scheduler(api)
    s._on_node_add(node("n1"))
    await schedule(s, pod("p", cpu="1"))
    assert not s.cache.is_assumed("default/p")
    assert s.cache.nodes["n1"].requested.milli_cpu == 0
    assert s.stats.bind_failures == 1 and s.queue.backoff_count == 1
    await s.shutdown()


async def test_other_schedulers_pods_are_left_alone() -> None:
    api = FakeApi()
    s = scheduler(api)
    s._on_node_add(node("n1"))
    other = pod("p", schedulerName="someone-else")
    s._on_pod_add(other)
    assert len(s.queue) == 0
    await s.shutdown()


async def test_priority_is_what_admission_resolved() -> None:
    api = FakeApi()
    s = scheduler(api)
    assert s._pod_info(pod("a", priorityClassName="high", priority=1000)).priority == 1000
    assert s._pod_info(pod("b")).priority == 0
    await s.shutdown()


async def test_a_failing_plugin_sends_the_pod_to_backoff_with_an_event() -> None:
    api = FakeApi()
    s = scheduler(api)
    s._on_node_add(node("n1"))

    def broken(*args: Any) -> Any:
        raise RuntimeError("plugin bug")

    s.algorithm.schedule_pod = broken  # type: ignore[method-assign]
    obj = pod("p")
    s.pods.store.add(obj)
    s._on_pod_add(obj)
    qpi = await asyncio.wait_for(s.queue.pop(), 1)
    try:
        s.schedule_one(qpi)
    except RuntimeError as err:
        s._unexpected(qpi, err)
    await settle(s)
    assert s.queue.backoff_count == 1
    (event,) = api.of("POST", "/events")
    assert event["reason"] == "FailedScheduling" and event["message"] == "plugin bug"
    (patch,) = api.of("PATCH", "/pods/p/status")
    assert patch["status"]["conditions"][0]["reason"] == "SchedulerError"
    await s.shutdown()
