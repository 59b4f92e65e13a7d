"""Volume expansion against a real API server: the PersistentVolumeClaimResize admission
plugin, the expand controller and the local-path provisioner's resizing.

Intent: a claim's request may only grow when its class allows expansion (upstream's
message otherwise); the expand controller announces an external expansion
for a bound claim that asks for more; the local-path provisioner then raises the volume's
capacity and the claim's status capacity to the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kybernetes.api import storagehelpers as sh
from kybernetes.client import ApiClient, ApiError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.localpath import PROVISIONER, LocalPathProvisioner
from kybernetes.controllers.volume.expand import ExpandController

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
EVENTS = resource("", "v1", "events")


async def bound_claim(api: ApiClient, *, expandable: bool = True) -> tuple[Obj, Obj]:
    """A local-path claim of 1Gi and its volume, bound as the binder leaves them."""
    await api.create(CLASSES, {"metadata": {"name": "local-path"}, "provisioner": PROVISIONER,
                               "allowVolumeExpansion": expandable})
    claim = await api.create(PVCS, {"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
        "resources": {"requests": {"storage": "1Gi"}}}}, "default")
    volume = await api.create(PVS, {
        "metadata": {"name": "pvc-1", "annotations": {sh.ANN_DYNAMICALLY_PROVISIONED:
                                                      PROVISIONER}},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": "local-path", "hostPath": {"path": "/tmp/pvc-1"},
                 "claimRef": {"namespace": "default", "name": "data",
                              "uid": claim["metadata"]["uid"]}}})
    claim["spec"]["volumeName"] = "pvc-1"
    claim = await api.update(PVCS, claim, "default")
    claim = await api.update_status(PVCS, {**claim, "status": {
        "phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
        "default")
    return claim, volume


async def grow(api: ApiClient, size: str = "2Gi") -> Obj:
    claim = await api.get(PVCS, "data", "default")
    claim["spec"]["resources"]["requests"]["storage"] = size
    result: Obj = await api.update(PVCS, claim, "default")
    return result


async def test_admission_refuses_a_class_without_expansion(api: ApiClient) -> None:
    await bound_claim(api, expandable=False)
    with pytest.raises(ApiError) as refused:
        await grow(api)
    assert refused.value.code == 403
    assert refused.value.message == (
        'persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can '
        "be resized and the storageclass that provisions the pvc must support resize")
    # Shrinking back to the request is no expansion.
    assert (await grow(api, "1Gi"))["spec"]["resources"]["requests"]["storage"] == "1Gi"


@pytest.fixture
async def controllers(ctx: ControllerContext
                      ) -> AsyncIterator[tuple[ExpandController, LocalPathProvisioner]]:
    expander, provisioner = ExpandController(ctx), LocalPathProvisioner(ctx)
    yield expander, provisioner
    await expander.recorder.aclose()
    await provisioner.recorder.aclose()


async def test_expansion(api: ApiClient,
                         controllers: tuple[ExpandController, LocalPathProvisioner]) -> None:
    expander, provisioner = controllers
    _claim, volume = await bound_claim(api)
    claim = await grow(api)
    expander.claims.store.add(claim)
    await expander.sync("default/data")
    provisioner.claims.store.add(claim)
    provisioner.volumes.store.add(volume)
    await provisioner.sync("claim:default/data")
    assert (await api.get(PVS, "pvc-1"))["spec"]["capacity"] == {"storage": "2Gi"}
    status = (await api.get(PVCS, "data", "default"))["status"]
    assert status["capacity"] == {"storage": "2Gi"}
    assert status["allocatedResources"] == {"storage": "2Gi"}
    await expander.recorder.flush()
    await provisioner.recorder.flush()
    reasons = [e["reason"] for e in await api.list(EVENTS, "default")]
    assert sorted(reasons) == ["ExternalExpanding", "Resizing", "VolumeResizeSuccessful"]
