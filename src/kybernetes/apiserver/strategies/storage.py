"""The strategies of storage.k8s.io: StorageClasses, CSIDrivers, CSINodes,
VolumeAttachments, CSIStorageCapacities and VolumeAttributesClasses."""

from __future__ import annotations

from kybernetes.api.defaults import other as other_defaults
from kybernetes.api.defaults import storage as defaults
from kybernetes.api.printers import storage as printers
from kybernetes.api.validation import misc
from kybernetes.api.validation import storage as validation
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy

GROUP = "storage.k8s.io"


def strategies() -> list[ResourceStrategy]:
    return [
        BuiltinStrategy(GROUP, "storageclasses", printer=printers.STORAGE_CLASSES,
                        defaults=other_defaults.default_storage_class,
                        create=misc.validate_storage_class,
                        update=misc.validate_storage_class_update, returns_deleted=True),
        BuiltinStrategy(GROUP, "csidrivers", printer=printers.CSI_DRIVERS,
                        defaults=defaults.default_csi_driver,
                        create=validation.validate_csi_driver,
                        update=validation.validate_csi_driver_update, returns_deleted=True),
        BuiltinStrategy(GROUP, "csinodes", printer=printers.CSI_NODES,
                        create=validation.validate_csi_node,
                        update=validation.validate_csi_node_update, returns_deleted=True),
        BuiltinStrategy(GROUP, "volumeattachments", printer=printers.VOLUME_ATTACHMENTS,
                        create=validation.validate_volume_attachment,
                        update=validation.validate_volume_attachment_update,
                        returns_deleted=True),
        BuiltinStrategy(GROUP, "csistoragecapacities", printer=printers.CSI_STORAGE_CAPACITIES,
                        create=validation.validate_csi_storage_capacity,
                        update=validation.validate_csi_storage_capacity_update),
        BuiltinStrategy(GROUP, "volumeattributesclasses",
                        printer=printers.VOLUME_ATTRIBUTES_CLASSES,
                        create=validation.validate_volume_attributes_class,
                        update=validation.validate_volume_attributes_class_update),
    ]
