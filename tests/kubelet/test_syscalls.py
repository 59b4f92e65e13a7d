"""The node's mounts and namespaces made by system calls (kubelet/syscalls.py), checked
with the host's own tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kybernetes.kubelet import syscalls
from kybernetes.kubelet.runtime.runc.proc import is_mountpoint, umount

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def mount_line(target: Path) -> str:
    """The topmost mount on `target`, from /proc/self/mounts."""
    return next(line for line in Path("/proc/self/mounts").read_text().splitlines()[::-1]
                if f" {target} " in line)


def nsenter(*argv: str) -> str:
    return subprocess.run(["nsenter", *argv], check=True, capture_output=True,
                          text=True).stdout


async def test_pinned_namespaces_outlive_their_thread(tmp_path: Path) -> None:
    files = [(ns, tmp_path / ns) for ns in ("net", "ipc", "uts")]
    await syscalls.pin_namespaces(files, "web-0")
    try:
        for _, path in files:
            assert is_mountpoint(str(path))
        net, uts = str(tmp_path / "net"), str(tmp_path / "uts")
        assert nsenter(f"--uts={uts}", "hostname").strip() == "web-0"
        assert nsenter(f"--uts={uts}", "hostname").strip() != os.uname().nodename
        assert ",UP," in nsenter(f"--net={net}", "ip", "-o", "link", "show", "lo")
        assert "inet 127.0.0.1/8" in nsenter(f"--net={net}", "ip", "-o", "addr", "show", "lo")
        own = os.stat("/proc/self/ns/net").st_ino
        assert os.stat(net).st_ino != own  # the pinned one is new; ours is unchanged
        assert os.stat("/proc/self/ns/net").st_ino == own
    finally:
        for _, path in files:
            umount(str(path))
    assert not any(is_mountpoint(str(path)) for _, path in files)


async def test_only_ipc_for_the_host_network(tmp_path: Path) -> None:
    await syscalls.pin_namespaces([("ipc", tmp_path / "ipc")])
    try:
        assert os.stat(tmp_path / "ipc").st_ino != os.stat("/proc/self/ns/ipc").st_ino
    finally:
        umount(str(tmp_path / "ipc"))


async def test_tmpfs_mount_and_stacked_unmount(tmp_path: Path) -> None:
    target = tmp_path / "shm"
    target.mkdir()
    for size in ("1m", "2m"):  # two mounts stacked on the same path
        syscalls.mount("shm", str(target), "tmpfs",
                       syscalls.MS_NOSUID | syscalls.MS_NODEV, f"mode=1777,size={size}")
    assert "size=2048k" in mount_line(target)
    umount(str(target))
    assert not is_mountpoint(str(target))
    umount(str(target))  # nothing mounted: fine
    umount(str(tmp_path / "missing"))


def test_a_failed_mount_says_why(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="mount: No such file or directory") as raised:
        syscalls.mount("overlay", str(tmp_path / "missing"), "overlay",
                       data=f"lowerdir={tmp_path}")
    assert raised.value.filename == str(tmp_path / "missing")
