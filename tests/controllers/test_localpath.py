"""The local-path provisioner against a real API server (stores seeded from it).

Intent: a claim the binder handed to `rancher.io/local-path` gets, once a node is
selected, a volume `pvc-<uid>` pre-bound to it, on that node (node affinity), under the
provisioner's directory, with the claim's size and modes and the class' reclaim policy;
claims it cannot serve are refused with an event; a released volume it provisioned with
reclaim policy Delete is deleted, any other is left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import PurePosixPath

import pytest

from kybernetes.api import storagehelpers as sh
from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.localpath import PROVISIONER, LocalPathProvisioner

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
EVENTS = resource("", "v1", "events")
ROOT = PurePosixPath("/var/lib/kyb-test/storage")


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[LocalPathProvisioner]:
    controller = LocalPathProvisioner(ctx, path=ROOT)
    yield controller
    await controller.recorder.aclose()


async def make_claim(api: ApiClient, ctl: LocalPathProvisioner, *, node: str | None = "n1",
                     modes: tuple[str, ...] = ("ReadWriteOnce",),
                     provisioner: str = PROVISIONER) -> Obj:
    cls = await api.create(CLASSES, {"metadata": {"name": "local-path"},
                                     "provisioner": PROVISIONER, "reclaimPolicy": "Retain",
                                     "volumeBindingMode": "WaitForFirstConsumer"})
    ctl.classes.store.add(cls)
    annotations = {sh.ANN_STORAGE_PROVISIONER: provisioner}
    if node is not None:
        annotations[sh.ANN_SELECTED_NODE] = node
    claim = await api.create(PVCS, {
        "metadata": {"name": "data", "annotations": annotations},
        "spec": {"accessModes": list(modes), "storageClassName": "local-path",
                 "resources": {"requests": {"storage": "2Gi"}}}}, "default")
    ctl.claims.store.add(claim)
    return claim


async def reasons(api: ApiClient, ctl: LocalPathProvisioner) -> list[str]:
    await ctl.recorder.flush()
    return [e["reason"] for e in await api.list(EVENTS, "default")]


async def test_provisions_a_volume_on_the_selected_node(api: ApiClient,
                                                       ctl: LocalPathProvisioner) -> None:
    claim = await make_claim(api, ctl)
    uid = claim["metadata"]["uid"]
    await ctl.sync("claim:default/data")
    volume = await api.get(PVS, f"pvc-{uid}")
    spec = volume["spec"]
    assert volume["metadata"]["annotations"][sh.ANN_DYNAMICALLY_PROVISIONED] == PROVISIONER
    assert spec["hostPath"] == {"path": f"{ROOT}/pvc-{uid}_default_data",
                                "type": "DirectoryOrCreate"}
    assert spec["capacity"] == {"storage": "2Gi"}
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["storageClassName"] == "local-path"
    assert (spec["claimRef"]["name"], spec["claimRef"]["uid"]) == ("data", uid)
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"] == [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]
    assert await reasons(api, ctl) == ["Provisioning", "ProvisioningSucceeded"]
    # Once the volume is known, a second pass makes nothing more.
    ctl.volumes.store.add(volume)
    await ctl.sync("claim:default/data")
    assert len(await api.list(PVS)) == 1


@pytest.mark.parametrize(("options", "reason"), [
    ({"node": None}, "ProvisioningFailed"),
    ({"modes": ("ReadWriteMany",)}, "ProvisioningFailed"),
    ({"provisioner": "example.com/other"}, None),
])
async def test_claims_it_does_not_provision(api: ApiClient, ctl: LocalPathProvisioner,
                                            options: dict[str, object],
                                            reason: str | None) -> None:
    await make_claim(api, ctl, **options)  # type: ignore[arg-type]
    await ctl.sync("claim:default/data")
    assert len(await api.list(PVS)) == 0
    found = await reasons(api, ctl)
    assert (reason in found) if reason else found == []


@pytest.mark.parametrize(("policy", "provisioned", "deleted"), [
    ("Delete", True, True), ("Retain", True, False), ("Delete", False, False)])
async def test_released_volumes(api: ApiClient, ctl: LocalPathProvisioner, policy: str,
                                provisioned: bool, deleted: bool) -> None:
    annotations = {sh.ANN_DYNAMICALLY_PROVISIONED: PROVISIONER} if provisioned else {}
    volume = await api.create(PVS, {
        "metadata": {"name": "pvc-1", "annotations": annotations},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": "/tmp/x"}}})
    ctl.volumes.store.add(await api.update_status(PVS, {**volume,
                                                        "status": {"phase": "Released"}}))
    await ctl.sync("volume:pvc-1")
    try:
        gone = bool((await api.get(PVS, "pvc-1"))["metadata"].get("deletionTimestamp"))
    except NotFoundError:
        gone = True
    assert gone is deleted
