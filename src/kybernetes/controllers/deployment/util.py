"""Pure helpers of the Deployment controller: upstream's `pkg/controller/deployment/util/
deployment_util.go` (and the few `controller_utils.go` helpers it leans on), over plain dicts.

What lives here:

- **Revisions and annotations**: `deployment.kubernetes.io/revision` on ReplicaSets (and
  copied to the Deployment), `revision-history` (the revisions an RS served before a
  rollback brought it back, capped at 2000 characters as upstream), `desired-replicas` and
  `max-replicas` (the deployment size and size + maxSurge when the RS was last scaled, which
  proportional scaling reads back), and the copying of the Deployment's own annotations
  (e.g. `kubernetes.io/change-cause`) onto its new ReplicaSet, minus the skipped ones.
- **The pod-template hash** (`compute_hash`, upstream's `controller.ComputeHash`): a 32-bit
  FNV-1a over the template's canonical JSON (sorted keys, no whitespace), then, if the
  Deployment has a `collisionCount`, its four little-endian bytes; the decimal value is
  spelled with `SafeEncodeString`'s alphabet ("bcdfghjklmnpqrstvwxz2456789", no vowels, so
  no words), giving upstream-shaped values such as `7c5ddbdf54`. Upstream hashes Go's
  printing of the struct, so the values differ from upstream's for the same template; they
  are stable for a given template and collision count, which is all the controller needs.
- **Which ReplicaSet is new**: the oldest one whose template equals the Deployment's,
  ignoring the `pod-template-hash` label (`equal_ignore_hash`). Equality is upstream's
  `Semantic.DeepEqual`, where unset and empty maps/lists are the same.
- **Counts and fenceposts**: maxSurge/maxUnavailable from ints or percentages (surge rounds
  up, unavailability down; both zero means one unavailable), the replica counts summed over
  ReplicaSets, `new_rs_new_replicas`, `is_saturated`, proportional scaling shares.
- **Conditions**: `Progressing`, `Available`, `ReplicaFailure` with upstream's reasons and
  its rule that an unchanged status keeps `lastTransitionTime`.
- **Orderings**: by creation time (name breaks ties), by size (newer or older first on
  ties), by revision.

Everything here is synchronous and side-effect free except for mutating the dict it is
given where upstream mutates its argument (documented per function).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from kybernetes.api.objects import find_condition, meta, spec, status
from kybernetes.api.timeutil import now, parse_time, rfc3339
from kybernetes.client.rest import Obj

# ----------------------------------------------------------------------------- constants

DEFAULT_UNIQUE_LABEL_KEY = "pod-template-hash"

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
DEPRECATED_ROLLBACK_TO = "deprecated.deployment.rollback.to"

# The deployment controller's cap on revision-history (maxRevHistoryLengthInChars).
MAX_REVISION_HISTORY_CHARS = 2000

# Condition types.
PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"

# Progressing reasons.
REPLICA_SET_UPDATED_REASON = "ReplicaSetUpdated"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
NEW_REPLICA_SET_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_DEPLOY_REASON = "DeploymentPaused"
RESUMED_DEPLOY_REASON = "DeploymentResumed"
# Available reasons.
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

ROLLING_UPDATE = "RollingUpdate"
RECREATE = "Recreate"

# Upstream's math.MaxInt32 sentinel: "no deadline" / "keep every revision".
_MAX_INT32 = 2**31 - 1

_ANNOTATIONS_TO_SKIP = frozenset({
    LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, DEPRECATED_ROLLBACK_TO,
})

# k8s.io/apimachinery/pkg/util/rand: consonants and digits that cannot spell words.
_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


# ----------------------------------------------------------------------------- accessors


def annotations_of(obj: Obj) -> dict[str, str]:
    a = meta(obj).get("annotations")
    return a if isinstance(a, dict) else {}


def replicas(obj: Obj) -> int:
    """`spec.replicas` (defaulted by the API server, so present on stored objects)."""
    return int(spec(obj).get("replicas") or 0)


def status_int(obj: Obj, field: str) -> int:
    return int(status(obj).get(field) or 0)


def uid(obj: Obj) -> str:
    return str(meta(obj).get("uid") or "")


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The owner reference with `controller: true` (metav1.GetControllerOf)."""
    for ref in meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


