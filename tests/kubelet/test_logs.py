"""Reading CRI container logs as `kubectl logs` asks: joining, tail, since, timestamps,
limits, follow and rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kybernetes.kubelet.logs import (
    STDERR,
    STDOUT,
    CriLogWriter,
    LogFormatError,
    LogOptions,
    container_log_file,
    format_timestamp,
    parse_record,
    parse_timestamp,
    read_logs,
)

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


async def _read(path: Path, opts: LogOptions, running: bool = False) -> bytes:
    async def still() -> bool:
        return running

    return b"".join([chunk async for chunk in read_logs(path, opts, still)])


@pytest.fixture
def log(tmp_path: Path) -> CriLogWriter:
    writer = CriLogWriter(container_log_file(tmp_path, "ns", "web", "uid-1", "app", 0))
    for i in range(5):
        writer.write(STDOUT if i % 2 == 0 else STDERR, f"line {i}\n".encode(),
                     when=T0 + timedelta(seconds=i))
    return writer


def test_paths_follow_upstream_layout(tmp_path: Path) -> None:
    assert container_log_file(tmp_path, "ns", "web", "u1", "app", 3) == \
        tmp_path / "ns_web_u1" / "app" / "3.log"


def test_records_parse_and_timestamps_round_trip() -> None:
    record = parse_record(b"2016-10-06T00:17:09.669794202Z stderr P half a line")
    assert (record.stream, record.partial, record.content) == ("stderr", True, b"half a line")
    assert format_timestamp(record.timestamp) == "2016-10-06T00:17:09.669794202Z"
    assert parse_record(b"2016-10-06T00:17:09Z stdout F").content == b""
    assert parse_timestamp("2016-10-06T02:17:09.5+02:00") == \
        parse_timestamp("2016-10-06T00:17:09.500000000Z")
    for bad in (b"garbage", b"2016-10-06T00:17:09Z stdin F x", b"nodate stdout F x",
                b"2016-10-06T00:17:09Z stdout X x"):
        with pytest.raises(LogFormatError):
            parse_record(bad)


async def test_whole_log_interleaves_both_streams(log: CriLogWriter) -> None:
    assert await _read(log.path, LogOptions()) == b"line 0\nline 1\nline 2\nline 3\nline 4\n"


async def test_partial_records_join_into_one_line(tmp_path: Path) -> None:
    writer = CriLogWriter(tmp_path / "0.log")
    writer.write(STDOUT, b"hel", when=T0)
    writer.write(STDOUT, b"lo\nwor", when=T0 + timedelta(seconds=1))
    writer.write(STDOUT, b"ld\n", when=T0 + timedelta(seconds=2))
    assert (tmp_path / "0.log").read_bytes().count(b" P ") == 2
    assert await _read(writer.path, LogOptions()) == b"hello\nworld\n"
    # A continuation carries no timestamp of its own.
    assert await _read(writer.path, LogOptions(timestamps=True)) == (
        b"2026-11-23T10:00:00.000000000Z hello\n2026-11-23T10:00:01.000000000Z world\n")


@pytest.mark.parametrize(("tail", "expected"), [
    (None, b"line 0\nline 1\nline 2\nline 3\nline 4\n"),
    (2, b"line 3\nline 4\n"),
    (1, b"line 4\n"),
    (0, b""),
    (-1, b"line 0\nline 1\nline 2\nline 3\nline 4\n"),
    (99, b"line 0\nline 1\nline 2\nline 3\nline 4\n"),
])
async def test_tail_counts_records_from_the_end(log: CriLogWriter, tail: int | None,
                                                expected: bytes) -> None:
    assert await _read(log.path, LogOptions(tail_lines=tail)) == expected


async def test_since_drops_older_records(log: CriLogWriter) -> None:
    got = await _read(log.path, LogOptions(since=T0 + timedelta(seconds=3)))
    assert got == b"line 3\nline 4\n"


async def test_timestamps_prefix_each_line_in_fixed_width(log: CriLogWriter) -> None:
    got = await _read(log.path, LogOptions(timestamps=True, tail_lines=1))
    assert got == b"2026-11-23T10:00:04.000000000Z line 4\n"


async def test_limit_bytes_cuts_mid_line(log: CriLogWriter) -> None:
    assert await _read(log.path, LogOptions(limit_bytes=10)) == b"line 0\nlin"


async def test_follow_streams_growth_and_ends_when_the_container_exits(
        log: CriLogWriter) -> None:
    running = True

    async def still() -> bool:
        return running

    stream = read_logs(log.path, LogOptions(tail_lines=1, follow=True, poll_interval=0.01),
                       still)
    assert await anext(stream) == b"line 4\n"
    log.write(STDOUT, b"later\n")
    assert await anext(stream) == b"later\n"
    # Written just before the exit: still delivered, then the stream ends.
    log.write(STDOUT, b"last words\n")
    running = False
    rest = [chunk async for chunk in stream]
    assert b"".join(rest) == b"last words\n"


async def test_follow_moves_to_the_reopened_file_after_rotation(log: CriLogWriter) -> None:
    running = True

    async def still() -> bool:
        return running

    log.write(STDOUT, b"before rotation\n")
    stream = read_logs(log.path, LogOptions(tail_lines=1, follow=True, poll_interval=0.01),
                       still)
    assert await anext(stream) == b"before rotation\n"
    log.path.rename(log.path.with_name("0.log.1"))
    log.write(STDOUT, b"after rotation\n")  # the runtime reopened 0.log
    assert await anext(stream) == b"after rotation\n"
    running = False
    assert [chunk async for chunk in stream] == []


async def test_follow_without_running_container_reads_once(log: CriLogWriter) -> None:
    got = await _read(log.path, LogOptions(follow=True, tail_lines=2, poll_interval=0.01))
    assert got == b"line 3\nline 4\n"
