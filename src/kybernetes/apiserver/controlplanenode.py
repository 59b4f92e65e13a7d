"""The server's own node is labelled a control-plane node, by the server (k3s's
`setControlPlaneRoleLabel` in pkg/server).

A node may not give itself `node-role.kubernetes.io/*` labels (the NodeRestriction
admission plugin refuses them from a kubelet), so, as k3s's server does through its own
client, `kyb server` sets them once the node it runs has registered:
`node-role.kubernetes.io/control-plane: "true"` and `node-role.kubernetes.io/master:
"true"` (k3s sets both; `kubectl get nodes` shows them in its ROLES column). k3s adds
`node-role.kubernetes.io/etcd` only on servers running embedded etcd, which `kyb server`
does not have (its etcd is always external).

Like k3s, this labels once per server start: a label removed by hand later stays removed
until the next start. Errors are logged and retried, as k3s's loop retries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger("kyb")

Obj = dict[str, Any]

CONTROL_PLANE_LABELS = {
    "node-role.kubernetes.io/control-plane": "true",
    "node-role.kubernetes.io/master": "true",
}
MANAGER = "kyb-server"
# How often to look for the node until the kubelet has registered it, and to retry a
# failed write (k3s: every second).
POLL = 1.0


def labelled(node: Obj) -> bool:
    labels = node.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in CONTROL_PLANE_LABELS.items())


def with_labels(node: Obj) -> Obj:
    meta = node.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **CONTROL_PLANE_LABELS}
    return node


async def label_own_node(server: ApiServer, node_name: str, *, poll: float = POLL) -> None:
    """Wait for the Node `node_name` to be registered, then label it; return once it
    carries the labels."""
    info = server.registry.get("", "v1", "nodes")
    assert info is not None
    while True:
        try:
            current = await server.store.get(info, "", node_name)
            if labelled(current.obj):
                return
            await server.store.modify(info, "", node_name, with_labels, manager=MANAGER)
            log.info("control-plane role labels set on node %s", node_name)
            return
        except errors.StatusError as err:
            if err.code != 404:
                log.warning("labelling node %s as control-plane: %s", node_name, err)
        except Exception:  # the storage failed: retried, as the server's other writes are
            log.exception("labelling node %s as control-plane", node_name)
        await asyncio.sleep(poll)  # not registered yet, or to retry
