"""The node `kyb server` runs is a control-plane node, as a k3s server's is: the server
labels it (`node-role.kubernetes.io/control-plane` and `.../master`, "true"), which
`kubectl get nodes` shows in its ROLES column; the kubelet itself may not set those labels
(NodeRestriction)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cluster import wait_until
from tests.e2e.nodens import REAL_NODE, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "roles-node"


def test_the_server_node_is_a_control_plane_node(tmp_path: Path) -> None:
    with real_node(tmp_path, "kyb-e2e-roles", NODE) as (_, kubectl):
        def roles() -> str | None:
            table = kubectl("get", "nodes", "--no-headers").split()
            return table[2] if table and table[2] != "<none>" else None

        assert wait_until(roles, "the node's roles") == "control-plane,master"
        labels = kubectl.json("get", "node", NODE)["metadata"]["labels"]
        assert labels["node-role.kubernetes.io/control-plane"] == "true"
        assert labels["node-role.kubernetes.io/master"] == "true"
        assert "node-role.kubernetes.io/etcd" not in labels  # no embedded etcd
        assert len(kubectl("get", "nodes", "-l", "node-role.kubernetes.io/control-plane",
                           "-o", "name").split()) == 1
