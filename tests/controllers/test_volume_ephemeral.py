"""The ephemeral volume controller against a real API server (stores seeded from it).

Intent: a pod's ephemeral volume gets its claim `<pod>-<volume>` from the template, owned
by the pod; a second pass creates nothing more; a claim of that name the pod does not own
is left alone (and the pod retried); pods being deleted get none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.volume.ephemeral import EphemeralVolumeController

PODS = resource("", "v1", "pods")
PVCS = resource("", "v1", "persistentvolumeclaims")


@pytest.fixture
async def ctl(ctx: ControllerContext) -> AsyncIterator[EphemeralVolumeController]:
    controller = EphemeralVolumeController(ctx)
    yield controller
    await controller.recorder.aclose()


async def make_pod(api: ApiClient, ctl: EphemeralVolumeController) -> Obj:
    pod = await api.create(PODS, {"metadata": {"name": "web"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
            "metadata": {"labels": {"type": "scratch"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                     "resources": {"requests": {"storage": "1Gi"}}}}}}]}}, "default")
    ctl.pods.store.add(pod)
    return pod


async def test_creates_the_claim_owned_by_the_pod(api: ApiClient,
                                                 ctl: EphemeralVolumeController) -> None:
    pod = await make_pod(api, ctl)
    await ctl.sync("default/web")
    claim = await api.get(PVCS, "web-scratch", "default")
    assert claim["metadata"]["labels"] == {"type": "scratch"}
    assert claim["spec"]["storageClassName"] == "local-path"
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    [owner] = claim["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == \
        ("Pod", pod["metadata"]["uid"], True)
    ctl.claims.store.add(claim)
    await ctl.sync("default/web")
    assert len(await api.list(PVCS, "default")) == 1


async def test_a_claim_of_someone_else_is_left_alone(api: ApiClient,
                                                    ctl: EphemeralVolumeController) -> None:
    other = await api.create(PVCS, {"metadata": {"name": "web-scratch"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}},
        "default")
    ctl.claims.store.add(other)
    await make_pod(api, ctl)
    with pytest.raises(Requeue, match="pod is not owner"):
        await ctl.sync("default/web")
    assert (await api.get(PVCS, "web-scratch", "default"))["metadata"]["uid"] == \
        other["metadata"]["uid"]


async def test_pods_being_deleted_get_none(api: ApiClient,
                                          ctl: EphemeralVolumeController) -> None:
    pod = await make_pod(api, ctl)
    ctl.pods.store.add({**pod, "metadata": {**pod["metadata"],
                                            "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    await ctl.sync("default/web")
    assert len(await api.list(PVCS, "default")) == 0
