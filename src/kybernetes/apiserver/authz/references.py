"""What API objects a pod or a persistent volume refers to (upstream's
`VisitPodSecretNames`, `VisitPodConfigmapNames` in pkg/api/v1/pod, the claim names of
`graph.AddPod`, and `VisitPVSecretNames` in pkg/api/v1/persistentvolume).

The Node authorizer grants a node the objects the pods bound to it refer to, and
NodeRestriction refuses mirror pods that refer to any; both read them from here. Objects
come from storage as JSON, possibly from other writers: nothing here assumes a shape or
raises on a malformed one, it just finds no reference there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"

# Pod volume sources whose secret is `<source>.<field>.name`.
_POD_VOLUME_SECRET_REFS = (("cephfs", "secretRef"), ("cinder", "secretRef"),
                           ("flexVolume", "secretRef"), ("rbd", "secretRef"),
                           ("scaleIO", "secretRef"), ("iscsi", "secretRef"),
                           ("storageos", "secretRef"), ("csi", "nodePublishSecretRef"))
# PV sources whose `secretRef` without a namespace means the bound claim's namespace.
_PV_SECRET_REFS_IN_CLAIM_NAMESPACE = ("cephfs", "flexVolume", "rbd", "scaleIO", "iscsi")
# PV sources whose `secretRef` carries its own namespace.
_PV_SECRET_REFS = ("cinder", "storageos")
# The secrets of a CSI PV the kubelet reads (the controller's ones it never sees).
_CSI_NODE_SECRET_REFS = ("nodePublishSecretRef", "nodeStageSecretRef", "nodeExpandSecretRef")


def _d(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _name(value: Any, field: str = "name") -> str:
    found = _d(value).get(field)
    return found if isinstance(found, str) else ""


def _nonempty(names: Iterator[str]) -> list[str]:
    return [n for n in names if n]


def is_mirror_pod(pod: Mapping[str, Any]) -> bool:
    return MIRROR_POD_ANNOTATION in _d(_d(pod.get("metadata")).get("annotations"))


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """All containers: init, regular and ephemeral (upstream's AllContainers)."""
    spec = _d(pod.get("spec"))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from _items(spec.get(field))


def _volumes(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    return _items(_d(pod.get("spec")).get("volumes"))


def _projected(volume: Mapping[str, Any], kind: str) -> Iterator[str]:
    for source in _items(_d(volume.get("projected")).get("sources")):
        if kind in source:
            yield _name(source.get(kind))


def pod_secret_names(pod: Mapping[str, Any]) -> list[str]:
    """Image pull secrets, secrets of env and envFrom, of secret, projected and
    plugin volumes."""

    def visit() -> Iterator[str]:
        for ref in _items(_d(pod.get("spec")).get("imagePullSecrets")):
            yield _name(ref)
        for container in _containers(pod):
            for env_from in _items(container.get("envFrom")):
                yield _name(env_from.get("secretRef"))
            for env in _items(container.get("env")):
                yield _name(_d(env.get("valueFrom")).get("secretKeyRef"))
        for volume in _volumes(pod):
            yield _name(volume.get("secret"), "secretName")
            yield _name(volume.get("azureFile"), "secretName")
            yield from _projected(volume, "secret")
            for source, field in _POD_VOLUME_SECRET_REFS:
                yield _name(_d(volume.get(source)).get(field))

    return _nonempty(visit())


def pod_configmap_names(pod: Mapping[str, Any]) -> list[str]:
    """ConfigMaps of env and envFrom, of configMap and projected volumes."""

    def visit() -> Iterator[str]:
        for container in _containers(pod):
            for env_from in _items(container.get("envFrom")):
                yield _name(env_from.get("configMapRef"))
            for env in _items(container.get("env")):
                yield _name(_d(env.get("valueFrom")).get("configMapKeyRef"))
        for volume in _volumes(pod):
            yield _name(volume.get("configMap"))
            yield from _projected(volume, "configMap")

    return _nonempty(visit())


def references_cluster_trust_bundles(pod: Mapping[str, Any]) -> bool:
    return any("clusterTrustBundle" in source for volume in _volumes(pod)
               for source in _items(_d(volume.get("projected")).get("sources")))


def pod_claim_names(pod: Mapping[str, Any]) -> list[str]:
    """PersistentVolumeClaims of the pod's volumes: named ones, and those of ephemeral
    volumes (`<pod>-<volume>`, upstream's `ephemeral.VolumeClaimName`)."""
    pod_name = _name(pod.get("metadata"))

    def visit() -> Iterator[str]:
        for volume in _volumes(pod):
            if "persistentVolumeClaim" in volume:
                yield _name(volume.get("persistentVolumeClaim"), "claimName")
            elif "ephemeral" in volume and _name(volume):
                yield f"{pod_name}-{_name(volume)}"

    return _nonempty(visit())


def pod_resource_claim_names(pod: Mapping[str, Any]) -> list[str]:
    """ResourceClaims of the pod (upstream's `resourceclaim.Name`): a claim named in the
    spec, or the one made from a template as the pod's status reports it; and the claim of
    its extended resources."""
    status = _d(pod.get("status"))
    generated = {_name(s): _name(s, "resourceClaimName")
                 for s in _items(status.get("resourceClaimStatuses"))}

    def visit() -> Iterator[str]:
        for claim in _items(_d(pod.get("spec")).get("resourceClaims")):
            if _name(claim, "resourceClaimName"):
                yield _name(claim, "resourceClaimName")
            elif _name(claim, "resourceClaimTemplateName"):
                yield generated.get(_name(claim), "")
        yield _name(status.get("extendedResourceClaimStatus"), "resourceClaimName")

    return _nonempty(visit())


def resource_claim_statuses(pod: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(name, resourceClaimName) of each `status.resourceClaimStatuses` entry, in order."""
    return [(_name(s), s.get("resourceClaimName") if isinstance(
        s.get("resourceClaimName"), str) else None)
        for s in _items(_d(pod.get("status")).get("resourceClaimStatuses"))]


def pv_claim(pv: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the claim a PV is bound to (`spec.claimRef`)."""
    ref = _d(pv.get("spec")).get("claimRef")
    if not isinstance(ref, dict):
        return None
    return _name(ref, "namespace"), _name(ref)


def pv_kubelet_secrets(pv: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace, name) of the secrets of a PV the kubelet reads (upstream's
    `VisitPVSecretNames` with kubeletVisible): a secret without a namespace of its own is
    in the namespace of the PV's claim."""
    spec = _d(pv.get("spec"))
    claim_namespace = (pv_claim(pv) or ("", ""))[0]
    found: list[tuple[str, str]] = []
    azure = _d(spec.get("azureFile"))
    if _name(azure, "secretName"):
        found.append((_name(azure, "secretNamespace") or claim_namespace,
                      _name(azure, "secretName")))
    for source in _PV_SECRET_REFS_IN_CLAIM_NAMESPACE:
        ref = _d(_d(spec.get(source)).get("secretRef"))
        if ref:
            found.append((_name(ref, "namespace") or claim_namespace, _name(ref)))
    for source in _PV_SECRET_REFS:
        ref = _d(_d(spec.get(source)).get("secretRef"))
        if ref:
            found.append((_name(ref, "namespace"), _name(ref)))
    csi = _d(spec.get("csi"))
    for field in _CSI_NODE_SECRET_REFS:
        ref = _d(csi.get(field))
        if ref:
            found.append((_name(ref, "namespace"), _name(ref)))
    return [(namespace, name) for namespace, name in found if name]
