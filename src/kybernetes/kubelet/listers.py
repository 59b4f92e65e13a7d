"""What the kubelet reads of the cluster to build containers' environments and pods'
volumes, from local copies kept current by watches, as upstream's kubelet does (its
`serviceLister`, `nodeLister` and the watch-based ConfigMap and Secret managers): the pod
start path reads these without a round trip to the API server.

- Services, of every namespace (one informer): the service environment variables.
- The kubelet's own Node (an informer on `metadata.name`): allocatable resources (the
  downward API's `resourceFieldRef` defaults, Memory emptyDir sizes) and host IPs.
- ConfigMaps and Secrets through `objectcache.ObjectCache`: one watch per object a
  registered pod refers to; a pod is registered by the volume manager at each of its syncs
  (`register_pod`, before anything of the pod is read) and unregistered at its teardown.

The informers start with the first pod registered (the caller's loop runs by then) and are
waited for at most `sync_timeout` on a read; `aclose` stops them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.client import ApiClient, Informer, resource
from kybernetes.kubelet.envvars import EnvError, node_host_ips
from kybernetes.kubelet.objectcache import ObjectCache, configmap_names, secret_names

Obj = dict[str, Any]

SERVICES = resource("", "v1", "services")
NODES = resource("", "v1", "nodes")
# How long a read waits for the first list of the services or the Node.
SYNC_TIMEOUT = 5.0


class KubeletListers:
    """`envvars.EnvLookups` and the volume manager's reads, from local copies."""

    def __init__(self, client: ApiClient, node_name: str, *,
                 sync_timeout: float = SYNC_TIMEOUT) -> None:
        self.node_name = node_name
        self.sync_timeout = sync_timeout
        self.services = Informer(client, SERVICES)
        self.node = Informer(client, NODES, field_selector=f"metadata.name={node_name}")
        self.configmaps = ObjectCache(client, "configmaps", configmap_names)
        self.secrets = ObjectCache(client, "secrets", secret_names)

    def _start(self) -> None:
        self.services.start()
        self.node.start()

    # -- pods ---------------------------------------------------------------------------

    async def register_pod(self, pod: Mapping[str, Any]) -> None:
        """Watch what the pod refers to (idempotent; call again when its spec changes)."""
        self._start()
        await self.configmaps.register_pod(pod)
        await self.secrets.register_pod(pod)

    async def unregister_pod(self, uid: str) -> None:
        await self.configmaps.unregister_pod(uid)
        await self.secrets.unregister_pod(uid)

    # -- reads --------------------------------------------------------------------------

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return await self.configmaps.get(namespace, name)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return await self.secrets.get(namespace, name)

    async def list_services(self, namespace: str) -> list[Obj]:
        self._start()
        if not self.services.has_synced and \
                not await self.services.wait_for_sync(self.sync_timeout):
            raise EnvError("services have not yet been read at least once, cannot "
                           "construct envvars")
        return self.services.store.by_index("namespace", namespace)

    async def _node_status(self) -> Obj:
        """The Node's status; empty while it is not known (not registered, not listed)."""
        self._start()
        if not self.node.has_synced:
            await self.node.wait_for_sync(self.sync_timeout)
        node = self.node.store.get(self.node_name) or {}
        return dict(node.get("status") or {})

    async def node_allocatable(self) -> dict[str, Any]:
        return dict((await self._node_status()).get("allocatable") or {})

    async def host_ips(self) -> list[str]:
        return node_host_ips((await self._node_status()).get("addresses") or ())

    async def aclose(self) -> None:
        await self.services.stop()
        await self.node.stop()
        await self.configmaps.aclose()
        await self.secrets.aclose()
