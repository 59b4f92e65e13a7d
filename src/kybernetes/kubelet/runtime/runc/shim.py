"""The per-container shim: a small supervisor that outlives the kubelet.

Run as `python -I -S <this file> <container run dir>` (by path rather than `-m`, so
neither kybernetes' packages nor site-packages are imported: resident size about 10 MB), it reads
`shim.json` there, double-forks and calls `setsid` so that it is nobody's child and in no
one's session (a kubelet restart leaves it alone), makes itself a child subreaper so the
container's init is reparented to it when `runc create` exits, and then:

1. `runc create` with the container's stdout/stderr as pipes (with a tty: receives the
   pty master over `--console-socket`), then `runc start`;
2. reports `{"ok": true, "pid": ...}` or `{"ok": false, "error": <runc's message>}` as one
   JSON line on its stdout, which the kubelet reads until EOF, and closes it;
3. copies the container's output into its log file in the CRI format
   (`<RFC3339Nano> stdout|stderr F|P <line>`, lines over 16 KiB split into P parts);
4. reaps the init, reads the memory cgroup's `oom_kill` counter to tell an OOM kill, runs
   `runc delete` and writes exit code, reason and finish time to `status.json`.

It imports only what it needs (no asyncio, no subprocess, no kybernetes modules) to keep
its resident size small: one runs per container.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_LINE = 16 * 1024  # containerd's maximum CRI log line before splitting into P parts
DRAIN_SECONDS = 2.0  # how long output may trail the init's exit


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros."""
    sec, frac = divmod(ns, 1_000_000_000)
    digits = f"{frac:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + (
        "." + digits if digits else "") + "Z"


class LogWriter:
    """Turns a stream's bytes into CRI log lines appended to the container's log file."""

    def __init__(self, fd: int, stream: str) -> None:
        self.fd, self.stream, self.buf = fd, stream.encode(), b""

    def _line(self, tag: bytes, line: bytes) -> bytes:
        return rfc3339nano(time.time_ns()).encode() + b" " + self.stream + b" " + tag + b" " \
            + line + b"\n"

    def feed(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            nl = self.buf.find(b"\n", 0, MAX_LINE + 1)
            if nl >= 0:
                out.append(self._line(b"F", self.buf[:nl]))
                self.buf = self.buf[nl + 1:]
            elif len(self.buf) > MAX_LINE:
                out.append(self._line(b"P", self.buf[:MAX_LINE]))
                self.buf = self.buf[MAX_LINE:]
            else:
                break
        if out:
            os.write(self.fd, b"".join(out))

    def close(self) -> None:
        """At EOF an unterminated last line is written as a full one (as containerd does)."""
        if self.buf:
            os.write(self.fd, self._line(b"F", self.buf))
            self.buf = b""


def write_status(path: str, status: dict[str, object]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(status, f)
    os.replace(tmp, path)


def spawn(argv: list[str], stdout: int, stderr: int) -> int:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2)])
    finally:
        os.close(null)


def run_wait(argv: list[str]) -> int:
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = spawn(argv, null, null)
    finally:
        os.close(null)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def runc_error(log_path: str, fallback: str) -> str:
    """runc's last error message from its JSON log (what `runc create` died of)."""
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


def memory_events(pid: int) -> str | None:
    """The file counting OOM kills in the container's memory cgroup (v1 or v2)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return f"/sys/fs/cgroup/memory{path}/memory.oom_control"
    for line in lines:
        if line.startswith("0::"):
            for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                candidate = root + line[3:] + "/memory.events"
                if os.path.exists(candidate):
                    return candidate
    return None


def oom_kills(path: str | None) -> int:
    if path is None:
        return 0
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def run_with_console(argv: list[str], listener_path: str) -> tuple[int | None, int]:
    """Run `runc create --console-socket`, take the pty master it sends over the socket and
    wait for it; returns (master fd or None when runc failed first, runc's wait status)."""
    import socket  # only tty containers pay for it

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listener_path)
    srv.listen(1)
    srv.settimeout(0.1)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        runc_pid = spawn([*argv[:-1], "--console-socket", listener_path, argv[-1]], null, null)
    finally:
        os.close(null)
    try:
        while True:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                pid, status = os.waitpid(runc_pid, os.WNOHANG)
                if pid:
                    return None, status
                continue
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            return (fds[0] if fds else None), os.waitpid(runc_pid, 0)[1]
    finally:
        srv.close()
        os.unlink(listener_path)


def open_log(path: str) -> int:
    if not path:
        return os.open(os.devnull, os.O_WRONLY)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)


