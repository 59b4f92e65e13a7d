"""Container log files in the CRI format: reading them as `kubectl logs` asks, and writing them.

A runtime writes each container's stdout and stderr to one file, a line per record
(`k8s.io/cri-api` "CRI logging format"):

    2016-10-06T00:17:09.669794202Z stdout F a whole line
    2016-10-06T00:17:09.669794203Z stderr P the start of a long line, continued by
    2016-10-06T00:17:09.669794204Z stderr F the next record

`F` ends a logical line (the reader adds the newline), `P` is a fragment joined with what
follows. Files live at `<log root>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`
(`container_log_file`); `--previous` reads the file of the terminated instance, which the
kubelet finds through that instance's container id.

`read_logs` follows upstream's `pkg/kubelet/kuberuntime/logs/logs.go`:

- `tail_lines` counts the file's raw records from its end (as `tail.FindTailLineStartIndex`),
  0 meaning nothing and None everything;
- `since` drops records stamped before it;
- `timestamps` prefixes each logical line with its stamp in the fixed 9-digit form
  (`2006-01-02T15:04:05.000000000Z`); a record continuing a `P` fragment gets none;
- `limit_bytes` ends the stream once that many bytes were produced (mid-line if needs be);
- `follow` keeps reading as the file grows (polling: no inotify, so it works on any
  filesystem and in any container), switches to the new file when the runtime reopened a
  rotated one (the path names another inode), and ends once the container is no longer
  running and the file is read to its end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from kybernetes.api import timeutil

STDOUT = "stdout"
STDERR = "stderr"
_FULL = b"F"
_PARTIAL = b"P"
_BLOCK = 64 * 1024
# Bytes read at a time while streaming; a chunk handed to the client is at most this.
_READ_SIZE = 32 * 1024


class LogFormatError(ValueError):
    """A line that is not a CRI log record."""


def container_log_file(log_root: Path, namespace: str, pod: str, uid: str, container: str,
                       restart_count: int) -> Path:
    """Where the runtime writes this instance's log, as upstream's kubelet lays it out."""
    return log_root / f"{namespace}_{pod}_{uid}" / container / f"{restart_count}.log"


@dataclass(frozen=True)
class LogOptions:
    """What `PodLogOptions` asks of one container's log (the kubelet's query parameters)."""

    tail_lines: int | None = None
    since: datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    follow: bool = False
    # How often a follow looks for more lines and for rotation.
    poll_interval: float = 0.2


@dataclass(frozen=True)
class Record:
    timestamp: int  # nanoseconds since the epoch
    stream: str
    partial: bool
    content: bytes  # without the newline a full record implies


def parse_record(line: bytes) -> Record:
    """One record, without its trailing newline."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        raise LogFormatError(f"invalid CRI log line {line[:80]!r}")
    stamp, stream, tag = parts[0], parts[1].decode("latin-1"), parts[2]
    if stream not in (STDOUT, STDERR) or tag not in (_FULL, _PARTIAL):
        raise LogFormatError(f"invalid CRI log line {line[:80]!r}")
    return Record(parse_timestamp(stamp.decode("latin-1")), stream, tag == _PARTIAL,
                  parts[3] if len(parts) == 4 else b"")


def parse_timestamp(text: str) -> int:
    """RFC 3339 with up to nine fractional digits, to nanoseconds since the epoch."""
    head, dot, rest = text.partition(".")
    digits = ""
    zone = rest
    if dot:
        end = next((i for i, c in enumerate(rest) if not c.isdigit()), len(rest))
        digits, zone = rest[:end], rest[end:]
    try:
        whole = datetime.fromisoformat(head + (zone if zone != "Z" else "+00:00"))
    except ValueError as err:
        raise LogFormatError(f"invalid timestamp {text!r}") from err
    if whole.tzinfo is None or len(digits) > 9:
        raise LogFormatError(f"invalid timestamp {text!r}")
    return int(whole.timestamp()) * 1_000_000_000 + int((digits or "0").ljust(9, "0"))


