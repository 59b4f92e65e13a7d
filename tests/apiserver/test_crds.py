"""The CRD controller in an in-process API server: a CRD is accepted and established, its
versions are served (registry, discovery, OpenAPI from its schema, the custom resource
strategy, conversion None), its objects are validated, and deleting it deletes them and
stops serving it; a restarted server serves what is stored before any request; admission
plugins of core resources leave custom resources of the same names alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.apiserver.inprocess import apiserver

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo, version_priority
from kybernetes.apiserver import discovery, openapi
from kybernetes.apiserver.server import ApiServer
from kybernetes.apiserver.store import DeleteOptions

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"spec": {
        "type": "object", "description": "The desired widget.",
        "x-kubernetes-validations": [{"rule": "self.replicas <= 3",
                                      "message": "at most 3 replicas"}],
        "properties": {"replicas": {"type": "integer", "default": 1}}}},
}
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.kyb.example.com"},
    "spec": {"group": "kyb.example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [
                 {"name": "v1beta1", "served": True, "storage": False,
                  "schema": {"openAPIV3Schema": SCHEMA}},
                 {"name": "v1", "served": True, "storage": True,
                  "schema": {"openAPIV3Schema": SCHEMA},
                  "subresources": {"status": {}}}]},
}


async def _eventually(check: Callable[[], Any], what: str) -> Any:
    for _ in range(200):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def _controller(server: ApiServer) -> AsyncIterator[None]:
    task = asyncio.create_task(server.crds.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _crd_info(server: ApiServer) -> ResourceInfo:
    info = server.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert info is not None
    return info


def _widget(version: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"kyb.example.com/{version}", "kind": "Widget",
            "metadata": {"name": name}, "spec": spec}


async def test_crd_lifecycle(tmp_path: Path) -> None:
    async with apiserver(tmp_path) as server, _controller(server):
        await server.store.create(_crd_info(server), "", CRD)
        v1 = await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets"),
                               "widgets to be served")
        crd = server.store.cache.get(_crd_info(server).key("", CRD["metadata"]["name"]))
        assert crd is not None
        assert crd.obj["status"]["storedVersions"] == ["v1"]
        assert v1.storage_prefix == "/registry/kyb.example.com/widgets/"
        assert v1.has_status and v1.short_names == ("wd",)

        group = discovery.api_group(server.registry, "kyb.example.com")
        assert group is not None
        assert group["preferredVersion"]["version"] == "v1"
        listed = discovery.api_resource_list(server.registry, "kyb.example.com", "v1")
        assert listed is not None
        assert [r["name"] for r in listed["resources"]] == ["widgets", "widgets/status"]
        doc = openapi.openapi_v3_document(server.registry, "kyb.example.com", "v1")
        assert doc is not None
        widget = doc["components"]["schemas"]["com.example.kyb.v1.Widget"]
        assert widget["properties"]["spec"]["description"] == "The desired widget."
        assert "metadata" in widget["properties"]

        created = await server.store.create(v1, "default", _widget("v1", "a"))
        assert created["spec"] == {"replicas": 1}
        with pytest.raises(errors.StatusError) as refused:
            await server.store.create(v1, "default", _widget("v1", "b", replicas=4))
        assert refused.value.code == 422
        assert refused.value.message == ('Widget.kyb.example.com "b" is invalid: spec: '
                                         'Invalid value: "object": at most 3 replicas')

        beta = server.registry.get("kyb.example.com", "v1beta1", "widgets")
        assert beta is not None
        made = await server.store.create(beta, "default", _widget("v1beta1", "c"))
        assert made["apiVersion"] == "kyb.example.com/v1beta1"
        stored = await server.store.get(v1, "default", "c")
        assert stored.obj["apiVersion"] == "kyb.example.com/v1"

        services = server.registry.get("apiregistration.k8s.io", "v1", "apiservices")
        assert services is not None
        service = await _eventually(
            lambda: server.store.cache.get(services.key("", "v1beta1.kyb.example.com")),
            "the APIService")
        assert service.obj["spec"]["groupPriorityMinimum"] == 1000

        await server.store.delete(_crd_info(server), "", CRD["metadata"]["name"],
                                  DeleteOptions())
        await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets")
                          is None, "widgets to be no longer served")
        await _eventually(lambda: server.store.cache.get(services.key("", "v1.kyb.example.com"))
                          is None, "the APIService to go")
        assert not list(server.store.cache.scan(v1.key_prefix))
        assert server.store.strategies.get("kyb.example.com", "widgets") is None


async def test_a_restarted_server_serves_stored_crds(tmp_path: Path) -> None:
    async with apiserver(tmp_path) as server, _controller(server):
        await server.store.create(_crd_info(server), "", CRD)
        await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets"),
                          "widgets to be served")
    async with apiserver(tmp_path) as server:
        assert server.registry.get("kyb.example.com", "v1", "widgets") is None
        server.crds.sync()
        assert server.registry.get("kyb.example.com", "v1", "widgets") is not None
        assert server.store.strategies.get("kyb.example.com", "widgets") is not None


async def test_conflicting_names_are_not_accepted(tmp_path: Path) -> None:
    other = {**CRD, "metadata": {"name": "gadgets.kyb.example.com"},
             "spec": {**CRD["spec"], "names": {"plural": "gadgets", "kind": "Widget"}}}
    async with apiserver(tmp_path) as server, _controller(server):
        await server.store.create(_crd_info(server), "", CRD)
        await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets"),
                          "widgets to be served")
        await server.store.create(_crd_info(server), "", other)

        def conditions() -> dict[str, tuple[str, str, str]] | None:
            found = server.store.cache.get(_crd_info(server).key("", "gadgets.kyb.example.com"))
            status = (found.obj.get("status") or {}) if found else {}
            return {c["type"]: (c["status"], c["reason"], c["message"])
                    for c in status.get("conditions") or []} or None

        assert await _eventually(conditions, "the conflict") == {
            "NamesAccepted": ("False", "ListKindConflict", '"WidgetList" is already in use'),
            "Established": ("False", "NotAccepted", "not all names are accepted")}
        assert server.registry.get("kyb.example.com", "v1", "gadgets") is None


async def test_a_terminating_crd_waits_for_its_objects_and_refuses_new_ones(
        tmp_path: Path) -> None:
    async with apiserver(tmp_path) as server, _controller(server):
        crds = _crd_info(server)
        name = CRD["metadata"]["name"]
        await server.store.create(crds, "", CRD)
        v1 = await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets"),
                               "widgets to be served")
        held = _widget("v1", "held")
        held["metadata"]["finalizers"] = ["example.com/hold"]
        await server.store.create(v1, "default", held)
        await server.store.delete(crds, "", name, DeleteOptions())

        def terminating() -> bool:
            found = server.store.cache.get(crds.key("", name))
            return found is not None and any(
                c["type"] == "Terminating" and c["status"] == "True"
                for c in found.obj["status"].get("conditions") or [])

        def held_deleted() -> bool:
            found = server.store.cache.get(v1.key("default", "held"))
            return found is not None and bool(found.obj["metadata"].get("deletionTimestamp"))

        await _eventually(terminating, "the Terminating condition")
        await _eventually(held_deleted, "the object's deletion")
        with pytest.raises(errors.StatusError) as refused:
            await server.store.create(v1, "default", _widget("v1", "late"))
        assert (refused.value.code, refused.value.message) == (
            405, "create not allowed while custom resource definition is terminating")
        assert server.store.cache.get(crds.key("", name)) is not None

        def release(obj: dict[str, Any]) -> dict[str, Any]:
            obj["metadata"]["finalizers"] = []
            return obj

        await server.store.modify(v1, "default", "held", release)
        await _eventually(lambda: server.store.cache.get(crds.key("", name)) is None,
                          "the CRD to go")
        await _eventually(lambda: server.registry.get("kyb.example.com", "v1", "widgets")
                          is None, "widgets to be no longer served")


def test_versions_sort_as_upstream() -> None:
    versions = ["v1alpha1", "v1", "v2beta1", "foo", "v1beta2", "v2", "v1beta1", "v10"]
    assert sorted(versions, key=version_priority) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]


def _preserving_crd(plural: str, kind: str) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": plural, "kind": kind},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}]}}


async def test_admission_plugins_of_core_resources_leave_namesakes_alone(
        tmp_path: Path) -> None:
    """LimitRanger, DefaultStorageClass, StorageObjectInUseProtection and
    PersistentVolumeClaimResize match resources by group: `pods.example.com` and
    `persistentvolumeclaims.example.com` get none of their rules."""
    async with apiserver(tmp_path) as server, _controller(server):
        for plural, kind in (("pods", "Pod"), ("persistentvolumeclaims",
                                                "PersistentVolumeClaim")):
            await server.store.create(_crd_info(server), "", _preserving_crd(plural, kind))
        pods = await _eventually(lambda: server.registry.get("example.com", "v1", "pods"),
                                 "pods.example.com to be served")
        claims = await _eventually(
            lambda: server.registry.get("example.com", "v1", "persistentvolumeclaims"),
            "persistentvolumeclaims.example.com to be served")
        limit_ranges = server.registry.get("", "v1", "limitranges")
        classes = server.registry.get("storage.k8s.io", "v1", "storageclasses")
        assert limit_ranges is not None and classes is not None
        await server.store.create(limit_ranges, "default", {
            "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"},
                                 "defaultRequest": {"cpu": "100m"}},
                                {"type": "PersistentVolumeClaim",
                                 "max": {"storage": "1Gi"}}]}})
        await server.store.create(classes, "", {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "fast", "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "example.com/disk"})
        await server.store.cache.wait_fresh()

        def spec() -> dict[str, Any]:
            return {"containers": [{"name": "c", "image": "busybox"}]}

        pod = await server.store.create(pods, "default", {
            "apiVersion": "example.com/v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": spec()})
        assert pod["spec"] == spec()
        assert "annotations" not in pod["metadata"]

        def requests() -> dict[str, Any]:
            return {"resources": {"requests": {"storage": "1Gi"}}}

        claim = await server.store.create(claims, "default", {
            "apiVersion": "example.com/v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "c"}, "spec": requests()})
        assert claim["spec"] == requests()
        assert "finalizers" not in claim["metadata"]

        def grow(obj: dict[str, Any]) -> dict[str, Any]:
            obj["spec"]["resources"]["requests"]["storage"] = "2Gi"
            return obj

        grown = await server.store.modify(claims, "default", "c", grow)
        assert grown["spec"]["resources"]["requests"]["storage"] == "2Gi"
