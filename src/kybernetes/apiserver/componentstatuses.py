"""`componentstatuses` and the top-level `bindings`: the two core/v1 resources that are
never stored.

ComponentStatus (upstream's `pkg/registry/core/componentstatus`) is computed on each get or
list: one object per component the API server validates, `scheduler`,
`controller-manager` and `etcd-0`, with one `Healthy` condition. Upstream probes the
components' health ports; here the scheduler and the controller manager run beside the
API server in its process and report their health through `ApiServerApp.liveness`, so a
component that is not running there (disabled, or run elsewhere) is `Unhealthy`. `etcd-0`
is the storage: healthy when it answers within 2 s. Every read carries upstream's
deprecation warning.

`POST /api/v1/namespaces/<ns>/bindings` is upstream's `LegacyBindingREST`: the binding of
`pods/<name>/binding` with the pod named in the body's `metadata.name`
(apiserver/binding.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.binding import bind
from kybernetes.apiserver.http import Request
from kybernetes.storage.interface import StorageError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

# The components in the server's process, by their ComponentStatus name.
IN_PROCESS = ("controller-manager", "scheduler")
ETCD = "etcd-0"
DEPRECATED = "v1 ComponentStatus is deprecated in v1.19+"


def component_status(name: str, problem: str | None) -> Obj:
    """Upstream's ComponentStatus of a probe: `ok` when healthy, else what is wrong."""
    condition = {"type": "Healthy", "status": "True" if problem is None else "False",
                 "message": "ok" if problem is None else problem}
    return {"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name},
            "conditions": [condition]}


class ComponentStatuses:
    """The computed list, from the server's liveness checks and its storage."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server

    def _component(self, name: str) -> str | None:
        check = self.server.app.liveness.get(name)
        if check is None:
            return f"{name} is not running in the API server's process"
        return check()

    async def _storage(self) -> str | None:
        try:
            await asyncio.wait_for(self.server.cache.storage_revision(), 2)
        except (StorageError, TimeoutError) as err:
            return str(err) or "no answer in 2s"
        return None

    async def __call__(self) -> list[Obj]:
        # The deprecation warning upstream's v1 ComponentStatus carries on every request.
        requestcontext.add_warning(DEPRECATED)
        statuses = [component_status(name, self._component(name)) for name in IN_PROCESS]
        statuses.append(component_status(ETCD, await self._storage()))
        return sorted(statuses, key=lambda o: str(o["metadata"]["name"]))


def _dry_run(request: Request) -> bool:
    return request.query.get("dryRun", "") == "All"


def install(server: ApiServer) -> None:
    """Serve both on the server's resource handlers."""
    resources = server.app.resources
    resources.computed[("", "componentstatuses")] = ComponentStatuses(server)
    pods = server.registry.get("", "v1", "pods")
    assert pods is not None

    async def legacy_binding(request: Request, info: ResourceInfo, namespace: str,
                             binding: Obj) -> Obj:
        name = (binding.get("metadata") or {}).get("name")
        if not name:
            raise errors.invalid("", "Binding", "", [
                errors.FieldError.required("metadata.name", "name or generateName is required")])
        return await bind(server.store, pods, namespace, str(name), binding, _dry_run(request))

    resources.virtual[("", "bindings")] = legacy_binding
