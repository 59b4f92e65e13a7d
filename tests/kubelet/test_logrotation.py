"""Container log rotation: size threshold, renaming, reopening, pruning and compression."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kybernetes.kubelet.logrotation import ContainerLogManager, rotated_logs
from kybernetes.kubelet.runtime.cri import (
    ContainerConfig,
    ContainerId,
    CRIError,
    SandboxConfig,
)
from tests.kubelet.fakes import FakeRuntime


class ReopeningRuntime(FakeRuntime):
    """Reopening a log makes a fresh file at its path, as conmon does."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False

    async def reopen_container_log(self, container_id: ContainerId) -> None:
        if self.refuse:
            raise CRIError("monitor gone")
        Path(self.containers[container_id].status.log_path).write_text("")  # noqa: ASYNC240


async def running_container(runtime: ReopeningRuntime, log: Path) -> ContainerId:
    sandbox = await runtime.run_pod_sandbox(SandboxConfig(name="p", namespace="n", uid="u"))
    cid = await runtime.create_container(sandbox, ContainerConfig(
        name="app", image="busybox", image_layers=(), command=("sleep",), log_path=str(log)))
    await runtime.start_container(cid)
    return cid


async def test_a_log_over_the_limit_is_rotated_and_reopened(tmp_path: Path) -> None:
    runtime = ReopeningRuntime()
    log = tmp_path / "0.log"
    log.write_text("x" * 200)
    await running_container(runtime, log)
    manager = ContainerLogManager(runtime, max_size=100, max_files=3)
    await manager.rotate_all()
    (rotated,) = rotated_logs(log)
    assert rotated.read_text() == "x" * 200
    assert log.read_text() == ""  # the container's fresh log
    await manager.rotate_all()  # under the limit now: nothing happens
    assert rotated_logs(log) == [rotated]


async def test_old_logs_are_compressed_and_pruned(tmp_path: Path) -> None:
    runtime = ReopeningRuntime()
    log = tmp_path / "0.log"
    cid = await running_container(runtime, log)
    for i, stamp in enumerate(("20260101-000001", "20260101-000002", "20260101-000003")):
        (tmp_path / f"0.log.{stamp}").write_text(f"old {i}\n")
    log.write_text("y" * 50)
    manager = ContainerLogManager(runtime, max_size=10, max_files=3)
    await manager.rotate(cid, log)
    kept = rotated_logs(log)
    # max_files 3 = the live log + 2 rotated: the newest old one (compressed) and this one.
    assert len(kept) == 2
    assert kept[0].name == "0.log.20260101-000003.gz"
    assert gzip.decompress(kept[0].read_bytes()) == b"old 2\n"
    assert kept[1].read_text() == "y" * 50


async def test_a_failed_reopen_undoes_the_rename(tmp_path: Path) -> None:
    runtime = ReopeningRuntime()
    log = tmp_path / "0.log"
    cid = await running_container(runtime, log)
    log.write_text("z" * 50)
    runtime.refuse = True
    with pytest.raises(CRIError):
        await ContainerLogManager(runtime, max_size=10).rotate(cid, log)
    assert log.read_text() == "z" * 50 and rotated_logs(log) == []
