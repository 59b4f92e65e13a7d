"""Defaults of resource.k8s.io/v1 (upstream's `SetDefaults_ExactDeviceRequest` and
`SetDefaults_DeviceSubRequest`): a request's allocation mode is ExactCount, of one device."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _exact(request: Any) -> None:
    if not isinstance(request, dict):
        return
    request.setdefault("allocationMode", "ExactCount")
    if request["allocationMode"] == "ExactCount" and not request.get("count"):
        request["count"] = 1


def _claim_spec(spec: Any) -> None:
    devices = spec.get("devices") if isinstance(spec, dict) else None
    if not isinstance(devices, dict):
        return
    for request in devices.get("requests") or []:
        if not isinstance(request, dict):
            continue
        _exact(request.get("exactly"))
        for sub in request.get("firstAvailable") or []:
            _exact(sub)


def default_resource_claim(obj: Obj) -> None:
    _claim_spec(obj.get("spec"))


def default_resource_claim_template(obj: Obj) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _claim_spec(spec.get("spec"))
