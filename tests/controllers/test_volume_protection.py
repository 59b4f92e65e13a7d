"""The pvc-protection and pv-protection controllers against a real API server (stores
seeded from it), with the StorageObjectInUseProtection admission plugin that adds their
finalizers.

Intent: claims and volumes get their protection finalizer on creation; a claim being
deleted keeps it while a scheduled, running pod names it (the cache or a live list), and
loses it (so it goes) once no pod does; a volume being deleted keeps it while Bound.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.volume.pvcprotection import PvcProtectionController, pod_uses_claim
from kybernetes.controllers.volume.pvprotection import PvProtectionController

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
PODS = resource("", "v1", "pods")


def claim(name: str = "data") -> Obj:
    return {"metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                     "resources": {"requests": {"storage": "1Gi"}}}}


def pod(name: str, claim_name: str, node: str = "n1") -> Obj:
    return {"metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "v",
                                  "persistentVolumeClaim": {"claimName": claim_name}}]}}


@pytest.mark.parametrize(("change", "uses"), [
    (lambda p: p, True),
    (lambda p: {**p, "spec": {**p["spec"], "nodeName": ""}}, False),
    (lambda p: {**p, "status": {"phase": "Succeeded"}}, False),
    (lambda p: {**p, "spec": {**p["spec"], "volumes": []}}, False),
])
def test_which_pods_use_a_claim(change: Callable[[Obj], Obj], uses: bool) -> None:
    assert pod_uses_claim(change(pod("p", "data")), "data") is uses


async def test_claim_protection(api: ApiClient, ctx: ControllerContext) -> None:
    ctl = PvcProtectionController(ctx)
    created = await api.create(PVCS, claim(), "default")
    assert created["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    user = await api.create(PODS, pod("user", "data"), "default")
    await api.delete(PVCS, "data", "default")
    ctl.claims.store.add(await api.get(PVCS, "data", "default"))
    # The cache has no pod yet: the live list still finds the user.
    await ctl.sync("default/data")
    assert (await api.get(PVCS, "data", "default"))["metadata"]["finalizers"]
    await api.delete(PODS, "user", "default", grace_period_seconds=0)
    ctl.pods.store.delete(user)
    await ctl.sync("default/data")
    with pytest.raises(NotFoundError):
        await api.get(PVCS, "data", "default")


async def test_claim_protection_adds_a_missing_finalizer(api: ApiClient,
                                                         ctx: ControllerContext) -> None:
    ctl = PvcProtectionController(ctx)
    created = await api.create(PVCS, claim(), "default")
    created["metadata"]["finalizers"] = []
    ctl.claims.store.add(await api.update(PVCS, created))
    await ctl.sync("default/data")
    assert (await api.get(PVCS, "data", "default"))["metadata"]["finalizers"] == \
        ["kubernetes.io/pvc-protection"]


async def test_volume_protection(api: ApiClient, ctx: ControllerContext) -> None:
    ctl = PvProtectionController(ctx)
    created = await api.create(PVS, {"metadata": {"name": "v"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/tmp/v"}}})
    assert created["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    await api.update_status(PVS, {**created, "status": {"phase": "Bound"}})
    await api.delete(PVS, "v")
    ctl.volumes.store.add(await api.get(PVS, "v"))
    await ctl.sync("v")
    bound = await api.get(PVS, "v")
    assert bound["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    ctl.volumes.store.add(await api.update_status(PVS, {**bound,
                                                        "status": {"phase": "Released"}}))
    await ctl.sync("v")
    with pytest.raises(NotFoundError):
        await api.get(PVS, "v")
