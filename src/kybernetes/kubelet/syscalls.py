"""The node's mounts and namespaces through system calls, not a process per step.

A pod start used to run `mount` for its /dev/shm and its rootfs, `unshare` for its
namespaces and `umount` for each at the end: a fork and exec each, on a loaded node
several milliseconds apiece and, for a hundred pods deleted at once, hundreds of processes.
The same calls made here through libc (Python 3.11 has no os.mount, os.unshare,
os.setns) cost microseconds.

Namespaces are per thread: `pin_namespaces` runs on a fresh thread that unshares the
namespaces, sets their hostname, brings the new network namespace's `lo` up (one ioctl on
a socket made there: containerd's `use_internal_loopback`, instead of a CNI loopback
plugin process), bind-mounts each namespace onto its file (which keeps it alive with no
process, as `ip netns add` does) and then ends; no pooled thread is ever left in a pod's
namespace. Mounts belong to the process's mount namespace, shared by every thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
NAMESPACE_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS}
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MNT_DETACH = 0x2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags in its 24-byte union

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, path: str = "") -> None:
    if result != 0:
        err = ctypes.get_errno()
        message = f"{what}: {os.strerror(err)}"
        raise OSError(err, message, path) if path else OSError(err, message)


def mount(source: str, target: str, fstype: str = "", flags: int = 0,
          data: str = "") -> None:
    """mount(2); raises OSError as `mount` would fail."""
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() or None,
                       ctypes.c_ulong(flags), data.encode() or None), "mount", target)


def umount(target: str) -> None:
    """umount2(2) lazily (MNT_DETACH, as `umount -l`)."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), "umount", target)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def loopback_up() -> None:
    """`ip link set lo up` in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS,
                                                    struct.pack(IFREQ, b"lo", 0)))
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


async def in_fresh_thread(work: Callable[[], T]) -> T:
    """`work()` on a thread of its own that ends with it (for calls that change the
    thread's namespaces); its exception is raised here."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, err: BaseException | None) -> None:
        if done.done():
            return
        if err is not None:
            done.set_exception(err)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = work()
        except Exception as err:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, err)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="kubelet-ns", daemon=True).start()
    return await done


def _pin(files: Sequence[tuple[str, Path]], hostname: str) -> None:
    flags = 0
    for ns, _ in files:
        flags |= NAMESPACE_FLAGS[ns]
    unshare(flags)
    if hostname and any(ns == "uts" for ns, _ in files):
        sethostname(hostname)
    if any(ns == "net" for ns, _ in files):
        loopback_up()
    for ns, path in files:
        path.touch()
        mount(f"/proc/thread-self/ns/{ns}", str(path), flags=MS_BIND)


async def pin_namespaces(files: Sequence[tuple[str, Path]], hostname: str = "") -> None:
    """New namespaces (`net`, `ipc`, `uts`), each bind-mounted onto its file; the new UTS
    namespace gets `hostname`, the new network namespace its `lo` up."""
    await in_fresh_thread(lambda: _pin(files, hostname))
