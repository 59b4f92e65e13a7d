"""Persistent volume helpers shared by the PV binder and the scheduler's VolumeBinding
plugin (upstream's `k8s.io/component-helpers/storage/volume`: `pv_helpers.go` and
`helpers.go`): the annotations, a claim's and a volume's class, delayed binding, the
volume/claim match (`FindMatchingVolume`: smallest volume that satisfies the claim) and a
PV's node affinity against a node.

Objects are plain dicts as the API serves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from kybernetes.api.quantity import Quantity, QuantityError
from kybernetes.api.selectors import label_selector_from_dict

Obj = Mapping[str, Any]
V = TypeVar("V", bound=Mapping[str, Any])

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_DYNAMICALLY_PROVISIONED = "pv.kubernetes.io/provisioned-by"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def annotations_of(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def claim_class(claim: Obj) -> str:
    """`GetPersistentVolumeClaimClass`: the beta annotation, else spec.storageClassName."""
    ann = annotations_of(claim)
    if ANN_BETA_STORAGE_CLASS in ann:
        return str(ann[ANN_BETA_STORAGE_CLASS])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def volume_class(volume: Obj) -> str:
    """`GetPersistentVolumeClass`."""
    ann = annotations_of(volume)
    if ANN_BETA_STORAGE_CLASS in ann:
        return str(ann[ANN_BETA_STORAGE_CLASS])
    return str((volume.get("spec") or {}).get("storageClassName") or "")


def is_delay_binding_mode(claim: Obj, classes: Mapping[str, Obj]) -> bool:
    """`IsDelayBindingMode`: the claim's class exists and binds WaitForFirstConsumer."""
    name = claim_class(claim)
    if not name:
        return False
    cls = classes.get(name)
    return cls is not None and cls.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER


def storage_of(resources: Mapping[str, Any] | None) -> Quantity | None:
    value = (resources or {}).get("storage")
    if value is None:
        return None
    try:
        return Quantity.parse(value)
    except QuantityError:
        return None


def claim_request(claim: Obj) -> Quantity:
    found = storage_of(((claim.get("spec") or {}).get("resources") or {}).get("requests"))
    return found if found is not None else Quantity.parse("0")


def volume_mode(spec: Mapping[str, Any]) -> str:
    return str(spec.get("volumeMode") or "Filesystem")


def access_modes_satisfied(claim: Obj, volume: Obj) -> bool:
    """`CheckAccessModes`: the volume offers every mode the claim asks for."""
    offered = set((volume.get("spec") or {}).get("accessModes") or ())
    return all(mode in offered for mode in (claim.get("spec") or {}).get("accessModes") or ())


def is_bound_to_claim(volume: Obj, claim: Obj) -> bool:
    """`IsVolumeBoundToClaim`: claimRef names the claim (and its uid, when set)."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref:
        return False
    meta = claim.get("metadata") or {}
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def _requirement_matches(expr: Mapping[str, Any], labels: Mapping[str, str],
                         node_name: str, *, field: bool) -> bool:
    key = str(expr.get("key") or "")
    op = str(expr.get("operator") or "")
    values = [str(v) for v in expr.get("values") or ()]
    if field:
        if key != "metadata.name":
            return False
        present, value = True, node_name
    else:
        present, value = key in labels, labels.get(key, "")
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    node_name = name_of(node)
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return all(_requirement_matches(e, labels, node_name, field=False) for e in expressions) \
        and all(_requirement_matches(e, labels, node_name, field=True) for e in fields)


def volume_node_affinity_matches(volume: Obj, node: Obj) -> bool:
    """`CheckNodeAffinity`: a volume without required node affinity fits every node."""
    required = (((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required"))
    if not required:
        return True
    return any(node_selector_term_matches(term, node)
               for term in required.get("nodeSelectorTerms") or ())


def check_volume_satisfies_claim(volume: Obj, claim: Obj) -> str | None:
    """`checkVolumeSatisfyClaim` of the binder: None, or why the pre-bound volume does not
    fit the claim (upstream's messages)."""
    vspec, cspec = volume.get("spec") or {}, claim.get("spec") or {}
    requested = claim_request(claim)
    capacity = storage_of(vspec.get("capacity")) or Quantity.parse("0")
    if capacity.amount < requested.amount:
        return "requested PV is too small"
    if volume_class(volume) != claim_class(claim):
        return "storageClassName does not match"
    if volume_mode(vspec) != volume_mode(cspec):
        return "incompatible volumeMode"
    if not access_modes_satisfied(claim, volume):
        return "incompatible accessMode"
    return None


def find_matching_volume(claim: Obj, volumes: Iterable[V], *, node: Obj | None = None,
                         excluded: Mapping[str, Any] | None = None,
                         delay_binding: bool = False) -> V | None:
    """`FindMatchingVolume`: a volume pre-bound to the claim, else the smallest available
    one of the claim's class, modes and selector with enough capacity (on `node` when
    given). With `delay_binding` and no node, only a pre-bound volume is returned."""
    cspec = claim.get("spec") or {}
    requested = claim_request(claim)
    requested_class = claim_class(claim)
    raw_selector = cspec.get("selector")
    try:
        selector = label_selector_from_dict(raw_selector) if raw_selector is not None \
            else None
    except ValueError:
        return None
    smallest: V | None = None
    smallest_size: Quantity | None = None
    for volume in volumes:
        vname = name_of(volume)
        if excluded and vname in excluded:
            continue
        vspec = volume.get("spec") or {}
        capacity = storage_of(vspec.get("capacity"))
        if capacity is None or capacity.amount < requested.amount:
            continue
        if volume_mode(vspec) != volume_mode(cspec):
            continue
        if (volume.get("metadata") or {}).get("deletionTimestamp"):
            continue
        node_ok = node is None or volume_node_affinity_matches(volume, node)
        if is_bound_to_claim(volume, claim):
            # Pre-bound to this claim: the binder checks class and modes.
            return volume if node_ok else None
        if node is None and delay_binding:
            continue
        if vspec.get("claimRef"):
            continue
        labels = (volume.get("metadata") or {}).get("labels") or {}
        if selector is not None and not selector.matches(labels):
            continue
        if volume_class(volume) != requested_class:
            continue
        if not node_ok:
            continue
        if node is not None and (volume.get("status") or {}).get("phase") != "Available":
            continue
        if access_modes_satisfied(claim, volume) \
                and (smallest_size is None or capacity.amount < smallest_size.amount):
            smallest, smallest_size = volume, capacity
    return smallest


def pod_claim_names(pod: Obj) -> list[str]:
    """The claims a pod's volumes name, in order; an ephemeral volume's claim is
    `<pod>-<volume>` (`ephemeral.VolumeClaimName`)."""
    pod_name = (pod.get("metadata") or {}).get("name", "")
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        if "persistentVolumeClaim" in volume:
            out.append(str((volume["persistentVolumeClaim"] or {}).get("claimName") or ""))
        elif "ephemeral" in volume:
            out.append(f"{pod_name}-{volume.get('name', '')}")
    return out
