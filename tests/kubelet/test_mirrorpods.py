"""The mirror pods of in-process add-ons (kubelet/mirrorpods.py) and their logs
(kubelet/componentlogs.py)."""

from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path
from typing import Any, cast

import pytest

from kybernetes.client import ApiClient
from kybernetes.kubelet import mirrorpods
from kybernetes.kubelet.componentlogs import component_log, log_file
from kybernetes.kubelet.logs import LogOptions, read_logs
from kybernetes.kubelet.mirrorpods import (
    KUBE_DNS,
    MIRROR_ANNOTATION,
    Health,
    known_addon,
    mirror_pod,
    pod_status,
    static_pod,
)


def _healthy() -> str | None:
    return None


def test_mirror_pod_is_bound_to_and_owned_by_its_node() -> None:
    pod = mirror_pod(known_addon(KUBE_DNS, _healthy), "n1", "uid-1")
    meta = pod["metadata"]
    assert (meta["name"], meta["namespace"]) == ("kube-dns-n1", "kube-system")
    assert meta["labels"] == {"k8s-app": "kube-dns"}
    annotations = meta["annotations"]
    assert annotations["kubernetes.io/config.source"] == "kybernetes"
    assert annotations[MIRROR_ANNOTATION] == annotations["kubernetes.io/config.hash"]
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "n1",
                                        "uid": "uid-1", "controller": True}]
    spec = pod["spec"]
    assert spec["nodeName"] == "n1" and spec["hostNetwork"] is True
    assert "serviceAccountName" not in spec and "volumes" not in spec
    [container] = spec["containers"]
    assert container["name"] == "kube-dns"
    assert container["image"] == mirrorpods.IMAGE and "+" not in mirrorpods.IMAGE
    assert mirrorpods.is_mirror_pod(pod) and mirrorpods.is_in_process(pod)
    assert not mirrorpods.is_mirror_pod(static_pod(known_addon(KUBE_DNS, _healthy), "n1"))


def test_the_hash_follows_the_static_pod() -> None:
    addon = known_addon(KUBE_DNS, _healthy)
    first = static_pod(addon, "n1")["metadata"]["annotations"]["kubernetes.io/config.hash"]
    assert first == static_pod(addon, "n1")["metadata"]["annotations"][
        "kubernetes.io/config.hash"]
    relabelled = mirrorpods.AddOn(addon.name, {"k8s-app": "other"}, _healthy)
    assert first != static_pod(relabelled, "n1")["metadata"]["annotations"][
        "kubernetes.io/config.hash"]


def test_status_follows_health_and_counts_restarts() -> None:
    addon = known_addon(KUBE_DNS, _healthy)
    health = Health()
    status = pod_status(addon, "n1", "10.0.0.1", health, "T0")
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == \
        "ContainerCreating"
    health.observe(None, "T1")
    status = pod_status(addon, "n1", "10.0.0.1", health, "T0")
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == ready["ContainersReady"] == "True"
    [container] = status["containerStatuses"]
    assert container["state"] == {"running": {"startedAt": "T1"}} and container["ready"]
    assert container["containerID"] == "kybernetes://n1/kube-dns"
    assert status["phase"] == "Running" and status["podIP"] == "10.0.0.1"
    health.observe("failed (boom); restarting", "T2")
    status = pod_status(addon, "n1", "10.0.0.1", health, "T0")
    [container] = status["containerStatuses"]
    assert container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert not container["ready"]
    health.observe(None, "T3")
    assert pod_status(addon, "n1", "10.0.0.1", health, "T0")[
        "containerStatuses"][0]["restartCount"] == 1


def test_container_ids_name_the_add_on() -> None:
    assert mirrorpods.addon_of(mirrorpods.container_id("n1", "kube-proxy")) == "kube-proxy"
    assert mirrorpods.addon_of("runc://abc") is None


def test_an_add_on_logs_as_its_container(tmp_path: Path) -> None:
    path = log_file(tmp_path, "n1", KUBE_DNS)
    assert path == tmp_path / "kube-system_kube-dns-n1" / "kube-dns" / "0.log"
    with component_log(path, ("kybernetes.dns",)):
        logging.getLogger("kybernetes.dns.app").warning("serving on %s", "10.0.0.1:53")
        logging.getLogger("kybernetes.proxy").warning("not this one")
    logging.getLogger("kybernetes.dns.app").warning("nor one after")

    async def read() -> bytes:
        async def running() -> bool:
            return False
        return b"".join([chunk async for chunk in read_logs(path, LogOptions(), running)])

    assert asyncio.run(read()) == b"WARNING kybernetes.dns.app: serving on 10.0.0.1:53\n"


class _Api:
    """What `MirrorPods.sync` asks of the API: the Node's uid, the mirror pod's create and
    its status writes (counted)."""

    def __init__(self) -> None:
        self.status_writes = 0

    async def get(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"metadata": {"uid": "node-uid"}}

    async def create(self, res: Any, obj: dict[str, Any], *args: Any) -> dict[str, Any]:
        created = copy.deepcopy(obj)
        created["metadata"].update(uid="pod-uid", resourceVersion="1")
        return created

    async def update_status(self, res: Any, obj: dict[str, Any], *args: Any
                            ) -> dict[str, Any]:
        self.status_writes += 1
        return obj


async def test_a_status_another_writer_changed_is_restored_at_the_next_reconcile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The node lifecycle controller marks a NotReady node's pods not ready; the mirror pod's
    publisher writes its status back at its next reconcile, as upstream's status manager,
    not at once (each of the controller's writes answered by one of ours)."""
    api = _Api()
    mirror = mirrorpods.MirrorPods(cast(ApiClient, api), "n1", "10.0.0.1",
                                   [known_addon(KUBE_DNS, _healthy)])
    await mirror.sync()  # creates the pod, writes its status
    assert api.status_writes == 1
    published = mirror_pod(mirror.addons[KUBE_DNS], "n1", "node-uid")
    published["metadata"].update(uid="pod-uid", resourceVersion="2")
    published["status"] = pod_status(mirror.addons[KUBE_DNS], "n1", "10.0.0.1",
                                     mirror.health[KUBE_DNS], mirror.start_time)
    mirror.pods.store.add(published)
    await mirror.sync()
    assert api.status_writes == 1  # as wanted
    marked = copy.deepcopy(published)
    for condition in marked["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "False"
    mirror.pods.store.add(marked)
    await mirror.sync()
    assert api.status_writes == 1  # not at once
    monkeypatch.setattr(mirrorpods, "RECONCILE_PERIOD", 0.0)
    await mirror.sync()
    assert api.status_writes == 2  # at the reconcile