# ----------------------------------------------------------------------------- hashing


def safe_encode_string(text: str) -> str:
    """Upstream's `rand.SafeEncodeString`: each character mapped into a vowel-free alphabet."""
    return "".join(_SAFE_ALPHANUMS[ord(c) % len(_SAFE_ALPHANUMS)] for c in text)


def fnv32a(data: bytes, value: int = _FNV32_OFFSET) -> int:
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def compute_hash(template: Obj, collision_count: int | None) -> str:
    """The `pod-template-hash` of a pod template and the Deployment's collision count."""
    value = fnv32a(orjson.dumps(_semantic(template), option=orjson.OPT_SORT_KEYS))
    if collision_count is not None:
        value = fnv32a(int(collision_count & 0xFFFFFFFF).to_bytes(4, "little"), value)
    return safe_encode_string(str(value))


def _semantic(value: Any) -> Any:
    """The value with unset and empty maps/lists dropped (Semantic.DeepEqual's view)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _semantic(v)
            if v is None or v == {} or v == []:
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _semantic_without_hash(template: Obj) -> Any:
    """The template's semantic form (a fresh structure) without the pod-template-hash
    label."""
    form = _semantic(template)
    labels = (form.get("metadata") or {}).get("labels")
    if labels and DEFAULT_UNIQUE_LABEL_KEY in labels:
        del labels[DEFAULT_UNIQUE_LABEL_KEY]
        if not labels:
            del form["metadata"]["labels"]
            if not form["metadata"]:
                del form["metadata"]
    return form


def template_without_hash(template: Obj) -> Obj:
    """A copy of a pod template without the pod-template-hash label."""
    out = copy.deepcopy(template)
    labels = meta(out).get("labels")
    if isinstance(labels, dict):
        labels.pop(DEFAULT_UNIQUE_LABEL_KEY, None)
    return out


def equal_ignore_hash(template1: Obj, template2: Obj) -> bool:
    """Whether two pod templates are equal once the pod-template-hash label is dropped."""
    equal: bool = _semantic_without_hash(template1) == _semantic_without_hash(template2)
    return equal


# ----------------------------------------------------------------------------- orderings


def _created(rs: Obj) -> str:
    # RFC 3339 with second precision in UTC sorts as text.
    return str(meta(rs).get("creationTimestamp") or "")


def _name(rs: Obj) -> str:
    return str(meta(rs).get("name") or "")


def by_creation_timestamp(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first; equal timestamps by name (ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=lambda rs: (_created(rs), _name(rs)))


def by_size_newer(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; on equal size the newer first (ReplicaSetsBySizeNewer)."""
    newest_first = list(reversed(by_creation_timestamp(rss)))
    return sorted(newest_first, key=lambda rs: -replicas(rs))


def by_size_older(rss: Iterable[Obj]) -> list[Obj]:
    """Largest first; on equal size the older first (ReplicaSetsBySizeOlder)."""
    return sorted(by_creation_timestamp(rss), key=lambda rs: -replicas(rs))


def by_revision(rss: Iterable[Obj]) -> list[Obj]:
    """Lowest revision first; unparsable or equal revisions by creation time."""
    ordered = by_creation_timestamp(rss)

    def key(rs: Obj) -> int:
        parsed = revision(rs)
        return parsed if parsed is not None else 0

    return sorted(ordered, key=key)


def filter_active(rss: Iterable[Obj | None]) -> list[Obj]:
    """ReplicaSets with a non-zero spec.replicas (controller.FilterActiveReplicaSets)."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# ----------------------------------------------------------------------------- revisions


def revision(obj: Obj) -> int | None:
    """The revision annotation as an int: 0 when absent, None when unparsable."""
    value = annotations_of(obj).get(REVISION_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def max_revision(rss: Iterable[Obj]) -> int:
    best = 0
    for rs in rss:
        value = revision(rs)
        if value is not None and value > best:
            best = value
    return best


def set_deployment_revision(deployment: Obj, value: str) -> bool:
    """Set the Deployment's revision annotation (mutates); True if it changed."""
    notes = deployment.setdefault("metadata", {}).setdefault("annotations", {})
    if notes.get(REVISION_ANNOTATION) == value:
        return False
    notes[REVISION_ANNOTATION] = value
    return True


