"""Garbage collection for a process that holds every object of the cluster decoded.

The watch cache keeps each object as a dict (a few dozen containers per object), and
CPython's generational collector then spends most of a busy API server's CPU walking that
cache in full collections, though decoded JSON holds no reference cycle and refcounting
frees it: measured under create load with ten thousand objects, 14 full collections took
more than half of the server's CPU. Two remedies: the youngest generation's threshold is
raised, so full collections come after millions of allocations rather than tens of
thousands (each young collection also walks fewer survivors); and what is alive when
serving starts (modules, OpenAPI schemas, the cache as loaded) is frozen out of every later
collection (`gc.freeze`); frozen objects are still freed by refcounting.
"""

from __future__ import annotations

import gc

# CPython's default is 700: a young collection per 700 net allocations of containers.
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, freeze the survivors, and raise the young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
