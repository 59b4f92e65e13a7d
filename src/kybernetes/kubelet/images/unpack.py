"""Unpacking one layer tarball into a directory that overlayfs can use as a lowerdir.

Safety: every path is walked component by component from the layer directory with
`O_NOFOLLOW` directory handles and `*at` calls, so nothing is ever created or changed
through a symlink — a member whose path goes through a symlink, or a `..` component, or
a hard link pointing outside the layer, fails the unpack. Symlink targets are stored
verbatim; they mean something only inside the container's root.

Fidelity (we run as root): numeric owners, modes (set after chown, which clears set-id
bits), mtimes (directories' last, as their children change them), `SCHILY.xattr.*` PAX
extended attributes (file capabilities), hard links, device nodes and fifos.

Whiteouts become overlayfs's form, since the runtime stacks layers with overlayfs: `.wh.X`
is a character device 0/0 named X; `.wh..wh..opq` marks its directory opaque with the
`trusted.overlay.opaque=y` xattr. Other `.wh..wh.` entries (aufs bookkeeping) are dropped.

The layer is unpacked into a temporary sibling and renamed into place, so a layer dir that
exists is complete. The uncompressed stream's digest (the diff ID) is computed on the way
and checked against the image config's `rootfs.diff_ids`.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import shutil
import stat
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from kybernetes.kubelet.images.errors import ImageContentError

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_XATTR_PAX = "SCHILY.xattr."
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _HashingReader:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


@contextlib.contextmanager
def _decompressed(blob: Path) -> Iterator[IO[bytes]]:
    """The layer's tar stream: gzip and zstd are recognised by their magic bytes."""
    # Unbuffered, so that after the peek the descriptor itself is back at 0 for zstd.
    with open(blob, "rb", buffering=0) as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(_GZIP_MAGIC):
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield cast(IO[bytes], stream)
        elif magic == _ZSTD_MAGIC:
            # The zstd tool, as Python 3.11 has no zstd module.
            process = subprocess.Popen(["zstd", "-dcq"], stdin=raw, stdout=subprocess.PIPE)
            assert process.stdout is not None
            try:
                yield process.stdout
            finally:
                process.stdout.close()
                if process.wait() != 0:
                    raise ImageContentError(f"zstd could not decompress {blob.name}")
        else:
            yield raw