def supervise(cfg: dict[str, object], report: int) -> None:
    # Signals wake the loop below through a pipe. They are set up before the container
    # exists, so that an init exiting at once still wakes it with its SIGCHLD.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # SIGUSR1 asks for the log file to be reopened (CRI ReopenContainerLog, after the
    # kubelet rotated it away); the handler only notes it, the loop acts on it.
    reopen: list[bool] = []
    signal.signal(signal.SIGUSR1, lambda *_: reopen.append(True))
    signal.set_wakeup_fd(wake_w)
    runc, root, cid = str(cfg["runc"]), str(cfg["runc_root"]), str(cfg["id"])
    status_path, runc_log = str(cfg["status_path"]), str(cfg["runc_log"])
    base = [runc, "--root", root]
    log_path = str(cfg["log_path"])
    log_fd = open_log(log_path)
    create = [*base, "--log", runc_log, "--log-format", "json", "create", "--bundle",
              str(cfg["bundle"]), "--pid-file", str(cfg["pid_file"])]
    streams: dict[int, LogWriter] = {}
    if cfg["tty"]:
        master, status = run_with_console([*create, cid], str(cfg["console_socket"]))
        if master is not None:
            streams[master] = LogWriter(log_fd, "stdout")
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = spawn([*create, cid], out_w, err_w)
        os.close(out_w)
        os.close(err_w)
        streams = {out_r: LogWriter(log_fd, "stdout"), err_r: LogWriter(log_fd, "stderr")}
        status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        with open(str(cfg["pid_file"])) as f:
            init = int(f.read().strip())
        oom_file = memory_events(init)
        oom_before = oom_kills(oom_file)
        code = run_wait([*base, "--log", runc_log, "--log-format", "json", "start", cid])
    if code != 0:
        # containerd's wording for a process that never started: reason StartError, 128.
        message = runc_error(runc_log, f"runc exited with status {code}")
        run_wait([*base, "delete", "--force", cid])
        now = time.time_ns()
        write_status(status_path, {"started_at": 0, "finished_at": now, "exit_code": 128,
                                   "reason": "StartError", "message": message, "pid": 0})
        os.write(report, (json.dumps({"ok": False, "error": message}) + "\n").encode())
        os.close(report)
        return
    started = time.time_ns()
    write_status(status_path, {"pid": init, "shim_pid": os.getpid(), "started_at": started})
    os.write(report, (json.dumps({"ok": True, "pid": init}) + "\n").encode())
    os.close(report)

    exit_status: int | None = None
    deadline = 0.0
    while streams or exit_status is None:
        timeout = None if exit_status is None else max(0.0, deadline - time.monotonic())
        if exit_status is not None and timeout == 0.0:
            break
        try:
            ready, _, _ = select.select([*streams, wake_r], [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            if fd == wake_r:
                os.read(wake_r, 4096)
                if reopen:
                    reopen.clear()
                    os.close(log_fd)
                    log_fd = open_log(log_path)
                    for writer in streams.values():
                        writer.fd = log_fd
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the pty's last slave is gone
                data = b""
            if data:
                streams[fd].feed(data)
            else:
                streams.pop(fd).close()
                os.close(fd)
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == init:
                exit_status = st
                deadline = time.monotonic() + DRAIN_SECONDS
    for writer in streams.values():
        writer.close()
    finished = time.time_ns()
    assert exit_status is not None
    exit_code = os.waitstatus_to_exitcode(exit_status)
    if exit_code < 0:
        exit_code = 128 - exit_code
    oom = oom_kills(oom_file) > oom_before
    run_wait([*base, "delete", "--force", cid])
    reason = "OOMKilled" if oom else ("Completed" if exit_code == 0 else "Error")
    write_status(status_path, {"pid": init, "shim_pid": os.getpid(), "started_at": started,
                               "finished_at": finished, "exit_code": exit_code,
                               "reason": reason, "message": ""})


def main() -> None:
    run_dir = sys.argv[1]
    with open(os.path.join(run_dir, "shim.json")) as f:
        cfg = json.load(f)
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    # The console socket is named relative to the bundle, which is also runc's cwd (runc
    # changes into it): an absolute name is longer than a unix socket address allows.
    os.chdir(cfg["bundle"])
    report = os.dup(1)
    # Whatever else the kubelet's process let us inherit (uvloop's spawn leaves its own
    # socket of our stdout open at a high fd) must not outlive the report: the kubelet
    # reads the report until EOF.
    os.closerange(3, report)
    os.closerange(report + 1, os.sysconf("SC_OPEN_MAX"))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    with open(os.path.join(run_dir, "shim.pid"), "w") as f:
        f.write(str(os.getpid()))
    supervise(cfg, report)


if __name__ == "__main__":
    main()
