"""The kubelet's watched copies of the cluster (`objectcache.ObjectCache`,
`listers.KubeletListers`) against a real `kyb server`: a watch per referenced ConfigMap or
Secret, started at a pod's registration and stopped when no pod refers to the object,
changes arriving through the watch, immutable objects no longer watched; Services and the
Node from their informers. Expectations are upstream's (watch_based_manager_test.go,
cache_based_manager_test.go)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kybernetes.client import ApiClient, load_kubeconfig, resource
from kybernetes.kubelet.envvars import EnvError
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.objectcache import (
    ObjectCache,
    ObjectCacheError,
    configmap_names,
    secret_names,
)
from tests.kubelet.test_kubelet import api, namespace, server

__all__ = ["api", "namespace", "server"]  # a kyb server without controllers, its client

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
CONFIGMAPS = resource("", "v1", "configmaps")
SERVICES = resource("", "v1", "services")
NAMESPACES = resource("", "v1", "namespaces")
NODES = resource("", "v1", "nodes")


@pytest.fixture
async def configmaps(api: ApiClient) -> AsyncIterator[ObjectCache]:
    cache = ObjectCache(api, "configmaps", configmap_names)
    try:
        yield cache
    finally:
        await cache.aclose()


def pod(namespace: str, uid: str, *configmaps: str) -> Obj:
    return {"metadata": {"name": uid, "namespace": namespace, "uid": uid},
            "spec": {"containers": [{"name": "c", "envFrom": [
                {"configMapRef": {"name": name}} for name in configmaps]}]}}


async def eventually(check: Callable[[], Any]) -> None:
    async with asyncio.timeout(10):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def test_a_watch_per_referenced_object_follows_changes(
        api: ApiClient, configmaps: ObjectCache, namespace: str) -> None:
    cm = await api.create(CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}},
                          namespace)
    await configmaps.register_pod(pod(namespace, "p1", "cfg", "absent"))
    assert sorted(configmaps.watched) == [(namespace, "absent"), (namespace, "cfg")]
    got = await configmaps.get(namespace, "cfg")
    assert got is not None and got["data"] == {"a": "1"}
    assert await configmaps.get(namespace, "absent") is None  # upstream's NotFound

    cm["data"] = {"a": "2"}
    await api.update(CONFIGMAPS, cm, namespace)

    async def changed() -> bool:
        got = await configmaps.get(namespace, "cfg")
        return got is not None and got["data"] == {"a": "2"}

    await eventually(changed)
    await api.create(CONFIGMAPS, {"metadata": {"name": "absent"}, "data": {}}, namespace)

    async def created() -> bool:
        return await configmaps.get(namespace, "absent") is not None

    await eventually(created)


async def test_references_are_counted_across_pods_and_specs(
        api: ApiClient, configmaps: ObjectCache, namespace: str) -> None:
    await configmaps.register_pod(pod(namespace, "p1", "shared", "mine"))
    await configmaps.register_pod(pod(namespace, "p2", "shared"))
    await configmaps.register_pod(pod(namespace, "p1", "shared", "mine"))  # a resync: no-op
    assert sorted(configmaps.watched) == [(namespace, "mine"), (namespace, "shared")]

    await configmaps.register_pod(pod(namespace, "p1", "other"))  # p1's spec changed
    assert sorted(configmaps.watched) == [(namespace, "other"), (namespace, "shared")]
    with pytest.raises(ObjectCacheError) as caught:
        await configmaps.get(namespace, "mine")
    assert str(caught.value) == f'object "{namespace}"/"mine" not registered'

    await configmaps.unregister_pod("p1")
    assert configmaps.watched == [(namespace, "shared")]  # p2 still refers to it
    await configmaps.unregister_pod("p2")
    assert configmaps.watched == []


async def test_an_immutable_object_is_no_longer_watched(
        api: ApiClient, configmaps: ObjectCache, namespace: str) -> None:
    await api.create(CONFIGMAPS, {"metadata": {"name": "frozen"}, "data": {"a": "1"},
                                  "immutable": True}, namespace)
    await configmaps.register_pod(pod(namespace, "p1", "frozen"))
    got = await configmaps.get(namespace, "frozen")
    assert got is not None and got["data"] == {"a": "1"}
    assert configmaps.watched == []  # stopped: it cannot change
    got = await configmaps.get(namespace, "frozen")  # still served from the copy
    assert got is not None and got["data"] == {"a": "1"}


def test_referenced_names_are_upstreams() -> None:
    spec: Obj = {
        "imagePullSecrets": [{"name": "pull"}],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-sec"}}]}],
        "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "from-cm"}}],
                        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {
                                    "name": "key-cm", "key": "k"}}},
                                {"name": "B", "valueFrom": {"secretKeyRef": {
                                    "name": "key-sec", "key": "k"}}},
                                {"name": "C", "value": "plain"}]}],
        "ephemeralContainers": [{"name": "e", "env": [{"name": "D", "valueFrom": {
            "configMapKeyRef": {"name": "debug-cm", "key": "k"}}}]}],
        "volumes": [{"name": "v1", "configMap": {"name": "vol-cm"}},
                    {"name": "v2", "secret": {"secretName": "vol-sec"}},
                    {"name": "v3", "projected": {"sources": [
                        {"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-sec"}},
                        {"serviceAccountToken": {"path": "token"}}]}},
                    {"name": "v4", "emptyDir": {}}]}
    subject = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": spec}
    assert configmap_names(subject) == {"from-cm", "key-cm", "debug-cm", "vol-cm", "proj-cm"}
    assert secret_names(subject) == {"pull", "init-sec", "key-sec", "vol-sec", "proj-sec"}


async def test_listers_serve_services_and_the_node_from_watches(
        api: ApiClient, namespace: str) -> None:
    node = f"node-{uuid.uuid4().hex[:6]}"
    listers = KubeletListers(api, node, sync_timeout=5)
    try:
        await listers.register_pod(pod(namespace, "p1"))
        assert await listers.list_services(namespace) == []
        assert await listers.node_allocatable() == {}  # no Node yet
        with pytest.raises(EnvError):
            await listers.host_ips()

        await api.create(SERVICES, {"metadata": {"name": "db"},
                                    "spec": {"ports": [{"port": 5432}]}}, namespace)
        created = await api.create(NODES, {"metadata": {"name": node}})
        created["status"] = {"allocatable": {"cpu": "2"},
                             "addresses": [{"type": "InternalIP", "address": "192.0.2.7"}]}
        await api.update_status(NODES, created)

        async def seen() -> bool:
            services = await listers.list_services(namespace)
            return [s["metadata"]["name"] for s in services] == ["db"] and \
                await listers.node_allocatable() == {"cpu": "2"}

        await eventually(seen)
        assert await listers.host_ips() == ["192.0.2.7"]
        kubernetes = await listers.list_services("default")
        assert "kubernetes" in [s["metadata"]["name"] for s in kubernetes]
    finally:
        await listers.aclose()
        await api.delete(NODES, node)


async def test_unsynced_caches_fail_as_upstream(tmp_path: Path) -> None:
    """Nothing answers: a read gives up after the sync timeout with upstream's words."""
    config = load_kubeconfig_for_closed_port(tmp_path)
    async with ApiClient(config) as client:
        cache = ObjectCache(client, "secrets", secret_names, sync_timeout=0.2)
        listers = KubeletListers(client, "n", sync_timeout=0.2)
        try:
            subject = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
                       "spec": {"imagePullSecrets": [{"name": "s"}]}}
            await cache.register_pod(subject)
            with pytest.raises(ObjectCacheError) as caught:
                await cache.get("ns", "s")
            assert str(caught.value) == \
                "failed to sync secrets cache: timed out waiting for the condition"
            await listers.register_pod(subject)
            with pytest.raises(EnvError) as env_error:
                await listers.list_services("ns")
            assert str(env_error.value) == \
                "services have not yet been read at least once, cannot construct envvars"
        finally:
            await cache.aclose()
            await listers.aclose()


def load_kubeconfig_for_closed_port(tmp_path: Path) -> Any:
    """A client configuration for a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: x}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
""")
    return load_kubeconfig(path)
