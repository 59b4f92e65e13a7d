"""Running the host tools the runtime drives (runc), asynchronously, and unmounting (a
blocking call: run it in `spawn.blocking`)."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from kybernetes.kubelet import spawn, syscalls


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """What went wrong, in the tool's own words."""
        return (self.stderr.strip() or self.stdout.strip()
                or f"exited with status {self.returncode}")


async def run(*argv: str) -> Result:
    done = await spawn.run(argv)
    return Result(done.returncode, done.stdout.decode(errors="replace"),
                  done.stderr.decode(errors="replace"))


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted exactly at `path` (from /proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def umount(path: str) -> None:
    """Lazily unmount everything stacked at `path` (umount2, no process, and no reading of
    the node's whole mount table); nothing mounted, or no such path, is fine."""
    while True:
        try:
            syscalls.umount(path)
        except OSError as err:
            if err.errno in (errno.EINVAL, errno.ENOENT):  # not (or no longer) a mount point
                return
            raise
