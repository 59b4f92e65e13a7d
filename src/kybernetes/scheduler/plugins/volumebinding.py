"""VolumeBinding: a pod's PersistentVolumeClaims decide where it may run, and delayed
(WaitForFirstConsumer) claims are bound for the node chosen. Upstream's
`pkg/scheduler/framework/plugins/volumebinding` (`volume_binding.go`, `binder.go`), without
CSI storage capacity and without scoring (both behind feature gates upstream).

- **PreFilter** sorts the pod's claims (`persistentVolumeClaim` volumes, and `ephemeral`
  ones as `<pod>-<volume>`): a claim that is missing or being deleted, or an unbound claim
  of immediate binding, rejects the pod outright (`persistentvolumeclaim "x" not found`,
  `pod has unbound immediate PersistentVolumeClaims`). A pod without claims skips the
  plugin.
- **Filter** per node: every bound claim's volume must exist and its node affinity admit
  the node (`node(s) had volume node affinity conflict`); every delayed claim must find
  an Available volume of its class that fits on that node (smallest first, not one already
  chosen for another claim: `storagehelpers.find_matching_volume`), or else be
  provisionable there: its class has a provisioner and its `allowedTopologies` admit the
  node, and it is not already provisioned for another node (`selected-node`). Otherwise
  `node(s) didn't find available persistent volumes to bind`.
- **Reserve** keeps the node's decision and assumes the chosen volumes (so the next pod's
  Filter does not pick them too); **Unreserve** forgets them.
- **PreBind** writes the decision as upstream's `BindPodVolumes`: each chosen volume gets
  the claim's `claimRef` (annotated `pv.kubernetes.io/bound-by-controller`), each claim to
  provision the annotation `volume.kubernetes.io/selected-node`; then it waits until the
  binder (and the provisioner) have bound every claim, at most `bindTimeoutSeconds` (600 s,
  upstream's default; it looks again on every change its informers see, where upstream
  polls every second), failing early when a claim goes or loses its selected node.

The plugin reads claims, volumes and classes from the scheduler's shared informers
(`Handle.informers`) and asks for pods to be retried on their changes (claims, volumes and
classes added or updated, nodes added or relabelled).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kybernetes.api import storagehelpers as sh
from kybernetes.client import ClientError, Informer, Store, resource
from kybernetes.scheduler.interface import (
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    EventResource,
    Handle,
    PreFilterResult,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import Code, Status, new_status, unresolvable

Obj = dict[str, Any]

NAME = "VolumeBinding"
STATE_KEY = "PreFilter" + NAME
PVCS = resource("", "v1", "persistentvolumeclaims")
PVS = resource("", "v1", "persistentvolumes")
STORAGE_CLASSES = resource("storage.k8s.io", "v1", "storageclasses")
DEFAULT_BIND_TIMEOUT = 600.0
NOT_SUPPORTED_PROVISIONER = "kubernetes.io/no-provisioner"

ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_PV_NOT_EXIST = ("node(s) unavailable due to one or more pvc(s) bound to non-existent "
                    "pv(s)")


def is_fully_bound(claim: Mapping[str, Any]) -> bool:
    return bool((claim.get("spec") or {}).get("volumeName")) and \
        sh.ANN_BIND_COMPLETED in sh.annotations_of(claim)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _version(obj: Mapping[str, Any]) -> int:
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(text) if text.isdigit() else 0


def _claim_key(claim: Mapping[str, Any]) -> str:
    return f"{(claim.get('metadata') or {}).get('namespace', '')}/{_name(claim)}"


def topology_matches(storage_class: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """`MatchTopologySelectorTerms`: no terms admit every node; else one term whose every
    expression's key has one of its values among the node's labels."""
    terms = storage_class.get("allowedTopologies") or []
    if not terms:
        return True
    labels = (node.get("metadata") or {}).get("labels") or {}
    return any(
        all(labels.get(str(e.get("key"))) in (e.get("values") or ())
            for e in term.get("matchLabelExpressions") or ())
        for term in terms)


@dataclass
class Decision:
    """What binding the pod's delayed claims on one node takes."""

    static: list[tuple[Obj, Obj]] = field(default_factory=list)  # (claim, volume)
    provision: list[Obj] = field(default_factory=list)


@dataclass
class PodVolumes:
    """The PreFilter state: the pod's bound claims by volume name, its delayed claims and
    the decisions Filter made per node."""

    bound: list[tuple[str, Obj]] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)

    def clone(self) -> PodVolumes:
        return self


