"""ControllerRevision history of a workload: upstream's `pkg/controller/history/
controller_history.go`, shared by the StatefulSet and DaemonSet controllers.

A controller that keeps history records each distinct version of its pod template as an
`apps/v1` ControllerRevision owned by it: `data` holds the (patch-shaped) template, and
`revision` a number that grows with every change, so `kubectl rollout history/undo` can
list and restore them.

- **Names and hashes**: a revision is named `<parent>-<hash>` (the prefix cut to 223
  characters so the name fits in 253). The hash is upstream's `HashControllerRevision`: a
  32-bit FNV-1 (Go's `fnv.New32`) over the data's JSON, then, when a probe (the parent's
  `collisionCount`) is given, over its decimal digits, spelled with `SafeEncodeString`'s
  vowel-free alphabet. Upstream hashes the bytes Go's encoder produced; here the data is a
  dict, hashed in its canonical form (sorted keys, no whitespace), so a revision read back
  from the server hashes as the one that was sent.
- **Equality** (`equal_revision`): the `controller.kubernetes.io/hash` labels, when both
  parse as integers (upstream's quirk, kept), must agree; the data must be equal.
- **Order** (`sort_controller_revisions`): by `revision`, ties broken by creation time, then
  name. `next_revision` is one more than the highest (1 for an empty history).
- **`ControllerHistory`** reads revisions from a shared ControllerRevision informer (those
  of the parent's namespace matching the selector, owned by the parent or by nobody) and
  writes through the API: `create_controller_revision` retries under a new name (collision
  count + 1) when a revision of that name exists with other data, and returns the existing
  one when its data is the same; `update_controller_revision` retries on conflict (client-
  go's `RetryOnConflict` with `DefaultBackoff`: 4 attempts); adopt and release are strategic
  merge patches of the owner references with the revision's uid as precondition, a release
  of a revision that is gone or was recreated counting as done.

Revisions are plain dicts and are never mutated.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from kybernetes.api.objects import meta as _meta
from kybernetes.api.selectors import LabelSelector
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ConflictError,
    Informer,
    InvalidError,
    NotFoundError,
    resource,
)
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.refmanager import (
    adopt_patch,
    controller_ref,
    owner_reference,
    release_patch,
)

CONTROLLER_REVISIONS = resource("apps", "v1", "controllerrevisions")
CONTROLLER_REVISION_HASH_LABEL = "controller.kubernetes.io/hash"

# Longest name prefix: prefix + "-" + hash stays within 253 characters.
_MAX_PREFIX = 223
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
# client-go's retry.DefaultBackoff: 4 steps from 10ms, factor 5.
_UPDATE_ATTEMPTS = 4
_UPDATE_BACKOFF = 0.01
_UPDATE_FACTOR = 5.0


# ----------------------------------------------------------------------------- pure helpers


def controller_revision_name(prefix: str, hash_: str) -> str:
    """Upstream's ControllerRevisionName: `prefix-hash`, prefix cut to 223 characters."""
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def safe_encode_string(text: str) -> str:
    """Upstream's `rand.SafeEncodeString`: each character mapped into a vowel-free alphabet."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in text)


def _fnv32(data: bytes, value: int = _FNV32_OFFSET) -> int:
    """Go's `fnv.New32` (FNV-1: multiply, then xor)."""
    for byte in data:
        value = ((value * _FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return value


def data_bytes(data: Any) -> bytes:
    """A revision's data in canonical JSON (what is hashed and compared); b"" when unset."""
    if data is None:
        return b""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def hash_controller_revision(revision: Obj, probe: int | None) -> str:
    """Upstream's HashControllerRevision over the revision's data and the probe."""
    value = _fnv32(data_bytes(revision.get("data")))
    if probe is not None:
        value = _fnv32(str(probe).encode(), value)
    return safe_encode_string(str(value))


def new_controller_revision(parent: Obj, parent_kind: tuple[str, str],
                            template_labels: Mapping[str, str] | None, data: Any,
                            revision: int, collision_count: int | None) -> Obj:
    """Upstream's NewControllerRevision: a revision owned by `parent` (of `parent_kind`,
    `(apiVersion, kind)`), labelled as the template plus the hash label, in the parent's
    namespace, named `<parent>-<hash>`."""
    api_version, kind = parent_kind
    meta = _meta(parent)
    labels = dict(template_labels or {})
    cr: Obj = {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"namespace": meta.get("namespace"), "labels": labels,
                     "ownerReferences": [owner_reference(parent, api_version=api_version,
                                                         kind=kind)]},
        "data": copy.deepcopy(data), "revision": int(revision)}
    hash_ = hash_controller_revision(cr, collision_count)
    cr["metadata"]["name"] = controller_revision_name(str(meta.get("name") or ""), hash_)
    labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    return cr


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def sort_controller_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Upstream's SortControllerRevisions: by revision, then creation time, then name."""
    return sorted(revisions, key=lambda r: (revision_number(r),
                                            str(_meta(r).get("creationTimestamp") or ""),
                                            str(_meta(r).get("name") or "")))


def _int_hash(revision: Obj) -> int | None:
    value = (_meta(revision).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
    if value is None:
        return None
    try:
        number = int(value, 10)
    except ValueError:
        return None
    # strconv.ParseInt(hs, 10, 32): only values that fit in an int32 parse.
    if not -(2 ** 31) <= number < 2 ** 31:
        return None
    return number & 0xFFFFFFFF


def equal_revision(lhs: Obj | None, rhs: Obj | None) -> bool:
    """Upstream's EqualRevision: both None, or equal data (and no disagreeing int hashes)."""
    if lhs is None or rhs is None:
        return lhs is rhs
    lhs_hash, rhs_hash = _int_hash(lhs), _int_hash(rhs)
    if lhs_hash is not None and rhs_hash is not None and lhs_hash != rhs_hash:
        return False
    return data_bytes(lhs.get("data")) == data_bytes(rhs.get("data"))


def find_equal_revisions(revisions: Iterable[Obj], needle: Obj) -> list[Obj]:
    """The revisions equal to `needle`, in their order."""
    return [r for r in revisions if equal_revision(r, needle)]


def next_revision(revisions: Sequence[Obj]) -> int:
    """One more than the last of `revisions` (sorted), 1 when there are none
    (upstream's nextRevision of the StatefulSet and DaemonSet controllers)."""
    return revision_number(revisions[-1]) + 1 if revisions else 1


# ----------------------------------------------------------------------------- the API side


class ControllerHistory:
    """Upstream's `realHistory`: reads from the ControllerRevision informer, writes through
    `client`."""

    def __init__(self, client: ApiClient, informer: Informer) -> None:
        self.client = client
        self.informer = informer

    def list_controller_revisions(self, parent: Obj, selector: LabelSelector) -> list[Obj]:
        """The revisions of the parent's namespace matching `selector`, owned by the parent
        or by no controller (orphans the caller may adopt)."""
        meta = _meta(parent)
        uid = meta.get("uid")
        owned = []
        for revision in self.informer.store.by_index(NAMESPACE_INDEX,
                                                     str(meta.get("namespace") or "")):
            if not selector.matches(_meta(revision).get("labels") or {}):
                continue
            ref = controller_ref(revision)
            if ref is None or ref.get("uid") == uid:
                owned.append(revision)
        return owned

    async def create_controller_revision(self, parent: Obj, revision: Obj,
                                         collision_count: int) -> tuple[Obj, int]:
        """Create `revision` named after the parent and its hash with `collision_count`;
        on a name taken by other data, count a collision and try the next name. Returns
        the created (or equal existing) revision and the collision count reached."""
        meta = _meta(parent)
        namespace = str(meta.get("namespace") or "")
        clone = copy.deepcopy(revision)
        clone.setdefault("metadata", {})["namespace"] = namespace
        wanted = data_bytes(revision.get("data"))
        while True:
            hash_ = hash_controller_revision(revision, collision_count)
            clone["metadata"]["name"] = controller_revision_name(
                str(meta.get("name") or ""), hash_)
            try:
                created = await self.client.create(CONTROLLER_REVISIONS, clone, namespace)
            except AlreadyExistsError:
                exists = await self.client.get(CONTROLLER_REVISIONS,
                                               clone["metadata"]["name"], namespace)
                if data_bytes(exists.get("data")) == wanted:
                    return exists, collision_count
                collision_count += 1
                continue
            return created, collision_count

    async def update_controller_revision(self, revision: Obj, new_revision: int) -> Obj:
        """Set the revision number of `revision`, retrying conflicts on a fresh copy."""
        clone = copy.deepcopy(revision)
        meta = _meta(clone)
        name, namespace = str(meta.get("name")), meta.get("namespace")
        delay = _UPDATE_BACKOFF
        attempt = 1
        while revision_number(clone) != new_revision:
            clone["revision"] = new_revision
            try:
                return await self.client.update(CONTROLLER_REVISIONS, clone, namespace)
            except ConflictError:
                if attempt >= _UPDATE_ATTEMPTS:
                    raise
            attempt += 1
            await asyncio.sleep(delay)
            delay *= _UPDATE_FACTOR
            clone = await self.client.get(CONTROLLER_REVISIONS, name, namespace)
        return clone

    async def delete_controller_revision(self, revision: Obj) -> None:
        meta = _meta(revision)
        await self.client.delete(CONTROLLER_REVISIONS, str(meta.get("name")),
                                 meta.get("namespace"))

    async def adopt_controller_revision(self, parent: Obj, parent_kind: tuple[str, str],
                                        revision: Obj) -> Obj:
        """Make `parent` the controller of an orphaned revision."""
        owner = controller_ref(revision)
        if owner is not None:
            raise ValueError(f"attempt to adopt revision owned by {owner}")
        api_version, kind = parent_kind
        meta = _meta(revision)
        patch = adopt_patch(parent, str(meta.get("uid")), api_version=api_version, kind=kind)
        return await self.client.patch(CONTROLLER_REVISIONS, str(meta.get("name")), patch,
                                       _meta(parent).get("namespace"),
                                       patch_type="strategic")

    async def release_controller_revision(self, parent: Obj, revision: Obj) -> Obj | None:
        """Remove `parent`'s owner reference; None when the revision is gone or was
        recreated (nothing left to release)."""
        meta = _meta(revision)
        patch = release_patch(str(meta.get("uid")), [str(_meta(parent).get("uid"))])
        try:
            return await self.client.patch(CONTROLLER_REVISIONS, str(meta.get("name")), patch,
                                           meta.get("namespace"), patch_type="strategic")
        except (NotFoundError, InvalidError):
            return None
