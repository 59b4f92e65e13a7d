"""A `StreamingHost` whose "containers" are local processes, for the kubelet server's tests.

The real runtime runs exec inside a container; here `exec` runs the command on this machine
(pipes, or a pty when a tty is asked for), `attach` joins a long-running local process
standing for the container's main process, and `connect` dials 127.0.0.1 (the test's own
loopback stands for the pod's network namespace). Pods and their statuses are whatever the
test puts in `pods`; log files are written by the test with `CriLogWriter`.
`serving_in_thread` runs a kubelet server (or any socket server) on an event loop of its own
thread, for tests that drive it from synchronous code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import pty
import socket
import struct
import termios
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kybernetes.kubelet.logs import CriLogWriter, container_log_file
from kybernetes.kubelet.runtime.cri import CRIError, ExecProcess


class LocalProcess:
    """An `ExecProcess` over a local subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self.tty = master is not None

    @classmethod
    async def start(cls, cmd: Sequence[str], *, tty: bool, stdin: bool) -> LocalProcess:
        try:
            if not tty:
                proc = await asyncio.create_subprocess_exec(
                    *cmd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                return cls(proc, None)
            master, slave = pty.openpty()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            finally:
                os.close(slave)
            return cls(proc, master)
        except OSError as err:
            raise CRIError(f'exec: "{cmd[0]}": {err.strerror}') from err

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            await asyncio.to_thread(os.write, self.master, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            await self.write_stdin(b"\x04")
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def read_stdout(self, n: int = 65536) -> bytes:
        if self.master is not None:
            try:
                return await asyncio.to_thread(os.read, self.master, n)
            except OSError as err:
                if err.errno == errno.EIO:  # the terminal's last user is gone
                    return b""
                raise
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        assert self.proc.stderr is not None
        return await self.proc.stderr.read(n)

    def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        return 128 - code if code < 0 else code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def detach(self) -> None:
        pass  # the next attach joins the same process


@dataclass
class LocalHost:
    """Pods by (namespace, name); container ids `fake://<name>-<attempt>`."""

    log_root: Path
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    # The command standing for each container's main process (for attach).
    main_commands: dict[str, list[str]] = field(default_factory=dict)
    _mains: dict[str, LocalProcess] = field(default_factory=dict)

    def add_pod(self, namespace: str, name: str, uid: str,
                containers: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """A pod whose containers have these statuses (`state`, `lastState`,
        `restartCount`); container ids and log files follow from them."""
        statuses = []
        for container, status in containers.items():
            attempt = int(status.get("restartCount", 0))
            full = {"name": container, "restartCount": attempt, "ready": True,
                    "image": "busybox", "imageID": "", **status}
            state = full.get("state") or {}
            if "waiting" not in state:
                full["containerID"] = f"fake://{namespace}.{name}.{container}-{attempt}"
                if "running" in state:
                    self.running.add(full["containerID"])
                if "terminated" in state:
                    state["terminated"].setdefault("containerID", full["containerID"])
            last = (full.get("lastState") or {}).get("terminated")
            if last is not None:
                last.setdefault("containerID",
                                f"fake://{namespace}.{name}.{container}-{attempt - 1}")
            statuses.append(full)
        pod = {"metadata": {"namespace": namespace, "name": name, "uid": uid},
               "spec": {"containers": [{"name": c} for c in containers]},
               "status": {"phase": "Running", "containerStatuses": statuses}}
        self.pods[(namespace, name)] = pod
        return pod

    def writer(self, namespace: str, name: str, container: str, attempt: int) -> CriLogWriter:
        uid = self.pods[(namespace, name)]["metadata"]["uid"]
        return CriLogWriter(container_log_file(self.log_root, namespace, name, uid, container,
                                               attempt))

    def pod(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.pods.get((namespace, name))

    async def log_path(self, container_id: str) -> Path:
        namespace, name, rest = container_id.removeprefix("fake://").split(".", 2)
        container, _, attempt = rest.rpartition("-")
        uid = self.pods[(namespace, name)]["metadata"]["uid"]
        return container_log_file(self.log_root, namespace, name, uid, container, int(attempt))

    async def is_running(self, container_id: str) -> bool:
        return container_id in self.running

    async def exec(self, container_id: str, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        return await LocalProcess.start(cmd, tty=tty, stdin=stdin)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> ExecProcess:
        if container_id not in self._mains:
            container = container_id.removeprefix("fake://").split(".", 2)[2].rpartition("-")[0]
            self._mains[container_id] = await LocalProcess.start(
                self.main_commands[container], tty=tty, stdin=True)
        return self._mains[container_id]

    async def connect(self, pod: Mapping[str, Any], port: int
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)

    def stop(self) -> None:
        for process in self._mains.values():
            process.kill()


@contextlib.contextmanager
def serving_in_thread(serve: Callable[[socket.socket], Coroutine[Any, Any, None]]
                      ) -> Iterator[int]:
    """`serve(sock)` on a new loopback socket, on an event loop of its own thread; yields the
    port, and cancels the server on leaving."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    loop = asyncio.new_event_loop()
    task = loop.create_task(serve(sock))

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
