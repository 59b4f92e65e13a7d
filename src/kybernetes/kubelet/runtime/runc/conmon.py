"""conmon, the per-container monitor CRI-O and podman use, driven as CRI-O drives it.

One conmon runs per container, in C (about 1 MiB resident), detached from the kubelet
(it double-forks and calls `setsid`, so a kubelet restart leaves it alone). It runs
`runc create` with the container's stdio as its own pipes (with `-t`: the pty master runc
hands over its console socket), reports the init's pid, then until the init exits:

- writes the container's output to the log in the CRI format (`-l k8s-file:<path>`);
- keeps the container's stdin when it has one (`-i`): attach clients' input goes there,
  and the first client to leave closes it unless `--leave-stdin-open` (CRI's StdinOnce);
- serves attach clients on `<bundle>/attach` (see `attach.py`), and reads control
  messages from the `<bundle>/ctl` fifo: `1 <height> <width>` resizes the terminal,
  `2 0 0` reopens the log after the kubelet rotated it;
- on exit writes the code (128+signal when killed) to `<persist dir>/exit`, and an empty
  `<persist dir>/oom` when the memory cgroup saw an OOM kill.

It is started with `_OCI_SYNCPIPE` naming a pipe on which it writes one JSON line once
`runc create` is done: `{"data": <init pid>}`, or `{"data": -1, "message": <runc's
stderr>}` when runc failed. The container is then started with `runc start`, as CRI-O's
`StartContainer` does. No start pipe is used: conmon is not moved to another cgroup.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kybernetes.kubelet import spawn

CONMON = "conmon"
WIN_RESIZE_EVENT = 1
REOPEN_LOGS_EVENT = 2
SYNC_TIMEOUT_SECONDS = 60.0  # `runc create` hung: give up on the container


class MonitorError(Exception):
    """conmon, or the `runc create` it ran, failed; the message is runc's own words."""


@dataclass(frozen=True)
class Monitor:
    """Where one container's conmon keeps its files."""

    bundle: Path  # the OCI bundle: conmon's attach socket and ctl fifo are made here
    persist_dir: Path  # conmon's `exit` and `oom`, its pid file and the init's

    @property
    def pid_file(self) -> Path:
        return self.persist_dir / "conmon.pid"

    @property
    def init_pid_file(self) -> Path:
        return self.persist_dir / "init.pid"

    @property
    def attach_socket(self) -> Path:
        return self.bundle / "attach"

    def pid(self) -> int:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return 0

    def exit_code(self) -> tuple[int, int] | None:
        """(exit code, finish time in ns since the epoch) once the init exited (asked of
        every running container each second: plain os calls)."""
        try:
            with open(os.path.join(self.persist_dir, "exit"), "rb") as f:
                code, finished = int(f.read().strip()), os.fstat(f.fileno()).st_mtime_ns
        except (OSError, ValueError):
            return None
        return code, finished

    def oom_killed(self) -> bool:
        return (self.persist_dir / "oom").exists()

    def control(self, kind: int, height: int = 0, width: int = 0) -> None:
        """Send a control message on the ctl fifo; OSError when conmon is gone."""
        fd = os.open(self.bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, f"{kind} {height} {width}\n".encode())
        finally:
            os.close(fd)

    def argv(self, *, conmon: str, runc: str, runc_root: Path, container_id: str,
             log_path: str, tty: bool, stdin: bool, stdin_once: bool) -> list[str]:
        argv = [conmon, "--api-version", "1", "-c", container_id, "-u", container_id,
                "-r", runc, "--runtime-arg", f"--root={runc_root}", "-b", str(self.bundle),
                "-p", str(self.init_pid_file), "-P", str(self.pid_file),
                "--persist-dir", str(self.persist_dir), "--full-attach",
                "-l", f"k8s-file:{log_path}" if log_path else "none", "--log-level", "error"]
        if tty:
            argv.append("-t")
        if stdin:
            argv.append("-i")
            if not stdin_once:
                argv.append("--leave-stdin-open")
        return argv

    async def start(self, argv: list[str]) -> int:
        """Launch conmon, return the container's init pid once `runc create` is done."""
        return await spawn.blocking(self._launch, argv)

    def _launch(self, argv: list[str]) -> int:
        self.persist_dir.mkdir(parents=True, exist_ok=True)
        read_end, write_end = os.pipe()
        try:
            # conmon's own complaints before it detaches (bad options) go to conmon.log.
            with open(self.persist_dir / "conmon.log", "ab") as log:
                parent = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    pass_fds=(write_end,), cwd=self.persist_dir,
                    env={**os.environ, "_OCI_SYNCPIPE": str(write_end)})
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as sync:
            # The first conmon process exits once it forked the monitor, which keeps the
            # pipe open while it lives: read the one line, not to the end.
            line = _read_line(sync.fileno(), SYNC_TIMEOUT_SECONDS)
        parent.wait()
        try:
            answer = json.loads(line)
            pid = int(answer["data"])
        except (ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                line = (self.persist_dir / "conmon.log").read_bytes()
            raise MonitorError(f"conmon failed: {line.decode(errors='replace').strip()}") \
                from None
        if pid <= 0:
            raise MonitorError(_runc_message(str(answer.get("message") or "")))
        return pid


def _read_line(fd: int, timeout: float) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise MonitorError("conmon did not report on the container within "
                               f"{timeout:g}s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _runc_message(stderr: str) -> str:
    """runc's error from its stderr: logrus' `msg="..."` when present, else the text."""
    for line in reversed(stderr.strip().splitlines()):
        _, found, rest = line.partition('msg="')
        if found:
            return rest.rsplit('"', 1)[0].replace('\\"', '"')
    return stderr.strip() or "runc create failed"
