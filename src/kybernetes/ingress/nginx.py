"""Debian's nginx as the ingress data plane: one master process per controller, in the
foreground, its error log (stderr) and access log (stdout) read into the controller's
loggers; each new configuration written beside the live one, checked with `nginx -t`, then
moved in place and loaded with SIGHUP (nginx's graceful reload: old workers finish their
requests, no connection is refused). A configuration that fails the check is not loaded:
the error is raised with nginx's message and the running one keeps serving. The master
dying is an error of `wait`, so the controller's supervisor sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

from kybernetes.ingress.render import Paths

log = logging.getLogger(__name__)
# Not propagated: the access log goes where its own handlers say (the mirror pod's log).
access_log = logging.getLogger("kybernetes.ingress.access")
access_log.propagate = False

NGINX = "nginx"
STARTUP_CHECKS = 300
STARTUP_CHECK_INTERVAL = 0.02
TEMP_DIRS = ("client-body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxError(Exception):
    pass


def find_nginx() -> str:
    path = shutil.which(NGINX) or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)
    if path is None:
        raise NginxError("nginx is not installed (Debian: apt install nginx-light); run "
                         "with --disable-ingress to go without the ingress controller")
    return path


class Nginx:
    def __init__(self, paths: Paths, binary: str | None = None) -> None:
        self.paths = paths
        self.binary = binary or find_nginx()
        self.conf = paths.prefix / "nginx.conf"
        self.process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._started = asyncio.Event()
        self.reloads = 0

    def prepare(self) -> None:
        self.paths.prefix.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths.certificates.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in TEMP_DIRS:
            (self.paths.prefix / name).mkdir(exist_ok=True, mode=0o700)

    def write_certificates(self, certificates: dict[str, bytes]) -> None:
        """Each certificate as `<name>.pem` (0600), stale ones removed."""
        wanted = {self.paths.certificate(name): pem for name, pem in certificates.items()}
        for path, pem in wanted.items():
            with contextlib.suppress(OSError):
                if path.read_bytes() == pem:
                    continue
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            tmp.replace(path)
        for path in self.paths.certificates.glob("*.pem"):
            if path not in wanted:
                path.unlink(missing_ok=True)

    async def check(self, conf: Path) -> None:
        # The access log opens /dev/stdout: /dev/null here (a socket, as uvloop's pipes
        # are, cannot be opened by path).
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-t", "-q", "-p", str(self.paths.prefix), "-c", str(conf),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise NginxError(err.decode(errors="replace").strip())

    async def apply(self, text: str) -> bool:
        """Make `text` the running configuration (start nginx the first time); False when
        it is what runs already. Raises NginxError if nginx refuses it."""
        with contextlib.suppress(OSError):
            if self.process is not None and self.conf.read_text() == text:
                return False
        staged = self.conf.with_name("nginx.conf.new")
        staged.write_text(text)
        await self.check(staged)
        staged.replace(self.conf)
        if self.process is None:
            await self._start()
        else:
            self.process.send_signal(signal.SIGHUP)
            self.reloads += 1
        return True

    async def _start(self) -> None:
        stop_stale(self.paths.prefix)
        # The access log is /dev/stdout, which nginx opens by path: a pipe of our own (the
        # event loop's may be a socket, which cannot be).
        read_end, write_end = os.pipe()
        try:
            self.process = await asyncio.create_subprocess_exec(
                self.binary, "-p", str(self.paths.prefix), "-c", str(self.conf),
                "-g", "daemon off; master_process on;",
                stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        assert self.process.stderr is not None
        self._readers = [
            asyncio.create_task(_forward(await _reader(read_end), access_log, logging.INFO)),
            asyncio.create_task(_forward(self.process.stderr, log, logging.INFO))]
        await self._until_listening(self.process)
        self._started.set()
        log.info("nginx started (pid %d)", self.process.pid)

    async def _until_listening(self, process: asyncio.subprocess.Process) -> None:
        """nginx writes its pid file once its sockets listen; exiting first is an error
        (its reason is in the log, e.g. a port in use)."""
        pid_file = self.paths.prefix / "nginx.pid"
        for _ in range(STARTUP_CHECKS):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(pid_file.read_text().split()[0]) == process.pid:
                    return
            if process.returncode is not None:
                break
            await asyncio.sleep(STARTUP_CHECK_INTERVAL)
        await asyncio.gather(*self._readers, return_exceptions=True)
        self.process = None
        raise NginxError(f"nginx did not start (status {process.returncode}); see its "
                         "log above")

    async def wait(self) -> None:
        """Until nginx exits: that is an error (it should run until `stop`)."""
        await self._started.wait()
        assert self.process is not None
        code = await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        raise NginxError(f"nginx exited with status {code}")

    async def stop(self) -> None:
        """Graceful stop (SIGQUIT), then SIGKILL of the whole group after 10 s."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(fd, "rb", buffering=0))
    return reader


async def _forward(stream: asyncio.StreamReader, logger: logging.Logger, level: int) -> None:
    while line := await stream.readline():
        logger.log(level, "%s", line.decode(errors="replace").rstrip("\n"))


def stop_stale(prefix: Path) -> None:
    """Kill an nginx left running from `prefix` by a process that died without stopping it
    (its pid file names it, its command line names the prefix): it holds the ports."""
    try:
        pid = int((prefix / "nginx.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError, IndexError):
        return
    # nginx retitles its master "nginx: master process <argv>"
    if not cmdline.startswith(b"nginx") or f" {prefix} ".encode() not in cmdline + b" ":
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    log.warning("killed nginx %d left running from %s", pid, prefix)
