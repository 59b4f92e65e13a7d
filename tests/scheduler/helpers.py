"""Builders for scheduler tests: nodes, pods, a cache, a framework over the default profile."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.config import Profile, default_profile
from kybernetes.scheduler.framework import Framework
from kybernetes.scheduler.interface import CycleState, Handle
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.plugins import REGISTRY
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.queue import Nominator

Obj = dict[str, Any]
_uids = itertools.count(1)


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, *,
         labels: Mapping[str, str] | None = None, taints: Iterable[Obj] = (),
         unschedulable: bool = False, extended: Mapping[str, str] | None = None,
         ephemeral: str | None = None, images: Iterable[tuple[list[str], int]] = ()) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extended or {})}
    if ephemeral is not None:
        allocatable["ephemeral-storage"] = ephemeral
    spec: Obj = {}
    if taints:
        spec["taints"] = list(taints)
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"node-{name}",
                         "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": allocatable, "capacity": dict(allocatable),
                       "images": [{"names": n, "sizeBytes": s} for n, s in images]}}


def pod(name: str, cpu: str | None = None, memory: str | None = None, *,
        namespace: str = "default", labels: Mapping[str, str] | None = None,
        node_name: str = "", priority: int | None = None, image: str = "nginx:1.27",
        ports: Iterable[Obj] = (), extended: Mapping[str, str] | None = None,
        ephemeral: str | None = None, **spec: Any) -> Obj:
    requests: Obj = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    if ephemeral is not None:
        requests["ephemeral-storage"] = ephemeral
    requests.update(extended or {})
    container: Obj = {"name": "c", "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    if ports:
        container["ports"] = list(ports)
    body: Obj = {"containers": [container], "schedulerName": "default-scheduler", **spec}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{next(_uids)}",
                         "labels": dict(labels or {}),
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": body, "status": {}}


def info(obj: Obj) -> PodInfo:
    return PodInfo(obj)


def node_info(obj: Obj, *pods: Obj) -> NodeInfo:
    ni = NodeInfo(obj)
    for p in pods:
        pi = PodInfo(p)
        pi.node_name = ni.name
        ni.add_pod(pi)
    return ni


def cache_of(nodes: Iterable[Obj], pods: Iterable[Obj] = ()) -> Cache:
    return Cache.of(nodes, pods)


def framework(cache: Cache, profile: Profile | None = None, **handle: Any) -> Framework:
    h = Handle(cache, **handle)
    if h.nominator is None:
        h.nominator = Nominator()
    return Framework(profile or default_profile(), REGISTRY, h)


def prefiltered(fw: Framework, pod_info: PodInfo) -> CycleState:
    """A cycle state after PreFilter (asserting it did not reject)."""
    state = CycleState()
    _result, status, _plugins = fw.run_pre_filter(state, pod_info)
    assert status is None or status.is_rejected is False, status
    return state


def per_node_and_vector(fw: Framework, plugin_name: str, pod_info: PodInfo
                        ) -> tuple[dict[str, bool], dict[str, bool]]:
    """Each node's verdict from the plugin's per-node Filter and from its filter_vector."""
    state = prefiltered(fw, pod_info)
    plugin = fw.plugins[plugin_name]
    table = fw.handle.cache.table
    infos = fw.handle.cache.node_infos()
    per_node = {n.name: plugin.filter(state, pod_info, n) is None for n in infos}
    if plugin_name in state.skip_filter_plugins:
        return per_node, dict.fromkeys(per_node, True)
    mask = plugin.filter_vector(state, pod_info, table)
    if mask is None:
        return per_node, per_node
    if mask is True:
        return per_node, dict.fromkeys(per_node, True)
    return per_node, {n.name: bool(mask[n.index]) for n in infos}
