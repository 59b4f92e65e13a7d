"""Mirror pods for the node add-ons the `kyb` process runs itself (cluster DNS, kube-proxy,
NetworkPolicy, the ingress controller), so that `kubectl get pods -n kube-system` shows what
runs, as k3s users see their coredns and kube-proxy pods there.

Upstream's kubelet runs static pods the API does not schedule and reflects each as a
*mirror pod* (pkg/kubelet/pod/mirror_client.go): annotated `kubernetes.io/config.mirror`
(the static pod's hash), `kubernetes.io/config.source` and `kubernetes.io/config.hash`,
bound to the node and owned by its Node (the only pods NodeRestriction lets a node create).
`MirrorPods` does the same for in-process add-ons (source `kybernetes`): one pod
`<add-on>-<node>` in kube-system with one "container" named after the add-on, image
`kybernetes` at the running version; its status comes from the add-on's own health check
(the supervisor's view), Running and Ready while it runs. As upstream's kubelet, it deletes
(grace 0, uid precondition) and recreates a mirror pod that is being deleted or outdated, and
deletes its mirror pods of add-ons no longer run (orphans). The kubelet never runs mirror
pods (`is_mirror_pod`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from kybernetes.api import timeutil
from kybernetes.api.version import GIT_VERSION
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ClientError,
    Informer,
    NotFoundError,
    resource,
)
from kybernetes.client.rest import Preconditions

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
SOURCE_ANNOTATION = "kubernetes.io/config.source"
HASH_ANNOTATION = "kubernetes.io/config.hash"
# The config source of add-ons run in-process (upstream's are "file", "http" and "api").
SOURCE = "kybernetes"
# The image an add-on's container reports: kybernetes at this build (tags have no '+').
IMAGE = f"kybernetes:{GIT_VERSION.replace('+', '-')}"
# Container ids of in-process add-ons: `kybernetes://<node>/<add-on>`.
CONTAINER_ID_SCHEME = "kybernetes://"
PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")

Obj = dict[str, Any]
# Seconds between two reads of the Node's uid while every mirror pod is there.
NODE_REFRESH = 60.0
# How soon a status someone else changed is written back. Upstream's status manager
# reconciles every 10 s (syncBatch); sooner here, or the pods that the node lifecycle
# controller marks not ready while a starting node is NotReady would stay so for 10 s after.
RECONCILE_PERIOD = 2.0


@dataclass(frozen=True)
class AddOn:
    """An add-on the process runs on this node. `check` is its health: None while it runs,
    else why not. `loggers`: the logger names whose records are its log."""

    name: str
    labels: Mapping[str, str]
    check: Callable[[], str | None]
    loggers: tuple[str, ...] = ()


# The add-ons a node's `kyb` process may run: their labels (as k3s's and kubeadm's pods carry)
# and the loggers of their log.
KUBE_DNS = "kube-dns"
KUBE_PROXY = "kube-proxy"
NETWORK_POLICY = "network-policy"
INGRESS_NGINX = "ingress-nginx"
_KNOWN: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    KUBE_DNS: ({"k8s-app": "kube-dns"}, ("kybernetes.dns", "kybernetes.cli.dns")),
    KUBE_PROXY: ({"k8s-app": "kube-proxy"}, ("kybernetes.proxy", "kybernetes.cli.proxy")),
    NETWORK_POLICY: ({"k8s-app": "network-policy"}, ("kybernetes.netpol",)),
    # The access log is a logger of its own that does not reach the process's stderr.
    INGRESS_NGINX: ({"app.kubernetes.io/name": "ingress-nginx",
                     "app.kubernetes.io/component": "controller"},
                    ("kybernetes.ingress", "kybernetes.ingress.access")),
}


def known_addon(name: str, check: Callable[[], str | None]) -> AddOn:
    """One of the add-ons `kyb` runs (`KUBE_DNS`, `KUBE_PROXY`, `NETWORK_POLICY`,
    `INGRESS_NGINX`)."""
    labels, loggers = _KNOWN[name]
    return AddOn(name, labels, check, loggers)


def addon_loggers(name: str) -> tuple[str, ...]:
    return _KNOWN[name][1]


def addon_labels(name: str) -> dict[str, str]:
    return dict(_KNOWN[name][0])


def is_mirror_pod(pod: Mapping[str, Any]) -> bool:
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def is_in_process(pod: Mapping[str, Any]) -> bool:
    """A mirror pod of an add-on run in-process (by this or another node)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return MIRROR_ANNOTATION in annotations and annotations.get(SOURCE_ANNOTATION) == SOURCE


def pod_name(addon: str, node_name: str) -> str:
    return f"{addon}-{node_name}"


