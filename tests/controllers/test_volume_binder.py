"""The PersistentVolume binder against a real API server (stores seeded from it), and the
volume/claim matching it shares with the scheduler.

Intent: a claim binds to the smallest Available volume that satisfies it (capacity, access
modes, class, selector, volumeMode), with both sides written as upstream writes them; a
WaitForFirstConsumer claim waits for its consumer, a claim of a provisioner's class is
handed to it, a claim pre-bound to a volume that does not fit is refused; a volume whose
claim is gone is Released, then kept (Retain), left to its provisioner (Delete of a
provisioned volume) or Failed; a bound claim whose volume is gone is Lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.api import storagehelpers as sh
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.volume.binder import PersistentVolumeBinder

PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
EVENTS = resource("", "v1", "events")


def pv(name: str, size: str, *, modes: tuple[str, ...] = ("ReadWriteOnce",),
       cls: str = "", labels: dict[str, str] | None = None, policy: str = "Retain",
       claim_ref: Obj | None = None, node: str | None = None, **extra: Any) -> Obj:
    spec: Obj = {"capacity": {"storage": size}, "accessModes": list(modes),
                 "hostPath": {"path": f"/tmp/{name}"}, "storageClassName": cls,
                 "persistentVolumeReclaimPolicy": policy, **extra}
    if claim_ref is not None:
        spec["claimRef"] = claim_ref
    if node is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec,
            "status": {"phase": "Available"}}


def pvc(name: str, size: str, *, modes: tuple[str, ...] = ("ReadWriteOnce",),
        cls: str | None = "", selector: Obj | None = None, volume: str = "",
        **extra: Any) -> Obj:
    spec: Obj = {"accessModes": list(modes), "resources": {"requests": {"storage": size}},
                 **extra}
    if cls is not None:
        spec["storageClassName"] = cls
    if selector is not None:
        spec["selector"] = selector
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": spec}


def node(name: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}


# ----------------------------------------------------------------------------- matching


def test_smallest_volume_that_fits() -> None:
    volumes = [pv("big", "10Gi"), pv("small", "1Gi"), pv("tiny", "500Mi")]
    assert sh.name_of(sh.find_matching_volume(pvc("c", "1Gi"), volumes) or {}) == "small"
    assert sh.find_matching_volume(pvc("c", "20Gi"), volumes) is None


@pytest.mark.parametrize(("volume", "claim"), [
    (pv("v", "1Gi", modes=("ReadWriteOnce",)), pvc("c", "1Gi", modes=("ReadWriteMany",))),
    (pv("v", "1Gi", cls="fast"), pvc("c", "1Gi", cls="slow")),
    (pv("v", "1Gi", labels={"tier": "a"}),
     pvc("c", "1Gi", selector={"matchLabels": {"tier": "b"}})),
    (pv("v", "1Gi", volumeMode="Block"), pvc("c", "1Gi")),
    (pv("v", "1Gi", claim_ref={"namespace": "default", "name": "other", "uid": "x"}),
     pvc("c", "1Gi")),
])
def test_volumes_that_do_not_match(volume: Obj, claim: Obj) -> None:
    assert sh.find_matching_volume(claim, [volume]) is None


def test_selector_class_and_modes_that_match() -> None:
    volume = pv("v", "2Gi", modes=("ReadWriteOnce", "ReadOnlyMany"), cls="fast",
                labels={"tier": "a"})
    claim = pvc("c", "1Gi", modes=("ReadOnlyMany",), cls="fast",
                selector={"matchLabels": {"tier": "a"}})
    assert sh.find_matching_volume(claim, [volume]) is volume


def test_prebound_volume_wins_and_delay_binding_takes_only_it() -> None:
    free = pv("free", "1Gi")
    mine = pv("mine", "5Gi", claim_ref={"namespace": "default", "name": "c"})
    claim = pvc("c", "1Gi")
    assert sh.find_matching_volume(claim, [free, mine]) is mine
    assert sh.find_matching_volume(claim, [free], delay_binding=True) is None
    assert sh.find_matching_volume(claim, [free, mine], delay_binding=True) is mine


def test_node_affinity_on_the_scheduler_path() -> None:
    here, there = pv("here", "1Gi", node="n1"), pv("there", "1Gi", node="n2")
    claim = pvc("c", "1Gi")
    assert sh.find_matching_volume(claim, [here, there], node=node("n2")) is there
    assert sh.find_matching_volume(claim, [here], node=node("n2")) is None
    assert sh.find_matching_volume(claim, [here], node=node("n1"),
                                   excluded={"here": "other"}) is None


def test_pre_bound_volume_checks() -> None:
    claim = pvc("c", "1Gi", cls="fast")
    assert sh.check_volume_satisfies_claim(pv("v", "500Mi", cls="fast"), claim) == \
        "requested PV is too small"
    assert sh.check_volume_satisfies_claim(pv("v", "1Gi"), claim) == \
        "storageClassName does not match"
    assert sh.check_volume_satisfies_claim(pv("v", "1Gi", cls="fast"), claim) is None


# ----------------------------------------------------------------------------- binder


@pytest.fixture
async def binder(ctx: ControllerContext) -> AsyncIterator[PersistentVolumeBinder]:
    controller = PersistentVolumeBinder(ctx)
    yield controller
    await controller.recorder.aclose()


async def seed(api: ApiClient, binder: PersistentVolumeBinder) -> None:
    """The stores as the informers would have them now."""
    binder.claims.store.replace(list(await api.list(PVCS)))
    binder.volumes.store.replace(list(await api.list(PVS)))
    binder.classes.store.replace(list(await api.list(CLASSES)))


async def sync_all(api: ApiClient, binder: PersistentVolumeBinder, rounds: int = 3) -> None:
    for _ in range(rounds):
        await seed(api, binder)
        for claim in binder.claims.store.list():
            await binder.sync_claim(claim)
        await seed(api, binder)
        for volume in binder.volumes.store.list():
            await binder.sync_volume(volume)


async def reasons(api: ApiClient, binder: PersistentVolumeBinder, name: str) -> list[str]:
    await binder.recorder.flush()
    return [e["reason"] for e in await api.list(EVENTS, "default")
            if e["involvedObject"]["name"] == name]


async def test_binds_the_smallest_fit_both_ways(api: ApiClient,
                                                binder: PersistentVolumeBinder) -> None:
    for volume in (pv("big", "10Gi"), pv("small", "2Gi")):
        await api.create(PVS, volume)
    await api.create(PVCS, pvc("data", "1Gi"), "default")
    await sync_all(api, binder)
    claim = await api.get(PVCS, "data", "default")
    volume = await api.get(PVS, "small")
    assert claim["spec"]["volumeName"] == "small"
    assert claim["metadata"]["annotations"] == {sh.ANN_BIND_COMPLETED: "yes",
                                                sh.ANN_BOUND_BY_CONTROLLER: "yes"}
    assert claim["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                               "capacity": {"storage": "2Gi"}}
    assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert volume["metadata"]["annotations"][sh.ANN_BOUND_BY_CONTROLLER] == "yes"
    assert volume["status"]["phase"] == "Bound"
    assert (await api.get(PVS, "big"))["status"]["phase"] == "Available"


async def test_wait_for_first_consumer(api: ApiClient, binder: PersistentVolumeBinder) -> None:
    await api.create(CLASSES, {"metadata": {"name": "local"}, "provisioner": "example.com/p",
                               "volumeBindingMode": "WaitForFirstConsumer"})
    await api.create(PVS, pv("v", "1Gi", cls="local"))
    await api.create(PVCS, pvc("data", "1Gi", cls="local"), "default")
    await sync_all(api, binder)
    claim = await api.get(PVCS, "data", "default")
    assert claim["status"]["phase"] == "Pending" and not claim["spec"].get("volumeName")
    assert "WaitForFirstConsumer" in await reasons(api, binder, "data")


async def test_claim_of_a_provisioners_class(api: ApiClient,
                                             binder: PersistentVolumeBinder) -> None:
    await api.create(CLASSES, {"metadata": {"name": "auto"}, "provisioner": "example.com/p"})
    await api.create(PVCS, pvc("data", "1Gi", cls="auto"), "default")
    await sync_all(api, binder)
    claim = await api.get(PVCS, "data", "default")
    assert claim["metadata"]["annotations"][sh.ANN_STORAGE_PROVISIONER] == "example.com/p"
    assert claim["metadata"]["annotations"][sh.ANN_BETA_STORAGE_PROVISIONER] == \
        "example.com/p"
    assert claim["status"]["phase"] == "Pending"
    assert "ExternalProvisioning" in await reasons(api, binder, "data")


async def test_pre_bound_claim_to_a_volume_too_small(api: ApiClient,
                                                    binder: PersistentVolumeBinder) -> None:
    await api.create(PVS, pv("v", "1Gi"))
    await api.create(PVCS, pvc("data", "5Gi", volume="v"), "default")
    await sync_all(api, binder)
    assert (await api.get(PVCS, "data", "default"))["status"]["phase"] == "Pending"
    assert "VolumeMismatch" in await reasons(api, binder, "data")
    assert "claimRef" not in (await api.get(PVS, "v"))["spec"]


async def test_volume_pre_bound_to_a_claim(api: ApiClient,
                                           binder: PersistentVolumeBinder) -> None:
    await api.create(PVS, pv("v", "1Gi", claim_ref={"namespace": "default", "name": "data"}))
    await api.create(PVS, pv("other", "1Gi"))
    await api.create(PVCS, pvc("data", "1Gi"), "default")
    await sync_all(api, binder)
    claim = await api.get(PVCS, "data", "default")
    assert claim["spec"]["volumeName"] == "v"
    volume = await api.get(PVS, "v")
    assert sh.ANN_BOUND_BY_CONTROLLER not in (volume["metadata"].get("annotations") or {})


@pytest.mark.parametrize(("policy", "provisioned", "phase", "reason"), [
    ("Retain", False, "Released", None),
    ("Delete", True, "Released", None),
    ("Delete", False, "Failed", "VolumeFailedDelete"),
])
async def test_volume_of_a_claim_that_is_gone(api: ApiClient, binder: PersistentVolumeBinder,
                                              policy: str, provisioned: bool, phase: str,
                                              reason: str | None) -> None:
    volume = pv("v", "1Gi", policy=policy)
    if provisioned:
        volume["metadata"]["annotations"] = {sh.ANN_DYNAMICALLY_PROVISIONED: "example.com/p"}
    await api.create(PVS, volume)
    await api.create(PVCS, pvc("data", "1Gi"), "default")
    await sync_all(api, binder)
    assert (await api.get(PVS, "v"))["status"]["phase"] == "Bound"
    binder.claims.store.delete_key("default/data")
    volume = await api.get(PVS, "v")
    await binder.sync_volume(volume)
    volume = await api.get(PVS, "v")
    await binder.sync_volume(volume)
    volume = await api.get(PVS, "v")
    assert volume["status"]["phase"] == phase
    if reason is not None:
        assert reason in await reasons(api, binder, "v")


async def test_bound_claim_whose_volume_is_gone_is_lost(
        api: ApiClient, binder: PersistentVolumeBinder) -> None:
    await api.create(PVS, pv("v", "1Gi"))
    await api.create(PVCS, pvc("data", "1Gi"), "default")
    await sync_all(api, binder)
    binder.volumes.store.delete_key("v")
    await binder.sync_claim(await api.get(PVCS, "data", "default"))
    claim = await api.get(PVCS, "data", "default")
    assert claim["status"]["phase"] == "Lost"
    assert "ClaimLost" in await reasons(api, binder, "data")
