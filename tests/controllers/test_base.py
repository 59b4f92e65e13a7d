"""The shared controller shape: handlers enqueue, workers sync, failures retry.

Intent: a `QueueController` processes every object its informer holds once the handlers
have synced; a failing sync is retried with backoff and forgotten once it succeeds;
`Requeue` asks for another look without counting as a failure; cancelling `run` stops the
workers and shuts the queue down.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from kybernetes.client import ApiClient, Informer, RateLimitingQueue, resource
from kybernetes.client.workqueue import ItemExponentialFailureRateLimiter
from kybernetes.controllers.base import QueueController, Requeue, process_queue, run_workers
from tests.client.helpers import eventually

CONFIGMAPS = resource("", "v1", "configmaps")


def fast_queue() -> RateLimitingQueue[str]:
    return RateLimitingQueue(ItemExponentialFailureRateLimiter(0.001, 0.01), name="test")


async def test_failures_are_retried_and_success_forgets() -> None:
    queue = fast_queue()
    attempts: dict[str, int] = {}

    async def sync(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if key == "flaky" and attempts[key] < 3:
            raise RuntimeError("not yet")

    worker = asyncio.create_task(process_queue(queue, sync, name="test"))
    queue.add("flaky")
    queue.add("fine")
    await eventually(lambda: attempts.get("flaky") == 3 and queue.processing == 0)
    assert attempts == {"flaky": 3, "fine": 1}
    assert queue.num_requeues("flaky") == 0
    queue.shutdown()
    await asyncio.wait_for(worker, 5)


async def test_requeue_after_is_not_a_failure() -> None:
    queue = fast_queue()
    seen: list[str] = []

    async def sync(key: str) -> None:
        seen.append(key)
        if len(seen) == 1:
            raise Requeue("look again", after=0.01)

    worker = asyncio.create_task(process_queue(queue, sync, name="test"))
    queue.add("k")
    await eventually(lambda: len(seen) == 2)
    assert queue.num_requeues("k") == 0
    queue.shutdown()
    await asyncio.wait_for(worker, 5)


async def test_cancelling_run_workers_stops_them_and_the_queue() -> None:
    queue = fast_queue()
    started = asyncio.Event()

    async def sync(key: str) -> None:
        started.set()
        await asyncio.sleep(3600)

    runner = asyncio.create_task(run_workers(queue, sync, 3, name="test"))
    queue.add("slow")
    await asyncio.wait_for(started.wait(), 5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert queue.shutting_down
    assert queue.processing == 0


class Recorder(QueueController):
    name: ClassVar[str] = "recorder"

    def __init__(self, informer: Informer) -> None:
        super().__init__(workers=2)
        self.synced: list[str] = []
        self.watch(informer, on_add=self.enqueue_object,
                   on_update=lambda _old, new: self.enqueue_object(new))

    async def sync(self, key: str) -> None:
        self.synced.append(key)


async def test_queue_controller_syncs_the_initial_contents(api: ApiClient) -> None:
    for name in ("a", "b"):
        await api.create(CONFIGMAPS, {"metadata": {"name": name}}, "default")
    informer = Informer(api, CONFIGMAPS)
    controller = Recorder(informer)
    informer.start()
    running = asyncio.create_task(controller.run())
    try:
        await eventually(lambda: len(controller.synced) == 2)
        assert sorted(controller.synced) == ["default/a", "default/b"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await informer.stop()
    assert controller.queue.shutting_down
