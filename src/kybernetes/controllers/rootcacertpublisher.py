"""The root CA publisher: a `kube-root-ca.crt` ConfigMap in every namespace, holding the
cluster CA bundle under `ca.crt` (upstream's
`pkg/controller/certificates/rootcacertpublisher`).

Pods verify the API server with it: the ServiceAccount admission's `kube-api-access-*`
volume projects it next to the token and the namespace, at
`/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`.

The bundle is the one the controller manager's own client trusts (upstream's default
without `--root-ca-file`): the cluster CA of its kubeconfig.

Keys are namespace names. A namespace is enqueued when it is added, and when it is updated
while `Active`; the ConfigMap's namespace when a `kube-root-ca.crt` is updated or deleted,
so an edited one is put back and a deleted one comes back. `sync` creates the ConfigMap
when the cache lacks it (a namespace that is gone or terminating is not an error, as
upstream), and otherwise rewrites its data and the `kubernetes.io/description`
annotation when they differ, keeping whatever else it carries.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import ClassVar

from kybernetes.client import ApiError, ClientConfig, resource
from kybernetes.client.rest import Obj, namespace_terminating
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
CONFIG_MAPS = resource("", "v1", "configmaps")
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using "
               "internal endpoints such as the internal service IP or kubernetes.default.svc. "
               "No other usage is guaranteed across distributions of Kubernetes clusters.")


def client_root_ca(config: ClientConfig) -> bytes:
    """The CA bundle a client config trusts (inline, else its file; none: empty)."""
    if config.ca_data is not None:
        return config.ca_data
    return Path(config.ca_file).read_bytes() if config.ca_file else b""




class RootCACertPublisher(QueueController):
    name: ClassVar[str] = "root-ca-certificate-publisher-controller"

    def __init__(self, ctx: ControllerContext, root_ca: bytes) -> None:
        super().__init__(workers=1)
        self.client = ctx.client
        self.root_ca = root_ca.decode()
        self.config_maps = ctx.informers.informer(CONFIG_MAPS)
        self.namespaces = ctx.informers.informer(NAMESPACES)
        self.watch(self.config_maps, on_update=lambda _old, new: self._config_map_changed(new),
                   on_delete=self._config_map_changed)
        self.watch(self.namespaces, on_add=self._namespace_added,
                   on_update=lambda _old, new: self._namespace_updated(new))

    def _config_map_changed(self, cm: Obj) -> None:
        meta = cm.get("metadata") or {}
        if meta.get("name") == ROOT_CA_CONFIG_MAP and meta.get("namespace"):
            self.enqueue(str(meta["namespace"]))

    def _namespace_added(self, ns: Obj) -> None:
        name = (ns.get("metadata") or {}).get("name")
        if name:
            self.enqueue(str(name))

    def _namespace_updated(self, ns: Obj) -> None:
        if (ns.get("status") or {}).get("phase") == "Active":
            self._namespace_added(ns)

    async def sync(self, key: str) -> None:
        data = {"ca.crt": self.root_ca}
        cm = self.config_maps.store.get(f"{key}/{ROOT_CA_CONFIG_MAP}")
        if cm is None:
            try:
                await self.client.create(CONFIG_MAPS, {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": key,
                                 "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data}, key)
            except ApiError as err:
                # Not retried: the namespace is gone or terminating.
                if err.code == 404 or namespace_terminating(err):
                    return
                raise
            log.debug("published %s in %s", ROOT_CA_CONFIG_MAP, key)
            return
        annotations = (cm.get("metadata") or {}).get("annotations") or {}
        if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        fixed = copy.deepcopy(cm)
        fixed["data"] = data
        fixed["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
        await self.client.update(CONFIG_MAPS, fixed, key)