def skip_annotation(key: str) -> bool:
    """Annotations the controller manages itself, never copied between a Deployment and
    its ReplicaSets."""
    return key in _ANNOTATIONS_TO_SKIP


def _copy_deployment_annotations(deployment: Obj, rs: Obj) -> bool:
    notes = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in annotations_of(deployment).items():
        # The RS's own revision is the reliable one; the Deployment's copy may be stale.
        if key in _ANNOTATIONS_TO_SKIP or notes.get(key) == value:
            continue
        notes[key] = value
        changed = True
    return changed


def set_new_replica_set_annotations(deployment: Obj, rs: Obj, new_revision: str, *,
                                    exists: bool,
                                    history_limit: int = MAX_REVISION_HISTORY_CHARS) -> bool:
    """Copy the Deployment's annotations onto its new RS, raise the RS's revision to
    `new_revision` (recording the old one in revision-history: a rollback), and on a
    not-yet-created RS add the replicas annotations. Mutates `rs`; True if it changed."""
    changed = _copy_deployment_annotations(deployment, rs)
    notes = rs["metadata"]["annotations"]
    had_revision = REVISION_ANNOTATION in notes
    old_revision = notes.get(REVISION_ANNOTATION, "")
    try:
        old_value = int(old_revision) if old_revision else 0
    except ValueError:
        # Upstream leaves an RS with a garbled revision alone.
        return False
    new_value = int(new_revision)
    if old_value < new_value:
        notes[REVISION_ANNOTATION] = new_revision
        changed = True
        if had_revision:
            history = notes.get(REVISION_HISTORY_ANNOTATION, "")
            revisions = history.split(",")
            if not revisions[0]:
                notes[REVISION_HISTORY_ANNOTATION] = old_revision
            else:
                total = len(history) + len(old_revision) + 1
                start = 0
                while total > history_limit and start < len(revisions):
                    total -= len(revisions[start]) + 1
                    start += 1
                if total <= history_limit:
                    notes[REVISION_HISTORY_ANNOTATION] = ",".join(
                        [*revisions[start:], old_revision])
    if not exists:
        desired = replicas(deployment)
        if set_replicas_annotations(rs, desired, desired + max_surge(deployment)):
            changed = True
    return changed


def _int_annotation(rs: Obj, key: str) -> int | None:
    value = annotations_of(rs).get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS_ANNOTATION)