def container_id(node_name: str, addon: str) -> str:
    return f"{CONTAINER_ID_SCHEME}{node_name}/{addon}"


def addon_of(container: str) -> str | None:
    """The add-on a container id names, None when it is not an in-process one."""
    if not container.startswith(CONTAINER_ID_SCHEME):
        return None
    return container[len(CONTAINER_ID_SCHEME):].rpartition("/")[2]


def static_pod(addon: AddOn, node_name: str) -> Obj:
    """The add-on as the static pod the node runs, with its config hash."""
    spec: Obj = {
        "nodeName": node_name, "hostNetwork": True, "restartPolicy": "Always",
        "priorityClassName": "system-node-critical", "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "tolerations": [{"operator": "Exists"}],
        "containers": [{"name": addon.name, "image": IMAGE, "imagePullPolicy": "Never"}]}
    labels = dict(addon.labels)
    digest = hashlib.sha256(orjson.dumps({"labels": labels, "spec": spec},
                                         option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(addon.name, node_name), "namespace": NAMESPACE,
                         "labels": labels,
                         "annotations": {SOURCE_ANNOTATION: SOURCE, HASH_ANNOTATION: digest}},
            "spec": spec}


def mirror_pod(addon: AddOn, node_name: str, node_uid: str) -> Obj:
    """The mirror pod of the add-on's static pod, owned by its Node (upstream's
    `CreateMirrorPod`)."""
    pod = static_pod(addon, node_name)
    meta = pod["metadata"]
    meta["annotations"][MIRROR_ANNOTATION] = meta["annotations"][HASH_ANNOTATION]
    meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                "uid": node_uid, "controller": True}]
    return pod


@dataclass
class Health:
    """What the publisher observed of one add-on: since when it runs (None: it does not),
    the times it came back, and when readiness last changed."""

    problem: str | None = "not started yet"
    started_at: str | None = None
    restarts: int = 0
    transition: str = field(default_factory=timeutil.now_rfc3339)
    seen_running: bool = False

    def observe(self, problem: str | None, now: str) -> None:
        if (problem is None) != (self.problem is None):
            self.transition = now
            if problem is None:
                if self.seen_running:
                    self.restarts += 1
                self.seen_running = True
                self.started_at = now
            else:
                self.started_at = None
        self.problem = problem


def pod_status(addon: AddOn, node_name: str, node_ip: str, health: Health,
               start_time: str) -> Obj:
    """The status of the add-on's mirror pod from its health."""
    ready = health.problem is None
    if ready:
        state: Obj = {"running": {"startedAt": health.started_at}}
    elif health.seen_running:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": health.problem}}
    else:
        state = {"waiting": {"reason": "ContainerCreating", "message": health.problem}}
    condition = "True" if ready else "False"
    not_ready = {} if ready else {"reason": "ContainersNotReady",
                                  "message": f"containers with unready status: [{addon.name}]"}

    def cond(kind: str, status: str, extra: Obj | None = None,
             when: str = start_time) -> Obj:
        return {"type": kind, "status": status, "lastProbeTime": None,
                "lastTransitionTime": when, **(extra or {})}

    return {
        "phase": "Running",
        "conditions": [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"),
                       cond("Ready", condition, not_ready, health.transition),
                       cond("ContainersReady", condition, not_ready, health.transition),
                       cond("PodScheduled", "True")],
        "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
        "podIP": node_ip, "podIPs": [{"ip": node_ip}],
        "startTime": start_time, "qosClass": "BestEffort",
        "containerStatuses": [{
            "name": addon.name, "image": IMAGE, "imageID": "",
            "containerID": container_id(node_name, addon.name), "ready": ready,
            "started": ready, "restartCount": health.restarts, "state": state}],
    }


