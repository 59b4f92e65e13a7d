"""DefaultStorageClass: a claim that names no class gets the default one (the newest of
several, then the first by name); a claim naming one, even "", keeps it."""

from __future__ import annotations

from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, server

from kybernetes.apiserver.admission.defaultstorageclass import default_class

__all__ = ["http", "server"]

DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}


def claim(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}, **spec}}


async def storage_class(http: httpx.AsyncClient, name: str,
                        annotations: dict[str, str] | None = None) -> None:
    ok(await http.post("/apis/storage.k8s.io/v1/storageclasses", json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations or {}},
        "provisioner": "example.com/disk"}))
    # A consistent read: the watch cache the plugin reads has the class from here on.
    ok(await http.get(f"/apis/storage.k8s.io/v1/storageclasses/{name}"))


async def test_claims_get_the_default_class(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "dsc")
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    none = ok(await http.post(claims, json=claim("before")))
    assert "storageClassName" not in none["spec"]
    await storage_class(http, "slow")
    await storage_class(http, "fast", DEFAULT)
    assert ok(await http.post(claims, json=claim("plain")))["spec"]["storageClassName"] == \
        "fast"
    named = ok(await http.post(claims, json=claim("named", storageClassName="slow")))
    assert named["spec"]["storageClassName"] == "slow"
    empty = ok(await http.post(claims, json=claim("empty", storageClassName="")))
    assert empty["spec"]["storageClassName"] == ""
    annotated = claim("annotated")
    annotated["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "slow"}
    assert "storageClassName" not in ok(await http.post(claims, json=annotated))["spec"]


def test_the_newest_default_wins() -> None:
    def sc(name: str, created: str, default: bool = True) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": created,
                             "annotations": DEFAULT if default else {}}}

    classes = [sc("a", "2024-01-01T00:00:00Z"), sc("b", "2024-06-01T00:00:00Z"),
               sc("c", "2025-01-01T00:00:00Z", default=False)]
    chosen = default_class(classes)
    assert chosen is not None and chosen["metadata"]["name"] == "b"
    # Created in the same second: the first by name; the beta annotation counts too.
    beta = sc("a-beta", "2024-06-01T00:00:00Z")
    beta["metadata"]["annotations"] = {"storageclass.beta.kubernetes.io/is-default-class":
                                       "true"}
    chosen = default_class([*classes, beta])
    assert chosen is not None and chosen["metadata"]["name"] == "a-beta"
    assert default_class([sc("x", "2024-01-01T00:00:00Z", default=False)]) is None