class VolumeBinding:
    name = NAME

    def __init__(self, handle: Handle, bind_timeout: float = DEFAULT_BIND_TIMEOUT) -> None:
        self.handle = handle
        self.bind_timeout = bind_timeout
        # Volumes chosen in Reserve whose binding is not written yet: name -> claim key.
        self.assumed: dict[str, str] = {}
        # Set (and replaced) on every change of a claim, volume or class.
        self._changed = asyncio.Event()
        # Without the scheduler's informers (a bare Framework) the stores stay empty.
        self.claims, self.volumes, self.classes = Store(), Store(), Store()
        if handle.informers is None:
            return
        stores = []
        for res, kind in ((PVCS, EventResource.PVC), (PVS, EventResource.PV),
                          (STORAGE_CLASSES, EventResource.STORAGE_CLASS)):
            informer: Informer = handle.informers.informer(res)
            informer.add_event_handler(*self._handlers(kind), name=f"{NAME}:{informer.name}")
            stores.append(informer.store)
        self.claims, self.volumes, self.classes = stores

    def _handlers(self, kind: EventResource
                  ) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None]]:
        def added(obj: Obj) -> None:
            self._moved(kind, ActionType.ADD, None, obj)

        def updated(old: Obj, new: Obj) -> None:
            self._moved(kind, ActionType.UPDATE, old, new)

        return added, updated

    def _moved(self, res: EventResource, action: ActionType, old: Obj | None,
               new: Obj | None) -> None:
        """A claim, volume or class changed: wake PreBinds waiting for bindings and have
        the queue retry the pods this plugin rejected."""
        self._changed.set()
        self._changed = asyncio.Event()
        if self.handle.on_cluster_event is not None:
            self.handle.on_cluster_event(ClusterEvent(res, action, f"{res.value}Change"),
                                         old, new)

    # -- PreFilter ----------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, snapshot: Any
                   ) -> tuple[PreFilterResult | None, Status | None]:
        names = sh.pod_claim_names(pod.pod)
        if not names:
            return None, new_status(Code.SKIP)
        classes = {_name(c): c for c in self.classes.list()}
        result = PodVolumes()
        immediate = False
        for claim_name in names:
            claim = self.claims.get(f"{pod.namespace}/{claim_name}")
            if claim is None:
                return None, unresolvable(f'persistentvolumeclaim "{claim_name}" not found')
            if (claim.get("metadata") or {}).get("deletionTimestamp"):
                return None, unresolvable(
                    f'persistentvolumeclaim "{claim_name}" is being deleted')
            if is_fully_bound(claim):
                result.bound.append((str(claim["spec"]["volumeName"]), claim))
            elif sh.is_delay_binding_mode(claim, classes):
                result.delayed.append(claim)
            else:
                immediate = True
        if immediate:
            return None, unresolvable(ERR_UNBOUND_IMMEDIATE)
        result.delayed.sort(key=lambda c: sh.claim_request(c).amount)
        state.write(STATE_KEY, result)
        return None, None

    def pre_filter_extensions(self) -> None:
        return None

    # -- Filter -------------------------------------------------------------------------

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        pod_volumes: PodVolumes | None = state.read(STATE_KEY)
        if pod_volumes is None or node.node is None:
            return None
        reasons = self.check_bound(pod_volumes, node.node)
        if not reasons:
            decision, reason = self.find_delayed(pod_volumes, node.node)
            if decision is None:
                reasons.append(reason)
            else:
                pod_volumes.decisions[node.name] = decision
        return unresolvable(*reasons) if reasons else None

    def check_bound(self, pod_volumes: PodVolumes, node: Obj) -> list[str]:
        reasons: list[str] = []
        for volume_name, _claim in pod_volumes.bound:
            volume = self.volumes.get(volume_name)
            reason = ERR_PV_NOT_EXIST if volume is None else \
                None if sh.volume_node_affinity_matches(volume, node) else ERR_NODE_CONFLICT
            if reason is not None and reason not in reasons:
                reasons.append(reason)
        return reasons

    def find_delayed(self, pod_volumes: PodVolumes, node: Obj) -> tuple[Decision | None, str]:
        decision = Decision()
        node_name = _name(node)
        chosen: dict[str, str] = {}
        volumes = self.volumes.list()
        for claim in pod_volumes.delayed:
            key = _claim_key(claim)
            selected = sh.annotations_of(claim).get(sh.ANN_SELECTED_NODE)
            if selected:
                if selected != node_name:
                    return None, ERR_BIND_CONFLICT
                decision.provision.append(claim)
                continue
            excluded = {**chosen, **{v: c for v, c in self.assumed.items() if c != key}}
            volume = sh.find_matching_volume(claim, volumes, node=node, excluded=excluded)
            if volume is not None:
                chosen[_name(volume)] = key
                decision.static.append((claim, volume))
                continue
            storage_class = self.classes.get(sh.claim_class(claim))
            provisioner = str((storage_class or {}).get("provisioner") or "")
            if storage_class is None or provisioner in ("", NOT_SUPPORTED_PROVISIONER) or \
                    not topology_matches(storage_class, node):
                return None, ERR_BIND_CONFLICT
            decision.provision.append(claim)
        return decision, ""

    # -- Reserve ------------------------------------------------------------------------

    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        pod_volumes: PodVolumes | None = state.read(STATE_KEY)
        if pod_volumes is None:
            return None
        decision = pod_volumes.decisions.get(node_name)
        if decision is None:
            return None
        for claim, volume in decision.static:
            self.assumed[_name(volume)] = _claim_key(claim)
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        pod_volumes: PodVolumes | None = state.read(STATE_KEY)
        decision = pod_volumes.decisions.get(node_name) if pod_volumes else None
        if decision is not None:
            self._forget(decision)

    def _forget(self, decision: Decision) -> None:
        for claim, volume in decision.static:
            if self.assumed.get(_name(volume)) == _claim_key(claim):
                del self.assumed[_name(volume)]

    # -- PreBind ------------------------------------------------------------------------

    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None:
        pod_volumes: PodVolumes | None = state.read(STATE_KEY)
        decision = pod_volumes.decisions.get(node_name) if pod_volumes else None
        if decision is None or not (decision.static or decision.provision):
            return None
        try:
            await self.bind_pod_volumes(decision, node_name)
        except (ClientError, BindError) as err:
            return Status(Code.ERROR, (f"binding volumes: {err}",), error=err)
        except TimeoutError as err:
            return Status(Code.ERROR, ("binding volumes: timed out waiting for the "
                                       "condition",), error=err)
        finally:
            self._forget(decision)
        return None

    async def bind_pod_volumes(self, decision: Decision, node_name: str) -> None:
        client = self.handle.client
        for claim, volume in decision.static:
            updated = copy.deepcopy(volume)
            updated["metadata"].setdefault("annotations", {})[sh.ANN_BOUND_BY_CONTROLLER] = \
                "yes"
            meta = claim.get("metadata") or {}
            updated["spec"]["claimRef"] = {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
            await client.update(PVS, updated)
        # The version of each claim to provision with its selected node: the cache shows
        # a reset only once it has caught up with it (upstream's assume cache).
        provisioned: dict[str, int] = {}
        for claim in decision.provision:
            if sh.annotations_of(claim).get(sh.ANN_SELECTED_NODE) != node_name:
                updated = copy.deepcopy(claim)
                updated["metadata"].setdefault("annotations", {})[sh.ANN_SELECTED_NODE] = \
                    node_name
                claim = await client.update(PVCS, updated)
            provisioned[_claim_key(claim)] = _version(claim)
        keys = [_claim_key(c) for c, _v in decision.static]
        async with asyncio.timeout(self.bind_timeout):
            while True:
                changed = self._changed
                if self._all_bound([*keys, *provisioned], provisioned):
                    return
                await changed.wait()

    def _all_bound(self, keys: list[str], provisioned: Mapping[str, int]) -> bool:
        """Upstream's `checkBindings`: True when every claim is bound to a volume bound
        to it; raises BindError when waiting is pointless."""
        done = True
        for key in keys:
            claim = self.claims.get(key)
            if claim is None:
                raise BindError(f'persistentvolumeclaim "{key}" not found')
            if key in provisioned and not is_fully_bound(claim) and \
                    _version(claim) >= provisioned[key] and \
                    sh.ANN_SELECTED_NODE not in sh.annotations_of(claim):
                raise BindError(f"selectedNode annotation reset for PVC {_name(claim)!r}")
            if not is_fully_bound(claim):
                done = False
                continue
            volume = self.volumes.get(str(claim["spec"]["volumeName"]))
            if volume is None or not sh.is_bound_to_claim(volume, claim):
                done = False
        return done

    # -- events -------------------------------------------------------------------------

    def events_to_register(self) -> list[ClusterEventWithHint]:
        change = ActionType.ADD | ActionType.UPDATE
        return [
            ClusterEventWithHint(ClusterEvent(EventResource.PVC, change)),
            ClusterEventWithHint(ClusterEvent(EventResource.PV, change)),
            ClusterEventWithHint(ClusterEvent(EventResource.STORAGE_CLASS, change)),
            ClusterEventWithHint(ClusterEvent(
                EventResource.NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL)),
        ]


class BindError(Exception):
    """Binding the pod's volumes cannot succeed."""


def new(args: Mapping[str, Any], handle: Handle) -> VolumeBinding:
    timeout = args.get("bindTimeoutSeconds")
    return VolumeBinding(handle, float(timeout) if timeout is not None
                         else DEFAULT_BIND_TIMEOUT)

