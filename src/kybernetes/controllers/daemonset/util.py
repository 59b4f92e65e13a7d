"""Pure helpers of the DaemonSet controller: upstream's `pkg/controller/daemon/util/
daemonset_util.go`, over plain dicts.

- **Daemon pod templates** (`create_pod_template`): the DaemonSet's template with the
  tolerations upstream adds to every daemon pod (`add_daemon_pod_tolerations`: NoExecute
  `not-ready` and `unreachable` with no time limit, NoSchedule `disk-pressure`,
  `memory-pressure`, `pid-pressure`, `unschedulable`, and `network-unavailable` for
  hostNetwork pods) and the `pod-template-generation` and `controller-revision-hash`
  labels. Each pod then gets a required node affinity naming its node
  (`replace_node_name_affinity`: one term, `metadata.name In [node]`, replacing the
  required terms), so the scheduler binds it there.
- **Which node a pod is for** (`target_node_name`): `spec.nodeName` once bound, else the
  `metadata.name` field requirement of its required node affinity.
- **Up to date** (`is_pod_updated`): its `controller-revision-hash` is the current one, or
  its `pod-template-generation` is the DaemonSet's `deprecated.daemonset.template.
  generation` annotation.
- **Rolling update bounds** (`surge_count`, `unavailable_count`, `allows_surge`):
  maxSurge and maxUnavailable as ints or percentages of the desired nodes, rounded up.
"""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api.objects import meta, spec
from kybernetes.client.rest import Obj
from kybernetes.controllers.deployment.util import scaled_value

# apps.DefaultDaemonSetUniqueLabelKey (= ControllerRevisionHashLabelKey).
UNIQUE_LABEL_KEY = "controller-revision-hash"
# extensions.DaemonSetTemplateGenerationKey.
TEMPLATE_GENERATION_KEY = "pod-template-generation"
# appsv1.DeprecatedTemplateGeneration.
DEPRECATED_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
ROLLING_UPDATE = "RollingUpdate"
ON_DELETE = "OnDelete"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
NODE_NAME_FIELD = "metadata.name"


def template_generation(ds: Obj) -> int | None:
    """The DaemonSet's `deprecated.daemonset.template.generation`, None when unset or not
    an integer (upstream's GetTemplateGeneration; the controller then goes by hash)."""
    value = (meta(ds).get("annotations") or {}).get(DEPRECATED_TEMPLATE_GENERATION)
    if value is None:
        return None
    try:
        return int(value, 10)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------- tolerations


def _toleration(key: str, effect: str) -> dict[str, Any]:
    return {"key": key, "operator": "Exists", "effect": effect}


def _same_toleration(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Upstream's Toleration.MatchToleration: same key, operator, value and effect."""
    return all((a.get(f) or "") == (b.get(f) or "")
               for f in ("key", "operator", "value", "effect"))


def _add_or_update_toleration(pod_spec: dict[str, Any], toleration: dict[str, Any]) -> None:
    """Upstream's AddOrUpdateTolerationInPodSpec."""
    tolerations = [t for t in pod_spec.get("tolerations") or () if isinstance(t, dict)]
    for i, old in enumerate(tolerations):
        if _same_toleration(old, toleration):
            if old != toleration:
                tolerations[i] = toleration
            pod_spec["tolerations"] = tolerations
            return
    tolerations.append(toleration)
    pod_spec["tolerations"] = tolerations


def add_daemon_pod_tolerations(pod_spec: dict[str, Any]) -> None:
    """Upstream's AddOrUpdateDaemonPodTolerations, in place: daemon pods stay on nodes
    that are not ready, unreachable, under pressure or cordoned."""
    for key in (TAINT_NOT_READY, TAINT_UNREACHABLE):
        _add_or_update_toleration(pod_spec, _toleration(key, "NoExecute"))
    for key in (TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_PID_PRESSURE,
                TAINT_UNSCHEDULABLE):
        _add_or_update_toleration(pod_spec, _toleration(key, "NoSchedule"))
    if pod_spec.get("hostNetwork"):
        _add_or_update_toleration(pod_spec, _toleration(TAINT_NETWORK_UNAVAILABLE,
                                                        "NoSchedule"))


def create_pod_template(template: Obj, generation: int | None, hash_: str) -> Obj:
    """Upstream's CreatePodTemplate: the template with the daemon tolerations and the
    generation and hash labels."""
    out = copy.deepcopy(template)
    pod_spec = out.setdefault("spec", {})
    add_daemon_pod_tolerations(pod_spec)
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    if generation is not None:
        labels[TEMPLATE_GENERATION_KEY] = str(generation)
    if hash_:
        labels[UNIQUE_LABEL_KEY] = hash_
    return out


# ----------------------------------------------------------------------------- node affinity


def replace_node_name_affinity(affinity: dict[str, Any] | None, node_name: str
                               ) -> dict[str, Any]:
    """Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the required node affinity
    becomes one term, `metadata.name In [node_name]` (the controller has already checked
    the template's own terms against that node). Other parts of the affinity are kept."""
    out = copy.deepcopy(affinity) if affinity else {}
    node_affinity = out.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}]}
    return out


def target_node_name(pod: Obj) -> str | None:
    """Upstream's GetTargetNodeName: the node a daemon pod runs on or is meant for; None
    when neither is said."""
    pod_spec = spec(pod)
    if pod_spec.get("nodeName"):
        return str(pod_spec["nodeName"])
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not isinstance(required, dict):
        return None
    for term in required.get("nodeSelectorTerms") or ():
        if not isinstance(term, dict):
            continue
        for requirement in term.get("matchFields") or ():
            if isinstance(requirement, dict) and requirement.get("key") == NODE_NAME_FIELD \
                    and requirement.get("operator") == "In":
                values = requirement.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None


# ----------------------------------------------------------------------------- updates


def is_pod_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    """Upstream's IsPodUpdated: the pod is of the current template, by hash or by template
    generation."""
    labels = meta(pod).get("labels") or {}
    template_matches = generation is not None and \
        labels.get(TEMPLATE_GENERATION_KEY) == str(generation)
    hash_matches = bool(hash_) and labels.get(UNIQUE_LABEL_KEY) == hash_
    return hash_matches or template_matches


def _rolling_update(ds: Obj) -> dict[str, Any] | None:
    strategy = spec(ds).get("updateStrategy") or {}
    if strategy.get("type") != ROLLING_UPDATE:
        return None
    rolling = strategy.get("rollingUpdate")
    return rolling if isinstance(rolling, dict) else None


def surge_count(ds: Obj, number_to_schedule: int) -> int:
    """Upstream's SurgeCount: maxSurge of a rolling update (0 without one). Raises
    ValueError for a malformed value."""
    rolling = _rolling_update(ds)
    if rolling is None or rolling.get("maxSurge") is None:
        return 0
    return scaled_value(rolling["maxSurge"], number_to_schedule, round_up=True)


def unavailable_count(ds: Obj, number_to_schedule: int) -> int:
    """Upstream's UnavailableCount: maxUnavailable of a rolling update (0 without one).
    Raises ValueError for a malformed value."""
    rolling = _rolling_update(ds)
    if rolling is None:
        return 0
    value = rolling.get("maxUnavailable")
    if value is None:
        raise ValueError("nil value for IntOrString")
    return scaled_value(value, number_to_schedule, round_up=True)


def allows_surge(ds: Obj) -> bool:
    """Upstream's AllowsSurge: a rolling update with a maxSurge above zero."""
    try:
        return surge_count(ds, 1) > 0
    except ValueError:
        return False
