"""API groups served by another process, proxied (kube-aggregator's proxy handler for
APIServices, `staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_proxy.go`).

A backend is a group/version served elsewhere: either at the HTTPS address of a component
of this process (the metrics server `kyb server` runs: `aggregator_metrics`; its APIService
is kept like the built-in ones, apiservices.py), or behind the Service an APIService's
`spec.service` names (registered by apiservicecontroller.py): resolved at each request to
a ready endpoint of its EndpointSlices (as webhooks are), the server's certificate checked
with `spec.caBundle` for `<service>.<namespace>.svc` (or not at all with
`insecureSkipTLSVerify`). A Service backend whose APIService is not Available answers 503,
as upstream's proxy handler. The API server:

- lists the group in `/apis` and in aggregated discovery, ordered by
  groupPriorityMinimum and versionPriority (its resources as the backend's own
  APIResourceList says, fetched and kept for `DISCOVERY_TTL`; versions the backend
  did not answer for are `Stale`, as upstream marks an unavailable APIService), answers
  `/apis/<group>` itself;
- proxies everything under `/apis/<group>/<version>` after its own authentication and
  authorization (RBAC on the group's resources), as the front proxy: with its
  `system:auth-proxy` client certificate (k3s' name for the proxy client) and the user in
  `X-Remote-User`, `X-Remote-Group` and `X-Remote-Extra-*` (upstream's requestheader
  headers). A backend that cannot be reached is 503 ServiceUnavailable.
"""

from __future__ import annotations

import base64
import binascii
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from kybernetes.api import errors
from kybernetes.api.registry import version_priority
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.http import Request, Response
from kybernetes.apiserver.pki import Pki, issue_client_cert

log = logging.getLogger(__name__)

Obj = dict[str, Any]
# (namespace, name, port) -> a ready endpoint's (host, port); raises LookupError.
Resolver = Callable[[str, str, int], Awaitable[tuple[str, int]]]
# (caBundle, insecureSkipTLSVerify) -> the proxy's client TLS towards a Service.
ServiceTls = Callable[[str, bool], ssl.SSLContext]
PROXY_USER = "system:auth-proxy"
DISCOVERY_TTL = 30.0
DISCOVERY_TIMEOUT = 5.0
# Who discovery and availability checks ask as (upstream's handler_discovery.go).
CHECK_IDENTITY = (("x-remote-user", "system:kube-aggregator"),
                  ("x-remote-group", "system:masters"))
_FORWARDED = ("accept", "content-type", "user-agent", "audit-id")
# Clients kept for Service backends, one per (caBundle, insecureSkipTLSVerify).
_MAX_CLIENTS = 64


@dataclass(frozen=True)
class ServiceRef:
    """An APIService's `spec.service` with the TLS settings of its spec."""
    namespace: str
    name: str
    port: int = 443
    ca_bundle: str = ""
    insecure: bool = False

    @property
    def server_name(self) -> str:
        return f"{self.name}.{self.namespace}.svc"


@dataclass
class Backend:
    group: str
    version: str
    url: str = ""  # https://host:port, for a component of this process
    service: ServiceRef | None = None
    group_priority: int = 0
    version_priority: int = 0
    # The APIService's Available condition (a component of this process: always).
    available: bool = True
    resources: Obj | None = None  # its APIResourceList, once fetched
    fetched: float = 0.0


