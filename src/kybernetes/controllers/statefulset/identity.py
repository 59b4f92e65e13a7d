"""Who a StatefulSet's pods are and what they look like: upstream's
`pkg/controller/statefulset/stateful_set_utils.go` (minus the claim ownership rules, in
`claims.py`), over plain dicts.

- **Identity**: pod `<set>-<ordinal>` (ordinals from `spec.ordinals.start`, default 0, up to
  start + replicas - 1); the ordinal is read back from the name (`(.*)-([0-9]+)$`, -1 when
  there is none or it overflows an int32). A pod carries the labels
  `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index` (the PodIndexLabel
  gate is GA), `controller-revision-hash` naming its revision, and, set once at creation
  since they are immutable, `spec.hostname` (its name) and `spec.subdomain`
  (`spec.serviceName`).
- **Storage**: each `volumeClaimTemplates` entry gives the pod a claim
  `<template>-<set>-<ordinal>` (labelled with the template's labels plus the set's
  `matchLabels`) and a volume of the template's name using it, replacing any pod volume of
  that name.
- **Health**: running and ready; available (ready for `minReadySeconds`); created (has a
  phase); terminating (has a deletionTimestamp); unavailable (not healthy or not available).
- **Revisions**: a revision's data is upstream's `getPatch`, a strategic merge patch
  `{"spec": {"template": {..., "$patch": "replace"}}}`, so `kubectl rollout undo` can apply
  it; `new_revision` copies the set's annotations onto the revision (its change-cause shows
  in `kubectl rollout history`); `apply_revision` patches a set back to a revision.

Every function returns new dicts, except the `update_*`/`init_*`/`set_*` helpers that
mutate the pod they are given, as upstream's do.
"""

from __future__ import annotations

import copy
import math
import re
from datetime import datetime

from kybernetes.api import schema
from kybernetes.api.objects import meta, spec, status
from kybernetes.api.strategicpatch import strategic_merge_patch
from kybernetes.client.rest import Obj
from kybernetes.controllers import history, podutil
from kybernetes.controllers.refmanager import owner_reference

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
SET_KIND = ("apps/v1", "StatefulSet")
POD_KIND = ("v1", "Pod")
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"
PARALLEL = "Parallel"
RETAIN = "Retain"
DELETE = "Delete"

_POD_NAME = re.compile(r"(.*)-([0-9]+)$")
_INT32_MAX = 2 ** 31 - 1


# ----------------------------------------------------------------------------- ordinals


def parent_name_and_ordinal(pod: Obj) -> tuple[str, int]:
    match = _POD_NAME.fullmatch(str(meta(pod).get("name") or ""))
    if match is None:
        return "", -1
    number = int(match.group(2))
    return match.group(1), number if number <= _INT32_MAX else -1


def get_ordinal(pod: Obj) -> int:
    return parent_name_and_ordinal(pod)[1]


def replicas(sts: Obj) -> int:
    value = spec(sts).get("replicas")
    return 1 if value is None else int(value)


def start_ordinal(sts: Obj) -> int:
    ordinals = spec(sts).get("ordinals")
    return int(ordinals.get("start") or 0) if isinstance(ordinals, dict) else 0


def end_ordinal(sts: Obj) -> int:
    return start_ordinal(sts) + replicas(sts) - 1


def pod_in_ordinal_range(pod: Obj, sts: Obj) -> bool:
    return start_ordinal(sts) <= get_ordinal(pod) <= end_ordinal(sts)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{meta(sts).get('name')}-{ordinal}"


def claim_name(sts: Obj, template: Obj, ordinal: int) -> str:
    return f"{meta(template).get('name')}-{meta(sts).get('name')}-{ordinal}"


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_name_and_ordinal(pod)[0] == meta(sts).get("name")


def claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in spec(sts).get("volumeClaimTemplates") or () if isinstance(t, dict)]


# ----------------------------------------------------------------------------- identity


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, ordinal = parent_name_and_ordinal(pod)
    pmeta = meta(pod)
    return (ordinal >= 0 and parent == meta(sts).get("name")
            and pmeta.get("name") == pod_name(sts, ordinal)
            and pmeta.get("namespace") == meta(sts).get("namespace")
            and (pmeta.get("labels") or {}).get(POD_NAME_LABEL) == pmeta.get("name"))


def storage_matches(sts: Obj, pod: Obj) -> bool:
    ordinal = get_ordinal(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in spec(pod).get("volumes") or () if isinstance(v, dict)}
    for template in claim_templates(sts):
        volume = volumes.get(meta(template).get("name"))
        source = (volume or {}).get("persistentVolumeClaim")
        if not isinstance(source, dict) or \
                source.get("claimName") != claim_name(sts, template, ordinal):
            return False
    return True


def persistent_volume_claims(sts: Obj, pod: Obj) -> dict[str, Obj]:
    """The pod's claims by template name (upstream's getPersistentVolumeClaims)."""
    ordinal = get_ordinal(pod)
    match_labels = (spec(sts).get("selector") or {}).get("matchLabels") or {}
    claims: dict[str, Obj] = {}
    for template in claim_templates(sts):
        claim = copy.deepcopy(template)
        claim.pop("status", None)
        cmeta = claim.setdefault("metadata", {})
        cmeta["name"] = claim_name(sts, template, ordinal)
        cmeta["namespace"] = meta(sts).get("namespace")
        cmeta["labels"] = {**(cmeta.get("labels") or {}), **match_labels}
        claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
        claims[str(meta(template).get("name"))] = claim
    return claims


