"""Clients and informers across an API server restart (same data dir and port)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from kybernetes.client import (
    ApiClient,
    Backoff,
    GoneError,
    Informer,
    load_kubeconfig,
    resource,
)
from tests.client.helpers import eventually
from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e

CONFIGMAPS = resource("", "v1", "configmaps")
Obj = dict[str, Any]


def configmap(name: str, value: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"v": value}}


async def test_informer_recovers_and_converges_after_restart(server: Server, namespace: str
                                                             ) -> None:
    """The server is killed and started again; meanwhile the revision moved on, so the
    informer's watch is answered 410, it relists, and the relist diff tells the handlers
    what changed while it was away."""
    async with ApiClient(load_kubeconfig(server.kubeconfig)) as api, \
            ApiClient(load_kubeconfig(server.kubeconfig)) as writer:
        for name in ("a", "b", "c"):
            await writer.create(CONFIGMAPS, configmap(name, "1"), namespace)
        informer = Informer(api, CONFIGMAPS, namespace=namespace,
                            backoff=Backoff(0.05, 0.5, jitter=0.5))
        log: list[tuple[str, str, str]] = []
        informer.add_event_handler(
            lambda o: log.append(("add", o["metadata"]["name"], o["data"]["v"])),
            lambda old, new: log.append(("update", new["metadata"]["name"],
                                         new["data"]["v"])),
            lambda o: log.append(("delete", o["metadata"]["name"], o["data"]["v"])))
        informer.start()
        try:
            assert await informer.wait_for_sync(20)
            await eventually(lambda: len(log) == 3)
            before = informer.last_sync_resource_version
            # A write the informer does not watch moves the revision past its own.
            await writer.create(CONFIGMAPS, configmap("elsewhere", "1"), "default")

            # SIGKILL: SIGTERM hangs while watches are open (see the report).
            server.stop(signal.SIGKILL)
            await eventually(lambda: informer.stats.watch_failures >= 1)
            await asyncio.to_thread(server.start)

            await writer.patch(CONFIGMAPS, "a", {"data": {"v": "2"}}, namespace)
            await writer.delete(CONFIGMAPS, "b", namespace)
            await writer.create(CONFIGMAPS, configmap("d", "1"), namespace)

            def converged() -> bool:
                cached = informer.store.get(f"{namespace}/a")
                return sorted(informer.store.keys()) == [f"{namespace}/{n}" for n in "acd"] \
                    and cached is not None and cached["data"]["v"] == "2"

            await eventually(converged)
            await eventually(lambda: len(log) >= 6)
            assert {("update", "a", "2"), ("delete", "b", "1"), ("add", "d", "1")} <= set(log)
            assert informer.stats.relists_after_gone >= 1
            fresh = await writer.list(CONFIGMAPS, namespace)
            assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in fresh} \
                == {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                    for o in informer.store.list()}

            # A watch from before the restart is too old for the new server.
            with pytest.raises(GoneError):
                async with writer.watch(CONFIGMAPS, namespace, resource_version=before) as w:
                    async for _ in w:
                        pass
        finally:
            await informer.stop()
