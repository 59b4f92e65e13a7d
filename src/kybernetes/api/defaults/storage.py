"""Defaults of storage.k8s.io/v1's CSIDriver (upstream's `SetDefaults_CSIDriver`)."""

from __future__ import annotations

from typing import Any

_CSI_DRIVER_SPEC: dict[str, Any] = {
    "attachRequired": True, "podInfoOnMount": False, "storageCapacity": False,
    "fsGroupPolicy": "ReadWriteOnceWithFSType", "requiresRepublish": False,
}


def default_csi_driver(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    for key, value in _CSI_DRIVER_SPEC.items():
        if spec.get(key) is None:
            spec[key] = value
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]
