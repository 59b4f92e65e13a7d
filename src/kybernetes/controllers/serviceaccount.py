"""The service-account controller: a `default` ServiceAccount in every active namespace
(upstream's `pkg/controller/serviceaccount/serviceaccounts_controller.go`).

Keys are namespace names. A namespace is enqueued when it is added or updated, and when a
ServiceAccount in it is deleted (so a deleted `default` comes back). `sync` reads the caches:
a namespace that is gone or not `Active` (terminating) is left alone; each account to ensure
that the ServiceAccount cache lacks is created. AlreadyExists (a cache that lags) and the
refusal to create in a namespace that just started terminating are not errors.

Since Kubernetes 1.24 no token Secret accompanies the account (tokens are requested
through `serviceaccounts/token`), so the account is just its name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from kybernetes.client import AlreadyExistsError, ApiError, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
DEFAULT_SERVICE_ACCOUNTS: tuple[str, ...] = ("default",)
# Upstream's --concurrent-serviceaccount-syncs.
DEFAULT_WORKERS = 1


class ServiceAccountsController(QueueController):
    name: ClassVar[str] = "serviceaccount-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 accounts: Sequence[str] = DEFAULT_SERVICE_ACCOUNTS) -> None:
        super().__init__(workers=workers)
        self.client = ctx.client
        self.accounts = tuple(accounts)
        self.namespaces = ctx.informers.informer(NAMESPACES)
        self.service_accounts = ctx.informers.informer(SERVICE_ACCOUNTS)
        self.watch(self.service_accounts, on_delete=self._account_deleted)
        self.watch(self.namespaces, on_add=self._namespace_changed,
                   on_update=lambda _old, new: self._namespace_changed(new))

    def _account_deleted(self, account: Obj) -> None:
        namespace = (account.get("metadata") or {}).get("namespace")
        if namespace:
            self.enqueue(str(namespace))

    def _namespace_changed(self, ns: Obj) -> None:
        name = (ns.get("metadata") or {}).get("name")
        if name:
            self.enqueue(str(name))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or (ns.get("status") or {}).get("phase") != "Active" or \
                (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        for name in self.accounts:
            if self.service_accounts.store.get(f"{key}/{name}") is not None:
                continue
            account = {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": name, "namespace": key}}
            try:
                await self.client.create(SERVICE_ACCOUNTS, account, key)
            except AlreadyExistsError:
                continue
            except ApiError as err:
                if err.code == 403 and "being terminated" in err.message:
                    return
                if err.code == 404:
                    return  # the namespace went away meanwhile
                raise
            log.debug("created service account %s/%s", key, name)
