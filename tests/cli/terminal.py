"""Running a command with its standard output on a pseudo-terminal, as a user at a shell
would: what it wrote there (with the terminal's `\r\n` turned back into `\n`)."""

from __future__ import annotations

import os
import pty
import subprocess

# What a progress line starts with when it rewrites itself: carriage return, erase line.
ERASE = "\r\x1b[K"


def run_on_terminal(command: list[str], timeout: float = 60) -> str:
    """Run `command` with stdout on a terminal; its output. Fails if it exits non-zero."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, stdout=secondary, stderr=subprocess.PIPE)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the command closed its end
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert process.wait(timeout) == 0, process.stderr.read() if process.stderr else ""
    return output.decode().replace("\r\n", "\n")
