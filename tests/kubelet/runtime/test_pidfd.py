"""Signalling and awaiting a process by pidfd, checked against its start time."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kybernetes.kubelet.runtime.runc import pidfd

HANG_GUARD = 30.0  # seconds before a wait is declared hung (not a speed requirement)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize(("name", "number"), [
    ("SIGTERM", signal.SIGTERM), ("TERM", signal.SIGTERM), ("sigquit", signal.SIGQUIT),
    ("9", 9), ("RTMIN+3", signal.SIGRTMIN + 3), ("SIGRTMAX-1", signal.SIGRTMAX - 1),
    ("NOSUCH", None), ("RTMIN+x", None)])
def test_signals_are_parsed_as_runc_parses_them(name: str, number: int | None) -> None:
    assert pidfd.parse_signal(name) == number


def test_start_time_of_a_missing_process_is_zero() -> None:
    assert pidfd.start_time(0) == 0
    assert pidfd.start_time(2**22 + 1) == 0  # above the kernel's pid_max


async def test_a_process_is_signalled_only_if_its_start_time_matches(
        sleeper: subprocess.Popen[bytes]) -> None:
    started = pidfd.start_time(sleeper.pid)
    assert started > 0
    assert not pidfd.send(sleeper.pid, started + 1, signal.SIGTERM)  # another process's
    assert not await pidfd.wait_exit(sleeper.pid, started, 0.2)  # still running
    assert pidfd.send(sleeper.pid, started, signal.SIGTERM)
    async with asyncio.timeout(HANG_GUARD):
        assert await pidfd.wait_exit(sleeper.pid, started, HANG_GUARD)
    assert sleeper.wait() == -signal.SIGTERM
    assert not pidfd.send(sleeper.pid, started, signal.SIGKILL)  # gone: nothing sent


async def test_waiting_on_a_process_that_is_not_there_returns_at_once() -> None:
    async with asyncio.timeout(HANG_GUARD):
        assert await pidfd.wait_exit(0, 0, HANG_GUARD)
        assert await pidfd.wait_exit(2**22 + 1, 0, HANG_GUARD)
