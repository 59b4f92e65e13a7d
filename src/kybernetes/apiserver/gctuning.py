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

The C heap is tuned too (glibc's malloc; elsewhere nothing is done). Every TLS connection
has a 256 KiB read buffer (uvloop's SSL protocol), one per watch of every agent and client
(`kyb server`'s own components use its Unix socket instead). glibc serves allocations that
large with their own mmap, lazily backed, until a large block is freed: then its dynamic
threshold rises and they come from the heap, where freed memory is reused and stays
resident. The threshold is pinned at its default (128 KiB), so large buffers stay mmaps
that cost only the pages they use and go back to the system when freed. Threads (the
node's pool, storage, audit) get at most two malloc arenas between them: each arena keeps
the memory its thread freed. What the start-up left free is returned (`malloc_trim`).
"""

from __future__ import annotations

import ctypes
import gc

# CPython's default is 700: a young collection per 700 net allocations of containers.
YOUNG_THRESHOLD = 20_000
# mallopt(3) parameters (glibc's malloc.h) and the values set.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def settle_heap() -> None:
    """Collect once, freeze the survivors, raise the young threshold, tune the C heap."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    _tune_malloc()


def _tune_malloc() -> None:
    libc = ctypes.CDLL(None)
    mallopt, malloc_trim = getattr(libc, "mallopt", None), getattr(libc, "malloc_trim", None)
    if mallopt is None or malloc_trim is None:  # not glibc
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_ARENA_MAX, ARENA_MAX)
    malloc_trim(0)
