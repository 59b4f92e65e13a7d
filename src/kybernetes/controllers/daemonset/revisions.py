"""A DaemonSet's ControllerRevision history: upstream's `constructHistory`,
`cleanupHistory`, `dedupCurHistories`, `controlledHistories`, `Match`, `getPatch` and
`snapshot` (`pkg/controller/daemon/update.go`), over the shared helpers of
`controllers/history.py`.

Each distinct pod template of a DaemonSet is kept as a ControllerRevision it controls,
named `<ds>-<hash>` (the hash is `controller.ComputeHash` of the template and the
DaemonSet's `collisionCount`, as the Deployment's `pod-template-hash`), labelled as the
template plus `controller-revision-hash: <hash>`, annotated as the DaemonSet (so `kubectl
rollout history` shows its change-cause), with `data` the strategic merge patch that
restores the template (`{"spec": {"template": {..., "$patch": "replace"}}}`, what `kubectl
rollout undo` applies) and `revision` a number.

`construct` claims the revisions (adopting matching orphans, releasing those that stopped
matching), labels any without the hash label with its name, and splits them into the one
matching the current template (the current revision; several are deduplicated into the
newest, relabelling pods to it) and the old ones; the current one is created, or has its
number raised above every old one (a rollback to an old template makes it the newest).
A name taken by a revision of another template bumps `status.collisionCount` (from a
fresh read of the DaemonSet, so a stale count is never bumped) and fails the sync, which is
retried under the new name.

`cleanup` deletes the oldest old revisions beyond `revisionHistoryLimit`, never one whose
hash a pod still carries.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.client import AlreadyExistsError, ApiClient, resource
from kybernetes.client.informer import NAMESPACE_INDEX, Informer
from kybernetes.client.rest import Obj
from kybernetes.controllers.daemonset.util import UNIQUE_LABEL_KEY
from kybernetes.controllers.deployment.util import compute_hash
from kybernetes.controllers.history import (
    CONTROLLER_REVISIONS,
    ControllerHistory,
    controller_revision_name,
    revision_number,
    sort_controller_revisions,
)
from kybernetes.controllers.refmanager import (
    ControllerRefManager,
    owner_reference,
    recheck_deletion_timestamp,
)

log = logging.getLogger(__name__)

DAEMON_SETS = resource("apps", "v1", "daemonsets")
PODS = resource("", "v1", "pods")
API_VERSION = "apps/v1"
KIND = "DaemonSet"

PodsOf = Callable[[Obj], Awaitable[list[Obj]]]


class StaleCollisionCount(Exception):
    """The DaemonSet's collisionCount moved on since this sync read it: retry."""


class HashCollision(Exception):
    """A revision of another template holds this template's name: collisionCount was
    bumped, retry under the next name."""


