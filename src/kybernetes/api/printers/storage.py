"""Printers for storage.k8s.io/v1: storage classes, CSI drivers and nodes, attachments."""

from __future__ import annotations

from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    b,
    col,
    dct,
    get,
    lst,
    name,
    name_col,
    parse_time,
    quantity,
    s,
    swagger,
)

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def is_default_class(obj: Obj) -> bool:
    """`storageutil.IsDefaultAnnotation`."""
    annotations = dct(obj, "metadata", "annotations")
    return any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)


def effective_default(classes: list[Obj]) -> str:
    """The one class shown as `(default)`: the newest annotated one, then the first by name."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return ""

    def rank(obj: Obj) -> tuple[float, str]:
        created = parse_time(get(obj, "metadata", "creationTimestamp"))
        return (-created.timestamp() if created else float("inf"), name(obj))

    return name(min(defaults, key=rank))


def _storage_class_cells(obj: Obj, ctx: Context) -> Cells:
    if "default" not in ctx.memo:
        ctx.memo["default"] = effective_default(ctx.objects)
    shown = name(obj) + (" (default)" if name(obj) == ctx.memo["default"] else "")
    return [shown, s(obj, "provisioner"), s(obj, "reclaimPolicy") or "Delete",
            s(obj, "volumeBindingMode") or "Immediate", b(obj, "allowVolumeExpansion"),
            age(obj, ctx)]


STORAGE_CLASSES = Printer((
    name_col(),
    col("Provisioner", "string", "storage.StorageClass.provisioner"),
    col("ReclaimPolicy", "string", "storage.StorageClass.reclaimPolicy"),
    col("VolumeBindingMode", "string", "storage.StorageClass.volumeBindingMode"),
    col("AllowVolumeExpansion", "string", "storage.StorageClass.allowVolumeExpansion"),
    age_col(),
), _storage_class_cells)


def _csi_driver_cells(obj: Obj, ctx: Context) -> Cells:
    spec = dct(obj, "spec")
    token_requests: Any = get(spec, "tokenRequests")
    tokens = "<unset>" if not isinstance(token_requests, list) \
        else ",".join(s(t, "audience") for t in token_requests)
    modes = ",".join(str(m) for m in lst(spec, "volumeLifecycleModes")) or "<none>"
    return [name(obj), b(spec, "attachRequired", default=True), b(spec, "podInfoOnMount"),
            b(spec, "storageCapacity"), tokens, b(spec, "requiresRepublish"), modes,
            age(obj, ctx)]


CSI_DRIVERS = Printer((
    name_col(),
    col("AttachRequired", "boolean", "storage.CSIDriverSpec.attachRequired"),
    col("PodInfoOnMount", "boolean", "storage.CSIDriverSpec.podInfoOnMount"),
    col("StorageCapacity", "boolean", "storage.CSIDriverSpec.storageCapacity"),
    col("TokenRequests", "string", "storage.CSIDriverSpec.tokenRequests"),
    col("RequiresRepublish", "boolean", "storage.CSIDriverSpec.requiresRepublish"),
    col("Modes", "string", "storage.CSIDriverSpec.volumeLifecycleModes"),
    age_col(),
), _csi_driver_cells)

CSI_NODES = Printer((
    name_col(),
    col("Drivers", "integer",
        text="Drivers indicates the number of CSI drivers registered on the node"),
    age_col(),
), lambda obj, ctx: [name(obj), len(lst(obj, "spec", "drivers")), age(obj, ctx)])

VOLUME_ATTACHMENTS = Printer((
    name_col(),
    col("Attacher", "string", "storage.VolumeAttachmentSpec.attacher", fmt="name"),
    col("PV", "string", "storage.VolumeAttachmentSource.persistentVolumeName"),
    col("Node", "string", "storage.VolumeAttachmentSpec.nodeName"),
    col("Attached", "boolean", "storage.VolumeAttachmentStatus.attached"),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "spec", "attacher"),
                     s(obj, "spec", "source", "persistentVolumeName"),
                     s(obj, "spec", "nodeName"), b(obj, "status", "attached"), age(obj, ctx)])

_CAPACITY = "io.k8s.api.storage.v1.CSIStorageCapacity"

CSI_STORAGE_CAPACITIES = Printer((
    name_col(),
    col("StorageClassName", "string", text=swagger(_CAPACITY, "storageClassName")),
    col("Capacity", "string", text=swagger(_CAPACITY, "capacity")),
), lambda obj, ctx: [name(obj), s(obj, "storageClassName"),
                     "<unset>" if get(obj, "capacity") is None else quantity(obj["capacity"])])

VOLUME_ATTRIBUTES_CLASSES = Printer((
    name_col(),
    col("DriverName", "string",
        text=swagger("io.k8s.api.storage.v1.VolumeAttributesClass", "driverName")),
    age_col(),
), lambda obj, ctx: [name(obj), s(obj, "driverName"), age(obj, ctx)])

PRINTERS: dict[str, Printer] = {
    "csistoragecapacities": CSI_STORAGE_CAPACITIES,
    "volumeattributesclasses": VOLUME_ATTRIBUTES_CLASSES,
    "storageclasses": STORAGE_CLASSES,
    "csidrivers": CSI_DRIVERS,
    "csinodes": CSI_NODES,
    "volumeattachments": VOLUME_ATTACHMENTS,
}

