"""The Node authorizer's graph (upstream's plugin/pkg/auth/authorizer/node graph.go and
graph_populator.go): which objects a node may reach through the pods bound to it.

Upstream keeps a DAG whose edges all lead to nodes:

    pod -> node                      (spec.nodeName)
    secret, configmap, pvc, service account, resource claim -> pod
                                     (not for mirror pods: a node must not be able to
                                     create a pod that grants it anything)
    pv -> pvc                        (spec.claimRef)
    secret -> pv                     (the secrets of a PV the kubelet reads)
    volume attachment -> node        (spec.nodeName)

The same relations are kept here as maps: for each object a pod refers to, how many pods
on each node refer to it; for each PV its claim and the secrets it refers to. Whether a
node reaches an object is then a few dictionary lookups, whatever the cluster's size.

The graph follows the watch cache: it observes every change the cache applies, as the
cache applies it, and rebuilds itself from the cache after a (re)load. So it is exactly as
fresh as the reads a kubelet makes, and needs no task of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kybernetes.apiserver.authz import references
from kybernetes.apiserver.watchcache import CacheEvent, WatchCache

POD = "pod"
SECRET = "secret"
CONFIGMAP = "configmap"
PVC = "pvc"
PV = "pv"
SERVICE_ACCOUNT = "serviceAccount"
RESOURCE_CLAIM = "resourceclaim"
VOLUME_ATTACHMENT = "volumeattachment"

PODS_PREFIX = "/registry/pods/"
PVS_PREFIX = "/registry/persistentvolumes/"
ATTACHMENTS_PREFIX = "/registry/volumeattachments/"

# (kind, namespace, name) of an object a pod refers to.
Vertex = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class _Pod:
    node: str
    refs: frozenset[Vertex]


@dataclass(frozen=True, slots=True)
class _PV:
    claim: tuple[str, str] | None
    secrets: frozenset[tuple[str, str]]


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _node_name(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec")
    node = spec.get("nodeName") if isinstance(spec, dict) else None
    return node if isinstance(node, str) else ""


def pod_references(pod: Mapping[str, Any]) -> frozenset[Vertex]:
    """What a pod bound to a node grants that node (nothing for a mirror pod)."""
    if references.is_mirror_pod(pod):
        return frozenset()
    namespace, _ = _meta(pod)
    spec = pod.get("spec")
    account = spec.get("serviceAccountName") if isinstance(spec, dict) else None
    refs: set[Vertex] = set()
    if isinstance(account, str) and account:
        refs.add((SERVICE_ACCOUNT, namespace, account))
    for kind, names in ((SECRET, references.pod_secret_names(pod)),
                        (CONFIGMAP, references.pod_configmap_names(pod)),
                        (PVC, references.pod_claim_names(pod)),
                        (RESOURCE_CLAIM, references.pod_resource_claim_names(pod))):
        refs.update((kind, namespace, name) for name in names)
    return frozenset(refs)


class NodeGraph:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self._pods: dict[tuple[str, str], _Pod] = {}
        # Object -> node -> how many pods bound to that node refer to it.
        self._refs: dict[Vertex, dict[str, int]] = {}
        self._pvs: dict[str, _PV] = {}
        self._secret_pvs: dict[tuple[str, str], set[str]] = {}
        self._attachments: dict[str, str] = {}
        cache.observers.append(self.observe)

    # -- queries ------------------------------------------------------------------------

    def reaches(self, node: str, kind: str, namespace: str, name: str) -> bool:
        """Whether a path leads from the object to the node (upstream's `hasPathFrom`)."""
        if kind == POD:
            pod = self._pods.get((namespace, name))
            return pod is not None and pod.node == node
        if kind == PV:
            pv = self._pvs.get(name)
            return pv is not None and pv.claim is not None and \
                self._referenced((PVC, *pv.claim), node)
        if kind == VOLUME_ATTACHMENT:
            return self._attachments.get(name) == node
        if self._referenced((kind, namespace, name), node):
            return True
        return kind == SECRET and any(
            self.reaches(node, PV, "", pv) for pv in self._secret_pvs.get((namespace, name), ()))

    def _referenced(self, vertex: Vertex, node: str) -> bool:
        return self._refs.get(vertex, {}).get(node, 0) > 0

    # -- following the cache ------------------------------------------------------------

    def observe(self, event: CacheEvent | None) -> None:
        """A change the watch cache applied; None: the cache (re)loaded everything."""
        if event is None:
            self._rebuild()
            return
        gone = event.type == "DELETED"
        obj = (event.previous or event.current).obj if gone else event.current.obj
        if event.key.startswith(PODS_PREFIX):
            self._set_pod(obj, gone)
        elif event.key.startswith(PVS_PREFIX):
            self._set_pv(obj, gone)
        elif event.key.startswith(ATTACHMENTS_PREFIX):
            name = _meta(obj)[1]
            node = "" if gone else _node_name(obj)
            if node:
                self._attachments[name] = node
            else:
                self._attachments.pop(name, None)

    def _rebuild(self) -> None:
        self._pods.clear()
        self._refs.clear()
        self._pvs.clear()
        self._secret_pvs.clear()
        self._attachments.clear()
        for prefix, apply in ((PODS_PREFIX, self._set_pod), (PVS_PREFIX, self._set_pv)):
            for cached in self.cache.scan(prefix):
                apply(cached.obj, False)
        for cached in self.cache.scan(ATTACHMENTS_PREFIX):
            if _node_name(cached.obj):
                self._attachments[_meta(cached.obj)[1]] = _node_name(cached.obj)

    def _set_pod(self, pod: Mapping[str, Any], gone: bool) -> None:
        key = _meta(pod)
        node = "" if gone else _node_name(pod)
        entry = _Pod(node, pod_references(pod)) if node else None
        previous = self._pods.get(key)
        if entry == previous:
            return
        if previous is not None:
            self._count(previous.refs, previous.node, -1)
            del self._pods[key]
        if entry is not None:
            self._count(entry.refs, entry.node, 1)
            self._pods[key] = entry

    def _count(self, refs: Iterable[Vertex], node: str, delta: int) -> None:
        for vertex in refs:
            nodes = self._refs.setdefault(vertex, {})
            count = nodes.get(node, 0) + delta
            if count > 0:
                nodes[node] = count
            else:
                nodes.pop(node, None)
                if not nodes:
                    del self._refs[vertex]

    def _set_pv(self, pv: Mapping[str, Any], gone: bool) -> None:
        name = _meta(pv)[1]
        previous = self._pvs.pop(name, None)
        if previous is not None:
            for secret in previous.secrets:
                pvs = self._secret_pvs.get(secret)
                if pvs is not None:
                    pvs.discard(name)
                    if not pvs:
                        del self._secret_pvs[secret]
        claim = None if gone else references.pv_claim(pv)
        if claim is None:
            # Without a claim a PV leads to no node (upstream adds no edges for it).
            return
        entry = _PV(claim, frozenset(references.pv_kubelet_secrets(pv)))
        self._pvs[name] = entry
        for secret in entry.secrets:
            self._secret_pvs.setdefault(secret, set()).add(name)