def get_patch(ds: Obj) -> dict[str, Any]:
    """Upstream's getPatch: the patch restoring the DaemonSet's template."""
    template = copy.deepcopy(spec(ds).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def match(ds: Obj, history: Obj) -> bool:
    """Whether the revision holds the DaemonSet's template (upstream's Match)."""
    return history.get("data") == get_patch(ds)


def max_revision(histories: Iterable[Obj]) -> int:
    return max((revision_number(h) for h in histories), default=0)


def _collision_count(ds: Obj) -> int | None:
    value = (ds.get("status") or {}).get("collisionCount")
    return None if value is None else int(value)


class DaemonSetHistory:
    """The revisions of DaemonSets, read from the shared ControllerRevision informer."""

    def __init__(self, client: ApiClient, informer: Informer, pods_of: PodsOf) -> None:
        self.client = client
        self.informer = informer
        self.history = ControllerHistory(client, informer)
        # The DaemonSet's claimed pods (relabelled when revisions are deduplicated).
        self.pods_of = pods_of

    async def controlled(self, ds: Obj) -> list[Obj]:
        """Upstream's controlledHistories: claim the revisions of the DaemonSet's
        namespace (its own and orphans that match its selector)."""
        selector = label_selector_from_dict(spec(ds).get("selector"))
        candidates = self.informer.store.by_index(NAMESPACE_INDEX,
                                                  str(meta(ds).get("namespace")))
        manager = ControllerRefManager(
            self.client, owner=ds, owner_api_version=API_VERSION, owner_kind=KIND,
            child_resource=CONTROLLER_REVISIONS, selector=selector,
            can_adopt=recheck_deletion_timestamp(self.client, DAEMON_SETS, ds))
        return await manager.claim(candidates)

    async def construct(self, ds: Obj) -> tuple[Obj, list[Obj]]:
        """(current revision, old revisions); see the module docstring."""
        namespace = meta(ds).get("namespace")
        current: list[Obj] = []
        old: list[Obj] = []
        for history in await self.controlled(ds):
            if UNIQUE_LABEL_KEY not in (meta(history).get("labels") or {}):
                labelled = copy.deepcopy(history)
                labelled["metadata"].setdefault("labels", {})[UNIQUE_LABEL_KEY] = \
                    meta(history)["name"]
                history = await self.client.update(CONTROLLER_REVISIONS, labelled, namespace)
            (current if match(ds, history) else old).append(history)
        wanted = max_revision(old) + 1
        if not current:
            return await self.snapshot(ds, wanted), old
        cur = await self.dedup(ds, current)
        if revision_number(cur) < wanted:
            cur = await self.history.update_controller_revision(cur, wanted)
        return cur, old

    async def dedup(self, ds: Obj, current: list[Obj]) -> Obj:
        """Keep the newest of several revisions of the current template; its pods are
        relabelled to it and the others deleted."""
        if len(current) == 1:
            return current[0]
        keep = current[0]
        for history in current:
            if revision_number(history) >= revision_number(keep):
                keep = history
        keep_hash = (meta(keep).get("labels") or {}).get(UNIQUE_LABEL_KEY)
        for pod in await self.pods_of(ds):
            if (meta(pod).get("labels") or {}).get(UNIQUE_LABEL_KEY) != keep_hash:
                await self.client.patch(
                    PODS, str(meta(pod)["name"]),
                    {"metadata": {"labels": {UNIQUE_LABEL_KEY: keep_hash}}},
                    meta(ds).get("namespace"), patch_type="merge")
        for history in current:
            if meta(history).get("name") != meta(keep).get("name"):
                await self.history.delete_controller_revision(history)
        return keep

    async def snapshot(self, ds: Obj, revision: int) -> Obj:
        """Create the revision of the DaemonSet's current template."""
        dmeta = meta(ds)
        namespace = dmeta.get("namespace")
        template = spec(ds).get("template") or {}
        hash_ = compute_hash(template, _collision_count(ds))
        name = controller_revision_name(str(dmeta.get("name")), hash_)
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[UNIQUE_LABEL_KEY] = hash_
        history_meta: dict[str, Any] = {
            "name": name, "namespace": namespace, "labels": labels,
            "ownerReferences": [owner_reference(ds, api_version=API_VERSION, kind=KIND)]}
        if dmeta.get("annotations"):
            history_meta["annotations"] = dict(dmeta["annotations"])
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": history_meta, "data": get_patch(ds), "revision": revision}
        try:
            return await self.client.create(CONTROLLER_REVISIONS, body, namespace)
        except AlreadyExistsError:
            existing = await self.client.get(CONTROLLER_REVISIONS, name, namespace)
            if match(ds, existing):
                return existing
        fresh = await self.client.get(DAEMON_SETS, str(dmeta.get("name")), namespace)
        if _collision_count(fresh) != _collision_count(ds):
            raise StaleCollisionCount(
                f"found a stale collision count ({_collision_count(ds)}, expected "
                f"{_collision_count(fresh)}) of DaemonSet {dmeta.get('name')!r} while "
                f"processing; will retry until it is updated")
        status = dict(fresh.get("status") or {})
        status["collisionCount"] = (_collision_count(fresh) or 0) + 1
        await self.client.update_status(DAEMON_SETS, {**fresh, "status": status}, namespace)
        log.info("found a hash collision for DaemonSet %s/%s - bumping collisionCount to %d "
                 "to resolve it", namespace, dmeta.get("name"), status["collisionCount"])
        raise HashCollision(f"controllerrevision {name!r} already exists with another "
                            f"template")

    async def cleanup(self, ds: Obj, old: list[Obj], pods: Iterable[Obj]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no pod (terminal
        and deleted ones included) still runs."""
        limit = spec(ds).get("revisionHistoryLimit")
        to_kill = len(old) - (10 if limit is None else int(limit))
        if to_kill <= 0:
            return
        live = {h for p in pods if (h := (meta(p).get("labels") or {}).get(UNIQUE_LABEL_KEY))}
        for history in sort_controller_revisions(old):
            if to_kill <= 0:
                break
            if (meta(history).get("labels") or {}).get(UNIQUE_LABEL_KEY) in live:
                continue
            await self.history.delete_controller_revision(history)
            to_kill -= 1
