"""Per-controller credentials: upstream's `--use-service-account-credentials`
(`SAControllerClientBuilder` / `DynamicControllerClientBuilder`).

Each controller talks to the API server as its own service account `kube-system/<name>`,
so RBAC gives it exactly the `system:controller:<name>` role of the bootstrap policy and an
audit log says which controller did what. The manager's own identity
(`system:kube-controller-manager`) is used only to make sure each account exists and to ask
TokenRequest for its token; tokens are renewed in the background at 80% of their lifetime
(the renewal retries with backoff while the API is unreachable, and the token in use stays
valid until its expiry). Informers stay on the manager's own client, as upstream's shared
informers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from kybernetes.client import ApiClient, ApiError, Backoff
from kybernetes.client.rest import resource

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
SERVICE_ACCOUNTS = resource("", "v1", "serviceaccounts")
# Upstream asks for one hour and renews at 80% of it.
TOKEN_SECONDS = 3600
RENEW_AT = 0.8


@dataclass
class _Token:
    value: str
    issued: float
    lifetime: float

    def renew_in(self, now: float) -> float:
        return max(0.0, self.issued + self.lifetime * RENEW_AT - now)


class ServiceAccountClients:
    """Clients that act as service accounts of kube-system, made by the `root` client."""

    def __init__(self, root: ApiClient, *, namespace: str = NAMESPACE) -> None:
        self.root = root
        self.namespace = namespace
        self._tokens: dict[str, _Token] = {}
        self._clients: list[ApiClient] = []

    async def client_for(self, account: str) -> ApiClient:
        """A client authenticated as `system:serviceaccount:<namespace>:<account>`."""
        await self._ensure_account(account)
        self._tokens[account] = await self._request_token(account)
        config = self.root.config.replace(
            cert_data=None, cert_file=None, key_data=None, key_file=None, token=None,
            token_file=None, username=None, password=None,
            token_source=lambda: self._tokens[account].value,
            user_agent=f"{self.root.config.user_agent}/{account}")
        client = ApiClient(config)
        self._clients.append(client)
        return client

    async def renew_forever(self) -> None:
        """Keep every account's token fresh until cancelled."""
        backoff = Backoff(1.0, 30.0)
        while True:
            now = time.monotonic()
            due = min((t.renew_in(now) for t in self._tokens.values()), default=60.0)
            await asyncio.sleep(min(due, 60.0))
            for account, token in list(self._tokens.items()):
                if token.renew_in(time.monotonic()) > 0:
                    continue
                try:
                    self._tokens[account] = await self._request_token(account)
                    backoff.reset()
                except Exception as err:  # the old token is valid until it expires
                    delay = backoff.next()
                    log.warning("renewing the token of %s/%s failed (%s); again in %.0fs",
                                self.namespace, account, err, delay)
                    await asyncio.sleep(delay)

    async def aclose(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    async def _ensure_account(self, account: str) -> None:
        try:
            await self.root.get(SERVICE_ACCOUNTS, account, self.namespace)
            return
        except ApiError as err:
            if err.code != 404:
                raise
        try:
            await self.root.create(SERVICE_ACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": self.namespace}}, self.namespace)
        except ApiError as err:
            if err.code != 409:
                raise

    async def _request_token(self, account: str) -> _Token:
        path = self.root.path(SERVICE_ACCOUNTS, self.namespace, account, "token")
        answer = await self.root.request("POST", path, body={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": TOKEN_SECONDS}})
        token = str(answer["status"]["token"])
        return _Token(token, time.monotonic(), float(TOKEN_SECONDS))
