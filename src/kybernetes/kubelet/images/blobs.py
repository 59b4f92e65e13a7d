"""Content-addressed blobs: `<root>/blobs/sha256/<hex>`, written once, verified on entry.

A blob is written to a temporary file beside its final place while its digest is computed,
and renamed into place only when the digest (and size, when known) match what was
expected, so a half-written or corrupt download is never visible under a digest.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO

from kybernetes.kubelet.images.errors import ImageContentError

_DIGEST = re.compile(r"sha256:([a-f0-9]{64})")
_CHUNK = 1 << 20


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_of(digest: str) -> str:
    match = _DIGEST.fullmatch(digest)
    if match is None:
        raise ImageContentError(f"unsupported digest {digest!r} (only sha256 is)")
    return match[1]


class BlobWriter:
    """A blob being written; `commit()` verifies it and moves it into the store."""

    def __init__(self, directory: Path, expected: str | None, expected_size: int | None
                 ) -> None:
        self._directory = directory
        self._expected = expected
        self._expected_size = expected_size
        self._temp = directory / f".tmp-{uuid.uuid4().hex}"
        self._file: IO[bytes] = open(self._temp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def commit(self) -> str:
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self._expected is not None and digest != self._expected:
            self.abort()
            raise ImageContentError(f"digest mismatch: expected {self._expected}, got "
                                    f"{digest}")
        if self._expected_size is not None and self.size != self._expected_size:
            self.abort()
            raise ImageContentError(f"size mismatch for {digest}: expected "
                                    f"{self._expected_size} bytes, got {self.size}")
        os.replace(self._temp, self._directory / hex_of(digest))
        return digest

    def abort(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._file.closed:
            self.abort()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.directory = root / "blobs" / "sha256"
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.directory / hex_of(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageContentError(f"blob {digest} is not in the store") from None

    def writer(self, expected: str | None = None, expected_size: int | None = None
               ) -> BlobWriter:
        return BlobWriter(self.directory, expected, expected_size)

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        with self.writer(expected, None) as writer:
            writer.write(data)
            return writer.commit()

    def put_stream(self, stream: IO[bytes], expected: str | None = None,
                   expected_size: int | None = None) -> str:
        if expected is not None and self.has(expected):
            return expected
        with self.writer(expected, expected_size) as writer:
            while chunk := stream.read(_CHUNK):
                writer.write(chunk)
            return writer.commit()

    def delete(self, digest: str) -> int:
        """Remove a blob; the bytes of disk it held (0 if it was not there)."""
        path = self.path(digest)
        try:
            used = path.stat().st_blocks * 512
            path.unlink()
        except FileNotFoundError:
            return 0
        return used
