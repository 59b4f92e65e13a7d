"""OCI and Docker manifests: descriptors, image manifests, indexes and platform choice.

Both formats carry the same shape — an index (OCI image index / Docker manifest list)
points at per-platform manifests, a manifest points at one config blob and its layer blobs
— so one parser reads both. Layer compression is not taken from the media type but sniffed
from the blob's first bytes when unpacking (docker-save archives name none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kybernetes.kubelet.images.errors import ImageContentError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
# What a pull asks the registry for, preferred first.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

# The node's platform: images are chosen for it from indexes.
PLATFORM_OS = "linux"
PLATFORM_ARCHITECTURE = "amd64"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Mapping[str, Any] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Descriptor:
        try:
            return cls(media_type=str(doc.get("mediaType", "")), digest=str(doc["digest"]),
                       size=int(doc["size"]), platform=doc.get("platform"),
                       annotations=dict(doc.get("annotations") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise ImageContentError(f"invalid descriptor {dict(doc)!r}: {err}") from None


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]


def media_type_of(data: bytes, declared: str = "") -> str:
    """The manifest's media type: its own `mediaType`, else the declared (Content-Type or
    descriptor) one, else guessed from its shape."""
    doc = _load(data)
    media_type = str(doc.get("mediaType") or declared.split(";")[0].strip())
    if media_type in INDEX_TYPES or media_type in MANIFEST_TYPES:
        return media_type
    return OCI_INDEX if "manifests" in doc else OCI_MANIFEST


def parse_manifest(data: bytes) -> Manifest:
    doc = _load(data)
    if doc.get("schemaVersion") != 2 or "config" not in doc:
        raise ImageContentError("unsupported manifest: only schema 2 image manifests "
                                "(OCI or Docker) are supported")
    return Manifest(config=Descriptor.from_json(doc["config"]),
                    layers=tuple(Descriptor.from_json(d) for d in doc.get("layers") or ()))


def parse_index(data: bytes) -> list[Descriptor]:
    return [Descriptor.from_json(d) for d in _load(data).get("manifests") or ()]


def select_platform(manifests: Sequence[Descriptor]) -> Descriptor:
    """The linux/amd64 entry of an index (containerd's default platform matcher, which
    also takes an entry without platform when nothing better is there)."""
    unspecified = None
    for descriptor in manifests:
        if descriptor.media_type and descriptor.media_type not in (*MANIFEST_TYPES,
                                                                   *INDEX_TYPES):
            continue  # attestations and other artifacts
        platform = descriptor.platform
        if platform is None:
            unspecified = unspecified or descriptor
        elif (platform.get("os") == PLATFORM_OS
              and platform.get("architecture") == PLATFORM_ARCHITECTURE):
            return descriptor
    if unspecified is not None:
        return unspecified
    raise ImageContentError("no match for platform in manifest: not found")


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise ImageContentError(f"invalid manifest JSON: {err}") from None
    if not isinstance(doc, dict):
        raise ImageContentError("invalid manifest: not a JSON object")
    return doc
