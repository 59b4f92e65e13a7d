"""The runc runtime against real runc: sandboxes, containers, logs, limits, exec, adoption.

Every pod sandbox here has a new network namespace, so no traffic leaves it. The image is a
layer directory built from the host's static busybox. The fixture removes whatever a test
left behind (runc containers, mounts, namespaces, cgroups), even when the test failed.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kybernetes.kubelet.runtime.cri import (
    ContainerConfig,
    ContainerFilter,
    ContainerId,
    ContainerState,
    ContainerStatus,
    CreateContainerError,
    CRIError,
    DNSConfig,
    ExecProcess,
    ExecTimeoutError,
    Mount,
    Resources,
    RunContainerError,
    SandboxConfig,
    SandboxId,
    SandboxState,
    SecurityContext,
    resolve_command,
)
from kybernetes.kubelet.runtime.runc.proc import is_mountpoint
from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
from kybernetes.kubelet.runtime.runc.sandbox import cgroup_dirs, remove_cgroup

BUSYBOX = "/usr/bin/busybox"
HANG_GUARD = 30.0  # seconds before a wait is declared hung (not a speed requirement)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runc") is None or not os.path.exists(BUSYBOX),
    reason="needs root, runc and busybox-static")]

CRI_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) (F|P) (.*)$")


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer busybox image: /bin/busybox, its applets, /etc/passwd and /etc/group."""
    root = tmp_path_factory.mktemp("layer")
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    (root / "home").mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    shutil.copy(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\napp:x:1001:\n")
    return root


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(data dir, run dir, cgroup prefix), all torn down after the test whatever happened."""
    token = secrets.token_hex(4)
    run_dir = Path(f"/run/kyb-test-{token}")
    prefix = f"kyb-test-{token}"
    yield tmp_path / "data", run_dir, prefix
    runc_root = run_dir / "runc"
    if runc_root.exists():
        ids = subprocess.run(["runc", "--root", str(runc_root), "list", "-q"],
                             capture_output=True, text=True).stdout.split()
        for cid in ids:
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid],
                           capture_output=True)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in reversed(points):
        if point.startswith((str(run_dir), str(tmp_path))):
            subprocess.run(["umount", "-l", point], capture_output=True)
    remove_cgroup(prefix)
    shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def runtime(dirs: tuple[Path, Path, str]) -> AsyncIterator[RuncRuntime]:
    data_dir, run_dir, _ = dirs
    rt = RuncRuntime(data_dir, run_dir)
    yield rt
    for s in await rt.list_pod_sandboxes():
        await rt.remove_pod_sandbox(s.id)


@pytest.fixture
def pod(dirs: tuple[Path, Path, str], tmp_path: Path) -> SandboxConfig:
    uid = secrets.token_hex(8)
    return SandboxConfig(
        name="web-0", namespace="default", uid=uid, hostname="web-0",
        dns=DNSConfig(servers=("10.43.0.10",), searches=("default.svc.cluster.local",),
                      options=("ndots:5",)),
        cgroup_parent=f"{dirs[2]}/besteffort/pod{uid}", log_directory=str(tmp_path / "logs"),
        labels={"app": "web"})


def container(layer: Path, name: str, *cmd: str, **kw: object) -> ContainerConfig:
    return ContainerConfig(name=name, image="busybox:test", image_layers=(layer,),
                           command=tuple(cmd), log_path=f"{name}/0.log", **kw)  # type: ignore[arg-type]


async def wait_exited(rt: RuncRuntime, cid: ContainerId) -> ContainerStatus:
    async with asyncio.timeout(HANG_GUARD):
        while True:
            status = await rt.container_status(cid)
            if status.state == ContainerState.CONTAINER_EXITED:
                return status
            await asyncio.sleep(0.05)


async def wait_log(path: str, text: str) -> list[str]:
    async with asyncio.timeout(HANG_GUARD):
        while True:
            lines = log_lines(path)
            if any(text in line for line in lines):
                return lines
            await asyncio.sleep(0.05)


def log_lines(path: str) -> list[str]:
    """The log's messages ("stream tag message"), checking every line's CRI format."""
    try:
        raw = Path(path).read_bytes().decode().split("\n")[:-1]  # a tty's "\r" stays
    except FileNotFoundError:
        return []
    out = []
    for line in raw:
        m = CRI_LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        out.append(f"{m.group(3)} {m.group(4)} {m.group(5)}")
    return out


async def run_to_exit(rt: RuncRuntime, sid: SandboxId,
                      config: ContainerConfig) -> tuple[ContainerStatus, list[str]]:
    cid = await rt.create_container(sid, config)
    await rt.start_container(cid)
    status = await wait_exited(rt, cid)
    return status, log_lines(status.log_path)


async def read_all(read: object) -> bytes:
    chunks = []
    async with asyncio.timeout(HANG_GUARD):
        while chunk := await read():  # type: ignore[operator]
            chunks.append(chunk)
    return b"".join(chunks)


def test_resolve_command_follows_kubernetes_rules() -> None:
    image = {"Entrypoint": ["/ep"], "Cmd": ["c1"]}
    assert resolve_command(image, (), ()) == ["/ep", "c1"]
    assert resolve_command(image, (), ("a1",)) == ["/ep", "a1"]
    assert resolve_command(image, ("/cmd",), ()) == ["/cmd"]
    assert resolve_command(image, ("/cmd",), ("a1",)) == ["/cmd", "a1"]


async def test_container_exits_with_its_code_and_logs_in_cri_format(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    """Exit code and reason are the process's; stdout and stderr lines are in the log,
    including a last line without a newline and a line split into P parts."""
    sid = await runtime.run_pod_sandbox(pod)
    status, lines = await run_to_exit(runtime, sid, container(
        layer, "fails", "sh", "-c",
        "echo out; echo err >&2; head -c 20000 /dev/zero | tr '\\0' x; echo; "
        "printf tail; exit 3"))
    assert (status.state, status.exit_code, status.reason) == (
        ContainerState.CONTAINER_EXITED, 3, "Error")
    assert status.started_at >= status.created_at and status.finished_at >= status.started_at
    assert status.log_path == f"{pod.log_directory}/fails/0.log"
    assert "stdout F out" in lines and "stderr F err" in lines
    # conmon writes what each read of the pipe got: a long line comes in P parts, and so
    # does an unterminated last line (as CRI-O logs it).
    assert any(line.startswith("stdout P x") for line in lines)
    assert lines[-1] == "stdout P tail"
    stdout = "".join(line[len("stdout F "):] + ("\n" if line.startswith("stdout F") else "")
                     for line in lines if line.startswith("stdout"))
    assert stdout == "out\n" + "x" * 20000 + "\ntail"

    status, lines = await run_to_exit(runtime, sid, container(layer, "ok", "true"))
    assert (status.exit_code, status.reason, lines) == (0, "Completed", [])


async def test_containers_of_a_pod_share_net_ipc_uts_not_pid(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    # the server's stdin stays open: busybox nc half-closes the connection when its
    # stdin ends, and a client seeing that first would exit before sending its line
    server = await runtime.create_container(sid, container(
        layer, "server", "sh", "-c", "sleep 3600 | nc -l -p 8080"))
    await runtime.start_container(server)
    client_cfg = container(layer, "client", "sh", "-c",
                           "until echo ping | nc localhost 8080; do sleep 0.1; done")
    client = await runtime.create_container(sid, client_cfg)
    await runtime.start_container(client)
    assert (await wait_exited(runtime, client)).exit_code == 0
    server_log = (await runtime.container_status(server)).log_path
    assert await wait_log(server_log, "ping") == ["stdout F ping"]

    a = await runtime.create_container(sid, container(layer, "a", "sleep", "3600"))
    b = await runtime.create_container(sid, container(layer, "b", "sleep", "3600"))
    await runtime.start_container(a)
    await runtime.start_container(b)
    probe = "for ns in net ipc uts pid; do readlink /proc/self/ns/$ns; done"
    in_a = (await runtime.exec_sync(a, ["sh", "-c", probe], 10)).stdout.decode().split()
    in_b = (await runtime.exec_sync(b, ["sh", "-c", probe], 10)).stdout.decode().split()
    assert in_a[:3] == in_b[:3] and in_a[3] != in_b[3]
    host = [os.readlink(f"/proc/self/ns/{ns}") for ns in ("net", "ipc", "uts")]
    assert all(x != y for x, y in zip(in_a[:3], host, strict=True))
    assert in_a[:3] == [os.readlink(f"/proc/{(await runtime.container_status(a)).pid}"
                                    f"/ns/{ns}") for ns in ("net", "ipc", "uts")]
    shm = await runtime.exec_sync(a, ["sh", "-c", "echo shared > /dev/shm/x"], 10)
    assert shm.exit_code == 0
    assert (await runtime.exec_sync(b, ["cat", "/dev/shm/x"], 10)).stdout == b"shared\n"
    hostname = await runtime.exec_sync(b, ["sh", "-c", "hostname; cat /etc/resolv.conf"], 10)
    assert hostname.stdout.decode().splitlines() == [
        "web-0", "nameserver 10.43.0.10", "search default.svc.cluster.local",
        "options ndots:5"]


async def test_process_settings_are_applied(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path, tmp_path: Path) -> None:
    """Image Env/Cmd/WorkingDir/User, overridden by the container's env, args, workingDir,
    runAsUser/runAsGroup; a read-only rootfs; a volume bind mount."""
    volume = tmp_path / "vol"
    volume.mkdir()
    volume.chmod(0o777)
    (volume / "data").write_text("from volume\n")
    sid = await runtime.run_pod_sandbox(pod)
    script = ("echo $FOO $BAR $HOSTNAME; pwd; id -u; id -g; cat /data/data; "
              "touch /data/new && echo vol-rw")
    image_config = {"Env": ["FOO=image", "BAR=image"], "Cmd": ["sh", "-c", "exit 9"],
                    "WorkingDir": "/etc", "User": "app"}
    config = ContainerConfig(
        name="settings", image="busybox:test", image_layers=(layer,), image_config=image_config,
        args=("sh", "-c", script), env=(("FOO", "pod"),), working_dir="/home",
        mounts=(Mount("/data", str(volume)),), log_path="settings/0.log")
    status, lines = await run_to_exit(runtime, sid, config)
    assert status.exit_code == 0, lines
    assert lines == ["stdout F pod image web-0", "stdout F /home", "stdout F 1000",
                     "stdout F 1001", "stdout F from volume", "stdout F vol-rw"]

    config = ContainerConfig(
        name="as-user", image="busybox:test", image_layers=(layer,), image_config=image_config,
        command=("sh", "-c", "id -u; id -g; pwd"),
        security=SecurityContext(run_as_user=4242, run_as_group=4343),
        log_path="as-user/0.log")
    status, lines = await run_to_exit(runtime, sid, config)
    assert lines == ["stdout F 4242", "stdout F 4343", "stdout F /etc"]

    for readonly, expected in ((False, "stdout F written"), (True, "stdout F read-only")):
        _, lines = await run_to_exit(runtime, sid, container(
            layer, f"ro-{readonly}", "sh", "-c",
            "touch /file 2>/dev/null && echo written || echo read-only",
            security=SecurityContext(readonly_rootfs=readonly)))
        assert lines == [expected]


async def test_tty_container_logs_its_terminal_output(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    _, lines = await run_to_exit(runtime, sid, container(
        layer, "tty", "sh", "-c", "tty; echo hi", tty=True))
    assert lines == ["stdout F /dev/pts/0\r", "stdout F hi\r"]


async def test_capabilities_default_add_and_drop(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    read_caps = ("sh", "-c", "grep CapEff /proc/self/status")
    _, lines = await run_to_exit(runtime, sid, container(layer, "default", *read_caps))
    assert lines == ["stdout F CapEff:\t00000000a80425fb"]  # containerd's default set
    _, lines = await run_to_exit(runtime, sid, container(
        layer, "tuned", *read_caps, security=SecurityContext(
            capabilities_add=("NET_ADMIN",), capabilities_drop=("ALL",))))
    assert lines == ["stdout F CapEff:\t0000000000001000"]
    _, lines = await run_to_exit(runtime, sid, container(
        layer, "privileged", *read_caps, security=SecurityContext(privileged=True)))
    with open("/proc/self/status") as f:  # noqa: ASYNC230 (procfs)
        ours = next(line for line in f if line.startswith("CapBnd:")).split()[1]
    assert lines == [f"stdout F CapEff:\t{ours}"]  # all we have


async def test_memory_limit_exceeded_is_oomkilled(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    status, _ = await run_to_exit(runtime, sid, container(
        layer, "hog", "sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done",
        resources=Resources(memory_limit_bytes=16 * 1024 * 1024)))
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_pids_limit(runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    _, lines = await run_to_exit(runtime, sid, container(
        layer, "forker", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 60 & done; echo started",
        resources=Resources(pids_limit=4)))
    assert "fork" in "".join(line for line in lines if line.startswith("stderr")), lines


async def test_a_listing_sees_an_exit_it_was_not_told_of(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    """A running container is listed as before while its conmon runs; once the container
    dies (killed here behind the runtime's back), the next listings say so."""
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    for _ in range(2):
        [listed] = await runtime.list_containers(ContainerFilter(sandbox_id=sid))
        assert (listed.id, listed.state) == (cid, ContainerState.CONTAINER_RUNNING)
    os.kill((await runtime.container_status(cid)).pid, signal.SIGKILL)
    async with asyncio.timeout(HANG_GUARD):
        while listed.state is ContainerState.CONTAINER_RUNNING:
            await asyncio.sleep(0.05)
            [listed] = await runtime.list_containers()
    assert listed.state is ContainerState.CONTAINER_EXITED
    assert (await runtime.container_status(cid)).exit_code == 137


async def test_stop_sends_sigterm_then_sigkill(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    polite = await runtime.create_container(sid, container(
        layer, "polite", "sh", "-c",
        "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"))
    await runtime.start_container(polite)
    log = (await runtime.container_status(polite)).log_path
    await wait_log(log, "ready")
    await runtime.stop_container(polite, 20)
    status = await runtime.container_status(polite)
    assert (status.state, status.exit_code) == (ContainerState.CONTAINER_EXITED, 7)
    assert log_lines(log) == ["stdout F ready", "stdout F got TERM"]

    # The image's StopSignal replaces SIGTERM.
    quitter = await runtime.create_container(sid, container(
        layer, "quitter", "sh", "-c",
        "trap 'echo got QUIT; exit 8' QUIT; echo ready; while :; do sleep 0.1; done",
        image_config={"StopSignal": "SIGQUIT"}))
    await runtime.start_container(quitter)
    log = (await runtime.container_status(quitter)).log_path
    await wait_log(log, "ready")
    await runtime.stop_container(quitter, 20)
    assert (await runtime.container_status(quitter)).exit_code == 8
    assert log_lines(log) == ["stdout F ready", "stdout F got QUIT"]

    # As a pid namespace's init without a handler, sleep ignores SIGTERM: SIGKILL ends it.
    stubborn = await runtime.create_container(sid, container(layer, "stubborn", "sleep", "3600"))
    await runtime.start_container(stubborn)
    await runtime.stop_container(stubborn, 0.5)
    status = await runtime.container_status(stubborn)
    assert (status.state, status.exit_code, status.reason) == (
        ContainerState.CONTAINER_EXITED, 137, "Error")


async def test_exec_sync(runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    ok = await runtime.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2"], 10)
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, b"out\n", b"err\n")
    assert (await runtime.exec_sync(cid, ["sh", "-c", "exit 5"], 10)).exit_code == 5
    assert (await runtime.exec_sync(cid, ["sh", "-c", "exit 255"], 10)).exit_code == 255
    with pytest.raises(CRIError, match='exec: "nosuch": executable file not found in'):
        await runtime.exec_sync(cid, ["nosuch"], 10)
    with pytest.raises(ExecTimeoutError):
        await runtime.exec_sync(cid, ["sleep", "3600"], 0.5)
    # The timed-out process is killed: only the container's own sleep is left (a zombie's
    # cmdline is empty).
    cmdlines = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done"
    async with asyncio.timeout(HANG_GUARD):
        while True:
            ps = await runtime.exec_sync(cid, ["sh", "-c", cmdlines], 10)
            if ps.stdout.count(b"sleep 3600") == 1:
                break
            await asyncio.sleep(0.05)


async def test_streaming_exec_with_stdin(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    proc: ExecProcess = await runtime.exec(
        cid, ["sh", "-c", "cat; echo bye >&2; exit 4"], tty=False, stdin=True)
    await proc.write_stdin(b"hello\n")
    await proc.close_stdin()
    out, err = await asyncio.gather(read_all(proc.read_stdout), read_all(proc.read_stderr))
    assert (out, err, await proc.wait()) == (b"hello\n", b"bye\n", 4)


async def test_streaming_exec_of_a_missing_command_fails(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    proc = await runtime.exec(cid, ["nosuch"], tty=False, stdin=False)
    await read_all(proc.read_stdout)
    with pytest.raises(CRIError, match='exec: "nosuch": executable file not found'):
        await proc.wait()


async def test_streaming_exec_with_tty(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    proc = await runtime.exec(cid, ["sh"], tty=True, stdin=True)
    assert proc.tty
    proc.resize(100, 40)
    # runc copies the size to the container's terminal once its process runs (its first
    # resize, or the SIGWINCH after): the shell may get there first on a loaded machine.
    await proc.write_stdin(b"tty; for i in $(seq 50); do [ \"$(stty size)\" = '40 100' ] "
                           b"&& break; sleep 0.1; done; stty size; exit 3\n")
    out = await read_all(proc.read_stdout)
    assert await proc.wait() == 3
    # stty's own line, not the terminal's echo of the command
    assert b"/dev/pts/" in out and b"\n40 100\r\n" in out


async def read_until(read: object, marker: bytes) -> bytes:
    got = b""
    async with asyncio.timeout(HANG_GUARD):
        while marker not in got:
            chunk = await read()  # type: ignore[operator]
            assert chunk, f"end of output before {marker!r}; read {got!r}"
            got += chunk
    return got


async def test_attach_with_stdin_once(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    """The container's own stdio: output of both streams, input while attached; the
    first client's end of input closes the container's stdin (StdinOnce)."""
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "app", "sh", "-c", "while read l; do echo got $l; done; echo bye >&2; exit 4",
        stdin=True, stdin_once=True))
    await runtime.start_container(cid)
    proc = await runtime.attach(cid, tty=False, stdin=True)
    assert not proc.tty
    await proc.write_stdin(b"one\n")
    assert await read_until(proc.read_stdout, b"got one\n") == b"got one\n"
    await proc.close_stdin()
    out, err = await asyncio.gather(read_all(proc.read_stdout), read_all(proc.read_stderr))
    assert (out, err, await proc.wait()) == (b"", b"bye\n", 4)
    assert log_lines((await runtime.container_status(cid)).log_path) == [
        "stdout F got one", "stderr F bye"]


async def test_detaching_leaves_the_container_and_its_stdin_open(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "app", "sh", "-c", "while read l; do echo got $l; done", stdin=True))
    await runtime.start_container(cid)
    first = await runtime.attach(cid, tty=False, stdin=True)
    await first.write_stdin(b"one\n")
    await read_until(first.read_stdout, b"got one")
    first.detach()
    second = await runtime.attach(cid, tty=False, stdin=True)
    await second.write_stdin(b"two\n")
    await read_until(second.read_stdout, b"got two")
    second.detach()
    assert (await runtime.container_status(cid)).state == ContainerState.CONTAINER_RUNNING


async def test_attach_to_a_tty_container(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "app", "sh", tty=True, stdin=True, stdin_once=True))
    await runtime.start_container(cid)
    proc = await runtime.attach(cid, tty=True, stdin=True)
    assert proc.tty
    proc.resize(100, 40)
    await proc.write_stdin(b"stty size; exit 3\n")
    out = await read_all(proc.read_stdout)
    assert await proc.wait() == 3
    assert b"40 100" in out


async def test_attach_to_a_stopped_container_fails(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    status, _ = await run_to_exit(runtime, sid, container(layer, "app", "true"))
    with pytest.raises(CRIError, match="is not running"):
        await runtime.attach(status.id, tty=False, stdin=False)


async def test_a_new_runtime_adopts_running_containers(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path,
        dirs: tuple[Path, Path, str]) -> None:
    """A kubelet process creates a pod and exits; a new runtime over the same directories
    finds the sandbox and the container still running, same pid, logs still growing."""
    data_dir, run_dir, _ = dirs
    kubelet = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from kybernetes.kubelet.runtime.cri import ContainerConfig, SandboxConfig
        from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
        async def main():
            rt = RuncRuntime(Path({str(data_dir)!r}), Path({str(run_dir)!r}))
            sid = await rt.run_pod_sandbox(SandboxConfig(
                name="web-0", namespace="default", uid={pod.uid!r},
                cgroup_parent={pod.cgroup_parent!r}, log_directory={pod.log_directory!r}))
            cid = await rt.create_container(sid, ContainerConfig(
                name="ticker", image="busybox:test", image_layers=(Path({str(layer)!r}),),
                command=("sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done"),
                log_path="ticker/0.log"))
            await rt.start_container(cid)
            print(sid, cid)
        asyncio.run(main())
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", kubelet,
                                                stdout=asyncio.subprocess.PIPE)
    async with asyncio.timeout(HANG_GUARD):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    first, second = out.decode().split()
    sid, cid = SandboxId(first), ContainerId(second)

    adopted = RuncRuntime(data_dir, run_dir)
    assert [s.id for s in await adopted.list_pod_sandboxes()] == [sid]
    assert (await adopted.pod_sandbox_status(sid)).state == SandboxState.SANDBOX_READY
    [listed] = await adopted.list_containers(ContainerFilter(sandbox_id=sid))
    assert (listed.id, listed.state) == (cid, ContainerState.CONTAINER_RUNNING)
    status = await adopted.container_status(cid)
    assert status.pid > 0
    with open(f"/proc/{status.pid}/cmdline", "rb") as f:  # noqa: ASYNC230 (procfs)
        assert f.read().startswith(b"sh\0-c")
    seen = len(log_lines(status.log_path))
    await wait_log(status.log_path, f"tick {seen + 2}")
    assert (await RuncRuntime(data_dir, run_dir).container_status(cid)).pid == status.pid

    await adopted.stop_container(cid, 5)
    assert (await adopted.container_status(cid)).state == ContainerState.CONTAINER_EXITED


async def test_reopen_container_log_after_rotation(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    """The kubelet renames the log and asks for it to be reopened: older lines stay in the
    renamed file, newer ones go to a new file at the log path."""
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "ticker", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"))
    await runtime.start_container(cid)
    log = (await runtime.container_status(cid)).log_path
    await wait_log(log, "tick 1")
    os.rename(log, log + ".1")
    await runtime.reopen_container_log(cid)
    await wait_log(log, "tick")
    old, new = log_lines(log + ".1"), log_lines(log)
    last_old, first_new = int(old[-1].split()[-1]), int(new[0].split()[-1])
    assert old[0] == "stdout F tick 0" and first_new == last_old + 1

    await runtime.stop_container(cid, 0)
    with pytest.raises(CRIError):
        await runtime.reopen_container_log(cid)


async def test_missing_command_is_a_run_container_error(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(layer, "broken", "nosuch"))
    with pytest.raises(RunContainerError) as err:
        await runtime.start_container(cid)
    assert 'exec: "nosuch": executable file not found in $PATH' in str(err.value)
    status = await runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (
        ContainerState.CONTAINER_EXITED, 128, "StartError")
    assert 'exec: "nosuch"' in status.message


async def test_missing_layer_is_a_create_container_error(
        runtime: RuncRuntime, pod: SandboxConfig, tmp_path: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    with pytest.raises(CreateContainerError, match="does not exist"):
        await runtime.create_container(sid, container(tmp_path / "gone", "c", "true"))
    assert await runtime.list_containers() == []


async def test_sandbox_lifecycle_releases_everything(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    netns = runtime.sandbox_netns_path(sid)
    assert is_mountpoint(netns)
    assert all(d.is_dir() for d in cgroup_dirs(pod.cgroup_parent))
    [listed] = await runtime.list_pod_sandboxes()
    assert (listed.id, listed.labels, listed.netns_path) == (sid, {"app": "web"}, netns)
    cid = await runtime.create_container(sid, container(layer, "app", "sleep", "3600"))
    await runtime.start_container(cid)
    rootfs = runtime.paths.bundle(cid) / "rootfs"
    assert is_mountpoint(str(rootfs))

    await runtime.stop_pod_sandbox(sid)
    assert (await runtime.pod_sandbox_status(sid)).state == SandboxState.SANDBOX_NOTREADY
    assert (await runtime.container_status(cid)).state == ContainerState.CONTAINER_EXITED
    await runtime.remove_pod_sandbox(sid)
    assert await runtime.list_pod_sandboxes() == [] and await runtime.list_containers() == []
    assert not is_mountpoint(netns) and not is_mountpoint(str(rootfs))
    assert not any(d.exists() for d in cgroup_dirs(pod.cgroup_parent))


async def test_host_network_sandbox_uses_host_netns(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path) -> None:
    sid = await runtime.run_pod_sandbox(SandboxConfig(
        name="host", namespace="default", uid=pod.uid, host_network=True,
        cgroup_parent=pod.cgroup_parent, log_directory=pod.log_directory))
    assert runtime.sandbox_netns_path(sid) == ""
    _, lines = await run_to_exit(runtime, sid, container(
        layer, "net", "readlink", "/proc/self/ns/net"))
    assert lines == [f"stdout F {os.readlink('/proc/self/ns/net')}"]
