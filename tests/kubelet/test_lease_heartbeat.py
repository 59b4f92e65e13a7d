"""The kubelet's Lease heartbeat: every renew interval, and after a failed renewal again
soon, backing off (0.2 s doubling to 7 s) as upstream's node lease controller does, so that a
server lost mid-request does not cost the node its grace period."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kybernetes.client import ApiConnectionError
from kybernetes.kubelet.kubelet import Kubelet

FAILURES = 7


class FlakyLeases:
    """A client whose first `FAILURES` lease renewals fail as a lost server's would."""

    def __init__(self) -> None:
        self.renewals = 0

    async def patch(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.renewals += 1
        if self.renewals <= FAILURES:
            raise ApiConnectionError("PATCH lease: connection reset")
        return {}


async def test_a_failed_renewal_is_retried_with_backoff_then_every_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == FAILURES + 2:
            raise asyncio.CancelledError  # enough seen

    monkeypatch.setattr(asyncio, "sleep", sleep)  # the one the kubelet's module calls
    client = FlakyLeases()
    node = SimpleNamespace(
        client=client, node={"metadata": {"uid": "u"}},
        config=SimpleNamespace(node_name="n", lease_duration=40, renew_interval=10.0))
    with pytest.raises(asyncio.CancelledError):
        await Kubelet._heartbeat(cast(Kubelet, node))
    assert slept == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 7.0, 10.0, 10.0]
    assert client.renewals == FAILURES + 2
