"""A container's root filesystem: its image's layers stacked read-only by overlayfs, with a
writable upper layer of its own.

The unpacked layer directories belong to the image store and are shared by every container
of the image, read-only (overlayfs never writes to a lowerdir); each container gets
`upper/` and `work/` in its own directory, dropped with it. overlayfs wants the lowerdirs
topmost first, the opposite of the image manifest's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kybernetes.kubelet import syscalls
from kybernetes.kubelet.runtime.cri import CreateContainerError
from kybernetes.kubelet.runtime.runc.proc import umount


def lowerdir_option(layers: Sequence[Path]) -> str:
    """The `lowerdir=` value for layers given lowest first; raises `CreateContainerError`
    when a layer is missing (the image store lost it or never unpacked it)."""
    if not layers:
        raise CreateContainerError("image has no layers")
    for layer in layers:
        if not layer.is_dir():
            raise CreateContainerError(f"image layer {layer} does not exist")
        if ":" in str(layer) or "," in str(layer):
            raise CreateContainerError(f"image layer path {layer} cannot be used by overlayfs")
    return ":".join(str(layer) for layer in reversed(layers))


async def mount_rootfs(layers: Sequence[Path], container_dir: Path, target: Path) -> None:
    lower = lowerdir_option(layers)
    upper, work = container_dir / "upper", container_dir / "work"
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    try:
        syscalls.mount("overlay", str(target), "overlay",
                       data=f"lowerdir={lower},upperdir={upper},workdir={work}")
    except OSError as e:
        raise CreateContainerError(f"failed to mount rootfs: {e}") from e


def unmount_rootfs(target: Path) -> None:
    """Blocking (umount2): called in `spawn.blocking`."""
    umount(str(target))