def max_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS_ANNOTATION)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """Record desired-replicas and max-replicas on the RS (mutates); True if changed."""
    notes = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)),
                       (MAX_REPLICAS_ANNOTATION, str(maximum))):
        if notes.get(key) != value:
            notes[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    notes = annotations_of(rs)
    return notes.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or \
        notes.get(MAX_REPLICAS_ANNOTATION) != str(maximum)


def rollback_to(deployment: Obj) -> int | None:
    """The revision `deprecated.deployment.rollback.to` asks for (0: the previous one);
    None when absent or not a number."""
    value = annotations_of(deployment).get(DEPRECATED_ROLLBACK_TO)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- strategy


def is_rolling_update(deployment: Obj) -> bool:
    return (spec(deployment).get("strategy") or {}).get("type") == ROLLING_UPDATE


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int, or "N%" of `total` rounded up or
    down. Raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a "
                         "percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
    scaled = float(percent) * float(total) / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def resolve_fenceposts(max_surge_value: Any, max_unavailable_value: Any,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas: surge rounds up, unavailability down;
    both zero would deadlock a rollout, so unavailability becomes one."""
    surge = scaled_value(0 if max_surge_value is None else max_surge_value, desired,
                         round_up=True)
    unavailable = scaled_value(0 if max_unavailable_value is None else max_unavailable_value,
                               desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(deployment: Obj) -> dict[str, Any]:
    rolling = (spec(deployment).get("strategy") or {}).get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else {}


def max_surge(deployment: Obj) -> int:
    if not is_rolling_update(deployment):
        return 0
    rolling = _rolling(deployment)
    try:
        surge, _ = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                      replicas(deployment))
    except ValueError:
        return 0  # validation rejects such values; upstream ignores the error here too
    return surge


def max_unavailable(deployment: Obj) -> int:
    desired = replicas(deployment)
    if not is_rolling_update(deployment) or desired == 0:
        return 0
    rolling = _rolling(deployment)
    try:
        _, unavailable = resolve_fenceposts(rolling.get("maxSurge"),
                                            rolling.get("maxUnavailable"), desired)
    except ValueError:
        return 0
    return min(unavailable, desired)


def has_progress_deadline(deployment: Obj) -> bool:
    value = spec(deployment).get("progressDeadlineSeconds")
    return value is not None and value != _MAX_INT32


def has_revision_history_limit(deployment: Obj) -> bool:
    value = spec(deployment).get("revisionHistoryLimit")
    return value is not None and value != _MAX_INT32


# ----------------------------------------------------------------------------- counting


def replica_count(rss: Iterable[Obj | None]) -> int:
    """Sum of spec.replicas (GetReplicaCountForReplicaSets)."""
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "replicas") for rs in rss if rs is not None)


def ready_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rss if rs is not None)


def available_replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rss if rs is not None)


def terminating_replica_count(rss: Iterable[Obj | None]) -> int | None:
    """Sum of status.terminatingReplicas; None when a ReplicaSet that its controller has
    already processed does not report it (the count would be a guess)."""
    total = 0
    for rs in rss:
        if rs is None:
            continue
        st = status(rs)
        value = st.get("terminatingReplicas")
        if value is None:
            if not st.get("observedGeneration"):
                continue  # not yet seen by the ReplicaSet controller
            return None
        total += int(value)
    return total


def new_rs_new_replicas(deployment: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How many replicas the new RS may have now (NewRSNewReplicas)."""
    strategy = (spec(deployment).get("strategy") or {}).get("type")
    desired = replicas(deployment)
    if strategy == ROLLING_UPDATE:
        rolling = _rolling(deployment)
        surge, _ = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                      desired)
        current = replica_count(all_rss)
        max_total = desired + surge
        if current >= max_total:
            return replicas(new_rs)  # cannot scale up
        scale_up = min(max_total - current, desired - replicas(new_rs))
        return replicas(new_rs) + scale_up
    if strategy == RECREATE:
        return desired
    raise ValueError(f"deployment type {strategy} isn't supported")


def is_saturated(deployment: Obj, rs: Obj | None) -> bool:
    """Whether the new RS runs the whole deployment and all of it is available."""
    if rs is None:
        return False
    desired = desired_replicas_annotation(rs)
    if desired is None:
        return False
    size = replicas(deployment)
    return replicas(rs) == size and desired == size and \
        status_int(rs, "availableReplicas") == size


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The only active RS, or the newest one when none is active; None when several
    are active (they must be scaled proportionally)."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation_timestamp(old_rss)))
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def _replica_set_fraction(rs: Obj, deployment: Obj) -> int:
    desired = replicas(deployment)
    if desired == 0:
        return -replicas(rs)  # scaling the deployment to zero scales every RS to zero
    deployment_max = desired + max_surge(deployment)
    before = max_replicas_annotation(rs)
    if not before:
        # No (or zero) annotation: fall back to the deployment's current size.
        before = status_int(deployment, "replicas")
        if before == 0:
            return 0
    new_size = replicas(rs) * deployment_max / before
    return _round_half_away(new_size) - replicas(rs)


def _round_half_away(value: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() goes to even)."""
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def replica_set_proportion(rs: Obj | None, deployment: Obj, to_add: int, added: int) -> int:
    """How many of the `to_add` replicas (negative: to remove) this RS gets, given
    `added` already handed out (GetReplicaSetProportion)."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _replica_set_fraction(rs, deployment)
    allowed = to_add - added
    if to_add > 0:
        return min(fraction, allowed)
    return max(fraction, allowed)


# ----------------------------------------------------------------------------- finding


def find_new_replica_set(deployment: Obj, rss: Iterable[Obj]) -> Obj | None:
    """The oldest RS whose template matches the Deployment's (ignoring the hash label);
    several can exist after the hashing changed (kubernetes#40415)."""
    wanted = _semantic_without_hash(spec(deployment).get("template") or {})
    for rs in by_creation_timestamp(rss):
        if _semantic_without_hash(spec(rs).get("template") or {}) == wanted:
            return rs
    return None


def find_old_replica_sets(deployment: Obj, rss: Iterable[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(old RSs with replicas, all old RSs)."""
    all_rss = list(rss)
    new_rs = find_new_replica_set(deployment, all_rss)
    new_uid = uid(new_rs) if new_rs is not None else None
    all_old = [rs for rs in all_rss if new_rs is None or uid(rs) != new_uid]
    return [rs for rs in all_old if replicas(rs) != 0], all_old


# ----------------------------------------------------------------------------- conditions


def new_condition(type_: str, status_: str, reason: str, message: str,
                  when: datetime | None = None) -> dict[str, Any]:
    stamp = rfc3339(when or now())
    return {"type": type_, "status": status_, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(st: dict[str, Any], condition: dict[str, Any]) -> None:
    """Add or replace the condition of its type (mutates `st`). The same status and reason
    is no change at all; the same status keeps the old lastTransitionTime."""
    current = find_condition(st, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition["reason"]:
        return
    condition = dict(condition)
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    st["conditions"] = [*(c for c in st.get("conditions") or ()
                          if c.get("type") != condition["type"]), condition]


def remove_condition(st: dict[str, Any], type_: str) -> None:
    conditions = [c for c in st.get("conditions") or () if c.get("type") != type_]
    if conditions:
        st["conditions"] = conditions
    else:
        st.pop("conditions", None)


def replica_set_to_deployment_condition(cond: dict[str, Any]) -> dict[str, Any]:
    return {"type": cond.get("type"), "status": cond.get("status"),
            "lastUpdateTime": cond.get("lastTransitionTime"),
            "lastTransitionTime": cond.get("lastTransitionTime"),
            "reason": cond.get("reason"), "message": cond.get("message")}


def deployment_complete(deployment: Obj, new_status: dict[str, Any]) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    desired = replicas(deployment)
    return int(new_status.get("updatedReplicas") or 0) == desired and \
        int(new_status.get("replicas") or 0) == desired and \
        int(new_status.get("availableReplicas") or 0) == desired and \
        int(new_status.get("observedGeneration") or 0) >= int(
            meta(deployment).get("generation") or 0)


def deployment_progressing(deployment: Obj, new_status: dict[str, Any]) -> bool:
    """More updated, ready or available replicas, or fewer old ones, than last time."""
    old = status(deployment)

    def n(st: dict[str, Any], field: str) -> int:
        return int(st.get(field) or 0)

    old_old = n(old, "replicas") - n(old, "updatedReplicas")
    new_old = n(new_status, "replicas") - n(new_status, "updatedReplicas")
    return n(new_status, "updatedReplicas") > n(old, "updatedReplicas") or \
        new_old < old_old or \
        n(new_status, "readyReplicas") > n(old, "readyReplicas") or \
        n(new_status, "availableReplicas") > n(old, "availableReplicas")


def deployment_timed_out(deployment: Obj, new_status: dict[str, Any],
                         when: datetime | None = None) -> bool:
    """Whether the Progressing condition was last updated longer than
    progressDeadlineSeconds ago (and the rollout has neither finished nor timed out)."""
    if not has_progress_deadline(deployment):
        return False
    cond = find_condition(new_status, PROGRESSING)
    if cond is None:
        return False
    if cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    last = parse_time(cond.get("lastUpdateTime"))
    if last is None:
        return False
    deadline = float(spec(deployment)["progressDeadlineSeconds"])
    return (when or now()).timestamp() > last.timestamp() + deadline
