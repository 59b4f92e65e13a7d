"""Upstream's AtomicWriter (pkg/volume/util/atomic_writer.go): the files of a configMap,
secret, downwardAPI or projected volume change all at once, never half-written.

The layout inside the volume directory:

    ..2026_11_23_14_05_01.123456789/   the payload, written in full before anything points at it
    ..data -> ..2026_11_23_14_05_01.123456789
    key    -> ..data/key               one symlink per top-level path of the payload

`write(payload)`:
1. validates the payload's paths (relative, no `..`, no leading `..x`, length limits);
2. reads the current `..data` target; if the payload equals what it holds, stops here
   (except for missing user-visible symlinks, which are (re)created);
3. writes the payload into a new timestamped directory;
4. points `..data_tmp` at it and renames it over `..data`: rename(2) swaps the symlink
   atomically, so a reader sees the old set of files or the new one, never a mix;
5. removes the user-visible symlinks of paths that are gone, and the old timestamped
   directory; creates the user-visible symlinks of new top-level paths.

A container reading `key` follows `key -> ..data/key -> ..<ts>/key`, so after the swap it
reads the new content without any mount being touched.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_NAME = "..data"
NEW_DATA_DIR_NAME = "..data_tmp"
MAX_FILE_NAME_LENGTH = 255
MAX_PATH_LENGTH = 4096


class AtomicWriteError(ValueError):
    """An invalid payload path; the message is upstream's."""


@dataclass(frozen=True, slots=True)
class FileProjection:
    """One file of a payload: its bytes and permission bits."""

    data: bytes
    mode: int = 0o644


def validate_path(target: str) -> None:
    if target == "":
        raise AtomicWriteError(f'invalid path: must not be empty: "{target}"')
    if posixpath.isabs(target):
        raise AtomicWriteError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH_LENGTH:
        raise AtomicWriteError(
            f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise AtomicWriteError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise AtomicWriteError("invalid path: filenames must be less than or equal to "
                                   f"{MAX_FILE_NAME_LENGTH} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise AtomicWriteError(f"invalid path: must not start with '..': {target}")


def validate_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    """The payload keyed by cleaned paths (upstream `validatePayload`)."""
    clean: dict[str, FileProjection] = {}
    for target, projection in payload.items():
        validate_path(target)
        clean[posixpath.normpath(target)] = projection
    return clean


class AtomicWriter:
    """Writes payloads into `target_dir` with the `..data` symlink swap. Blocking file I/O:
    callers in the event loop run `write` in a thread."""

    def __init__(self, target_dir: Path) -> None:
        self.target_dir = target_dir

    def write(self, payload: Mapping[str, FileProjection]) -> bool:
        """Make the volume show exactly `payload`; returns whether new data was written."""
        clean = validate_payload(payload)
        self.target_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self.target_dir / DATA_DIR_NAME
        try:
            old_ts = os.readlink(data_dir)
        except FileNotFoundError:
            old_ts = ""
        old_ts_path = self.target_dir / old_ts if old_ts else None
        to_remove: set[str] = set()
        should_write = True
        if old_ts_path is not None:
            to_remove = self._paths_to_remove(clean, old_ts_path)
            should_write = bool(to_remove) or _differs(clean, old_ts_path)
        if should_write:
            ts_dir = self._new_timestamp_dir()
            try:
                _write_payload(clean, ts_dir)
                tmp_link = self.target_dir / NEW_DATA_DIR_NAME
                tmp_link.unlink(missing_ok=True)
                os.symlink(ts_dir.name, tmp_link)
                os.rename(tmp_link, data_dir)
            except BaseException:
                shutil.rmtree(ts_dir, ignore_errors=True)
                raise
            self._remove_user_visible(to_remove)
            if old_ts_path is not None:
                shutil.rmtree(old_ts_path, ignore_errors=True)
        self._create_user_visible(clean)
        return should_write

    def _new_timestamp_dir(self) -> Path:
        # Upstream: os.MkdirTemp(targetDir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        while True:
            path = self.target_dir / f"{stamp}{secrets.randbelow(10**10)}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            path.chmod(0o755)
            return path

    def _paths_to_remove(self, payload: Mapping[str, FileProjection], old_ts: Path) -> set[str]:
        """Paths (files and directories) of the old payload that the new one lacks."""
        old: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(old_ts):
            rel = os.path.relpath(dirpath, old_ts)
            for name in [*dirnames, *filenames]:
                old.add(name if rel == "." else f"{rel}/{name}")
        new: set[str] = set()
        for target in payload:
            parts = target.split("/")
            new.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        return old - new

    def _remove_user_visible(self, paths: set[str]) -> None:
        # Only the volume root holds user-visible symlinks; deeper paths left with the old
        # timestamped directory.
        for path in paths:
            if "/" not in path:
                (self.target_dir / path).unlink(missing_ok=True)

    def _create_user_visible(self, payload: Mapping[str, FileProjection]) -> None:
        for target in payload:
            top = target.split("/", 1)[0]
            visible = self.target_dir / top
            if not visible.is_symlink():
                os.symlink(f"{DATA_DIR_NAME}/{top}", visible)


def _differs(payload: Mapping[str, FileProjection], old_ts: Path) -> bool:
    for target, projection in payload.items():
        path = old_ts / target
        # Content only, as upstream's shouldWriteFile: a pod's modes cannot change.
        try:
            if path.read_bytes() != projection.data:
                return True
        except OSError:
            return True
    return False


def _write_payload(payload: Mapping[str, FileProjection], ts_dir: Path) -> None:
    for target, projection in payload.items():
        path = ts_dir / target
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_bytes(projection.data)
        path.chmod(projection.mode)
