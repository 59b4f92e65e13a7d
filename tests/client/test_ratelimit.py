"""Token bucket and backoff arithmetic, driven by a fake clock."""

from __future__ import annotations

import random

import pytest

from kybernetes.client.ratelimit import Backoff, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_then_reserves_in_order() -> None:
    """Burst requests go at once; later ones are told to wait 1/qps more each."""
    clock = Clock()
    bucket = TokenBucket(10, 2, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0.1, 0.2])


def test_bucket_refills_at_qps_up_to_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 3, clock=clock)
    for _ in range(3):
        assert bucket.reserve() == 0
    clock.now += 0.2
    assert bucket.tokens == pytest.approx(2)
    clock.now += 100
    assert bucket.tokens == pytest.approx(3)


def test_try_take_does_not_borrow() -> None:
    clock = Clock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.now += 1
    assert bucket.try_take()


def test_zero_qps_is_unlimited() -> None:
    bucket = TokenBucket(0, 0)
    assert bucket.unlimited
    assert all(bucket.reserve() == 0 for _ in range(1000))


def test_backoff_doubles_to_cap_and_resets_after_quiet_period() -> None:
    clock = Clock()
    backoff = Backoff(0.8, 30, jitter=0, reset_after=120, clock=clock)
    delays = [backoff.next() for _ in range(8)]
    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30])
    clock.now += 121
    assert backoff.next() == pytest.approx(0.8)


def test_backoff_jitter_adds_up_to_the_factor() -> None:
    backoff = Backoff(1.0, 10, jitter=1.0, rng=random.Random(7))
    first = backoff.next()
    assert 1.0 <= first <= 2.0
