"""The VolumeBinding plugin, its stores seeded by the tests.

Intent: a pod without claims skips the plugin; a missing claim or an unbound immediate
one rejects the pod outright; a bound claim's volume restricts the pod to the nodes its
affinity admits; a WaitForFirstConsumer claim fits a node with a matching Available volume
or a provisioner whose class admits the node (and only its selected node once one is
chosen), with two claims never given the same volume; PreBind writes the decision (the
volume's claimRef, the claim's selected node) and returns once the claims are bound, or
fails when a claim loses its selected node.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kybernetes.api import storagehelpers as sh
from kybernetes.scheduler.interface import ActionType, CycleState, EventResource, Handle
from kybernetes.scheduler.plugins.volumebinding import (
    ERR_BIND_CONFLICT,
    ERR_NODE_CONFLICT,
    ERR_UNBOUND_IMMEDIATE,
    VolumeBinding,
)
from kybernetes.scheduler.status import Code
from tests.scheduler.helpers import cache_of, framework, info, node, node_info, pod

Obj = dict[str, Any]
NODES = [node("n1", labels={"zone": "a"}), node("n2", labels={"zone": "b"})]
WFFC = {"metadata": {"name": "local"}, "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer"}
STATIC = {"metadata": {"name": "static"}, "provisioner": "kubernetes.io/no-provisioner",
          "volumeBindingMode": "WaitForFirstConsumer"}


def claim(name: str, cls: str = "local", *, volume: str = "", size: str = "1Gi",
          selected: str | None = None, version: int = 1) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "annotations": {}, "resourceVersion": str(version)}
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "storageClassName": cls,
                 "resources": {"requests": {"storage": size}}}
    if volume:
        spec["volumeName"] = volume
        meta["annotations"][sh.ANN_BIND_COMPLETED] = "yes"
    if selected:
        meta["annotations"][sh.ANN_SELECTED_NODE] = selected
    return {"metadata": meta, "spec": spec, "status": {"phase": "Bound" if volume else
                                                       "Pending"}}


def volume(name: str, on: str, cls: str = "static", size: str = "1Gi",
           bound_to: str = "") -> Obj:
    spec: Obj = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                 "storageClassName": cls, "local": {"path": f"/mnt/{name}"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [on]}]}]}}}
    if bound_to:
        spec["claimRef"] = {"namespace": "default", "name": bound_to, "uid": f"uid-{bound_to}"}
    return {"metadata": {"name": name}, "spec": spec,
            "status": {"phase": "Bound" if bound_to else "Available"}}


def with_claims(*names: str) -> Obj:
    return pod("p", volumes=[{"name": f"v{i}", "persistentVolumeClaim": {"claimName": n}}
                             for i, n in enumerate(names)])


class FakeClient:
    def __init__(self) -> None:
        self.updates: list[tuple[str, Obj]] = []

    async def update(self, res: Any, obj: Obj) -> Obj:
        self.updates.append((res.plural, obj))
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "5"}}


def plugin(*objects: Obj, client: FakeClient | None = None) -> VolumeBinding:
    vb = VolumeBinding(Handle(cache_of(NODES), client=client))
    for obj in objects:
        if "provisioner" in obj:
            vb.classes.add(obj)
        elif "capacity" in obj["spec"]:
            vb.volumes.add(obj)
        else:
            vb.claims.add(obj)
    return vb


def run(vb: VolumeBinding, pod_obj: Obj) -> tuple[CycleState, Any, dict[str, Any]]:
    """PreFilter, then Filter on every node: (state, prefilter status, node -> status)."""
    state = CycleState()
    _result, status = vb.pre_filter(state, info(pod_obj), None)
    verdicts = {} if status is not None else {
        n["metadata"]["name"]: vb.filter(state, info(pod_obj), node_info(n)) for n in NODES}
    return state, status, verdicts


def test_pods_without_claims_skip() -> None:
    _state, status, _v = run(plugin(), pod("p"))
    assert status is not None and status.code == Code.SKIP


@pytest.mark.parametrize(("objects", "message"), [
    ((), 'persistentvolumeclaim "data" not found'),
    ((claim("data", cls=""),), ERR_UNBOUND_IMMEDIATE),
])
def test_prefilter_rejections(objects: tuple[Obj, ...], message: str) -> None:
    _state, status, _v = run(plugin(*objects, WFFC), with_claims("data"))
    assert status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == (message,)


def test_in_the_default_profile() -> None:
    fw = framework(cache_of(NODES))
    fw.plugins["VolumeBinding"].claims.add(claim("data", cls=""))
    _result, status, plugins = fw.run_pre_filter(CycleState(), info(with_claims("data")))
    assert status is not None and status.reasons == (ERR_UNBOUND_IMMEDIATE,)
    assert plugins == {"VolumeBinding"}


def test_bound_volume_node_affinity() -> None:
    vb = plugin(claim("data", volume="pv1"), volume("pv1", "n2", bound_to="data"))
    _state, _status, verdicts = run(vb, with_claims("data"))
    assert verdicts["n2"] is None
    assert verdicts["n1"] is not None and verdicts["n1"].reasons == (ERR_NODE_CONFLICT,)


def test_delayed_claim_finds_a_static_volume_on_its_node_only() -> None:
    vb = plugin(STATIC, claim("data", cls="static"), volume("pv1", "n1"))
    _state, _status, verdicts = run(vb, with_claims("data"))
    assert verdicts["n1"] is None
    assert verdicts["n2"] is not None and verdicts["n2"].reasons == (ERR_BIND_CONFLICT,)


def test_two_claims_never_get_one_volume() -> None:
    vb = plugin(STATIC, claim("a", cls="static"), claim("b", cls="static"),
                volume("pv1", "n1"), volume("pv2", "n1"), volume("pv3", "n2"))
    _state, _status, verdicts = run(vb, with_claims("a", "b"))
    assert verdicts["n1"] is None
    assert verdicts["n2"] is not None


def test_provisioning_follows_allowed_topologies_and_the_selected_node() -> None:
    zoned = {**WFFC, "allowedTopologies": [{"matchLabelExpressions": [
        {"key": "zone", "values": ["b"]}]}]}
    _s, _st, verdicts = run(plugin(zoned, claim("data")), with_claims("data"))
    assert verdicts["n1"] is not None and verdicts["n2"] is None
    _s, _st, verdicts = run(plugin(WFFC, claim("data", selected="n1")), with_claims("data"))
    assert verdicts["n1"] is None and verdicts["n2"] is not None


def test_reserve_keeps_the_volume_from_the_next_pod() -> None:
    vb = plugin(STATIC, claim("a", cls="static"), claim("b", cls="static"),
                volume("pv1", "n1"))
    state, _status, _v = run(vb, with_claims("a"))
    assert vb.reserve(state, info(with_claims("a")), "n1") is None
    _s, _st, verdicts = run(vb, with_claims("b"))
    assert verdicts["n1"] is not None
    vb.unreserve(state, info(with_claims("a")), "n1")
    _s, _st, verdicts = run(vb, with_claims("b"))
    assert verdicts["n1"] is None


async def test_prebind_writes_and_waits_for_the_binding() -> None:
    client = FakeClient()
    vb = plugin(STATIC, WFFC, claim("a", cls="static"), claim("b"), volume("pv1", "n1"),
                client=client)
    pod_obj = with_claims("a", "b")
    state, _status, verdicts = run(vb, pod_obj)
    assert verdicts["n1"] is None
    vb.reserve(state, info(pod_obj), "n1")
    task = asyncio.create_task(vb.pre_bind(state, info(pod_obj), "n1"))
    await asyncio.sleep(0)
    written = {kind: obj for kind, obj in client.updates}
    assert written["persistentvolumes"]["spec"]["claimRef"]["name"] == "a"
    assert written["persistentvolumes"]["metadata"]["annotations"][
        sh.ANN_BOUND_BY_CONTROLLER] == "yes"
    assert written["persistentvolumeclaims"]["metadata"]["annotations"][
        sh.ANN_SELECTED_NODE] == "n1"
    assert not task.done()
    # The cache not having caught up with the selected node is no reset.
    vb._moved(EventResource.PVC, ActionType.UPDATE, None, None)
    await asyncio.sleep(0)
    assert not task.done()
    # The binder and the provisioner do their part.
    vb.claims.add(claim("a", cls="static", volume="pv1"))
    vb.volumes.add(volume("pv1", "n1", bound_to="a"))
    vb.claims.add(claim("b", volume="pv2", selected="n1"))
    vb.volumes.add(volume("pv2", "n1", cls="local", bound_to="b"))
    vb._moved(EventResource.PVC, ActionType.UPDATE, None, None)
    assert await task is None
    assert vb.assumed == {}


async def test_prebind_fails_when_the_selected_node_is_reset() -> None:
    client = FakeClient()
    vb = plugin(WFFC, claim("b"), client=client)
    state, _status, _v = run(vb, with_claims("b"))
    task = asyncio.create_task(vb.pre_bind(state, info(with_claims("b")), "n1"))
    await asyncio.sleep(0)
    vb.claims.add(claim("b", version=6))  # the selected node is gone after our write
    vb._moved(EventResource.PVC, ActionType.UPDATE, None, None)
    status = await task
    assert status is not None and status.code == Code.ERROR
    assert "selectedNode annotation reset" in status.message
