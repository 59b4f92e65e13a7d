"""The generic store (apiserver/store.py `ObjectStore`) on its own: a builtin registry, a
SQLite storage in a temporary directory and its watch cache, no admission plugins and no
HTTP. What every resource's create, get, update, read-modify-write and delete do."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo, builtin_registry
from kybernetes.apiserver.store import MAX_OBJECT_BYTES, DeleteOptions, ObjectStore
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.sqlite import SQLiteStorage

Obj = dict[str, Any]
NS = "ns"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    storage = SQLiteStorage(tmp_path / "state.db")
    await storage.start()
    cache = WatchCache(storage)
    await cache.start()
    try:
        yield ObjectStore(builtin_registry(), storage, cache)
    finally:
        await cache.stop()
        await storage.close()


def resource(store: ObjectStore, group: str, version: str, plural: str) -> ResourceInfo:
    info = store.registry.get(group, version, plural)
    assert info is not None
    return info


def configmap(name: str = "c", **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


def deployment(image: str = "app:1") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def status_code(call: Any) -> int:
    with pytest.raises(errors.StatusError) as raised:
        await call
    return raised.value.code


# -- create and get -----------------------------------------------------------------------


async def test_a_create_sets_system_metadata(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    sent = configmap(a="1")
    sent["metadata"].update(uid="mine", resourceVersion="12345",
                            creationTimestamp="1999-01-01T00:00:00Z",
                            deletionTimestamp="1999-01-01T00:00:00Z")
    obj = await store.create(configmaps, NS, sent, manager="tester")
    meta = obj["metadata"]
    assert meta["namespace"] == NS
    assert meta["uid"] != "mine" and len(meta["uid"]) == 36
    assert meta["creationTimestamp"] != "1999-01-01T00:00:00Z"
    assert "deletionTimestamp" not in meta
    assert int(meta["resourceVersion"]) > 0 and meta["resourceVersion"] != "12345"
    assert [m["manager"] for m in meta["managedFields"]] == ["tester"]
    assert meta["managedFields"][0]["operation"] == "Update"

    got = await store.get(configmaps, NS, "c")
    assert got.obj["metadata"]["uid"] == meta["uid"]
    assert got.obj["data"] == {"a": "1"}
    assert str(got.revision) == meta["resourceVersion"]


async def test_a_name_is_generated_from_generate_name(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    first = await store.create(configmaps, NS, {"metadata": {"generateName": "gen-"},
                                                "apiVersion": "v1", "kind": "ConfigMap"})
    second = await store.create(configmaps, NS, {"metadata": {"generateName": "gen-"},
                                                 "apiVersion": "v1", "kind": "ConfigMap"})
    for obj in (first, second):
        assert obj["metadata"]["name"].startswith("gen-")
        assert len(obj["metadata"]["name"]) == len("gen-") + 5
    assert first["metadata"]["name"] != second["metadata"]["name"]


async def test_a_create_of_an_existing_name_is_409(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    await store.create(configmaps, NS, configmap())
    assert await status_code(store.create(configmaps, NS, configmap())) == 409
    # ...also as a dry run, which stores nothing.
    assert await status_code(store.create(configmaps, NS, configmap(), dry_run=True)) == 409


async def test_a_dry_run_create_stores_nothing(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    obj = await store.create(configmaps, NS, configmap(), dry_run=True)
    assert obj["metadata"]["uid"]
    assert await status_code(store.get(configmaps, NS, "c")) == 404


async def test_refused_creates(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    elsewhere = configmap()
    elsewhere["metadata"]["namespace"] = "other"
    assert await status_code(store.create(configmaps, NS, elsewhere)) == 400
    assert await status_code(store.create(configmaps, NS, configmap("Not_A_Name"))) == 422
    pods = resource(store, "", "v1", "pods")
    huge = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
            "spec": {"containers": [{"name": "c", "image": "i", "env": [
                {"name": "BIG", "value": "x" * (MAX_OBJECT_BYTES + 1)}]}]}}
    assert await status_code(store.create(pods, NS, huge)) == 413
    assert await status_code(store.get(configmaps, NS, "nothing")) == 404


async def test_cluster_scoped_objects_have_no_namespace(store: ObjectStore) -> None:
    namespaces = resource(store, "", "v1", "namespaces")
    obj = await store.create(namespaces, "", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "n", "namespace": "x"}})
    assert "namespace" not in obj["metadata"]
    assert obj["status"] == {"phase": "Active"}


# -- update -------------------------------------------------------------------------------


async def test_an_update_is_guarded_by_its_resource_version(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    created = await store.create(configmaps, NS, configmap(a="1"))
    first = {**copy.deepcopy(created), "data": {"a": "2"}}
    updated = await store.update(configmaps, NS, "c", first)
    assert int(updated["metadata"]["resourceVersion"]) > \
        int(created["metadata"]["resourceVersion"])
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]

    stale = {**copy.deepcopy(created), "data": {"a": "stale"}}
    assert await status_code(store.update(configmaps, NS, "c", stale)) == 409
    assert (await store.get(configmaps, NS, "c")).obj["data"] == {"a": "2"}

    unconditional = configmap(a="3")  # no resourceVersion: as upstream, it just applies
    await store.update(configmaps, NS, "c", unconditional)
    assert (await store.get(configmaps, NS, "c")).obj["data"] == {"a": "3"}


async def test_refused_updates(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    await store.create(configmaps, NS, configmap())
    assert await status_code(store.update(configmaps, NS, "c", configmap("other"))) == 400
    assert await status_code(store.update(configmaps, NS, "missing",
                                          configmap("missing"))) == 404
    elsewhere = configmap()
    elsewhere["metadata"]["namespace"] = "other"
    assert await status_code(store.update(configmaps, NS, "c", elsewhere)) == 400


async def test_generation_follows_spec_changes(store: ObjectStore) -> None:
    deployments = resource(store, "apps", "v1", "deployments")
    created = await store.create(deployments, NS, deployment())
    assert created["metadata"]["generation"] == 1
    relabelled = await store.modify(deployments, NS, "d", lambda o: {
        **o, "metadata": {**o["metadata"], "labels": {"x": "y"}}})
    assert relabelled["metadata"]["generation"] == 1
    rolled = await store.update(deployments, NS, "d", deployment("app:2"))
    assert rolled["metadata"]["generation"] == 2
    status = await store.modify(deployments, NS, "d", lambda o: {
        **o, "status": {"observedGeneration": 2, "replicas": 1}}, subresource="status")
    assert status["status"]["observedGeneration"] == 2
    assert status["metadata"]["generation"] == 2
    assert status["spec"] == rolled["spec"]


async def test_concurrent_read_modify_writes_all_apply(store: ObjectStore) -> None:
    """`modify` retries on a conflict: five concurrent increments all apply (each round
    of conflicts has a winner, and the store retries more than five times)."""
    configmaps = resource(store, "", "v1", "configmaps")
    await store.create(configmaps, NS, configmap(n="0"))

    def increment(obj: Obj) -> Obj:
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    await asyncio.gather(*(store.modify(configmaps, NS, "c", increment) for _ in range(5)))
    assert (await store.get(configmaps, NS, "c")).obj["data"] == {"n": "5"}


async def test_a_modify_pinned_to_a_stale_version_is_409(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    created = await store.create(configmaps, NS, configmap(a="1"))
    await store.modify(configmaps, NS, "c", lambda o: {**o, "data": {"a": "2"}})

    def pinned(obj: Obj) -> Obj:
        obj["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
        return obj

    assert await status_code(store.modify(configmaps, NS, "c", pinned)) == 409


# -- delete -------------------------------------------------------------------------------


async def test_a_delete_removes_an_object_without_finalizers(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    created = await store.create(configmaps, NS, configmap())
    obj, gone = await store.delete(configmaps, NS, "c", DeleteOptions())
    assert gone and obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert await status_code(store.get(configmaps, NS, "c")) == 404
    assert await status_code(store.delete(configmaps, NS, "c", DeleteOptions())) == 404


async def test_finalizers_hold_a_deletion(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    held = configmap()
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await store.create(configmaps, NS, held)
    obj, gone = await store.delete(configmaps, NS, "c", DeleteOptions())
    assert not gone
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 0
    # Removing the last finalizer is up to whoever set it; the object then goes.
    await store.modify(configmaps, NS, "c", lambda o: {
        **o, "metadata": {**o["metadata"], "finalizers": []}})
    assert await status_code(store.get(configmaps, NS, "c")) == 404


async def test_propagation_policies_add_their_finalizers(store: ObjectStore) -> None:
    deployments = resource(store, "apps", "v1", "deployments")
    await store.create(deployments, NS, deployment())
    obj, gone = await store.delete(deployments, NS, "d",
                                   DeleteOptions(propagation_policy="Foreground"))
    assert not gone and obj["metadata"]["finalizers"] == ["foregroundDeletion"]


async def test_delete_preconditions(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    created = await store.create(configmaps, NS, configmap())
    assert await status_code(store.delete(configmaps, NS, "c", DeleteOptions(
        precondition_uid="someone-else"))) == 409
    assert await status_code(store.delete(configmaps, NS, "c", DeleteOptions(
        precondition_resource_version="999999"))) == 409
    _, gone = await store.delete(configmaps, NS, "c", DeleteOptions(
        precondition_uid=created["metadata"]["uid"],
        precondition_resource_version=created["metadata"]["resourceVersion"]))
    assert gone


async def test_a_bound_pod_gets_its_grace_period(store: ObjectStore) -> None:
    pods = resource(store, "", "v1", "pods")
    await store.create(pods, NS, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeName": "n", "terminationGracePeriodSeconds": 20,
                 "containers": [{"name": "c", "image": "i"}]}})
    obj, gone = await store.delete(pods, NS, "p", DeleteOptions())
    assert not gone and obj["metadata"]["deletionGracePeriodSeconds"] == 20
    # A shorter grace period replaces it; a longer one does not.
    obj, _ = await store.delete(pods, NS, "p", DeleteOptions(grace_period_seconds=5))
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 5
    obj, _ = await store.delete(pods, NS, "p", DeleteOptions(grace_period_seconds=60))
    assert obj["metadata"]["deletionGracePeriodSeconds"] == 5
    _, gone = await store.delete(pods, NS, "p", DeleteOptions(grace_period_seconds=0))
    assert gone


async def test_a_dry_run_delete_keeps_the_object(store: ObjectStore) -> None:
    configmaps = resource(store, "", "v1", "configmaps")
    await store.create(configmaps, NS, configmap())
    _, gone = await store.delete(configmaps, NS, "c", DeleteOptions(dry_run=True))
    assert gone
    assert (await store.get(configmaps, NS, "c")).obj["metadata"]["name"] == "c"
