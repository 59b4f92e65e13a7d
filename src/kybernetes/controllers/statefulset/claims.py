"""Who owns a StatefulSet pod's PersistentVolumeClaims: the `persistentVolumeClaimRetention
Policy` rules of upstream's `stateful_set_utils.go` (isClaimOwnerUpToDate,
updateClaimOwnerRefForSetAndPod and their helpers).

The garbage collector does the deleting; the controller only sets owner references:

| whenScaled / whenDeleted | claim of a pod in range | claim of a scaled-down pod |
|--------------------------|-------------------------|----------------------------|
| Retain / Retain          | no reference            | no reference               |
| Retain / Delete          | controller ref: the set | controller ref: the set    |
| Delete / Retain          | no reference            | controller ref: the pod    |
| Delete / Delete          | controller ref: the set | controller ref: the pod    |

A claim referencing an earlier set or pod of the same name (a uid mismatch: stale) is left
alone, as is one controlled by something else (then only our own references are removed,
with a `ConflictingController` event, in `podcontrol`). A reference of ours that is not a
controller reference is rewritten.
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers.refmanager import owner_reference
from kybernetes.controllers.statefulset.identity import (
    DELETE,
    POD_KIND,
    RETAIN,
    SET_KIND,
    pod_in_ordinal_range,
)


def retention_policy(sts: Obj) -> tuple[str, str]:
    """(whenScaled, whenDeleted), Retain where unset."""
    policy = spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
    return (str(policy.get("whenScaled") or RETAIN), str(policy.get("whenDeleted") or RETAIN))


def _refs(obj: Obj) -> list[dict[str, Any]]:
    return [r for r in meta(obj).get("ownerReferences") or () if isinstance(r, dict)]


def matches_ref(ref: dict[str, Any], obj: Obj, kind: tuple[str, str]) -> bool:
    """The reference names this object's kind and name (whatever its uid)."""
    return ref.get("apiVersion") == kind[0] and ref.get("kind") == kind[1] and \
        ref.get("name") == meta(obj).get("name")


def has_owner_ref(target: Obj, owner: Obj) -> bool:
    uid = meta(owner).get("uid")
    return any(r.get("uid") == uid for r in _refs(target))


def has_stale_owner_ref(target: Obj, owner: Obj, kind: tuple[str, str]) -> bool:
    for ref in _refs(target):
        if matches_ref(ref, owner, kind):
            return bool(ref.get("uid") != meta(owner).get("uid"))
    return False


def has_unexpected_controller(claim: Obj, sts: Obj, pod: Obj) -> bool:
    """Under a non-Retain policy: a controller of the claim other than the set or pod, or a
    reference to an earlier set or pod of that name."""
    if retention_policy(sts) == (RETAIN, RETAIN):
        return False
    for ref in _refs(claim):
        if matches_ref(ref, sts, SET_KIND):
            if ref.get("uid") != meta(sts).get("uid"):
                return True
            continue
        if matches_ref(ref, pod, POD_KIND):
            if ref.get("uid") != meta(pod).get("uid"):
                return True
            continue
        if ref.get("controller") is True:
            return True
    return False


def has_non_controller_owner(claim: Obj, sts: Obj, pod: Obj) -> bool:
    uids = (meta(sts).get("uid"), meta(pod).get("uid"))
    return any(r.get("uid") in uids and r.get("controller") is not True for r in _refs(claim))


def is_claim_owner_up_to_date(claim: Obj, sts: Obj, pod: Obj) -> bool:
    if has_stale_owner_ref(claim, sts, SET_KIND) or has_stale_owner_ref(claim, pod, POD_KIND):
        return True  # managed by an earlier namesake: not ours to touch
    if has_unexpected_controller(claim, sts, pod):
        return not (has_owner_ref(claim, sts) or has_owner_ref(claim, pod))
    if has_non_controller_owner(claim, sts, pod):
        return False
    when_scaled, when_deleted = retention_policy(sts)
    set_ref, pod_ref = has_owner_ref(claim, sts), has_owner_ref(claim, pod)
    scaled_down = not pod_in_ordinal_range(pod, sts)
    if when_scaled == DELETE and when_deleted == DELETE:
        return scaled_down != set_ref and scaled_down == pod_ref
    if when_scaled == DELETE and when_deleted == RETAIN:
        return not set_ref and scaled_down == pod_ref
    if when_scaled == RETAIN and when_deleted == DELETE:
        return set_ref and not pod_ref
    return not set_ref and not pod_ref  # Retain/Retain, and unknown policies


def updated_owner_refs(claim: Obj, sts: Obj, pod: Obj) -> list[dict[str, Any]]:
    """The claim's ownerReferences as the policy wants them."""
    unexpected = has_unexpected_controller(claim, sts, pod)
    refs = [r for r in _refs(claim)
            if not matches_ref(r, sts, SET_KIND) and not matches_ref(r, pod, POD_KIND)]
    if unexpected:
        return refs
    when_scaled, when_deleted = retention_policy(sts)
    scaled_down = not pod_in_ordinal_range(pod, sts)
    owner: tuple[Obj, tuple[str, str]] | None = None
    if when_scaled == RETAIN and when_deleted == DELETE:
        owner = (sts, SET_KIND)
    elif when_scaled == DELETE and scaled_down:
        owner = (pod, POD_KIND)
    elif when_scaled == DELETE and when_deleted == DELETE:
        owner = (sts, SET_KIND)
    if owner is not None:
        refs.append(owner_reference(owner[0], api_version=owner[1][0], kind=owner[1][1]))
    return refs