def format_timestamp(nanos: int) -> str:
    """The fixed-width RFC 3339 form upstream prints (`RFC3339NanoFixed`, in UTC)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{fraction:09d}Z"


def _nanos(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def tail_start(f: BinaryIO, lines: int | None) -> int:
    """The offset of the first of the last `lines` records (0 for None: everything)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    if lines is None or lines < 0:
        return 0
    if lines == 0:
        return size
    position = size
    seen = 0
    skip_final_newline = True
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        f.seek(position)
        block = f.read(step)
        index = len(block)
        if skip_final_newline:
            skip_final_newline = False
            if block.endswith(b"\n"):
                index -= 1
        while True:
            index = block.rfind(b"\n", 0, index)
            if index < 0:
                break
            seen += 1
            if seen == lines:
                return position + index + 1
    return 0


class _Renderer:
    """Turns records into client bytes: since filter, timestamps, limit."""

    def __init__(self, opts: LogOptions) -> None:
        self.since = _nanos(opts.since) if opts.since is not None else None
        self.timestamps = opts.timestamps
        self.remaining = opts.limit_bytes
        self.at_line_start = True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def render(self, raw: bytes) -> bytes:
        record = parse_record(raw)
        if self.since is not None and record.timestamp < self.since:
            return b""
        out = record.content if record.partial else record.content + b"\n"
        if self.timestamps and self.at_line_start:
            out = format_timestamp(record.timestamp).encode() + b" " + out
        self.at_line_start = not record.partial
        if self.remaining is not None:
            out = out[:self.remaining]
            self.remaining -= len(out)
        return out


async def read_logs(path: Path, opts: LogOptions,
                    running: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The log as the client should get it, in chunks. `running` says whether the
    container still runs (asked only when following and at the end of the file)."""
    renderer = _Renderer(opts)
    f = await asyncio.to_thread(_open_at_tail, path, opts.tail_lines)
    try:
        pending = b""
        while True:
            data = await asyncio.to_thread(f.read, _READ_SIZE)
            if data:
                pending += data
                *lines, pending = pending.split(b"\n")
                out = _render_all(renderer, lines)
                if out:
                    yield out
                if renderer.exhausted:
                    return
                continue
            if not opts.follow:
                return
            reopened = await asyncio.to_thread(_reopen_if_rotated, path, f)
            if reopened is not None:
                # The old file is complete: its last record ended with a newline.
                f.close()
                f, pending = reopened, b""
                continue
            if not await running():
                # One last read: the container may have written just before exiting.
                rest = pending + await asyncio.to_thread(f.read)
                out = _render_all(renderer, rest.split(b"\n")[:-1])
                if out:
                    yield out
                return
            await asyncio.sleep(opts.poll_interval)
    finally:
        f.close()


def _render_all(renderer: _Renderer, lines: list[bytes]) -> bytes:
    chunks: list[bytes] = []
    for line in lines:
        if renderer.exhausted:
            break
        if line:
            chunks.append(renderer.render(line))
    return b"".join(chunks)


def _open_at_tail(path: Path, tail_lines: int | None) -> BinaryIO:
    f = path.open("rb")
    f.seek(tail_start(f, tail_lines))
    return f


def _reopen_if_rotated(path: Path, current: BinaryIO) -> BinaryIO | None:
    """The new file at `path` when the runtime has reopened it after a rotation. The old
    file is first read to its end by the caller (it read to EOF just before)."""
    try:
        new = path.open("rb")
    except FileNotFoundError:
        return None  # renamed, not yet reopened: keep waiting on the old one
    if os.fstat(new.fileno()).st_ino == os.fstat(current.fileno()).st_ino:
        new.close()
        return None
    if current.read(1):
        # Written to the old file after our last read: finish it first.
        current.seek(-1, os.SEEK_CUR)
        new.close()
        return None
    return new


class CriLogWriter:
    """Appends CRI records to a log file (as a runtime's log driver does); for tests and
    simulated runtimes. A chunk's complete lines become `F` records, a trailing fragment a
    `P` record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, stream: str, data: bytes, *, when: datetime | None = None) -> None:
        stamp = format_timestamp(_nanos(when or timeutil.now())).encode()
        records: list[bytes] = []
        *lines, rest = data.split(b"\n")
        for line in lines:
            records.append(b"%s %s F %s\n" % (stamp, stream.encode(), line))
        if rest:
            records.append(b"%s %s P %s\n" % (stamp, stream.encode(), rest))
        with self.path.open("ab") as f:
            f.write(b"".join(records))
