"""Processes run inside a running container with `runc exec`.

`runc exec` joins the container's namespaces and cgroup, takes the container's process spec
(env, user, capabilities) as the template, and exits with the exec'd process's code
(128+signal when it was killed), so the kubelet only has to wire its stdio:

- without a tty: pipes, one each for stdin (when asked for), stdout and stderr;
- with a tty: a pty pair of our own is runc's stdin/stdout/stderr; runc allocates the
  container-side pty, puts ours in raw mode and copies between the two. A resize sets the
  size on our pair and sends runc SIGWINCH, upon which runc copies it to the inner pty.

The exec'd process's host pid is taken from `--pid-file`, so a timeout or a vanished client
kills the process itself, not merely runc.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import termios
from collections.abc import Sequence
from pathlib import Path

from kybernetes.kubelet.runtime.cri import CRIError, ExecResult, ExecTimeoutError

RUNC_FAILED = 255  # runc's own exit status when it could not exec the process
_FIRST_RESIZE_REPEATS = (0.1, 0.5)  # seconds after the first resize: SIGWINCH again


def _kill_from_pid_file(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)


def runc_error(log_path: Path, fallback: str) -> str:
    """runc's last error message from its JSON log."""
    message = fallback
    try:
        with open(log_path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", message))
    except OSError:
        pass
    return message


def _log_file(pid_file: Path) -> Path:
    return pid_file.with_suffix(".log")


def _argv(runc: str, root: Path, container_id: str, pid_file: Path, cmd: Sequence[str],
          tty: bool) -> list[str]:
    return [runc, "--root", str(root), "--log", str(_log_file(pid_file)), "--log-format",
            "json", "exec", *(["-t"] if tty else []), "--pid-file", str(pid_file),
            container_id, *cmd]


def _finish(pid_file: Path, code: int) -> None:
    """Forget the exec's files; raise when runc itself failed (as containerd's "OCI runtime
    exec failed"), which a process exiting with 255 does not leave in runc's log."""
    log = _log_file(pid_file)
    message = runc_error(log, "") if code == RUNC_FAILED else ""
    pid_file.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    if message:
        raise CRIError(f"OCI runtime exec failed: {message}")


async def exec_sync(runc: str, root: Path, container_id: str, pid_file: Path,
                    cmd: Sequence[str], timeout: float) -> ExecResult:  # noqa: ASYNC109
    proc = await asyncio.create_subprocess_exec(
        *_argv(runc, root, container_id, pid_file, cmd, False),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout if timeout > 0 else None)
    except TimeoutError:
        _kill_from_pid_file(pid_file)
        proc.kill()
        await proc.wait()
        _finish(pid_file, 0)
        raise ExecTimeoutError(
            f"command {list(cmd)!r} timed out after {timeout:g}s") from None
    assert proc.returncode is not None
    _finish(pid_file, proc.returncode)
    return ExecResult(proc.returncode, out, err)


async def _read_fd(fd: int, n: int) -> bytes:
    """Read a non-blocking fd; b"" at EOF (EIO from a pty master whose slave is gone)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, n)
        except BlockingIOError:
            pass
        except OSError:
            return b""
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_reader(fd)


async def _write_fd(fd: int, data: bytes) -> None:
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
            continue
        except BlockingIOError:
            pass
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_writer(fd)


class RuncExecProcess:
    """An `ExecProcess` (see `cri.ExecProcess`) backed by a `runc exec` child."""

    def __init__(self, proc: asyncio.subprocess.Process, pid_file: Path,
                 master: int | None) -> None:
        self._proc, self._pid_file, self._master = proc, pid_file, master
        self.tty = master is not None
        self._master_open = self.tty
        self._resized = False

    @classmethod
    async def start(cls, runc: str, root: Path, container_id: str, pid_file: Path,
                    cmd: Sequence[str], *, tty: bool, stdin: bool) -> RuncExecProcess:
        argv = _argv(runc, root, container_id, pid_file, cmd, tty)
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            return cls(proc, pid_file, None)
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(proc, pid_file, master)

    async def write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            if self._master_open:
                await _write_fd(self._master, data)
        elif self._proc.stdin is not None:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._master is not None:
            if not self._master_open:
                return
            # The inner pty is in canonical mode: ^D at a line start is its end of input.
            await _write_fd(self._master, b"\x04")
        elif self._proc.stdin is not None:
            self._proc.stdin.close()
            with contextlib.suppress(ConnectionError):
                await self._proc.stdin.wait_closed()

    async def read_stdout(self, n: int = 65536) -> bytes:
        if self._master is not None:
            data = await _read_fd(self._master, n) if self._master_open else b""
            if not data:
                self._close_master()
            return data
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(n)

    async def read_stderr(self, n: int = 65536) -> bytes:
        if self._proc.stderr is None:
            return b""
        return await self._proc.stderr.read(n)

    def resize(self, width: int, height: int) -> None:
        if self._master is None or not self._master_open or self._proc.returncode is not None:
            return
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self._winch()
        # `runc exec -t` copies its terminal's size to the container's when SIGWINCH comes,
        # but only once its handler is installed, a moment after the exec starts: the first
        # size (kubectl sends it at once) could come in that window and be lost, so it is
        # signalled again a little later.
        if not self._resized:
            self._resized = True
            loop = asyncio.get_running_loop()
            for delay in _FIRST_RESIZE_REPEATS:
                loop.call_later(delay, self._winch)

    def _winch(self) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        code = await self._proc.wait()
        _finish(self._pid_file, code)
        return code

    def _close_master(self) -> None:
        # Only once stdout hit EOF (or the process is killed): what the process printed
        # last is still buffered in the pty after it exited.
        if self._master is not None and self._master_open:
            self._master_open = False
            os.close(self._master)

    def detach(self) -> None:
        """Close our ends of its stdio: the process runs on until it minds that."""
        self._close_master()
        if self._proc.stdin is not None:
            self._proc.stdin.close()

    def kill(self) -> None:
        _kill_from_pid_file(self._pid_file)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