def unpack_layer(blob: Path, dest: Path, expected_diff_id: str | None = None) -> str:
    """Unpack the layer blob into `dest` (which must not exist); its diff ID."""
    temp = dest.parent / f".tmp-{uuid.uuid4().hex}"
    temp.mkdir(mode=0o755)
    try:
        with _decompressed(blob) as stream:
            reader = _HashingReader(stream)
            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                    _Extractor(temp).extract_all(tar)
            except tarfile.TarError as err:
                raise ImageContentError(f"layer {blob.name}: invalid tar: {err}") from None
            reader.drain()
        diff_id = "sha256:" + reader.hash.hexdigest()
        if expected_diff_id is not None and diff_id != expected_diff_id:
            raise ImageContentError(f"layer {blob.name}: diff ID mismatch: expected "
                                    f"{expected_diff_id}, got {diff_id}")
        try:
            temp.rename(dest)
        except OSError as err:
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            shutil.rmtree(temp)  # unpacked meanwhile by someone else: theirs is as good
        return diff_id
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _parts(name: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageContentError(f"layer member {name!r} escapes the layer directory")
    return parts


class _Extractor:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._dir_times: list[tuple[list[str], int]] = []

    def extract_all(self, tar: tarfile.TarFile) -> None:
        root_fd = os.open(self._root, _DIR_FLAGS)
        try:
            for member in tar:
                self._extract(tar, member, root_fd)
            # Directory mtimes last: creating their children changed them.
            for parts, mtime in reversed(self._dir_times):
                fd = self._open_dir(root_fd, parts, create=False)
                try:
                    os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
        finally:
            os.close(root_fd)

    def _open_dir(self, root_fd: int, parts: list[str], *, create: bool) -> int:
        """A handle on the directory at `parts`, never through a symlink; missing
        directories are made (0755) when `create`."""
        fd = os.dup(root_fd)
        try:
            for part in parts:
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise ImageContentError(
                            f"layer path {'/'.join(parts)!r} goes through a symlink or "
                            "a non-directory") from None
                    raise
                os.close(fd)
                fd = next_fd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo, root_fd: int) -> None:
        parts = _parts(member.name)
        if not parts:  # the root itself: "./"
            if member.isdir():
                os.chown(root_fd, member.uid, member.gid)
                os.chmod(root_fd, stat.S_IMODE(member.mode))
                self._dir_times.append(([], int(member.mtime)))
            return
        parent = self._open_dir(root_fd, parts[:-1], create=True)
        try:
            self._create(tar, member, root_fd, parent, parts)
        finally:
            os.close(parent)

    def _create(self, tar: tarfile.TarFile, member: tarfile.TarInfo, root_fd: int,
                parent: int, parts: list[str]) -> None:
        name = parts[-1]
        if name == WHITEOUT_OPAQUE:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if name.startswith(WHITEOUT_META_PREFIX):
            return
        if name.startswith(WHITEOUT_PREFIX):
            target = name[len(WHITEOUT_PREFIX):]
            _remove(parent, target)
            os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
            os.chown(target, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            return
        if member.isdir():
            self._make_dir(member, parent, name, parts)
            return
        _remove(parent, name)
        if member.isreg():
            self._write_file(tar, member, parent, name)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent,
                     follow_symlinks=False)
        elif member.islnk():
            target_parts = _parts(member.linkname)
            if not target_parts:
                raise ImageContentError(f"hard link {member.name!r} to the layer root")
            source = self._open_dir(root_fd, target_parts[:-1], create=False)
            try:
                os.link(target_parts[-1], name, src_dir_fd=source, dst_dir_fd=parent,
                        follow_symlinks=False)
            finally:
                os.close(source)
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = stat.S_IFCHR if member.ischr() else (
                stat.S_IFBLK if member.isblk() else stat.S_IFIFO)
            try:
                os.mknod(name, kind | stat.S_IMODE(member.mode),
                         os.makedev(member.devmajor, member.devminor), dir_fd=parent)
            except PermissionError:
                log.debug("cannot create device node %s here; skipped", member.name)
                return
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(member.mode), dir_fd=parent)
        else:
            log.debug("layer member %s of type %r skipped", member.name, member.type)

    def _make_dir(self, member: tarfile.TarInfo, parent: int, name: str,
                  parts: list[str]) -> None:
        try:
            existing = os.lstat(name, dir_fd=parent)
        except FileNotFoundError:
            existing = None
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            _remove(parent, name)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        try:
            os.chown(fd, member.uid, member.gid)
            os.chmod(fd, stat.S_IMODE(member.mode))
            _set_xattrs(fd, member)
        finally:
            os.close(fd)
        self._dir_times.append((parts, int(member.mtime)))

    def _write_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int,
                    name: str) -> None:
        source = tar.extractfile(member)
        assert source is not None  # a regular file always has content
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent)
        try:
            while chunk := source.read(_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.chown(fd, member.uid, member.gid)
            os.chmod(fd, stat.S_IMODE(member.mode))
            _set_xattrs(fd, member)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)


def _set_xattrs(fd: int, member: tarfile.TarInfo) -> None:
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PAX):
            os.setxattr(fd, key[len(_XATTR_PAX):], value.encode("utf-8", "surrogateescape"))


def _remove(parent: int, name: str) -> None:
    """Remove whatever `name` is in `parent` (a later member replaces an earlier one)."""
    try:
        existing = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(existing.st_mode):
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        try:
            _remove_tree(fd)
        finally:
            os.close(fd)
        os.rmdir(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _remove_tree(fd: int) -> None:
    for entry in os.listdir(fd):
        _remove(fd, entry)
