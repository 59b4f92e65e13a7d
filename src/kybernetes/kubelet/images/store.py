"""The node's image store: blobs, unpacked layers and an index of images.

    <root>/blobs/sha256/<hex>     content-addressed blobs (configs, compressed layers)
    <root>/layers/<diff-id hex>/  each layer unpacked once, overlayfs-ready (see unpack),
                                  shared by every image that has it; a layer's content
                                  depends only on its diff ID, so that is its key
    <root>/images.json            the index: image id -> tags, digests, layers, blobs,
                                  size, when it arrived and when a container last used it

An image's id is its config's digest, as the CRI reports it. A tag names one image: giving
it to a new image takes it from the old one, which stays (untagged) until removed or
collected. Writes to the index happen under an flock on `<root>/index.lock` and replace
the file atomically, so `kyb image` commands and the kubelet can share a store; removal
deletes only the blobs and layers of the removed image that no other image still has, so a
concurrent pull's fresh downloads are never taken from under it.

Blocking work (archive reading, unpacking, deleting trees) runs in threads when called
from the async API; `import_archive`, `remove` and `garbage_collect` are synchronous for
the CLI and for callers already in a thread.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kybernetes.kubelet.images import gc
from kybernetes.kubelet.images.archive import ImportProgress, read_archive
from kybernetes.kubelet.images.blobs import BlobStore, hex_of
from kybernetes.kubelet.images.credentials import RegistryCredential, matching_credentials
from kybernetes.kubelet.images.errors import (
    ImageContentError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePullError,
    InvalidImageNameError,
)
from kybernetes.kubelet.images.manifest import Manifest
from kybernetes.kubelet.images.mirrors import NO_REGISTRIES, PullSource, RegistriesConfig
from kybernetes.kubelet.images.policy import NEVER, should_pull
from kybernetes.kubelet.images.reference import Reference, parse_reference
from kybernetes.kubelet.images.registry import RegistryClient
from kybernetes.kubelet.images.unpack import unpack_layer

log = logging.getLogger(__name__)

Entry = dict[str, Any]


@dataclass(frozen=True)
class PullProgress:
    """How far a pull is: bytes of the image's config and layers in the store (fetched,
    or there already) of their total, and layers in so far (`kyb image pull` shows it)."""

    read: int
    size: int
    layers: int


class _PullCounter:
    """Counts a pull's bytes as they arrive, and reports them."""

    def __init__(self, manifest: Manifest, progress: Callable[[PullProgress], None]) -> None:
        self._progress = progress
        self._size = manifest.config.size + sum(layer.size for layer in manifest.layers)
        self._read = self._done = self._layers = 0

    def fetched(self, size: int) -> None:
        self._read += size
        self._report()

    def blob_done(self, size: int, *, layer: bool) -> None:
        """A blob is in (fetched, or already there); a layer one counts as a layer."""
        self._done += size
        self._read = self._done
        if layer:
            self._layers += 1
        self._report()

    def _report(self) -> None:
        self._progress(PullProgress(read=min(self._read, self._size), size=self._size,
                                    layers=self._layers))


