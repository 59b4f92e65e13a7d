"""`RuncRuntime`: the CRI-shaped `ContainerRuntime` on runc.

Each call reads and writes the on-disk state (`state.py`) rather than memory, so a new
instance over the same directories (a restarted kubelet) adopts every sandbox and container
as it is: running containers keep running under their conmon monitors, with the same ids
and pids, and their logs continue. Memory holds only what those files said and cannot
have changed since (the kubelet relists every container each second): a container's
container.json and status.json (each written once) decoded once, a sandbox.json read
again once replaced, and a pidfd of each running conmon.

Life of a container:
- `create_container` mounts the overlay rootfs, writes the OCI bundle (`spec.py`) and
  launches its conmon (`conmon.py`), which runs `runc create` and reports the init's pid,
  as CRI-O's CreateContainer does: the kubelet creates containers while CNI still sets up
  the pod's network, and starts them after. Mistakes in the config or the image (a missing
  layer) raise `CreateContainerError`.
- `start_container` runs `runc start` (as CRI-O does) and records pid, monitor pid and
  start time in `status.json`; when runc could not create or start the process (say
  `exec: "nosuch": executable file not found in $PATH`) this raises `RunContainerError`
  with runc's message, and the container is EXITED with reason StartError and exit code
  128, as with containerd.
- conmon records the exit (its code; `oom` when the memory cgroup OOM-killed it), the
  finish time is that record's mtime and the reason Completed / Error / OOMKilled;
  `stop_container` signals the init with the image's StopSignal (default SIGTERM), then
  SIGKILL after the timeout, as `runc kill` would but with no process (`pidfd`), and
  waits for that record (conmon's exit, on its pidfd).
- `reopen_container_log` asks conmon (ctl fifo) to reopen the log after a rotation.
- `attach` joins the container's stdio through conmon's attach socket (`attach.py`).
- `remove_container` deletes the runc container, unmounts the rootfs and forgets it.

A container whose conmon died while it was running (killed by hand) is reported
CONTAINER_EXITED with reason "Unknown" and exit code 255 once its init is gone too.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from kybernetes.kubelet import spawn
from kybernetes.kubelet.runtime.cri import (
    Container,
    ContainerConfig,
    ContainerFilter,
    ContainerId,
    ContainerState,
    ContainerStatus,
    CreateContainerError,
    CRIError,
    ExecProcess,
    ExecResult,
    NotFoundError,
    PodSandbox,
    RunContainerError,
    SandboxConfig,
    SandboxFilter,
    SandboxId,
    SandboxState,
    labels_match,
)
from kybernetes.kubelet.runtime.runc import exec as runc_exec
from kybernetes.kubelet.runtime.runc import pidfd, rootfs, sandbox, spec
from kybernetes.kubelet.runtime.runc.attach import AttachProcess
from kybernetes.kubelet.runtime.runc.conmon import (
    CONMON,
    REOPEN_LOGS_EVENT,
    Monitor,
    MonitorError,
)
from kybernetes.kubelet.runtime.runc.proc import run
from kybernetes.kubelet.runtime.runc.state import (
    Obj,
    Paths,
    decode_container,
    decode_sandbox,
    encode,
    read_json,
    write_json,
)

DEFAULT_RUN_DIR = Path("/run/kybernetes/runc")
POLL_SECONDS = 0.05  # how often a wait with no monitor to watch checks for the exit
KILL_WAIT_SECONDS = 30.0  # a SIGKILLed container not gone by then is reported as an error


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # not recorded (kill(0) would ask about our own process group)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class RuncRuntime:
    """A `cri.ContainerRuntime` running containers with runc; see the module docstring."""

    def __init__(self, data_dir: Path, run_dir: Path = DEFAULT_RUN_DIR, *,
                 runc: str = "runc", conmon: str = CONMON) -> None:
        self.paths = Paths(Path(data_dir), Path(run_dir))
        self.runc = shutil.which(runc) or runc
        self.conmon = shutil.which(conmon) or conmon
        self.paths.ensure()
        # container id -> its container.json and the config decoded, and its status.json:
        # both written once, so read once (a relist asks about every container each second).
        self._records: dict[str, tuple[Obj, ContainerConfig]] = {}
        self._statuses: dict[str, Obj] = {}
        # container id -> its conmon's files, and a pidfd of it while it runs
        # (`_monitor_alive`).
        self._monitors: dict[str, Monitor] = {}
        self._monitor_fds: dict[str, int] = {}
        # container id -> what its conmon reported once `runc create` was done: the init's
        # pid, or runc's error (kept for `start_container` to report, as containerd would).
        self._created: dict[str, int | str] = {}
        # container id -> how it was listed when running: unchanged while its conmon runs.
        self._running: dict[str, Container] = {}
        self._containers_dir = str(self.paths.data_dir / "containers")
        # sandbox id -> (inode and mtime of its sandbox.json, the record, its config): the
        # file is replaced (a new inode) when the sandbox stops.
        self._sandboxes: dict[str, tuple[tuple[int, int], Obj, SandboxConfig]] = {}

    # -- sandboxes ---------------------------------------------------------------------

    def _sandbox_record(self, sandbox_id: str) -> tuple[Obj, SandboxConfig]:
        """The sandbox's `sandbox.json` and its config, read again only once replaced."""
        path = self.paths.sandbox_dir(sandbox_id) / "sandbox.json"
        try:
            st = path.stat()
        except FileNotFoundError:
            self._sandboxes.pop(sandbox_id, None)
            raise NotFoundError(f"pod sandbox {sandbox_id} not found") from None
        version = (st.st_ino, st.st_mtime_ns)
        cached = self._sandboxes.get(sandbox_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        record = read_json(path)
        if record is None:
            raise NotFoundError(f"pod sandbox {sandbox_id} not found")
        config = decode_sandbox(record["config"])
        self._sandboxes[sandbox_id] = (version, record, config)
        return record, config

    def _sandbox(self, sandbox_id: str, record: Obj, config: SandboxConfig) -> PodSandbox:
        return PodSandbox(
            id=SandboxId(sandbox_id), name=config.name, namespace=config.namespace,
            uid=config.uid, attempt=config.attempt, state=SandboxState(record["state"]),
            created_at=record["created_at"], labels=config.labels,
            annotations=config.annotations,
            netns_path=sandbox.netns_path(config, self.paths.sandbox_run_dir(sandbox_id)))

    async def run_pod_sandbox(self, config: SandboxConfig) -> SandboxId:
        sandbox_id = SandboxId(secrets.token_hex(32))
        data_dir, run_dir = (self.paths.sandbox_dir(sandbox_id),
                             self.paths.sandbox_run_dir(sandbox_id))
        try:
            await sandbox.create(config, data_dir, run_dir)
        except OSError as e:
            await spawn.blocking(sandbox.destroy, config, data_dir, run_dir)
            raise CRIError(f"failed to create pod sandbox: {e}") from e
        write_json(data_dir / "sandbox.json", {
            "config": encode(config), "created_at": time.time_ns(),
            "state": SandboxState.SANDBOX_READY.value})
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        try:
            record, _ = self._sandbox_record(sandbox_id)
        except NotFoundError:
            return  # CRI: stopping is idempotent, also once the sandbox is gone
        for c in await self.list_containers(ContainerFilter(sandbox_id=sandbox_id)):
            if c.state == ContainerState.CONTAINER_RUNNING:
                await self.stop_container(c.id, 0)
        await spawn.blocking(write_json, self.paths.sandbox_dir(sandbox_id) / "sandbox.json",
                             {**record, "state": SandboxState.SANDBOX_NOTREADY.value})

    async def remove_pod_sandbox(self, sandbox_id: SandboxId) -> None:
        try:
            _, config = self._sandbox_record(sandbox_id)
        except NotFoundError:
            return  # CRI: removing a removed sandbox is not an error
        for c in await self.list_containers(ContainerFilter(sandbox_id=sandbox_id)):
            await self.remove_container(c.id)
        try:
            await spawn.blocking(sandbox.destroy, config, self.paths.sandbox_dir(sandbox_id),
                                 self.paths.sandbox_run_dir(sandbox_id))
        except OSError as e:  # a busy mount or cgroup: the kubelet retries the removal
            raise CRIError(f"failed to remove pod sandbox {sandbox_id}: {e}") from e
        self._sandboxes.pop(sandbox_id, None)

    async def pod_sandbox_status(self, sandbox_id: SandboxId) -> PodSandbox:
        return self._sandbox(sandbox_id, *self._sandbox_record(sandbox_id))

    async def list_pod_sandboxes(self, filter: SandboxFilter | None = None) -> list[PodSandbox]:
        f = filter or SandboxFilter()
        result = []
        for sandbox_id in self.paths.sandbox_ids():
            if f.id and not sandbox_id.startswith(f.id):
                continue
            try:
                s = self._sandbox(sandbox_id, *self._sandbox_record(sandbox_id))
            except NotFoundError:
                continue
            if (f.state is None or s.state == f.state) and labels_match(
                    s.labels, f.label_selector):
                result.append(s)
        return result

    def sandbox_netns_path(self, sandbox_id: SandboxId) -> str:
        _, config = self._sandbox_record(sandbox_id)
        return sandbox.netns_path(config, self.paths.sandbox_run_dir(sandbox_id))

    # -- containers --------------------------------------------------------------------

    def _container_record(self, container_id: str) -> Obj:
        return self._container(container_id)[0]

    def _container(self, container_id: str) -> tuple[Obj, ContainerConfig]:
        """The container's `container.json` and its config (written once, at create:
        decoded once per instance, while the file exists)."""
        path = os.path.join(self._containers_dir, container_id, "container.json")
        cached = self._records.get(container_id)
        if cached is not None and os.path.exists(path):
            return cached
        record = read_json(Path(path))
        if record is None:
            self._records.pop(container_id, None)
            self._statuses.pop(container_id, None)
            raise NotFoundError(f"container {container_id} not found")
        entry = self._records[container_id] = (record, decode_container(record["config"]))
        return entry

    async def create_container(self, sandbox_id: SandboxId,
                               config: ContainerConfig) -> ContainerId:
        record, sandbox_config = self._sandbox_record(sandbox_id)
        if record["state"] != SandboxState.SANDBOX_READY.value:
            raise CreateContainerError(f"pod sandbox {sandbox_id} is not ready")
        container_id = ContainerId(secrets.token_hex(32))
        container_dir = self.paths.container_dir(container_id)
        bundle = self.paths.bundle(container_id)
        sandbox_run = self.paths.sandbox_run_dir(sandbox_id)
        log_path = config.log_path
        if log_path and not os.path.isabs(log_path):
            log_path = os.path.join(sandbox_config.log_directory, log_path)
        pid_ns = self._pid_namespace(config.pid_target) if config.pid_target else ""
        try:
            await rootfs.mount_rootfs(config.image_layers, container_dir, bundle / "rootfs")
            oci = spec.build(
                container_id=container_id, config=config, sandbox=sandbox_config,
                sandbox_dir=self.paths.sandbox_dir(sandbox_id), ns_dir=sandbox_run / "ns",
                shm=sandbox_run / "shm", rootfs=bundle / "rootfs", pid_ns=pid_ns)
            write_json(bundle / "config.json", oci)
        except BaseException:
            rootfs.unmount_rootfs(bundle / "rootfs")
            shutil.rmtree(container_dir, ignore_errors=True)
            raise
        write_json(container_dir / "container.json", {
            "sandbox_id": sandbox_id, "config": encode(config), "created_at": time.time_ns(),
            "log_path": log_path})
        if log_path:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
        monitor = self._monitor(container_id)
        argv = monitor.argv(
            conmon=self.conmon, runc=self.runc, runc_root=self.paths.runc_root,
            container_id=container_id, log_path=log_path, tty=config.tty, stdin=config.stdin,
            stdin_once=config.stdin_once)
        try:
            self._created[container_id] = await monitor.start(argv)
        except MonitorError as e:
            self._created[container_id] = str(e)
        return container_id

    def _monitor(self, container_id: str) -> Monitor:
        monitor = self._monitors.get(container_id)
        if monitor is None:
            monitor = self._monitors[container_id] = Monitor(
                self.paths.bundle(container_id), self.paths.container_run_dir(container_id))
        return monitor

    async def start_container(self, container_id: ContainerId) -> None:
        self._container_record(container_id)
        status_file = self.paths.status_file(container_id)
        if status_file.exists():
            raise RunContainerError(f"container {container_id} was already started")
        monitor = self._monitor(container_id)
        created = self._created.pop(container_id, None)
        if created is None:  # created by an earlier kubelet: conmon wrote the init's pid
            try:
                created = int(monitor.init_pid_file.read_text().strip())
            except (OSError, ValueError):
                created = f"container {container_id} has no running monitor"
        if isinstance(created, str):
            self._start_failed(container_id, created)
            raise RunContainerError(created)
        pid = created
        started_at = time.time_ns()  # the process may well have exited once runc returns
        init_start = pidfd.start_time(pid)  # runc init until started: the same process
        started = await run(self.runc, "--root", str(self.paths.runc_root), "start",
                            container_id)
        if started.returncode != 0:
            await run(self.runc, "--root", str(self.paths.runc_root), "delete", "--force",
                      container_id)
            self._start_failed(container_id, started.error)
            raise RunContainerError(started.error)
        monitor_pid = monitor.pid()
        write_json(status_file, {"pid": pid, "init_start": init_start,
                                 "monitor_pid": monitor_pid,
                                 "monitor_start": pidfd.start_time(monitor_pid),
                                 "started_at": started_at})

    def _start_failed(self, container_id: str, message: str) -> None:
        """containerd's wording for a process that never started: StartError, 128."""
        write_json(self.paths.status_file(container_id), {
            "pid": 0, "monitor_pid": 0, "started_at": 0, "finished_at": time.time_ns(),
            "exit_code": 128, "reason": "StartError", "message": message})

    def _pid_namespace(self, target: str) -> str:
        """The PID namespace of the running container `target` (CRI's TARGET mode)."""
        state, status = self._state(target)
        if state != ContainerState.CONTAINER_RUNNING or not status.get("pid"):
            raise CreateContainerError(f"target container {target} is not running")
        return f"/proc/{status['pid']}/ns/pid"

    def _state(self, container_id: str) -> tuple[ContainerState, Obj]:
        """The container's state and its status record, completed from conmon's exit
        record once the init exited."""
        status = self._statuses.get(container_id) or \
            read_json(self.paths.status_file(container_id))
        if status is None:
            return ContainerState.CONTAINER_CREATED, {}
        self._statuses[container_id] = status
        if "finished_at" in status:
            return ContainerState.CONTAINER_EXITED, status
        monitor = self._monitor(container_id)
        exited = monitor.exit_code()
        if exited is not None:
            code, finished = exited
            reason = "OOMKilled" if monitor.oom_killed() else (
                "Completed" if code == 0 else "Error")
            return ContainerState.CONTAINER_EXITED, {
                **status, "finished_at": finished, "exit_code": code, "reason": reason,
                "message": ""}
        if self._monitor_alive(container_id, status) or _pid_alive(status["pid"]):
            return ContainerState.CONTAINER_RUNNING, status
        return ContainerState.CONTAINER_EXITED, {
            **status, "finished_at": 0, "exit_code": 255, "reason": "Unknown",
            "message": "the container's monitor exited before recording its exit"}

    def _monitor_alive(self, container_id: str, status: Obj) -> bool:
        """Whether the container's conmon runs, on a pidfd kept while it does (a status
        written before conmon's start time was recorded: by signal and /proc)."""
        if "monitor_start" not in status:
            return _pid_alive(status.get("monitor_pid", 0))
        fd = self._monitor_fds.get(container_id)
        if fd is None:
            fd = pidfd.open_checked(status["monitor_pid"], status["monitor_start"])
            if fd is None:
                return False
            self._monitor_fds[container_id] = fd
        if pidfd.exited(fd):
            self._forget_monitor(container_id)
            return False
        return True

    def _forget_monitor(self, container_id: str) -> None:
        self._monitors.pop(container_id, None)
        self._running.pop(container_id, None)
        fd = self._monitor_fds.pop(container_id, None)
        if fd is not None:
            os.close(fd)

    async def container_status(self, container_id: ContainerId) -> ContainerStatus:
        record, config = self._container(container_id)
        state, status = self._state(container_id)
        return ContainerStatus(
            id=container_id, sandbox_id=SandboxId(record["sandbox_id"]), name=config.name,
            attempt=config.attempt, state=state, created_at=record["created_at"],
            started_at=status.get("started_at", 0), finished_at=status.get("finished_at", 0),
            exit_code=status.get("exit_code", 0), image=config.image, image_ref=config.image,
            reason=status.get("reason", ""), message=status.get("message", ""),
            log_path=record["log_path"],
            pid=status.get("pid", 0) if state == ContainerState.CONTAINER_RUNNING else 0,
            labels=config.labels, annotations=config.annotations)

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]:
        """Every container (as the filter says). A running container whose conmon still
        runs (one poll for all of them) is listed as it was: nothing else of it can have
        changed; the others are looked at afresh."""
        f = filter or ContainerFilter()
        result = []
        exited = pidfd.exited_among(self._monitor_fds)
        for container_id in self.paths.container_dirs():
            if f.id and not container_id.startswith(f.id):
                continue
            cached = self._records.get(container_id)
            if cached is not None and (
                    (f.sandbox_id and cached[0]["sandbox_id"] != f.sandbox_id) or
                    not labels_match(cached[1].labels, f.label_selector)):
                # Other pods' containers are skipped on their (immutable) labels and
                # sandbox as read before, without a look at their files.
                continue
            listed = self._running.get(container_id)
            if listed is None or container_id in exited:
                try:
                    s = await self.container_status(ContainerId(container_id))
                except NotFoundError:
                    continue  # being created, or removed meanwhile
                listed = Container(
                    id=s.id, sandbox_id=s.sandbox_id, name=s.name, attempt=s.attempt,
                    image=s.image, state=s.state, created_at=s.created_at, labels=s.labels,
                    annotations=s.annotations)
                if s.state is ContainerState.CONTAINER_RUNNING and \
                        container_id in self._monitor_fds:
                    self._running[container_id] = listed
                else:
                    self._running.pop(container_id, None)
            if f.sandbox_id and listed.sandbox_id != f.sandbox_id:
                continue
            if (f.state is None or listed.state == f.state) and labels_match(
                    listed.labels, f.label_selector):
                result.append(listed)
        return result

    async def _kill(self, container_id: str, status: Obj, sig: str) -> None:
        """Signal the init as `runc kill` does (`pidfd`); a container started before its
        init's start time was recorded is signalled by `runc kill` itself."""
        if "init_start" not in status:
            # Fails once the init is gone (the container is stopped): as it should.
            await run(self.runc, "--root", str(self.paths.runc_root), "kill", container_id,
                      sig)
            return
        number = pidfd.parse_signal(sig)
        if number is not None:  # an unknown StopSignal is not sent, as runc refuses it
            pidfd.send(status["pid"], status["init_start"], number)

    async def _wait_exited(self, container_id: str, seconds: float) -> bool:
        """Whether conmon recorded the exit within `seconds`: it exits once it has, which
        its pidfd tells (a conmon gone without a record, or one whose start time was not
        recorded, is polled for)."""
        deadline = time.monotonic() + seconds
        watched = False
        while True:
            state, status = self._state(container_id)
            if state != ContainerState.CONTAINER_RUNNING:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            monitor = status.get("monitor_pid", 0)
            if not watched and "monitor_start" in status and _pid_alive(monitor):
                watched = True
                await pidfd.wait_exit(monitor, status["monitor_start"], left)
            else:
                await asyncio.sleep(min(left, POLL_SECONDS))

    async def stop_container(self, container_id: ContainerId,
                             timeout: float) -> None:  # noqa: ASYNC109 (CRI's name)
        """The image's StopSignal (SIGTERM by default), then SIGKILL after `timeout`."""
        record = self._container_record(container_id)
        state, status = self._state(container_id)
        if state != ContainerState.CONTAINER_RUNNING:
            return
        if timeout > 0:
            # A name ("SIGQUIT", "QUIT") or a number, as StopSignal may be.
            stop_signal = record["config"]["image_config"].get("StopSignal") or "SIGTERM"
            await self._kill(container_id, status, str(stop_signal))
            if await self._wait_exited(container_id, timeout):
                return
        await self._kill(container_id, status, "KILL")
        if not await self._wait_exited(container_id, KILL_WAIT_SECONDS):
            raise CRIError(f"container {container_id} did not exit after SIGKILL")

    async def reopen_container_log(self, container_id: ContainerId) -> None:
        """Have conmon reopen the log file (after the kubelet renamed it for rotation);
        returns once the new file exists. A container that is not running has no log to
        reopen: that is an error, and no new file is made (as the CRI requires)."""
        record = self._container_record(container_id)
        state, status = self._state(container_id)
        if state != ContainerState.CONTAINER_RUNNING or \
                not _pid_alive(status.get("monitor_pid", 0)):
            raise CRIError(f"container {container_id} is not running")
        log_path = Path(record["log_path"])
        try:
            self._monitor(container_id).control(REOPEN_LOGS_EVENT)
        except OSError as e:
            raise CRIError(f"container {container_id} is not running: {e}") from e
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while not log_path.exists():  # noqa: ASYNC240 (conmon has no way to answer)
            if time.monotonic() >= deadline:
                raise CRIError(f"container {container_id} did not reopen its log")
            await asyncio.sleep(POLL_SECONDS)

    async def remove_container(self, container_id: ContainerId) -> None:
        if read_json(self.paths.container_dir(container_id) / "container.json") is None:
            return
        await self.stop_container(container_id, 0)
        await run(self.runc, "--root", str(self.paths.runc_root), "delete", "--force",
                  container_id)
        try:
            await spawn.blocking(self._remove_files, container_id)
        except OSError as e:
            raise CRIError(f"failed to remove container {container_id}: {e}") from e
        self._records.pop(container_id, None)
        self._statuses.pop(container_id, None)
        self._forget_monitor(container_id)
        self._created.pop(container_id, None)

    def _remove_files(self, container_id: str) -> None:
        """The rootfs unmounted, the container's directories removed (blocking)."""
        rootfs.unmount_rootfs(self.paths.bundle(container_id) / "rootfs")
        shutil.rmtree(self.paths.container_run_dir(container_id), ignore_errors=True)
        shutil.rmtree(self.paths.container_dir(container_id), ignore_errors=True)

    # -- exec --------------------------------------------------------------------------

    def _exec_pid_file(self, container_id: str) -> Path:
        self._container_record(container_id)
        state, _ = self._state(container_id)
        if state != ContainerState.CONTAINER_RUNNING:
            raise CRIError(f"container {container_id} is not running")
        return self.paths.container_run_dir(container_id) / f"exec-{secrets.token_hex(8)}.pid"

    async def exec_sync(self, container_id: ContainerId, cmd: Sequence[str],
                        timeout: float) -> ExecResult:  # noqa: ASYNC109 (CRI's name)
        pid_file = self._exec_pid_file(container_id)
        return await runc_exec.exec_sync(self.runc, self.paths.runc_root, container_id,
                                         pid_file, cmd, timeout)

    async def exec(self, container_id: ContainerId, cmd: Sequence[str], *, tty: bool,
                   stdin: bool) -> ExecProcess:
        pid_file = self._exec_pid_file(container_id)
        return await runc_exec.RuncExecProcess.start(
            self.runc, self.paths.runc_root, container_id, pid_file, cmd, tty=tty,
            stdin=stdin)

    # -- attach ------------------------------------------------------------------------

    async def attach(self, container_id: ContainerId, *, tty: bool,
                     stdin: bool) -> ExecProcess:
        """Join the container's own stdio through conmon; the container's `tty` decides
        whether output is one stream, and `stdin` is honoured when it keeps a stdin."""
        config = self._container_record(container_id)["config"]
        state, _ = self._state(container_id)
        if state != ContainerState.CONTAINER_RUNNING:
            raise CRIError(f"container {container_id} is not running")

        async def exit_code() -> int:
            while True:
                state, status = self._state(container_id)
                if state != ContainerState.CONTAINER_RUNNING:
                    return int(status.get("exit_code", 255))
                await asyncio.sleep(POLL_SECONDS)

        try:
            return await AttachProcess.connect(
                self._monitor(container_id), exit_code, tty=bool(config["tty"]),
                stdin=stdin and bool(config["stdin"]))
        except OSError as e:
            raise CRIError(f"failed to attach to container {container_id}: {e}") from e