def update_storage(sts: Obj, pod: Obj) -> None:
    claims = persistent_volume_claims(sts, pod)
    pspec = pod.setdefault("spec", {})
    volumes: list[Obj] = [{"name": name, "persistentVolumeClaim": {
        "claimName": meta(claim)["name"]}} for name, claim in claims.items()]
    volumes += [v for v in pspec.get("volumes") or () if v.get("name") not in claims]
    pspec["volumes"] = volumes


def update_identity(sts: Obj, pod: Obj) -> None:
    ordinal = get_ordinal(pod)
    pmeta = pod.setdefault("metadata", {})
    pmeta["name"] = pod_name(sts, ordinal)
    pmeta["namespace"] = meta(sts).get("namespace")
    labels = pmeta.setdefault("labels", {})
    labels[POD_NAME_LABEL] = pmeta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def init_identity(sts: Obj, pod: Obj) -> None:
    """The identity, plus the fields that can only be set at creation."""
    update_identity(sts, pod)
    pspec = pod.setdefault("spec", {})
    pspec["hostname"] = meta(pod)["name"]
    service = spec(sts).get("serviceName")
    if service:
        pspec["subdomain"] = service


def set_pod_revision(pod: Obj, revision: str) -> None:
    pod.setdefault("metadata", {}).setdefault("labels", {})[REVISION_LABEL] = revision


def pod_revision(pod: Obj) -> str:
    return str((meta(pod).get("labels") or {}).get(REVISION_LABEL) or "")


def new_stateful_set_pod(sts: Obj, ordinal: int) -> Obj:
    ref = owner_reference(sts, api_version=SET_KIND[0], kind=SET_KIND[1])
    pod = podutil.pod_from_template(spec(sts).get("template") or {},
                                    str(meta(sts).get("name")), ref)
    pod["metadata"].pop("generateName", None)
    pod["metadata"]["name"] = pod_name(sts, ordinal)
    init_identity(sts, pod)
    update_storage(sts, pod)
    return pod


def new_versioned_pod(current_set: Obj, update_set: Obj, current_revision: str,
                      update_revision: str, ordinal: int) -> Obj:
    """A pod at the current revision below the partition (or, with no rollingUpdate, below
    the current replica count), else at the update revision. The condition keeps Go's
    precedence (`a && b || c`)."""
    strategy = spec(current_set).get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    start = start_ordinal(current_set)
    current_replicas = int(status(current_set).get("currentReplicas") or 0)
    if (strategy.get("type") == ROLLING_UPDATE and rolling is None
            and ordinal < start + current_replicas) or \
            (rolling is not None and ordinal < start + int(rolling.get("partition") or 0)):
        pod = new_stateful_set_pod(current_set, ordinal)
        set_pod_revision(pod, current_revision)
        return pod
    pod = new_stateful_set_pod(update_set, ordinal)
    set_pod_revision(pod, update_revision)
    return pod


# ----------------------------------------------------------------------------- health


def phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def is_created(pod: Obj) -> bool:
    return phase(pod) != ""


def is_pending(pod: Obj) -> bool:
    return phase(pod) == "Pending"


def is_failed(pod: Obj) -> bool:
    return phase(pod) == "Failed"


def is_succeeded(pod: Obj) -> bool:
    return phase(pod) == "Succeeded"


def is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_running_and_ready(pod: Obj) -> bool:
    return phase(pod) == "Running" and podutil.is_pod_ready(pod)


def is_running_and_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    return podutil.is_pod_available(pod, min_ready_seconds, now)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def is_unavailable(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    return not is_healthy(pod) or not is_running_and_available(pod, min_ready_seconds, now)


def allows_burst(sts: Obj) -> bool:
    return spec(sts).get("podManagementPolicy") == PARALLEL


def min_ready_seconds(sts: Obj) -> int:
    return int(spec(sts).get("minReadySeconds") or 0)


def max_unavailable(sts: Obj, replica_count: int) -> int:
    """Upstream's getStatefulSetMaxUnavailable: an int, or a percentage of the replicas
    rounded down; at least 1, 1 when unset."""
    rolling = (spec(sts).get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable")
    if value is None:
        number = 1
    elif isinstance(value, str) and value.endswith("%"):
        number = math.floor(int(value[:-1]) * replica_count / 100)
    else:
        number = int(value)
    return max(number, 1)


# ----------------------------------------------------------------------------- revisions


def get_patch(sts: Obj) -> Obj:
    """What a revision records: the pod template, as a patch replacing it."""
    template = copy.deepcopy(spec(sts).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def new_revision(sts: Obj, revision: int, collision_count: int | None) -> Obj:
    template_labels = meta(spec(sts).get("template") or {}).get("labels")
    cr = history.new_controller_revision(sts, SET_KIND, template_labels, get_patch(sts),
                                         revision, collision_count)
    annotations = meta(sts).get("annotations")
    if annotations:
        cr["metadata"]["annotations"] = dict(annotations)
    return cr


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """The set as it was at `revision` (its template restored by the revision's patch)."""
    definition = schema.definition_for_kind("apps", "v1", "StatefulSet")
    patch = revision.get("data") or {}
    return strategic_merge_patch(
        sts, patch, schema.definitions()[definition] if definition else None)
