"""Running the host tools the runtime drives (runc, mount, umount, nsenter), asynchronously."""

from __future__ import annotations

from dataclasses import dataclass

from kybernetes.kubelet import spawn


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


async def check(*argv: str) -> Result:
    """Run and raise `OSError` with the tool's message when it fails."""
    result = await run(*argv)
    if result.returncode != 0:
        raise OSError(f"{argv[0]}: {result.error}")
    return result


def is_mountpoint(path: str) -> bool:
    """Whether something is mounted exactly at `path` (from /proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


async def umount(path: str) -> None:
    """Lazily unmount everything stacked at `path`; nothing mounted is fine."""
    while is_mountpoint(path):
        await check("umount", "-l", path)
