"""Running `nft`, `iptables-restore`, `iptables` and `conntrack` without stalling the loop.

As the kubelet does with its tools: `subprocess.run` in a worker thread (vfork/posix_spawn
whatever the process size), so the API server sharing the loop in `kyb server` keeps
serving while a large ruleset loads.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class CommandError(RuntimeError):
    """A rule-loading command failed; the message carries its diagnostics."""


Executor = Callable[[Sequence[str], str | None], Awaitable[Completed]]


async def run(argv: Sequence[str], input: str | None = None) -> Completed:
    def call() -> Completed:
        done = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                              check=False,
                              stdin=subprocess.DEVNULL if input is None else None)
        return Completed(done.returncode, done.stdout, done.stderr)

    return await asyncio.to_thread(call)


async def check(execute: Executor, argv: Sequence[str], input: str | None = None) -> str:
    """Run `argv`; its stdout, or CommandError with its stderr when it fails."""
    done = await execute(argv, input)
    if done.returncode != 0:
        raise CommandError(f"{' '.join(argv)} failed ({done.returncode}): "
                           f"{done.stderr.strip()[:2000]}")
    return done.stdout
