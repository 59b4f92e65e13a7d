"""A container's processes (its init, its conmon) addressed by pidfd: signalled and awaited
with no process of ours and no polling.

`runc kill <id> <signal>` (without `--all`) reads the container's state, checks that its
recorded init pid still names the process it started (by the start time in
/proc/<pid>/stat, so a reused pid is never signalled) and sends the signal to that one
process. Stopping a pod's containers did that twice per container (the stop signal, then
SIGKILL), two runc processes each; `send` does the same check and sends the signal with
`pidfd_send_signal`: the pidfd is opened before the start time is compared, so the process
checked is the process signalled.

`wait_exit` is `poll` on a pidfd (readable once the process has exited) from the event
loop: a stop waits so for the container's conmon, which exits once it has recorded the
container's exit, rather than reading every stopping container's state every few
milliseconds. `exited` and `exited_among` ask the same without waiting: the runtime keeps
a pidfd of each running container's conmon, so that a relist learns which still run with
one system call for them all rather than a signal and a read of /proc each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
from collections.abc import Mapping


def start_time(pid: int) -> int:
    """The process's start time (clock ticks after boot, /proc/<pid>/stat field 22); 0 when
    there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[19])


def parse_signal(name: str) -> int | None:
    """A signal as runc (moby's signal.ParseSignal) takes it: a number, or a name with or
    without `SIG` in any case, `RTMIN+n` and `RTMAX-n` included; None when unknown."""
    if name.isdigit():
        return int(name)
    upper = name.upper().removeprefix("SIG")
    for base, sign in (("RTMIN+", 1), ("RTMAX-", -1)):
        if upper.startswith(base) and upper[len(base):].isdigit():
            anchor = signal.SIGRTMIN if sign > 0 else signal.SIGRTMAX
            return int(anchor) + sign * int(upper[len(base):])
    try:
        return int(signal.Signals["SIG" + upper])
    except KeyError:
        return None


def open_checked(pid: int, started: int) -> int | None:
    """A pidfd of the process `pid` if it is still the one that started at `started`;
    None when it is gone (or the pid now names another process)."""
    if pid <= 0:
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if start_time(pid) != started:
        os.close(pidfd)
        return None
    return pidfd


def exited(pidfd: int) -> bool:
    """Whether the pidfd's process has exited (a zombie has): one poll, no waiting."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def exited_among(pidfds: Mapping[str, int]) -> set[str]:
    """Which of the pidfds' processes have exited: one poll for them all."""
    poller = select.poll()
    keys: dict[int, str] = {}
    for key, pidfd in pidfds.items():
        poller.register(pidfd, select.POLLIN)
        keys[pidfd] = key
    return {keys[pidfd] for pidfd, _ in poller.poll(0)}


def send(pid: int, started: int, sig: int) -> bool:
    """Signal the process `pid` if it is still the one that started at `started`; False
    when it is gone (or the pid now names another process)."""
    pidfd = open_checked(pid, started)
    if pidfd is None:
        return False
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)
    return True


async def wait_exit(pid: int, started: int,
                    timeout: float) -> bool:  # noqa: ASYNC109 (a plain bound)
    """Whether the process `pid` that started at `started` has exited (or is not there)
    within `timeout` seconds."""
    pidfd = open_checked(pid, started)
    if pidfd is None:
        return True
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(pidfd, gone.set)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), timeout)
        return gone.is_set()
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