@dataclass(frozen=True)
class ImageRecord:
    id: str  # "sha256:<config digest>"
    repo_tags: tuple[str, ...]  # normalised: "docker.io/library/busybox:latest"
    repo_digests: tuple[str, ...]  # "docker.io/library/busybox@sha256:…"
    size: int  # config and layer blobs, as the registry sends them
    config: dict[str, Any]  # the image config's "config": Env, Entrypoint, Cmd, WorkingDir…
    layer_dirs: tuple[Path, ...]  # unpacked layers, lowest first (overlayfs lowerdir order
    # is the reverse: topmost first)


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = BlobStore(root)
        self._layers = root / "layers"
        self._layers.mkdir(parents=True, exist_ok=True)
        self._index_path = root / "images.json"
        self._lock_path = root / "index.lock"
        self._configs: dict[str, dict[str, Any]] = {}
        self._pulls: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ reading

    def get(self, ref_or_id: str) -> ImageRecord | None:
        images = self._read_index()
        image_id = self._find(images, ref_or_id)
        return None if image_id is None else self._record(image_id, images[image_id])

    def list(self) -> list[ImageRecord]:
        images = self._read_index()
        records = [self._record(image_id, entry) for image_id, entry in images.items()]
        return sorted(records, key=lambda r: (r.repo_tags or r.repo_digests or (r.id,), r.id))

    def _find(self, images: dict[str, Entry], ref_or_id: str) -> str | None:
        """The id of the image a reference, an id or an unambiguous id prefix names."""
        if ref_or_id in images:
            return ref_or_id
        with contextlib.suppress(InvalidImageNameError):
            reference = parse_reference(ref_or_id)
            wanted = str(reference) if reference.digest is None else \
                f"{reference.name}@{reference.digest}"
            for image_id, entry in images.items():
                if wanted in entry["repoTags"] or wanted in entry["repoDigests"]:
                    return image_id
        prefix = ref_or_id.removeprefix("sha256:")
        if len(prefix) >= 3 and all(c in "0123456789abcdef" for c in prefix):
            found = [i for i in images if i.removeprefix("sha256:").startswith(prefix)]
            if len(found) == 1:
                return found[0]
        return None

    def _record(self, image_id: str, entry: Entry) -> ImageRecord:
        config = self._configs.get(image_id)
        if config is None:
            config = json.loads(self._blobs.read(image_id))
            self._configs[image_id] = config
        return ImageRecord(
            id=image_id, repo_tags=tuple(entry["repoTags"]),
            repo_digests=tuple(entry["repoDigests"]), size=int(entry["size"]),
            config=dict(config.get("config") or {}),
            layer_dirs=tuple(self._layers / hex_of(d) for d in entry["layers"]))

    # ------------------------------------------------------------------ the index

    def _read_index(self) -> dict[str, Entry]:
        try:
            data: dict[str, Entry] = json.loads(self._index_path.read_bytes())["images"]
        except FileNotFoundError:
            return {}
        return data

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Entry]]:
        """The index, locked against other writers; written back when the block ends
        without error."""
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            images = self._read_index()
            yield images
            temp = self._index_path.with_suffix(f".tmp-{os.getpid()}")
            temp.write_text(json.dumps({"images": images}, indent=1, sort_keys=True))
            os.replace(temp, self._index_path)

    # ------------------------------------------------------------------ adding images

    def import_archive(self, path: Path,
                       progress: Callable[[ImportProgress], None] | None = None
                       ) -> builtins.list[ImageRecord]:
        """Import every image of a docker-save or OCI-layout archive (`progress`: see
        `archive.read_archive`)."""
        return [self._add(image.manifest, image.repo_tags, image.repo_digests)
                for image in read_archive(path, self._blobs, progress)]

    def _add(self, manifest: Manifest, repo_tags: Sequence[str],
             repo_digests: Sequence[str]) -> ImageRecord:
        image_id = manifest.config.digest
        config = json.loads(self._blobs.read(image_id))
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or ())
        if len(diff_ids) != len(manifest.layers):
            raise ImageContentError(f"image {image_id}: {len(manifest.layers)} layers but "
                                    f"{len(diff_ids)} diff IDs in its config")
        with self._locked() as images:
            # Under the lock, so a concurrent removal cannot take a layer being added.
            for descriptor, diff_id in zip(manifest.layers, diff_ids, strict=True):
                dest = self._layers / hex_of(diff_id)
                if not dest.is_dir():
                    unpack_layer(self._blobs.path(descriptor.digest), dest, diff_id)
            now = time.time()
            entry = images.setdefault(image_id, {
                "repoTags": [], "repoDigests": [], "detected": now, "lastUsed": 0.0})
            for other_id, other in images.items():
                if other_id != image_id:
                    other["repoTags"] = [t for t in other["repoTags"] if t not in repo_tags]
            entry["repoTags"] = sorted({*entry["repoTags"], *repo_tags})
            entry["repoDigests"] = sorted({*entry["repoDigests"], *repo_digests})
            entry["layers"] = diff_ids
            # The same image may come as other blobs (gzip'd from a registry, plain from
            # docker save): the image keeps them all, so removing it frees them all.
            entry["blobs"] = sorted({*entry.get("blobs", ()), image_id,
                                     *(d.digest for d in manifest.layers)})
            entry["size"] = manifest.config.size + sum(d.size for d in manifest.layers)
            return self._record(image_id, entry)

    async def pull(self, ref: str, *, credentials: Sequence[RegistryCredential] = (),
                   insecure_registries: Collection[str] = (),
                   registries: RegistriesConfig = NO_REGISTRIES,
                   progress: Callable[[PullProgress], None] | None = None) -> ImageRecord:
        """Pull `ref` from its registry's mirrors in `registries`, then from the registry
        itself (loopback registries over plain http), as containerd tries its hosts; the
        image is recorded under `ref` whichever served it. A mirror is asked with the
        credentials registries.yaml gives its host; the registry with the `credentials`
        (imagePullSecrets) that apply to `ref` in turn, else with its registries.yaml
        ones, else anonymously. The error is the last endpoint's. `progress` is told
        how far each try is as blobs arrive."""
        reference = parse_reference(ref)
        lock = self._pulls.setdefault(str(reference), asyncio.Lock())
        async with lock:
            error: ImagePullError | None = None
            for source in registries.sources(reference, insecure_registries):
                secrets = matching_credentials(credentials, reference) \
                    if source.is_default else []
                applicable: list[RegistryCredential | None] = [
                    *secrets] or [source.config.credential]
                for credential in applicable:
                    try:
                        return await self._pull(reference, source, credential, progress)
                    except ImagePullError as err:
                        if not source.is_default:  # the registry is tried next
                            log.info("pulling %s from %s: %s", reference,
                                     source.endpoint.api_root, err)
                        error = err
            assert error is not None
            raise error

    async def _pull(self, reference: Reference, source: PullSource,
                    credential: RegistryCredential | None,
                    progress: Callable[[PullProgress], None] | None) -> ImageRecord:
        identity_token = "" if credential is not None else source.config.identity_token
        async with RegistryClient(reference, credential=credential, endpoint=source.endpoint,
                                  identity_token=identity_token) as client:
            resolved = await client.resolve()
            manifest = resolved.manifest
            counter = _PullCounter(manifest, progress) if progress is not None else None
            fetched = counter.fetched if counter is not None else None
            if not self._blobs.has(manifest.config.digest):
                await client.fetch_blob(manifest.config, self._blobs, fetched)
            if counter is not None:
                counter.blob_done(manifest.config.size, layer=False)
            try:
                config = json.loads(self._blobs.read(manifest.config.digest))
                diff_ids = list(config["rootfs"]["diff_ids"])
            except (ValueError, KeyError, TypeError) as err:
                raise ImagePullError(f'failed to pull and unpack image "{reference}": '
                                     f"invalid image config: {err}") from None
            for descriptor, diff_id in zip(manifest.layers, diff_ids, strict=False):
                # A layer already unpacked needs no download.
                if (not (self._layers / hex_of(diff_id)).is_dir()
                        and not self._blobs.has(descriptor.digest)):
                    await client.fetch_blob(descriptor, self._blobs, fetched)
                if counter is not None:
                    counter.blob_done(descriptor.size, layer=True)
        tags = (str(reference),) if reference.digest is None else ()
        digests = (f"{reference.name}@{resolved.digest}",)
        try:
            return await asyncio.to_thread(self._add, manifest, tags, digests)
        except ImageContentError as err:
            raise ImagePullError(f'failed to pull and unpack image "{reference}": {err}'
                                 ) from None

    async def ensure(self, ref: str, policy: str, *,
                     credentials: Sequence[RegistryCredential] = (),
                     insecure_registries: Collection[str] = (),
                     registries: RegistriesConfig = NO_REGISTRIES) -> ImageRecord:
        """The image `ref`, pulled if imagePullPolicy `policy` says so (Always: pull;
        IfNotPresent: pull when absent; Never: ImageNeverPullError when absent)."""
        parse_reference(ref)  # InvalidImageName before anything else, as upstream
        present = await asyncio.to_thread(self.get, ref)
        if not should_pull(policy, present is not None):
            if present is not None:
                return present
            assert policy == NEVER
            raise ImageNeverPullError(ref)
        return await self.pull(ref, credentials=credentials,
                               insecure_registries=insecure_registries,
                               registries=registries)

    # ------------------------------------------------------------------ use and removal

    def mark_used(self, image_id: str) -> None:
        """Record that a container started from the image now (for GC's LRU order)."""
        with self._locked() as images:
            found = self._find(images, image_id)
            if found is not None:
                images[found]["lastUsed"] = time.time()

    def remove(self, ref_or_id: str) -> None:
        """Remove an image with all its tags (as the CRI's RemoveImage does)."""
        with self._locked() as images:
            image_id = self._find(images, ref_or_id)
            if image_id is None:
                raise ImageNotFoundError(f'image "{ref_or_id}": not found')
            self._delete(images, image_id)

    def _delete(self, images: dict[str, Entry], image_id: str) -> int:
        """Drop an image from the (locked) index and delete the blobs and layers that no
        other image has; the bytes of disk freed."""
        entry = images.pop(image_id)
        self._configs.pop(image_id, None)
        kept_blobs = {b for other in images.values() for b in other["blobs"]}
        kept_layers = {d for other in images.values() for d in other["layers"]}
        freed = 0
        for blob in set(entry["blobs"]) - kept_blobs:
            freed += self._blobs.delete(blob)
        for diff_id in set(entry["layers"]) - kept_layers:
            layer = self._layers / hex_of(diff_id)
            if layer.is_dir():
                freed += gc.disk_usage(layer)
                shutil.rmtree(layer)
        return freed

    def garbage_collect(self, *, high_threshold_percent: int = gc.DEFAULT_HIGH_THRESHOLD_PERCENT,
                        low_threshold_percent: int = gc.DEFAULT_LOW_THRESHOLD_PERCENT,
                        in_use: Collection[str] = (),
                        minimum_age: float = gc.DEFAULT_MINIMUM_AGE) -> builtins.list[str]:
        """When the store's filesystem is at or over the high threshold, remove images no
        container uses (`in_use`: ids or references) and older than `minimum_age`
        seconds, least recently used first, until usage is down to the low threshold;
        the ids removed."""
        gc.check_thresholds(high_threshold_percent, low_threshold_percent)
        to_free = gc.bytes_to_free(gc.fs_stats(self.root), high_threshold_percent,
                                   low_threshold_percent)
        if to_free <= 0:
            return []
        removed: list[str] = []
        freed = 0
        with self._locked() as images:
            used = {self._find(images, ref) for ref in in_use}
            young = time.time() - minimum_age
            candidates = [gc.Candidate(id=i, last_used=float(e["lastUsed"]),
                                       detected=float(e["detected"]))
                          for i, e in images.items()
                          if i not in used and float(e["detected"]) <= young]
            for image_id in gc.eviction_order(candidates):
                freed += self._delete(images, image_id)
                removed.append(image_id)
                if freed >= to_free:
                    break
        if freed < to_free:
            # Upstream reports this as a FreeDiskSpaceFailed event on the node.
            log.warning("Failed to garbage collect required amount of images. Attempted to "
                        "free %d bytes, but only found %d bytes eligible to free.",
                        to_free, freed)
        return removed
