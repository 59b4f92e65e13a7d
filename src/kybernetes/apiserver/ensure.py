"""Create-or-update of the objects the API server itself keeps (its APIServices, the
flow-control bootstrap configuration, the default ServiceCIDR).

`ensure` makes a stored object hold the desired top-level fields (all but metadata and
status) and labels/annotations, and then the desired status through `/status`, writing
only what differs, as upstream's bootstrap controllers do (autoregister, the APF
configuration controller's ensurers, the default ServiceCIDR controller).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors, timeutil
from kybernetes.apiserver.admission import lookup

if TYPE_CHECKING:
    from kybernetes.api.registry import ResourceInfo
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

MANAGER = "kube-apiserver"
_NOT_SPEC = ("apiVersion", "kind", "metadata", "status")


def _meta_maps(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {k: meta.get(k) or {} for k in ("labels", "annotations")}


def _needs_update(current: Obj, desired: Obj) -> bool:
    if any(current.get(k) != v for k, v in desired.items() if k not in _NOT_SPEC):
        return True
    have, want = _meta_maps(current), _meta_maps(desired)
    return any({**have[k], **want[k]} != have[k] for k in want)


async def ensure(server: ApiServer, info: ResourceInfo, desired: Obj,
                 status: Obj | None = None, *, overwrite: bool = True) -> Obj:
    """The stored object named as `desired`, created or brought in line with it (only
    created when not `overwrite`), then given `status` when one is given."""
    name = desired["metadata"]["name"]
    namespace = desired["metadata"].get("namespace", "")
    current = await lookup.live(server.store, info, namespace, name)
    if current is None:
        try:
            current = await server.store.create(info, namespace, _copy(desired),
                                                manager=MANAGER)
        except errors.StatusError as err:
            if err.code != 409:
                raise
            current = await lookup.live(server.store, info, namespace, name)
            assert current is not None
    elif overwrite and _needs_update(current, desired):
        updated = {**current, **{k: v for k, v in _copy(desired).items() if k not in _NOT_SPEC}}
        meta = dict(current["metadata"])
        for key, wanted in _meta_maps(desired).items():
            if wanted:
                meta[key] = {**(meta.get(key) or {}), **wanted}
        updated["metadata"] = meta
        current = await server.store.update(info, namespace, name, updated, manager=MANAGER)
    if status is not None:
        status = with_transition_times(status, current.get("status") or {})
    if status is not None and current.get("status") != status:
        current = await server.store.update(info, namespace, name, {**current, "status": status},
                                            subresource="status", manager=MANAGER)
    return current


def _copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


def with_transition_times(status: Obj, current: Obj) -> Obj:
    """`status` with each condition's lastTransitionTime: kept from the current condition
    of that type while its status is the same, now otherwise."""
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return status
    before = {c.get("type"): c for c in current.get("conditions") or [] if isinstance(c, dict)}
    now = timeutil.now_rfc3339()
    timed = []
    for condition in conditions:
        old = before.get(condition.get("type")) or {}
        kept = old.get("lastTransitionTime") if old.get("status") == condition.get("status") \
            else None
        timed.append({**condition, "lastTransitionTime": kept or now})
    return {**status, "conditions": timed}
