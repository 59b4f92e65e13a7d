"""Attaching to a running container's own stdio through its conmon (`kubectl attach`).

conmon listens on `<bundle>/attach`, a SOCK_SEQPACKET unix socket (joined through
`/proc/self/fd/<dir>/attach`, since a bundle path may be longer than a socket address):

- every packet it sends is output, its first byte the pipe it came from (2 stdout,
  3 stderr; a terminal's output is all stdout); it closes the socket once the container
  exited and its output is drained;
- every packet a client sends is raw input for the container's stdin (when the container
  has one: `-i`); a client shutting down its sending side is the end of its input, upon
  which conmon closes the container's stdin unless told `--leave-stdin-open` (StdinOnce);
- a terminal resize is a `1 <height> <width>` line on the bundle's `ctl` fifo.

Output produced while no client is attached only reaches the log, as with CRI-O.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

from kybernetes.kubelet.runtime.runc.conmon import WIN_RESIZE_EVENT, Monitor

STDOUT_PIPE, STDERR_PIPE = 2, 3
MAX_PACKET = 32768  # conmon's CONN_SOCK_BUF_SIZE: a longer packet would be cut short
QUEUE_PACKETS = 64  # output packets buffered per stream before conmon is made to wait


class AttachProcess:
    """An `ExecProcess` (see `cri.ExecProcess`) standing for a container's init, attached
    through conmon: the container runs on when the session ends."""

    def __init__(self, sock: socket.socket, monitor: Monitor,
                 exit_code: Callable[[], Awaitable[int]], *, tty: bool, stdin: bool) -> None:
        self.tty = tty
        self._sock, self._monitor, self._exit_code, self._stdin = sock, monitor, exit_code, stdin
        self._stdout: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_PACKETS)
        self._stderr: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_PACKETS)
        self._ended: set[int] = set()
        self._reader = asyncio.create_task(self._demux())

    @classmethod
    async def connect(cls, monitor: Monitor, exit_code: Callable[[], Awaitable[int]], *,
                      tty: bool, stdin: bool) -> AttachProcess:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        directory = os.open(monitor.bundle, os.O_PATH | os.O_CLOEXEC)
        try:
            await asyncio.get_running_loop().sock_connect(
                sock, f"/proc/self/fd/{directory}/{monitor.attach_socket.name}")
        except BaseException:
            sock.close()
            raise
        finally:
            os.close(directory)
        return cls(sock, monitor, exit_code, tty=tty, stdin=stdin)

    async def _demux(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while packet := await loop.sock_recv(self._sock, MAX_PACKET + 1):
                if len(packet) > 1:
                    queue = self._stderr if packet[0] == STDERR_PIPE else self._stdout
                    await queue.put(packet[1:])
        except OSError:
            pass  # as the end of output
        finally:
            # After the pending receive is done with the socket (cancelled or not).
            self._sock.close()
            for queue in (self._stdout, self._stderr):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(b"")

    async def _read(self, queue: asyncio.Queue[bytes]) -> bytes:
        if id(queue) in self._ended:
            return b""
        data = await queue.get()
        if not data:
            self._ended.add(id(queue))
        return data

    async def write_stdin(self, data: bytes) -> None:
        if not self._stdin:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):  # the container exited, or detached
            for start in range(0, len(data), MAX_PACKET):
                await loop.sock_sendall(self._sock, data[start:start + MAX_PACKET])

    async def close_stdin(self) -> None:
        if not self._stdin:
            return
        if self.tty:
            # The terminal is in canonical mode: ^D at a line start is its end of input.
            await self.write_stdin(b"\x04")
            return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def read_stdout(self, n: int = 65536) -> bytes:
        return await self._read(self._stdout)

    async def read_stderr(self, n: int = 65536) -> bytes:
        return await self._read(self._stderr)

    def resize(self, width: int, height: int) -> None:
        if self.tty:
            with contextlib.suppress(OSError):
                self._monitor.control(WIN_RESIZE_EVENT, height, width)

    async def wait(self) -> int:
        """The container's exit code, once its output ended (the container exited)."""
        try:
            return await self._exit_code()
        finally:
            self.detach()

    def detach(self) -> None:
        self._reader.cancel()  # which closes the socket: conmon forgets this client

    def kill(self) -> None:
        """Attaching never kills the container: the session ends, the container runs on."""
        self.detach()
