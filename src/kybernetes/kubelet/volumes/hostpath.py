"""hostPath type checks (upstream pkg/volume/hostpath/host_path.go `checkType`).

`DirectoryOrCreate` makes the directory (0755, parents too) and `FileOrCreate` the file
(0644, parent must exist) when missing; the others only check what is there, following
symlinks. An unset or empty type checks nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_CHECKS = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


class HostPathError(ValueError):
    """A failed type check; the message is upstream's."""


def check_type(path: str, path_type: str | None) -> None:
    """Check (and for the ...OrCreate types make) `path`; raises HostPathError."""
    if not path_type:
        return
    target = Path(path)
    if path_type == "DirectoryOrCreate":
        if not os.path.lexists(target):
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            return
        path_type = "Directory"
    elif path_type == "FileOrCreate":
        if not os.path.lexists(target):
            try:
                fd = os.open(target, os.O_CREAT | os.O_RDONLY, 0o644)
            except OSError as err:
                raise HostPathError(f"open {path}: {(err.strerror or str(err)).lower()}") from err
            os.close(fd)
            return
        path_type = "File"
    check = _CHECKS.get(path_type)
    if check is None:
        raise HostPathError(f"{path_type} is an invalid volume type")
    is_type, wording = check
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = 0
    if not is_type(mode):
        raise HostPathError(f"hostPath type check failed: {path} {wording}")