def proxy_context(data_dir: Path) -> ssl.SSLContext:
    """The proxy's client TLS: trusts the cluster CA, presents `system:auth-proxy`."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=str(Pki.at(data_dir).ca_cert))
    ctx.load_cert_chain(*_proxy_cert(data_dir))
    return ctx


def service_context(data_dir: Path, ca_bundle: str, insecure: bool) -> ssl.SSLContext:
    """The proxy's client TLS towards a Service: trusts `caBundle` (the system roots
    without one; nothing with `insecureSkipTLSVerify`), presents `system:auth-proxy`."""
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_bundle:
        try:
            pem = base64.b64decode(ca_bundle, validate=True).decode()
            ctx = ssl.create_default_context(cadata=pem)
        except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as err:
            raise LookupError(f"unable to load root certificates: {err}") from None
    else:
        ctx = ssl.create_default_context()
    ctx.load_cert_chain(*_proxy_cert(data_dir))
    return ctx


def _proxy_cert(data_dir: Path) -> tuple[str, str]:
    cert, key = issue_client_cert(Pki.at(data_dir), PROXY_USER, (), data_dir / "tls" / "client")
    return str(cert), str(key)


class Aggregator:
    """`tls` makes the proxy's client context for components of this process when first
    needed (the server's PKI is made as it starts); `service_tls` and `resolve` reach
    Service backends."""

    def __init__(self, tls: Callable[[], ssl.SSLContext], *,
                 service_tls: ServiceTls | None = None, resolve: Resolver | None = None
                 ) -> None:
        self.backends: dict[tuple[str, str], Backend] = {}  # (group, version) -> backend
        self._tls = tls
        self._service_tls = service_tls
        self._resolve = resolve
        self._client: httpx.AsyncClient | None = None
        self._service_clients: dict[tuple[str, bool], httpx.AsyncClient] = {}

    @property
    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._tls(), timeout=30.0)
        return self._client

    def register(self, group: str, version: str, url: str) -> None:
        """A group/version served by a component of this process at `url`."""
        self.backends[(group, version)] = Backend(group, version, url.rstrip("/"))

    def register_service(self, group: str, version: str, service: ServiceRef, *,
                         group_priority: int, version_priority: int, available: bool
                         ) -> None:
        """A group/version served behind a Service (what its APIService says now)."""
        found = self.backends.get((group, version))
        if found is None or found.service != service:
            found = self.backends[(group, version)] = Backend(group, version, service=service)
        found.group_priority, found.version_priority = group_priority, version_priority
        found.available = available

    def unregister(self, group: str, version: str) -> None:
        self.backends.pop((group, version), None)

    def group_versions(self) -> dict[str, list[str]]:
        """The group/versions of components of this process (their APIServices are
        kept as the local ones are)."""
        out: dict[str, list[str]] = {}
        for b in self.backends.values():
            if b.service is None:
                out.setdefault(b.group, []).append(b.version)
        return out

    def backend_for(self, path: str) -> Backend | None:
        """The backend serving `path` (under `/apis/<group>/<version>`), if any."""
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "apis":
            return None
        return self.backends.get((parts[1], parts[2]))

    # -- discovery ---------------------------------------------------------------------

    def _groups(self) -> list[list[Backend]]:
        """The backends by group, as upstream's discovery orders APIServices: groups by
        their highest groupPriorityMinimum (then name), versions by versionPriority (then
        the kube-aware version order)."""
        by_group: dict[str, list[Backend]] = {}
        for b in self.backends.values():
            by_group.setdefault(b.group, []).append(b)
        groups = [sorted(bs, key=lambda b: (-b.version_priority, version_priority(b.version)))
                  for bs in by_group.values()]
        return sorted(groups, key=lambda bs: (-max(b.group_priority for b in bs),
                                              bs[0].group))

    def api_groups(self) -> list[Obj]:
        """Entries of `/apis`' APIGroupList."""
        out = []
        for backends in self._groups():
            listed = [{"groupVersion": f"{b.group}/{b.version}", "version": b.version}
                      for b in backends]
            out.append({"name": backends[0].group, "versions": listed,
                        "preferredVersion": listed[0]})
        return out

    def api_group(self, group: str) -> Obj | None:
        found = next((g for g in self.api_groups() if g["name"] == group), None)
        return None if found is None else {"kind": "APIGroup", "apiVersion": "v1", **found}

    async def refresh(self) -> None:
        """Fetch the available backends' APIResourceLists not fetched within
        `DISCOVERY_TTL`."""
        now = time.monotonic()
        for b in list(self.backends.values()):
            fresh = b.resources is not None and now - b.fetched < DISCOVERY_TTL
            if fresh or not b.available:
                continue
            try:
                await self.check(b)
            except CheckFailed as err:
                log.debug("discovery of %s/%s failed: %s", b.group, b.version, err)

    async def check(self, backend: Backend) -> None:
        """Upstream's discovery check, as `system:kube-aggregator` in `system:masters`:
        `GET /apis/<group>/<version>` answers 2xx (its APIResourceList is kept). Raises
        CheckFailed with upstream's words for what went wrong."""
        path = f"/apis/{backend.group}/{backend.version}"
        try:
            base, client, extensions = await self._endpoint(backend)
        except LookupError as err:
            raise CheckFailed(str(err)) from None
        url = f"{base}{path}"
        try:
            answer = await client.get(url, headers=list(CHECK_IDENTITY),
                                      extensions=extensions, timeout=DISCOVERY_TIMEOUT)
        except httpx.HTTPError as err:
            raise CheckFailed(f'failing or missing response from {url}: Get "{url}": '
                              f"{err or type(err).__name__}") from None
        if not 200 <= answer.status_code < 300:
            raise CheckFailed(f"bad status from {url}: {answer.status_code}")
        try:
            backend.resources, backend.fetched = answer.json(), time.monotonic()
        except ValueError as err:
            raise CheckFailed(f"failing or missing response from {url}: {err}") from None

    def aggregated_items(self) -> list[Obj]:
        """APIGroupDiscovery items for `/apis`' aggregated discovery."""
        return [{"metadata": {"name": backends[0].group},
                 "versions": [_discovery_version(b) for b in backends]}
                for backends in self._groups()]

    # -- proxying ----------------------------------------------------------------------

    async def _endpoint(self, backend: Backend
                        ) -> tuple[str, httpx.AsyncClient, dict[str, Any]]:
        """Where the backend is now (`https://host:port`), the client and the request
        extensions to reach it with; a Service is resolved to a ready endpoint (LookupError
        when it has none)."""
        if backend.service is None:
            return backend.url, self._http, {}
        ref = backend.service
        if self._resolve is None or self._service_tls is None:
            raise LookupError(f'service "{ref.name}" cannot be resolved')
        host, port = await self._resolve(ref.namespace, ref.name, ref.port)
        return (f"https://{host}:{port}", self._service_client(ref),
                {"sni_hostname": ref.server_name})

    def _service_client(self, ref: ServiceRef) -> httpx.AsyncClient:
        key = (ref.ca_bundle, ref.insecure)
        client = self._service_clients.get(key)
        if client is None:
            assert self._service_tls is not None
            if len(self._service_clients) >= _MAX_CLIENTS:
                self._service_clients.pop(next(iter(self._service_clients)))
            client = httpx.AsyncClient(verify=self._service_tls(*key), timeout=30.0,
                                       trust_env=False)
            self._service_clients[key] = client
        return client

    async def proxy(self, request: Request, backend: Backend) -> Response:
        unavailable = errors.unavailable("the server is currently unable to handle the "
                                         "request")
        if not backend.available:
            raise unavailable
        query = request.scope.get("query_string", b"").decode("latin-1")
        target = quote(request.path) + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in request.headers.items() if k in _FORWARDED]
        headers += identity_headers()
        body = await request.body() if request.method not in ("GET", "HEAD") else None
        try:
            base, client, extensions = await self._endpoint(backend)
            answer = await client.request(request.method, f"{base}{target}", headers=headers,
                                          content=body, extensions=extensions)
        except (httpx.HTTPError, LookupError) as err:
            log.warning("proxying %s to %s/%s failed: %s", request.path, backend.group,
                        backend.version, err)
            raise unavailable from err
        return Response(answer.status_code, answer.content,
                        answer.headers.get("content-type", "application/json"))


class CheckFailed(Exception):
    """The discovery check failed (the message is upstream's)."""


def _discovery_version(b: Backend) -> Obj:
    resources = (b.resources or {}).get("resources") or []
    return {
        "version": b.version,
        "freshness": "Current" if b.available and b.resources is not None else "Stale",
        "resources": [{
            "resource": r["name"],
            "responseKind": {"group": b.group, "version": b.version, "kind": r.get("kind", "")},
            "scope": "Namespaced" if r.get("namespaced") else "Cluster",
            "singularResource": r.get("singularName") or r.get("kind", "").lower(),
            "verbs": list(r.get("verbs") or ())}
            for r in resources if "/" not in r["name"]]}


def identity_headers() -> list[tuple[str, str]]:
    user = requestcontext.current_user()
    headers = [("x-remote-user", user.name)]
    headers += [("x-remote-group", g) for g in user.groups]
    for key, values in user.extra.items():
        headers += [(f"x-remote-extra-{quote(key, safe='')}", v) for v in values]
    return headers
