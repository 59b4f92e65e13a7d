"""Dialling a TCP port inside a pod's network namespace, for port-forward.

Upstream's CRI runtimes enter the sandbox's netns and connect to `localhost:<port>` there
(containerd's `portForward` uses `netns.Do`). Here a short-lived thread `setns()`es into
the namespace, creates the socket (a socket belongs to the namespace it was created in,
whatever thread uses it later) and returns; the connect and all I/O then happen on the
event loop. The thread is a fresh one, not a pool thread: should switching back fail it
ends with the thread instead of leaving a pooled thread in the pod's namespace. Needs
CAP_SYS_ADMIN, as the kubelet has. A pod on the host network has no netns path: its port
is dialled directly.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def socket_in_netns(netns_path: str) -> socket.socket:
    """A TCP socket created in the namespace at `netns_path` (call on a throwaway thread)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _setns(own)
    finally:
        os.close(own)


async def dial(netns_path: str, port: int, host: str = "127.0.0.1"
               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to `host:port` as seen from inside the namespace ("" for the host's)."""
    if not netns_path:
        return await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    made: asyncio.Future[socket.socket] = loop.create_future()

    def settle(sock: socket.socket | None, err: BaseException | None) -> None:
        if made.done():  # the caller gave up
            if sock is not None:
                sock.close()
        elif err is not None:
            made.set_exception(err)
        else:
            made.set_result(sock)  # type: ignore[arg-type]

    def work() -> None:
        try:
            sock = socket_in_netns(netns_path)
        except Exception as err:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, err)
        else:
            loop.call_soon_threadsafe(settle, sock, None)

    threading.Thread(target=work, name="netns-dial", daemon=True).start()
    sock = await made
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)
