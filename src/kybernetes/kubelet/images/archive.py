"""Reading image archives: `docker save` tarballs and OCI image-layout archives.

- OCI image layout (`index.json` + `blobs/sha256/…`, as `nerdctl save`, `ctr export`,
  `skopeo copy oci-archive:` and newer `docker save` write): each index entry is an image
  (or an index, from which linux/amd64 is chosen). Its name is the
  `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name` when that
  is a full reference (a bare tag names no repository, so such an image comes in untagged).
- docker-save (`manifest.json`: `[{Config, RepoTags, Layers}]`, layers as plain tars):
  read when there is no `index.json`.

Blobs are copied into the store verified against their digests (docker-save's config and
layers are addressed by file name, so they are hashed as they come). The archive itself
may be gzip-compressed.

A caller showing progress (`kyb image import` on a terminal) passes `progress`: it is
called as layers are read with an `ImportProgress` — how many bytes of the archive's files
(uncompressed) are handled of their total, and how many layers are in (a layer already in
the store counts as handled without being read).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kybernetes.kubelet.images.blobs import BlobStore, digest_of
from kybernetes.kubelet.images.errors import ImageContentError, InvalidImageNameError
from kybernetes.kubelet.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    INDEX_TYPES,
    Descriptor,
    Manifest,
    media_type_of,
    parse_index,
    parse_manifest,
    select_platform,
)
from kybernetes.kubelet.images.reference import Reference, parse_reference

CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ArchiveImage:
    manifest: Manifest
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]


@dataclass(frozen=True)
class ImportProgress:
    read: int  # bytes of the archive's files handled so far
    size: int  # the bytes of all the archive's files (uncompressed)
    layers: int  # layers in the store so far


class _Reporter:
    """Counts the bytes of layers read from the archive and reports them on each read."""

    def __init__(self, size: int, progress: Callable[[ImportProgress], None] | None
                 ) -> None:
        self._size, self._progress = size, progress
        self._read = self._layer_end = 0
        self._layers = 0

    def report(self) -> None:
        if self._progress is not None:
            self._progress(ImportProgress(read=min(self._read, self._size), size=self._size,
                                          layers=self._layers))

    def layer(self, stream: IO[bytes], size: int) -> IO[bytes]:
        """A layer's stream (of `size` bytes), counted as it is read."""
        self._layer_end = self._read + size
        if self._progress is None:
            return stream
        return io.BufferedReader(_CountingStream(stream, self))

    def count(self, read: int) -> None:
        self._read += read
        self.report()

    def layer_done(self) -> None:
        """The layer is in (read, or already in the store and so skipped)."""
        self._read = self._layer_end
        self._layers += 1
        self.report()

    def done(self) -> None:
        self._read = self._size
        self.report()


class _CountingStream(io.RawIOBase):
    """A layer's stream in the archive, counting what is read of it."""

    def __init__(self, stream: IO[bytes], reporter: _Reporter) -> None:
        super().__init__()
        self._stream, self._reporter = stream, reporter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._stream.read(len(buffer))
        buffer[:len(chunk)] = chunk
        self._reporter.count(len(chunk))
        return len(chunk)


