"""The resource quota controller: `status.hard` follows `spec.hard`, `status.used` is
recomputed from the namespace's objects (in the monitors' caches, seeded here from the
API as a list would fill them), only what the quota limits, in its scopes; unchanged status
is not written; a delete or a pod finishing enqueues the quotas that count it."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.controllers.base import ControllerContext, Requeue
from kybernetes.controllers.resourcequota import ResourceQuotaController

PODS = resource("", "v1", "pods")
CONFIGMAPS = resource("", "v1", "configmaps")
SERVICES = resource("", "v1", "services")
QUOTAS = resource("", "v1", "resourcequotas")
NAMESPACES = resource("", "v1", "namespaces")
NS = "default"


@pytest.fixture
async def ctl(ctx: ControllerContext) -> ResourceQuotaController:
    controller = ResourceQuotaController(ctx)
    await controller.sync_monitors()
    return controller


async def seed(ctl: ResourceQuotaController, api: ApiClient, plural: str) -> None:
    """Fill the monitor of `plural` (core group) with the API's objects, as its list would."""
    monitor = ctl.monitors[("", plural)]
    listed = await api.list(resource("", "v1", plural))
    informer = ctl.informers.informer(monitor.resource)
    informer._replace(list(listed.items), listed.resource_version)


async def make_quota(api: ApiClient, ctl: ResourceQuotaController, name: str,
                     hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    created = await api.create(QUOTAS, {"metadata": {"name": name},
                                        "spec": {"hard": hard, **spec}}, NS)
    ctl.quotas.store.add(created)
    return created


def container(cpu: str | None = None) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {"name": "c", "image": "busybox", "resources": resources}


async def test_usage_is_computed_from_the_objects(api: ApiClient,
                                                  ctl: ResourceQuotaController) -> None:
    for name, cpu in (("a", "100m"), ("b", "250m"), ("done", "1")):
        await api.create(PODS, {"metadata": {"name": name},
                                "spec": {"containers": [container(cpu)]}}, NS)
    finished = await api.get(PODS, "done", NS)
    finished["status"] = {"phase": "Succeeded"}
    await api.update_status(PODS, finished, NS)
    await api.create(CONFIGMAPS, {"metadata": {"name": "cm"}}, NS)
    for plural in ("pods", "configmaps", "services"):
        await seed(ctl, api, plural)
    hard = {"pods": "10", "requests.cpu": "2", "count/pods": "10", "configmaps": "3",
            "services": "1"}
    await make_quota(api, ctl, "q", hard)
    await ctl.sync(f"{NS}/q")
    status = (await api.get(QUOTAS, "q", NS))["status"]
    assert status["hard"] == hard
    # The finished pod is still an object (count/pods) but no longer uses compute.
    assert status["used"] == {"pods": "2", "requests.cpu": "350m", "count/pods": "3",
                              "configmaps": "1", "services": "1"}


async def test_an_unchanged_status_is_not_written(api: ApiClient,
                                                  ctl: ResourceQuotaController) -> None:
    await seed(ctl, api, "pods")
    await make_quota(api, ctl, "q", {"pods": "1"})
    await ctl.sync(f"{NS}/q")
    synced = await api.get(QUOTAS, "q", NS)
    assert synced["status"] == {"hard": {"pods": "1"}, "used": {"pods": "0"}}
    ctl.quotas.store.add(synced)
    await ctl.sync(f"{NS}/q")
    again = await api.get(QUOTAS, "q", NS)
    assert again["metadata"]["resourceVersion"] == synced["metadata"]["resourceVersion"]


async def test_scopes_limit_what_is_counted(api: ApiClient,
                                            ctl: ResourceQuotaController) -> None:
    await api.create(PODS, {"metadata": {"name": "free"}, "spec": {
        "containers": [container()]}}, NS)
    await api.create(PODS, {"metadata": {"name": "paid"}, "spec": {
        "containers": [container("10m")]}}, NS)
    await api.create(PODS, {"metadata": {"name": "timed"}, "spec": {
        "activeDeadlineSeconds": 60, "containers": [container()]}}, NS)
    await seed(ctl, api, "pods")
    await make_quota(api, ctl, "best-effort", {"pods": "5"}, scopes=["BestEffort"])
    await make_quota(api, ctl, "long-running", {"pods": "5"}, scopes=["NotTerminating"])
    await ctl.sync(f"{NS}/best-effort")
    await ctl.sync(f"{NS}/long-running")
    assert (await api.get(QUOTAS, "best-effort", NS))["status"]["used"] == {"pods": "2"}
    assert (await api.get(QUOTAS, "long-running", NS))["status"]["used"] == {"pods": "2"}


async def test_unsynced_monitors_hold_the_sync_back(api: ApiClient,
                                                    ctl: ResourceQuotaController) -> None:
    await make_quota(api, ctl, "q", {"pods": "1"})
    with pytest.raises(Requeue):
        await ctl.sync(f"{NS}/q")
    assert not (await api.get(QUOTAS, "q", NS)).get("status")


async def test_replenishment_and_quota_updates_enqueue(api: ApiClient,
                                                       ctl: ResourceQuotaController) -> None:
    counts_pods = await make_quota(api, ctl, "pods", {"pods": "3"})
    counts_maps = await make_quota(api, ctl, "maps", {"configmaps": "3"})
    for quota, hard in ((counts_pods, {"pods": "3"}), (counts_maps, {"configmaps": "3"})):
        quota["status"] = {"hard": hard, "used": dict.fromkeys(hard, "0")}
        ctl.quotas.store.add(quota)
    pods = ctl.monitors[("", "pods")].registration
    running = {"metadata": {"name": "p", "namespace": NS, "resourceVersion": "1"},
               "spec": {"containers": [container("1")]}, "status": {"phase": "Running"}}
    # A status update that changes no usage enqueues nothing...
    assert pods.on_update is not None and pods.on_delete is not None
    pods.on_update(running, {**running, "status": {"phase": "Running", "podIP": "10.0.0.1"}})
    assert len(ctl.queue) == 0
    # ...a pod finishing does, for the quotas counting pods only.
    pods.on_update(running, {**running, "status": {"phase": "Failed"}})
    assert len(ctl.queue) == 1 and await ctl.queue.get() == f"{NS}/pods"
    ctl.queue.done(f"{NS}/pods")
    maps = ctl.monitors[("", "configmaps")].registration
    assert maps.on_delete is not None
    maps.on_delete({"metadata": {"name": "cm", "namespace": NS}})
    assert len(ctl.queue) == 1 and await ctl.queue.get() == f"{NS}/maps"
    ctl.queue.done(f"{NS}/maps")
    # Quota spec changes enqueue; status changes do not.
    changed = {**counts_maps, "spec": {"hard": {"configmaps": "4"}}}
    ctl._quota_updated(counts_maps, {**counts_maps, "status": {"used": {"configmaps": "1"}}})
    assert len(ctl.queue) == 0
    ctl._quota_updated(counts_maps, changed)
    assert len(ctl.queue) == 1


def test_quotable_resources_are_monitored(ctl: ResourceQuotaController) -> None:
    monitored = set(ctl.monitors)
    assert {("", "pods"), ("", "services"), ("", "persistentvolumeclaims"), ("", "configmaps"),
            ("apps", "deployments"), ("batch", "jobs")} <= monitored
    # Events are never counted; cluster-scoped resources cannot be.
    assert ("", "events") not in monitored and ("", "nodes") not in monitored
