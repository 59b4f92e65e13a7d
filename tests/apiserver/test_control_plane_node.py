"""`kyb server` labels its own node a control-plane node once the node registers, keeping
the node's other labels (k3s's `setControlPlaneRoleLabel`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.apiserver import inprocess

from kybernetes.apiserver import controlplanenode

NODES = "/api/v1/nodes"


async def test_the_node_is_labelled_once_it_registers(tmp_path: Path) -> None:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as http:
        labelling = asyncio.create_task(
            controlplanenode.label_own_node(server, "server-1", poll=0.05))
        await asyncio.sleep(0.2)
        assert not labelling.done(), "it gave up before the node registered"
        inprocess.ok(await http.post(NODES, json={
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "server-1", "labels": {"kubernetes.io/hostname": "server-1"}}}))
        await asyncio.wait_for(labelling, 10)
        node = inprocess.ok(await http.get(f"{NODES}/server-1"))
        assert node["metadata"]["labels"] == {
            "kubernetes.io/hostname": "server-1",
            "node-role.kubernetes.io/control-plane": "true",
            "node-role.kubernetes.io/master": "true"}
        managers = {m["manager"] for m in node["metadata"]["managedFields"]}
        assert controlplanenode.MANAGER in managers

        # Already labelled: nothing is written.
        await controlplanenode.label_own_node(server, "server-1")
        again = inprocess.ok(await http.get(f"{NODES}/server-1"))
        assert again["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]