class MirrorPods:
    """Publishes the mirror pods of `addons` for node `node_name` until cancelled."""

    def __init__(self, client: ApiClient, node_name: str, node_ip: str,
                 addons: Sequence[AddOn], *, period: float = 1.0) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.addons = {addon.name: addon for addon in addons}
        self.period = period
        self.health = {addon.name: Health() for addon in addons}
        self.start_time = timeutil.now_rfc3339()
        # pod name -> (its uid, the summary of the status written, when: monotonic)
        self._written: dict[str, tuple[str, Any, float]] = {}
        self._wake = asyncio.Event()
        self._node_uid = ""
        self._node_read = -NODE_REFRESH
        self.pods = Informer(client, PODS, namespace=NAMESPACE,
                             field_selector=f"spec.nodeName={node_name}")
        self.pods.add_event_handler(lambda _pod: self._wake.set(),
                                    lambda _old, _new: self._wake.set(),
                                    lambda _pod: self._wake.set())

    def addon(self, name: str) -> AddOn | None:
        return self.addons.get(name)

    async def run(self) -> None:
        self.pods.start()
        try:
            await self.pods.wait_for_sync()
            while True:
                self._wake.clear()
                try:
                    await self.sync()
                except NotFoundError:  # the Node is not registered yet
                    self._node_read = -NODE_REFRESH
                except ClientError as err:
                    self._node_read = -NODE_REFRESH
                    log.warning("mirror pods of node %s not synced: %s", self.node_name, err)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.period)
        finally:
            await self.pods.stop()

    async def sync(self) -> None:
        """One pass: orphans deleted, every add-on's mirror pod present, current and with
        the status of the add-on's health."""
        ours = {str(p["metadata"]["name"]): p for p in self.pods.store.list()
                if is_in_process(p)}
        node_uid = await self._node(refresh=any(
            pod_name(name, self.node_name) not in ours for name in self.addons))
        now = timeutil.now_rfc3339()
        for name, addon in self.addons.items():
            self.health[name].observe(addon.check(), now)
            await self._sync_addon(addon, ours.pop(pod_name(name, self.node_name), None),
                                   node_uid)
        for orphan in ours.values():
            log.info("deleting orphaned mirror pod %s", orphan["metadata"]["name"])
            await self._delete(orphan)

    async def _node(self, *, refresh: bool) -> str:
        """The Node's uid, read again when `refresh` or every `NODE_REFRESH` seconds (a
        Node deleted and registered again has another)."""
        now = time.monotonic()
        if refresh or now - self._node_read >= NODE_REFRESH:
            node: Obj = await self.client.get(NODES, self.node_name)
            self._node_uid, self._node_read = str(node["metadata"]["uid"]), now
        return self._node_uid

    async def _sync_addon(self, addon: AddOn, existing: Obj | None, node_uid: str) -> None:
        wanted = mirror_pod(addon, self.node_name, node_uid)
        if existing is not None and not _current(existing, wanted):
            await self._delete(existing)
            existing = None
        if existing is None:
            try:
                existing = await self.client.create(PODS, wanted, NAMESPACE)
            except AlreadyExistsError:
                return  # the informer has not seen it yet: the next pass goes on
            log.info("created mirror pod %s", wanted["metadata"]["name"])
        status = pod_status(addon, self.node_name, self.node_ip, self.health[addon.name],
                            self.start_time)
        meta = existing["metadata"]
        name, uid, summary = str(meta["name"]), str(meta["uid"]), _summary(status)
        if _summary(existing.get("status") or {}) == summary:
            return
        written = self._written.get(name)
        if written is not None and written[:2] == (uid, summary) and \
                time.monotonic() - written[2] < RECONCILE_PERIOD:
            # Written and not seen back yet, or changed since by another writer (the node
            # lifecycle controller marks a NotReady node's pods not ready): restored at the
            # next reconcile, as upstream's status manager does, not at once (that would
            # answer each of the controller's writes with one of ours, as fast as they go).
            return
        try:
            await self.client.update_status(PODS, {
                **existing, "metadata": {k: v for k, v in meta.items()
                                         if k != "resourceVersion"},
                "status": status}, NAMESPACE)
        except NotFoundError:
            return
        self._written[name] = (uid, summary, time.monotonic())

    async def _delete(self, pod: Obj) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(NotFoundError):
            await self.client.delete(PODS, str(meta["name"]), NAMESPACE, grace_period_seconds=0,
                                     preconditions=Preconditions(uid=str(meta["uid"])))
        self._written.pop(str(meta["name"]), None)


def _summary(status: Mapping[str, Any]) -> Any:
    """What of a status the publisher keeps as it wants it (others, the node lifecycle
    controller, may mark the pod not ready; the API server fills in defaults)."""
    return (status.get("phase"), status.get("podIP"),
            sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or ()),
            [(c.get("name"), c.get("ready"), c.get("restartCount"), c.get("containerID"),
              sorted(c.get("state") or {})) for c in status.get("containerStatuses") or ()])


def _current(existing: Obj, wanted: Obj) -> bool:
    """Whether a published mirror pod still stands for the add-on (upstream's
    `IsMirrorPodOf` and not being deleted) and is owned by the Node as it is now."""
    meta = existing.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (not meta.get("deletionTimestamp")
            and annotations.get(MIRROR_ANNOTATION) == wanted["metadata"]["annotations"][
                MIRROR_ANNOTATION]
            and [o.get("uid") for o in meta.get("ownerReferences") or ()]
            == [o["uid"] for o in wanted["metadata"]["ownerReferences"]])