def read_archive(path: Path, blobs: BlobStore,
                 progress: Callable[[ImportProgress], None] | None = None
                 ) -> list[ArchiveImage]:
    """Copy the archive's images' blobs into `blobs`; the images found. `progress`, if
    given, is called as the archive is read (see the module docstring)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            names = {member.name for member in members}
            reporter = _Reporter(sum(m.size for m in members if m.isfile()), progress)
            if "index.json" in names:
                images = _read_oci(tar, blobs, reporter)
            elif "manifest.json" in names:
                images = _read_docker(tar, blobs, reporter)
            else:
                raise ImageContentError(f"{path}: neither an OCI image layout (index.json) "
                                        "nor a docker-save archive (manifest.json)")
    except tarfile.TarError as err:
        raise ImageContentError(f"{path}: not an image archive: {err}") from None
    reporter.done()
    return images


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        stream = tar.extractfile(name.lstrip("/"))
    except KeyError:
        stream = None
    if stream is None:
        raise ImageContentError(f"archive has no file {name!r}")
    return stream


def _size(tar: tarfile.TarFile, name: str) -> int:
    return tar.getmember(name.lstrip("/")).size


def _json(tar: tarfile.TarFile, name: str) -> Any:
    try:
        return json.loads(_member(tar, name).read())
    except ValueError as err:
        raise ImageContentError(f"archive {name}: invalid JSON: {err}") from None


def _oci_blob(tar: tarfile.TarFile, digest: str) -> IO[bytes]:
    algorithm, _, encoded = digest.partition(":")
    return _member(tar, f"blobs/{algorithm}/{encoded}")


def _read_oci(tar: tarfile.TarFile, blobs: BlobStore, reporter: _Reporter
              ) -> list[ArchiveImage]:
    images = []
    for entry in parse_index(_member(tar, "index.json").read()):
        manifest_data = _oci_blob(tar, entry.digest).read()
        if digest_of(manifest_data) != entry.digest:
            raise ImageContentError(f"manifest {entry.digest}: digest mismatch")
        while media_type_of(manifest_data, entry.media_type) in INDEX_TYPES:
            chosen = select_platform(parse_index(manifest_data))
            manifest_data = _oci_blob(tar, chosen.digest).read()
            if digest_of(manifest_data) != chosen.digest:
                raise ImageContentError(f"manifest {chosen.digest}: digest mismatch")
        manifest = parse_manifest(manifest_data)
        blobs.put_stream(_oci_blob(tar, manifest.config.digest), manifest.config.digest,
                         manifest.config.size)
        for descriptor in manifest.layers:
            blobs.put_stream(reporter.layer(_oci_blob(tar, descriptor.digest),
                                            descriptor.size),
                             descriptor.digest, descriptor.size)
            reporter.layer_done()
        reference = _image_name(entry)
        if reference is None:
            images.append(ArchiveImage(manifest=manifest, repo_tags=(), repo_digests=()))
            continue
        tags = (f"{reference.name}:{reference.tag}",) if reference.tag is not None else ()
        images.append(ArchiveImage(manifest=manifest, repo_tags=tags,
                                   repo_digests=(f"{reference.name}@{entry.digest}",)))
    return images


def _image_name(entry: Descriptor) -> Reference | None:
    """The reference an index entry names, if it names one."""
    name = entry.annotations.get(CONTAINERD_NAME) or ""
    ref_name = entry.annotations.get(OCI_REF_NAME) or ""
    if not name and ("/" in ref_name or ":" in ref_name):
        name = ref_name
    if not name:
        return None
    try:
        return parse_reference(name)
    except InvalidImageNameError as err:
        raise ImageContentError(f"archive names an invalid image: {err}") from None


def _read_docker(tar: tarfile.TarFile, blobs: BlobStore, reporter: _Reporter
                 ) -> list[ArchiveImage]:
    entries = _json(tar, "manifest.json")
    if not isinstance(entries, list):
        raise ImageContentError("manifest.json: not a list")
    images = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ImageContentError("manifest.json: an entry without Config")
        config_data = _member(tar, entry["Config"]).read()
        config = Descriptor(media_type=DOCKER_CONFIG, digest=blobs.put_bytes(config_data),
                            size=len(config_data))
        layers = []
        for layer_name in entry.get("Layers") or ():
            member = _member(tar, layer_name)
            digest = blobs.put_stream(reporter.layer(member, _size(tar, layer_name)))
            reporter.layer_done()
            layers.append(Descriptor(media_type=DOCKER_LAYER, digest=digest,
                                     size=blobs.path(digest).stat().st_size))
        tags = []
        for tag in entry.get("RepoTags") or ():
            try:
                tags.append(str(parse_reference(tag)))
            except InvalidImageNameError as err:
                raise ImageContentError(f"manifest.json names an invalid image: {err}"
                                        ) from None
        images.append(ArchiveImage(manifest=Manifest(config=config, layers=tuple(layers)),
                                   repo_tags=tuple(tags), repo_digests=()))
    return images
