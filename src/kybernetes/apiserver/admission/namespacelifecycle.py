"""Upstream's `NamespaceLifecycle` admission plugin (`k8s.io/apiserver/pkg/admission/plugin/
namespace/lifecycle`): nothing is created in a namespace that does not exist or is being
terminated, nothing is written into a missing namespace, and the system namespaces can never
be deleted.

The namespace is read from the watch cache. A create into a namespace the cache does not
know waits a moment for the cache to see it, then asks storage; a namespace deleted less
than `FORCE_LIVE_TTL` ago is always read from storage while the cache still calls it
active, so a create right after `kubectl delete namespace` is refused at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

# Upstream's default, kube-system and kube-public, and kube-node-lease, which nothing here
# would recreate.
IMMORTAL_NAMESPACES = frozenset(("default", "kube-system", "kube-public", "kube-node-lease"))
FORCE_LIVE_TTL = 30.0
MISSING_NAMESPACE_WAIT = 0.05
# Access reviews reveal nothing about the namespace, so they are always allowed.
_ACCESS_REVIEWS = {("authorization.k8s.io", "localsubjectaccessreviews")}


def terminating_error(namespace: str) -> errors.StatusError:
    return errors.StatusError(
        403, "Forbidden",
        f"unable to create new content in namespace {namespace} because it is being "
        "terminated", {"name": namespace, "kind": "namespaces", "causes": [
            # Controllers recognise this cause and stop creating without an error.
            {"reason": "NamespaceTerminating",
             "message": f"namespace {namespace} is being terminated",
             "field": "metadata.namespace"}]})


class NamespaceLifecycle:
    name = "NamespaceLifecycle"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("", "v1", "namespaces")
        assert info is not None
        self.namespaces = info
        # Namespaces recently deleted: name -> until when lookups bypass the cache.
        self._force_live: dict[str, float] = {}

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.resource == "namespaces" and not target.group:
            return Phase.ADMIT if target.operation == "DELETE" else Phase.NONE
        if target.operation == "DELETE" or (target.group, target.resource) in _ACCESS_REVIEWS:
            return Phase.NONE
        return Phase.ADMIT

    async def admit(self, request: AdmissionRequest) -> None:
        is_namespace = request.resource == "namespaces" and not request.group
        if is_namespace:
            if request.operation == "DELETE":
                if request.name in IMMORTAL_NAMESPACES:
                    raise request.forbidden("this namespace may not be deleted")
                self._force_live[request.name] = time.monotonic() + FORCE_LIVE_TTL
            return
        if not request.namespace or request.operation == "DELETE" or \
                (request.group, request.resource) in _ACCESS_REVIEWS:
            return
        ns = await self._namespace(request.namespace, creating=request.operation == "CREATE")
        if ns is None:
            raise errors.not_found("", "namespaces", request.namespace)
        if request.operation == "CREATE" and _terminating(ns):
            raise terminating_error(request.namespace)

    async def validate(self, request: AdmissionRequest) -> None:
        return None

    async def _namespace(self, name: str, *, creating: bool) -> dict[str, Any] | None:
        ns = lookup.cached(self.store, self.namespaces, "", name)
        if ns is None and creating:
            # Give the cache time to see a namespace created an instant ago.
            await asyncio.sleep(MISSING_NAMESPACE_WAIT)
            ns = lookup.cached(self.store, self.namespaces, "", name)
        if ns is None or (self._recently_deleted(name) and not _terminating(ns)):
            ns = await lookup.live(self.store, self.namespaces, "", name)
        return ns

    def _recently_deleted(self, name: str) -> bool:
        now = time.monotonic()
        for gone in [n for n, until in self._force_live.items() if until < now]:
            del self._force_live[gone]
        return name in self._force_live


def _terminating(ns: dict[str, Any]) -> bool:
    return bool((ns.get("metadata") or {}).get("deletionTimestamp")) or \
        (ns.get("status") or {}).get("phase") == "Terminating"
