"""Work queue semantics, as client-go's: dedup, one worker per key, delays, backoff."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client.workqueue import (
    BucketRateLimiter,
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    ShutDown,
    WorkQueue,
    default_controller_rate_limiter,
    run_worker,
)
from tests.client.helpers import eventually


async def test_queued_keys_are_deduplicated_and_fifo() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    """Re-adding a key while it is processed marks it dirty; it comes back after done()."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a processing key must not be queued"
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not second.done()
    queue.done("a")
    assert await second == "a"
    queue.done("a")
    assert len(queue) == 0 and queue.processing == 0


async def test_done_without_readd_drops_the_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()
    queue.done("a")
    assert len(queue) == 0


async def test_many_getters_each_get_one_key() -> None:
    queue: WorkQueue[int] = WorkQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(5)]
    await asyncio.sleep(0)
    for i in range(5):
        queue.add(i)
    assert sorted(await asyncio.gather(*getters)) == [0, 1, 2, 3, 4]


async def test_cancelled_getter_does_not_swallow_a_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("a")
    first.cancel()
    assert await second == "a"


async def test_shutdown_wakes_getters_after_draining_the_queue() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await waiting
    queue.add("late")
    assert len(queue) == 0, "adds after shutdown are ignored"

    queue2: WorkQueue[str] = WorkQueue()
    queue2.add("x")
    queue2.shutdown()
    assert await queue2.get() == "x", "keys queued before shutdown are still handed out"
    with pytest.raises(ShutDown):
        await queue2.get()


async def test_shutdown_with_drain_waits_for_processing_keys() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()
    drain = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0.01)
    assert not drain.done()
    queue.done("a")
    await drain


async def test_add_after_orders_by_deadline_and_keeps_the_earliest() -> None:
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add_after("late", 0.06)
    queue.add_after("early", 0.02)
    queue.add_after("late", 0.5)  # a later deadline does not postpone it
    assert queue.waiting == 2
    assert await queue.get() == "early"
    assert await queue.get() == "late"
    assert queue.waiting == 0


async def test_add_after_an_earlier_deadline_moves_the_key_up() -> None:
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add_after("a", 30)
    queue.add_after("b", 0.05)
    queue.add_after("a", 0.01)
    assert [await queue.get(), await queue.get()] == ["a", "b"]


async def test_add_after_zero_adds_now_and_dedups_with_queued() -> None:
    queue: DelayingQueue[str] = DelayingQueue()
    queue.add("a")
    queue.add_after("a", 0)
    assert len(queue) == 1


def test_exponential_failure_backoff_from_5ms_to_1000s() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("k") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert limiter.num_requeues("k") == 5
    for _ in range(100):
        last = limiter.when("k")
    assert last == 1000.0
    assert limiter.when("other") == 0.005, "failures are counted per item"
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0
    assert limiter.when("k") == 0.005


def test_fast_slow_limiter() -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(0.1, 5.0, 2)
    assert [limiter.when("k") for _ in range(4)] == [0.1, 0.1, 5.0, 5.0]


def test_bucket_limiter_spreads_a_burst_beyond_its_size() -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(10, 2)
    delays = [limiter.when(str(i)) for i in range(4)]
    assert delays[:2] == [0, 0]
    assert delays[2] > 0 and delays[3] > delays[2]


def test_default_controller_limiter_is_the_max_of_both() -> None:
    limiter: MaxOfRateLimiter[str] = default_controller_rate_limiter()
    assert limiter.when("k") == pytest.approx(0.005)
    assert limiter.when("k") == pytest.approx(0.01)
    assert limiter.num_requeues("k") == 2
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0
    # Past the bucket's burst of 100, the bucket's wait dominates new items' 5 ms.
    waits = [limiter.when(f"item-{i}") for i in range(150)]
    assert max(waits) > 1.0


async def test_add_rate_limited_then_forget() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(
        0.001, 1.0))
    queue.add_rate_limited("k")
    queue.add_rate_limited("k")
    assert queue.num_requeues("k") == 2
    assert await queue.get() == "k"
    queue.forget("k")
    queue.done("k")
    assert queue.num_requeues("k") == 0


async def test_run_worker_retries_failures_and_forgets_successes() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(
        0.001, 0.01))
    attempts: dict[str, int] = {}

    async def sync(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if key == "flaky" and attempts[key] < 3:
            raise RuntimeError("not yet")

    workers = [asyncio.create_task(run_worker(queue, sync)) for _ in range(2)]
    queue.add("flaky")
    queue.add("fine")
    await eventually(lambda: attempts.get("flaky") == 3 and attempts.get("fine") == 1)
    await eventually(lambda: queue.processing == 0)
    assert queue.num_requeues("flaky") == 0
    await queue.shutdown_with_drain()
    await asyncio.gather(*workers)


async def test_run_worker_drops_after_max_retries() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(
        0.001, 0.001))
    attempts = 0

    async def sync(key: str) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("always")

    worker = asyncio.create_task(run_worker(queue, sync, max_retries=3))
    queue.add("bad")
    await eventually(lambda: attempts == 4 and queue.processing == 0 and queue.waiting == 0
                     and len(queue) == 0)
    queue.shutdown()
    await worker
    assert attempts == 4


async def test_one_key_is_never_synced_concurrently() -> None:
    """Many workers, one hot key added constantly: at most one sync at a time."""
    queue: RateLimitingQueue[str] = RateLimitingQueue()
    running = 0
    peak = 0
    syncs = 0

    async def sync(key: str) -> None:
        nonlocal running, peak, syncs
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        syncs += 1

    workers = [asyncio.create_task(run_worker(queue, sync)) for _ in range(8)]
    for _ in range(50):
        queue.add("hot")
        await asyncio.sleep(0.0005)
    await eventually(lambda: len(queue) == 0 and queue.processing == 0)
    await queue.shutdown_with_drain()
    await asyncio.gather(*workers)
    assert peak == 1
    assert syncs >= 2
