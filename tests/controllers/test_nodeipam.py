"""Node IPAM: every Node gets its own pod CIDR from the cluster CIDR; one it has is kept."""

from __future__ import annotations

import asyncio

from kybernetes.client import ApiClient, resource
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.nodeipam import NodeIpamController

NODES = resource("", "v1", "nodes")


def _node(name: str, cidr: str = "") -> dict[str, object]:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


async def test_nodes_get_distinct_subnets_and_keep_their_own(api: ApiClient,
                                                           ctx: ControllerContext) -> None:
    await api.create(NODES, _node("has-one", "10.99.0.0/24"))
    await api.create(NODES, _node("first-free", "10.99.1.0/24"))
    for name in ("a", "b", "c"):
        await api.create(NODES, _node(name))
    # The informer lists once (no watch events through the in-process transport), so the
    # assignments must not collide although it never sees them come back.
    controller = NodeIpamController(ctx, cluster_cidr="10.99.0.0/16")
    ctx.informers.start()
    task = asyncio.create_task(controller.run())
    try:

        async def assigned() -> dict[str, str]:
            while True:
                nodes = {n["metadata"]["name"]: (n.get("spec") or {}).get("podCIDR", "")
                         for n in (await api.list(NODES)).items}
                if all(nodes.values()):
                    return nodes
                await asyncio.sleep(0.05)

        nodes = await asyncio.wait_for(assigned(), 20)
        assert nodes["has-one"] == "10.99.0.0/24"
        assert len(set(nodes.values())) == 5
        assert {nodes[n] for n in "abc"} == {"10.99.2.0/24", "10.99.3.0/24", "10.99.4.0/24"}
        for name in "abc":
            node = await api.get(NODES, name)
            assert node["spec"]["podCIDRs"] == [nodes[name]]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await ctx.informers.shutdown()
