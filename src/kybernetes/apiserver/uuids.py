"""Random (version 4) UUIDs for object uids and audit IDs, from a pool of kernel randomness.

`uuid.uuid4()` asks the kernel for 16 bytes each time, and `os.urandom` lets go of the GIL
for that system call: in the API server, whose storage threads wait for the GIL, each call
could hand the event loop's thread over to them (profiled at ~50 µs a call, twice per
request). As google/uuid's rand pool (`EnableRandPool`), the bytes come from one read of
4 KiB per 256 UUIDs, as random as before. A forked child starts a pool of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

_POOL_BYTES = 4096
_UUID_BYTES = 16

_chunks: Iterator[bytes] = iter(())


def _refill() -> Iterator[bytes]:
    block = os.urandom(_POOL_BYTES)
    return iter([block[i:i + _UUID_BYTES] for i in range(0, _POOL_BYTES, _UUID_BYTES)])


def _forget() -> None:
    global _chunks
    _chunks = iter(())


os.register_at_fork(after_in_child=_forget)


def uuid4() -> str:
    """A random UUID, as text."""
    global _chunks
    chunk = next(_chunks, None)
    while chunk is None:
        _chunks = _refill()
        chunk = next(_chunks, None)
    return str(uuid.UUID(bytes=chunk, version=4))
