"""Deleting a server's Node removes its etcd member (k3s's etcd member controller,
pkg/etcd), so that a server gone for good stops counting towards the quorum.

A server running its node marks it as an etcd member's: the annotations
`etcd.kybernetes.io/node-name` (the member's name) and `etcd.kybernetes.io/node-address`,
and the role label `node-role.kubernetes.io/etcd` (k3s's `etcd.k3s.cattle.io/...` and
role). Every server's controller puts the finalizer `etcd.kybernetes.io/member-removal` on
the Nodes so annotated, and when one of them is deleted, removes the member of that name
(etcd's MemberRemove, through the local member) and then the finalizer, letting the Node go.
A server leaves the removal of its own member to another one (it would lose its storage
midway), unless its member is the last one, which cannot be removed: then it only lets the
Node go. The controller looks at the Nodes in the API server's watch cache every few
seconds; the removal is idempotent, so every server may race for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.etcdserver import client
from kybernetes.storage.interface import StorageError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer
    from kybernetes.etcdserver.config import EtcdConfig

log = logging.getLogger(__name__)

NAME_ANNOTATION = "etcd.kybernetes.io/node-name"
ADDRESS_ANNOTATION = "etcd.kybernetes.io/node-address"
ROLE_LABEL = "node-role.kubernetes.io/etcd"
FINALIZER = "etcd.kybernetes.io/member-removal"
MANAGER = "kyb-etcd-member-controller"
INTERVAL = 2.0

Obj = dict[str, Any]


def _member_name(node: Obj) -> str:
    return str((node["metadata"].get("annotations") or {}).get(NAME_ANNOTATION, ""))


def _with_finalizer(node: Obj) -> Obj:
    meta = node["metadata"]
    meta["finalizers"] = [*(f for f in meta.get("finalizers") or [] if f != FINALIZER),
                          FINALIZER]
    return node


def _without_finalizer(node: Obj) -> Obj:
    meta = node["metadata"]
    meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
    return node


class MemberController:
    def __init__(self, server: ApiServer, config: EtcdConfig) -> None:
        self.server = server
        self.config = config
        info = server.registry.get("", "v1", "nodes")
        assert info is not None
        self.info = info

    async def annotate_own_node(self, node_name: str, poll: float = 1.0) -> None:
        """Once the server's node has registered, mark it as this member's."""
        def annotated(node: Obj) -> Obj:
            meta = node["metadata"]
            meta["annotations"] = {**(meta.get("annotations") or {}),
                                   NAME_ANNOTATION: self.config.name,
                                   ADDRESS_ANNOTATION: self.config.advertise_address}
            meta["labels"] = {**(meta.get("labels") or {}), ROLE_LABEL: "true"}
            return node

        while True:
            try:
                await self.server.store.modify(self.info, "", node_name, annotated,
                                               manager=MANAGER)
                return
            except errors.StatusError as err:
                if err.code != 404:
                    log.warning("annotating node %s as etcd member: %s", node_name, err)
            except StorageError as err:
                log.warning("annotating node %s as etcd member: %s", node_name, err)
            await asyncio.sleep(poll)

    async def run(self, interval: float = INTERVAL) -> None:
        while True:
            try:
                await self.sync()
            except (StorageError, errors.StatusError, client.EtcdClientError) as err:
                log.warning("etcd member controller: %s", err)
            await asyncio.sleep(interval)

    async def sync(self) -> None:
        for cached in list(self.server.cache.scan(self.info.key_prefix)):
            node = cached.obj
            meta = node["metadata"]
            member = _member_name(node)
            if not member:
                continue
            finalizers = meta.get("finalizers") or []
            if FINALIZER not in finalizers and not meta.get("deletionTimestamp"):
                await self._modify(meta["name"], _with_finalizer)
            elif FINALIZER in finalizers and meta.get("deletionTimestamp") and \
                    await self._remove(member):
                await self._modify(meta["name"], _without_finalizer)

    async def _remove(self, name: str) -> bool:
        """Remove the member `name`; whether the Node may go."""
        async with client.connect(self.config, [self.config.local_endpoint]) as channel:
            members = await client.members(channel)
            found = [m for m in members if m.name == name]
            if not found:
                return True
            if name == self.config.name:
                return len(members) == 1
            for member in found:
                log.info("removing etcd member %s (%x): its node was deleted", name,
                         member.id)
                await client.remove_member(channel, member.id)
        return True

    async def _modify(self, name: str, change: Any) -> None:
        try:
            await self.server.store.modify(self.info, "", name, change, manager=MANAGER)
        except errors.StatusError as err:
            if err.code != 404:
                raise
