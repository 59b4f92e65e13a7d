"""Running the node's tools (runc, mount, CNI plugins) without stalling the loop.

The kubelet shares its process, and so its event loop, with the API server in `kyb server`.
uvloop's `create_subprocess_exec` fork()s that whole process on the loop thread: measured
15 ms per spawn at 100 MiB, against about 3 ms for Python's own `subprocess`, which uses
vfork/posix_spawn whatever the size. A pod start spawns about ten processes. So children
are started by `subprocess.run` in a worker thread: the loop keeps serving meanwhile, and
`close_fds` keeps the server's sockets out of long-lived children.

Those threads are the node's own pool (`blocking`), which also takes the other calls that
block in the kernel: unmounting (umount2 waits for an RCU grace period, milliseconds each)
and removing a container's or a sandbox's files. Deleting a hundred pods at once queues
hundreds of such calls, most of them waiting rather than computing: asyncio's default
pool (cores + 4 threads, shared with the API server) would run them a few at a time.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
PIPE = subprocess.PIPE
WORKERS = 16  # threads are started on demand, up to this many
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="kubelet-blocking")


async def blocking(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(*args, **kwargs)` in the node's pool of threads; its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, functools.partial(func, *args, **kwargs))


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: bytes


async def run(argv: Sequence[str], *, input: bytes | None = None,
              env: Mapping[str, str] | None = None, limit: float | None = None,
              stderr: int | IO[bytes] = PIPE) -> Completed:
    """Run `argv` to completion, feeding it `input`; raises TimeoutError (the child killed)
    after `limit` seconds."""
    def call() -> Completed:
        try:
            done = subprocess.run(
                list(argv), input=input,
                stdin=subprocess.DEVNULL if input is None else None, stdout=PIPE,
                stderr=stderr, env=dict(env) if env is not None else None, timeout=limit,
                check=False)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{argv[0]} ran past {limit:g}s") from None
        return Completed(done.returncode, done.stdout or b"", done.stderr or b"")

    return await blocking(call)
