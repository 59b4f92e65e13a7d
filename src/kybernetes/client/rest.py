"""`ApiClient`: the async Kubernetes REST client every kybernetes component talks through.

One `ApiClient` owns one `httpx.AsyncClient`, so all requests of a process share one
HTTP/1.1 keep-alive connection pool (HTTP/2 is off: watches would share one TCP stream and one
flow-control window, and the API server speaks HTTP/1.1 through uvicorn anyway). Under it is
`transport.Http11Transport`, whose pool costs O(1) per request however many connections
are open: each open watch holds a connection for its lifetime, and httpcore's default pool
rescans them all on every request (see `transport` for the measurements). A custom
`transport` can still be passed (tests pass `httpx.MockTransport`); it then owns TLS.

Design notes:

- Resources are addressed by anything with `group`, `version`, `plural`, `namespaced` and
  `kind` (`kybernetes.api.registry.ResourceInfo` or the small `Resource` here), or by a
  `(group, version, plural)` tuple looked up in the built-in registry. Paths are built once
  per (resource, namespace) and cached.
- Objects are plain dicts (upstream's JSON, field for field), encoded and decoded with
  orjson. Bodies are passed to httpx as ready bytes.
- Every non-2xx answer raises an `ApiError` subclass built from the decoded `Status`
  (`NotFoundError`, `ConflictError`, `AlreadyExistsError`, `GoneError`, ...); the module-level
  `is_not_found` & co. accept any exception so callers can test without isinstance chains.
  Transport failures (refused, reset, timed out) raise `ApiConnectionError`. Both derive from
  `ClientError`.
- Client-side rate limiting is a QPS/burst token bucket shared by all requests of the client
  (watch requests count once, when they start), as client-go's `flowcontrol` limiter. 429 and
  5xx answers carrying `Retry-After` are retried up to ten times, as client-go does.
- `namespace=None` means "the object's namespace, else the config's default namespace" for
  calls on one object, and "all namespaces" for `list` and `watch`.
- `watch` returns a `Watch`: an async iterator of `WatchEvent(type, object)` that parses the
  newline-delimited JSON stream itself (no text decoding of the whole stream), passes
  BOOKMARK events through (callers need their resourceVersion) and turns an ERROR event into
  the matching `ApiError` (`GoneError` for 410, which informers answer with a relist).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import quote, urlencode

import httpx
import orjson

from kybernetes.api.registry import builtin_registry
from kybernetes.client.config import ClientConfig, load_config
from kybernetes.client.ratelimit import TokenBucket
from kybernetes.client.transport import Http11Transport

log = logging.getLogger(__name__)

# httpx logs every request at INFO; components log at INFO, so that would be a line per
# API call. Quiet it unless the application configured it.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)

Obj = dict[str, Any]

PatchType = Literal["merge", "strategic", "json", "apply"]
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
PropagationPolicy = Literal["Foreground", "Background", "Orphan"]
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]

# Upstream list page size for informers and pagers (client-go's pager default).
DEFAULT_PAGE_SIZE = 500
# client-go retries 429/5xx answers with Retry-After this many times.
MAX_RETRY_AFTER = 10
# Each open watch holds a connection for its lifetime.
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_KEEPALIVE = 128
# Below uvicorn's 120 s keep-alive timeout, so the server rarely closes under our feet.
_KEEPALIVE_EXPIRY = 90.0
# Slack beyond a watch's timeoutSeconds before the client gives up reading.
_WATCH_READ_SLACK = 30.0
# A token file is re-read at most this often (client-go caches it for a minute).
_TOKEN_REFRESH = 60.0

_JSON = "application/json"


# ----------------------------------------------------------------------------- resources


class ResourceLike(Protocol):
    """What the client needs to address a resource; `ResourceInfo` satisfies it."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource not in the built-in registry (a custom resource, say)."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


ResourceRef = ResourceLike | tuple[str, str, str]

_BUILTIN = builtin_registry()


def resource(group: str, version: str, plural: str) -> ResourceLike:
    """A built-in resource by (group, version, plural); unknown ones are assumed namespaced
    (pass a `Resource` to say otherwise)."""
    return _BUILTIN.get(group, version, plural) or Resource(group, version, plural)


def _resolve(ref: ResourceRef) -> ResourceLike:
    if isinstance(ref, tuple):
        return resource(*ref)
    return ref


def group_version(res: ResourceLike) -> str:
    return f"{res.group}/{res.version}" if res.group else res.version


# ----------------------------------------------------------------------------- errors


class ClientError(Exception):
    """Any failure of an API call."""


class ApiConnectionError(ClientError):
    """The request did not get an answer: refused, reset, timed out, stream cut."""


class ApiError(ClientError):
    """The API server answered with a non-2xx `Status`."""

    def __init__(self, status: Mapping[str, Any], *, method: str = "", url: str = "") -> None:
        self.status: dict[str, Any] = dict(status)
        self.code: int = int(status.get("code") or 0)
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or "")
        self.details: dict[str, Any] = dict(status.get("details") or {})
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{self.code} {self.reason}: {self.message}{where}")

    @staticmethod
    def from_status(status: Mapping[str, Any], *, method: str = "", url: str = ""
                    ) -> ApiError:
        """The most specific subclass for this Status (by reason, else by code)."""
        cls = _BY_REASON.get(str(status.get("reason") or "")) or \
            _BY_CODE.get(int(status.get("code") or 0)) or ApiError
        return cls(status, method=method, url=url)

    @property
    def retry_after_seconds(self) -> int | None:
        value = self.details.get("retryAfterSeconds")
        return int(value) if isinstance(value, int) else None

    def has_cause(self, reason: str) -> bool:
        """Whether `details.causes` holds one of type `reason` (a StatusCause's type is
        written as `reason` on the wire)."""
        return any(isinstance(c, dict) and c.get("reason") == reason
                   for c in self.details.get("causes") or ())


NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def namespace_terminating(err: BaseException) -> bool:
    """A create refused because its namespace is being deleted (NamespaceLifecycle's
    cause): controllers stop creating there without counting it an error, as upstream's."""
    return isinstance(err, ApiError) and err.has_cause(NAMESPACE_TERMINATING_CAUSE)


class BadRequestError(ApiError):
    pass


class UnauthorizedError(ApiError):
    pass


class ForbiddenError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    """409 Conflict: a stale resourceVersion (optimistic concurrency lost)."""


class AlreadyExistsError(ApiError):
    """409 AlreadyExists: create of a name that is taken."""


class GoneError(ApiError):
    """410: the resourceVersion (or continue token) is older than the server keeps."""


class InvalidError(ApiError):
    pass


class TooManyRequestsError(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_REASON: dict[str, type[ApiError]] = {
    "BadRequest": BadRequestError,
    "Unauthorized": UnauthorizedError,
    "Forbidden": ForbiddenError,
    "NotFound": NotFoundError,
    "AlreadyExists": AlreadyExistsError,
    "Conflict": ConflictError,
    "Gone": GoneError,
    "Expired": GoneError,
    "Invalid": InvalidError,
    "TooManyRequests": TooManyRequestsError,
    "InternalError": ServerError,
    "ServiceUnavailable": ServerError,
    "ServerTimeout": ServerError,
    "Timeout": ServerError,
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequestError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError,
    409: ConflictError, 410: GoneError, 422: InvalidError, 429: TooManyRequestsError,
    500: ServerError, 502: ServerError, 503: ServerError, 504: ServerError,
}


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, NotFoundError)


def is_conflict(err: BaseException) -> bool:
    return isinstance(err, ConflictError)


def is_already_exists(err: BaseException) -> bool:
    return isinstance(err, AlreadyExistsError)


def is_gone(err: BaseException) -> bool:
    return isinstance(err, GoneError)


def is_invalid(err: BaseException) -> bool:
    return isinstance(err, InvalidError)


def is_forbidden(err: BaseException) -> bool:
    return isinstance(err, ForbiddenError)


def _error_for(response: httpx.Response, method: str, url: str) -> ApiError:
    status: Any = None
    if response.content:
        try:
            status = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        # Not a Status (a proxy's error page, say): synthesise one, as client-go does.
        text = response.content.decode("utf-8", "replace").strip()[:1024]
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                  "code": response.status_code,
                  "reason": _REASON_FOR_CODE.get(response.status_code, ""),
                  "message": text or f"the server responded with code {response.status_code}"}
    status.setdefault("code", response.status_code)
    return ApiError.from_status(status, method=method, url=url)


_REASON_FOR_CODE = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                    405: "MethodNotAllowed", 409: "Conflict", 410: "Gone", 415:
                    "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
                    500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ObjectList:
    """A complete list: every page's items, and the resourceVersion to watch from."""

    items: list[Obj]
    resource_version: str
    kind: str = ""
    api_version: str = ""

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class WatchEvent(NamedTuple):
    type: WatchEventType
    object: Obj


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Delete only if the object still has this uid and/or resourceVersion."""

    uid: str | None = None
    resource_version: str | None = None


# ----------------------------------------------------------------------------- the client


class ApiClient:
    """Async REST client for one API server. Use as `async with ApiClient(cfg) as api:`
    or call `aclose()`; one per process is the norm (it is cheap to share). Like any httpx
    client it belongs to the event loop it is first used on.

    `transport` replaces the network (tests pass `httpx.MockTransport`); the default is
    an `Http11Transport` with the config's TLS context, `max_connections` connections and
    up to `max_keepalive_connections` idle ones kept for 90 s.
    """

    def __init__(self, config: ClientConfig, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 max_keepalive_connections: int = DEFAULT_MAX_KEEPALIVE) -> None:
        self.config = config
        self.limiter = TokenBucket(config.qps, config.burst)
        headers = {"Accept": _JSON, "User-Agent": config.user_agent}
        auth: httpx.Auth | None = None
        if config.username is not None and config.password is not None:
            auth = httpx.BasicAuth(config.username, config.password)
        elif config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self._token_file_header: str | None = None
        self._token_read_at = -_TOKEN_REFRESH
        if transport is None:
            transport = Http11Transport(
                ssl_context=config.ssl_context() if config.uses_tls else None,
                max_connections=max_connections, max_keepalive=max_keepalive_connections,
                keepalive_expiry=_KEEPALIVE_EXPIRY, sni_hostname=config.tls_server_name,
                uds=config.unix_socket)
        self.http = httpx.AsyncClient(
            headers=headers, auth=auth, timeout=httpx.Timeout(config.timeout),
            transport=transport, trust_env=False)
        # What `send` gives the transport itself (see there): the client's default headers
        # (httpx's own with ours), lowercased, and its timeouts as the transport reads them.
        self._transport = transport if auth is None else None
        self._default_headers = {k.lower(): v for k, v in self.http.headers.items()}
        self._timeouts = httpx.Timeout(config.timeout).as_dict()
        self._server = config.server.rstrip("/")
        self._prefixes: dict[tuple[str, str, str, str], str] = {}

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None,
                        **kwargs: Any) -> ApiClient:
        """A client from a kubeconfig (or in-cluster config when `path` is None inside a
        pod)."""
        return cls(load_config(path, context=context), **kwargs)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- addressing ---------------------------------------------------------------------

    def path(self, res: ResourceRef, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of a collection (no name) or of one object."""
        info = _resolve(res)
        ns = (namespace or "") if info.namespaced else ""
        key = (info.group, info.version, info.plural, ns)
        prefix = self._prefixes.get(key)
        if prefix is None:
            base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
            prefix = f"{base}/namespaces/{quote(ns, safe='')}/{info.plural}" if ns \
                else f"{base}/{info.plural}"
            self._prefixes[key] = prefix
        if name is None:
            return prefix
        if not name:
            raise ValueError(f"an empty name for {info.plural}")
        if subresource:
            return f"{prefix}/{quote(name, safe=':')}/{subresource}"
        return f"{prefix}/{quote(name, safe=':')}"

    def _object_namespace(self, res: ResourceLike, namespace: str | None,
                          obj: Obj | None = None) -> str | None:
        if not res.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None:
            found = (obj.get("metadata") or {}).get("namespace")
            if found:
                return str(found)
        return self.config.namespace

    # -- raw requests -------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str] | None:
        token_header = self._token_header()
        if token_header is None:
            return dict(extra) if extra else None
        headers = {"Authorization": token_header}
        if extra:
            headers.update(extra)
        return headers

    def _token_header(self) -> str | None:
        if self.config.token_source is not None:
            live = self.config.token_source()
            return f"Bearer {live}" if live else None
        if self.config.token or not self.config.token_file:
            return None
        now = time.monotonic()
        if now - self._token_read_at >= _TOKEN_REFRESH or self._token_file_header is None:
            token = self.config.bearer_token()
            self._token_file_header = f"Bearer {token}" if token else None
            self._token_read_at = now
        return self._token_file_header

    async def request_raw(self, method: str, path: str, *,
                          params: Mapping[str, Any] | None = None,
                          content: bytes | None = None,
                          headers: Mapping[str, str] | None = None,
                          request_timeout: float | None = None,
                          check: bool = True) -> httpx.Response:
        """Send one request (rate limited; 429/5xx with Retry-After retried) and return the
        response, raising `ApiError` for non-2xx answers when `check`."""
        url = self._server + path
        if params:
            query = _encode_query(params)
            if query:
                url = f"{url}?{query}"
        all_headers = self._headers(headers)
        attempt = 0
        while True:
            if not self.limiter.unlimited:
                await self.limiter.acquire()
            try:
                response = await self._send(method, url, content, all_headers, request_timeout)
            except httpx.TransportError as err:
                raise ApiConnectionError(f"{method} {url}: {err!r}") from err
            status = response.status_code
            if status < 300:
                if "warning" in response.headers:
                    _log_warnings(response)
                return response
            retry_after = response.headers.get("retry-after")
            if (status == 429 or status >= 500) and retry_after and \
                    attempt < MAX_RETRY_AFTER:
                attempt += 1
                delay = _retry_after_seconds(retry_after)
                log.info("%s %s: %d, retrying in %.1fs (attempt %d)", method, path, status,
                         delay, attempt)
                await asyncio.sleep(delay)
                continue
            if not check:
                return response
            raise _error_for(response, method, path)

    async def _send(self, method: str, url: str, content: bytes | None,
                    headers: dict[str, str] | None, request_timeout: float | None
                    ) -> httpx.Response:
        """One request and its whole response. Straight to the transport, as httpx's
        client would send it (its default headers, its timeouts) but without the layers a
        component does not use (cookies, redirects, auth flows, event hooks), which cost
        more CPU than the transport itself: a third of a busy scheduler's client work.
        With basic auth, through the httpx client."""
        if self._transport is None:
            return await self.http.request(
                method, url, content=content, headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if request_timeout is None
                else request_timeout)
        send_headers = self._default_headers
        if headers:
            send_headers = {**send_headers, **{k.lower(): v for k, v in headers.items()}}
        timeouts = self._timeouts if request_timeout is None else \
            httpx.Timeout(request_timeout).as_dict()
        request = httpx.Request(method, url, headers=send_headers, content=content,
                                extensions={"timeout": timeouts})
        response = await self._transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def request(self, method: str, path: str, *,
                      params: Mapping[str, Any] | None = None,
                      body: Any = None, content: bytes | None = None,
                      content_type: str = _JSON,
                      headers: Mapping[str, str] | None = None,
                      request_timeout: float | None = None) -> Any:
        """A request whose answer is JSON: `body` is encoded with orjson (or `content` is
        sent as is) and the decoded answer returned (None for an empty body)."""
        if body is not None:
            content = orjson.dumps(body)
        send_headers: dict[str, str] = dict(headers or {})
        if content is not None:
            send_headers["Content-Type"] = content_type
        response = await self.request_raw(method, path, params=params, content=content,
                                          headers=send_headers or None,
                                          request_timeout=request_timeout)
        if not response.content:
            return None
        return orjson.loads(response.content)

    # -- one object ---------------------------------------------------------------------

    async def get(self, res: ResourceRef, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> Obj:
        info = _resolve(res)
        path = self.path(info, self._object_namespace(info, namespace), name, subresource)
        result: Obj = await self.request("GET", path)
        return result

    async def create(self, res: ResourceRef, obj: Obj, namespace: str | None = None, *,
                     dry_run: bool = False, field_manager: str | None = None,
                     field_validation: str | None = None) -> Obj:
        info = _resolve(res)
        path = self.path(info, self._object_namespace(info, namespace, obj))
        result: Obj = await self.request("POST", path, body=obj, params=_write_params(
            dry_run, field_manager, field_validation))
        return result

    async def update(self, res: ResourceRef, obj: Obj, namespace: str | None = None, *,
                     dry_run: bool = False, field_manager: str | None = None,
                     field_validation: str | None = None) -> Obj:
        """PUT the whole object; its `metadata.resourceVersion`, when set, is the
        optimistic-concurrency precondition (a stale one raises `ConflictError`)."""
        return await self._put(res, obj, namespace, None, dry_run, field_manager,
                               field_validation)

    async def update_status(self, res: ResourceRef, obj: Obj, namespace: str | None = None,
                            *, dry_run: bool = False, field_manager: str | None = None
                            ) -> Obj:
        """PUT through the `status` subresource: only status changes are kept."""
        return await self._put(res, obj, namespace, "status", dry_run, field_manager, None)

    async def _put(self, res: ResourceRef, obj: Obj, namespace: str | None,
                   subresource: str | None, dry_run: bool, field_manager: str | None,
                   field_validation: str | None) -> Obj:
        info = _resolve(res)
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ValueError("update needs metadata.name")
        path = self.path(info, self._object_namespace(info, namespace, obj), str(name),
                         subresource)
        result: Obj = await self.request("PUT", path, body=obj, params=_write_params(
            dry_run, field_manager, field_validation))
        return result

    async def patch(self, res: ResourceRef, name: str, patch: Any,
                    namespace: str | None = None, *, patch_type: PatchType = "merge",
                    subresource: str | None = None, dry_run: bool = False,
                    field_manager: str | None = None, force: bool | None = None) -> Obj:
        """PATCH with a merge patch (a dict), a strategic merge patch (a dict) or a JSON
        patch (a list of operations)."""
        info = _resolve(res)
        path = self.path(info, self._object_namespace(info, namespace), name, subresource)
        params = _write_params(dry_run, field_manager, None)
        if force is not None:
            params["force"] = force
        content = patch if isinstance(patch, bytes) else orjson.dumps(patch)
        result: Obj = await self.request("PATCH", path, content=content, params=params,
                                         content_type=PATCH_CONTENT_TYPES[patch_type])
        return result

    async def delete(self, res: ResourceRef, name: str, namespace: str | None = None, *,
                     propagation_policy: PropagationPolicy | None = None,
                     grace_period_seconds: int | None = None,
                     preconditions: Preconditions | None = None,
                     dry_run: bool = False) -> Obj:
        """DELETE one object. Returns the object when deletion is pending (finalizers,
        graceful pod deletion), else the success `Status`."""
        info = _resolve(res)
        path = self.path(info, self._object_namespace(info, namespace), name)
        options = _delete_options(propagation_policy, grace_period_seconds, preconditions,
                                  dry_run)
        result: Obj = await self.request("DELETE", path, body=options)
        return result

    async def delete_collection(self, res: ResourceRef, namespace: str | None = None, *,
                                label_selector: str | None = None,
                                field_selector: str | None = None,
                                propagation_policy: PropagationPolicy | None = None,
                                grace_period_seconds: int | None = None) -> Obj:
        info = _resolve(res)
        path = self.path(info, namespace if info.namespaced else None)
        options = _delete_options(propagation_policy, grace_period_seconds, None, False)
        result: Obj = await self.request(
            "DELETE", path, body=options,
            params={"labelSelector": label_selector, "fieldSelector": field_selector})
        return result

    # -- collections --------------------------------------------------------------------

    async def list_pages(self, res: ResourceRef, namespace: str | None = None, *,
                         label_selector: str | None = None,
                         field_selector: str | None = None,
                         limit: int = DEFAULT_PAGE_SIZE,
                         resource_version: str | None = None,
                         resource_version_match: str | None = None,
                         ) -> AsyncIterator[Obj]:
        """Each page of a list (the raw list objects), following `continue` tokens."""
        info = _resolve(res)
        path = self.path(info, namespace if info.namespaced else None)
        params: dict[str, Any] = {
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "limit": limit or None, "resourceVersion": resource_version,
            "resourceVersionMatch": resource_version_match}
        while True:
            page: Obj = await self.request("GET", path, params=params)
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            # Later pages are read at the first page's revision, given by the token.
            params = {"labelSelector": label_selector, "fieldSelector": field_selector,
                      "limit": limit or None, "continue": token}

    async def list(self, res: ResourceRef, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int = DEFAULT_PAGE_SIZE, resource_version: str | None = None,
                   resource_version_match: str | None = None) -> ObjectList:
        """All matching objects, fetched `limit` at a time. If a continue token expires
        midway (410), the list is redone in one request, as client-go's pager does."""
        info = _resolve(res)
        items: list[Obj] = []
        kind = api_version = ""
        rv = ""
        try:
            async for page in self.list_pages(
                    info, namespace, label_selector=label_selector,
                    field_selector=field_selector, limit=limit,
                    resource_version=resource_version,
                    resource_version_match=resource_version_match):
                items.extend(page.get("items") or ())
                if not rv:
                    rv = str((page.get("metadata") or {}).get("resourceVersion") or "")
                    kind = str(page.get("kind") or "")
                    api_version = str(page.get("apiVersion") or "")
        except GoneError:
            if not items:
                raise
            log.info("list of %s: continue token expired; listing in one request",
                     info.plural)
            return await self.list(info, namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=0,
                                   resource_version=resource_version,
                                   resource_version_match=resource_version_match)
        # Upstream omits kind/apiVersion on list items; informer handlers want them.
        item_kind = kind[:-4] if kind.endswith("List") else info.kind
        if item_kind and items and "kind" not in items[0]:
            for item in items:
                item.setdefault("kind", item_kind)
                item.setdefault("apiVersion", api_version or group_version(info))
        return ObjectList(items, rv, kind, api_version)

    def watch(self, res: ResourceRef, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = True, send_initial_events: bool = False) -> Watch:
        """Open a watch. Iterate it (`async for event in api.watch(...)`) and close it
        with `aclose()` or `async with`. `send_initial_events` asks for the current objects
        as ADDED events followed by a BOOKMARK annotated `k8s.io/initial-events-end`."""
        info = _resolve(res)
        path = self.path(info, namespace if info.namespaced else None)
        params: dict[str, Any] = {
            "watch": True, "resourceVersion": resource_version,
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": True if allow_bookmarks or send_initial_events else None}
        if send_initial_events:
            params["sendInitialEvents"] = True
            params["resourceVersionMatch"] = "NotOlderThan"
        return Watch(self, path, params, timeout_seconds)

    async def _open_stream(self, path: str, params: Mapping[str, Any],
                           timeout_seconds: int | None) -> httpx.Response:
        url = f"{self._server}{path}?{_encode_query(params)}"
        read = None if timeout_seconds is None else timeout_seconds + _WATCH_READ_SLACK
        timeout = httpx.Timeout(self.config.timeout, read=read)
        if not self.limiter.unlimited:
            await self.limiter.acquire()
        request = self.http.build_request("GET", url, headers=self._headers(None),
                                          timeout=timeout, )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TransportError as err:
            raise ApiConnectionError(f"GET {url}: {err!r}") from err
        if response.status_code != 200:
            try:
                await response.aread()
            except httpx.TransportError as err:
                raise ApiConnectionError(f"GET {url}: {err!r}") from err
            finally:
                await response.aclose()
            raise _error_for(response, "GET", path)
        return response


class Watch:
    """An open watch stream: an async iterator of `WatchEvent`s.

    Ends (StopAsyncIteration) when the server closes the stream normally, e.g. at its
    `timeoutSeconds`; raises `ApiError` on an ERROR event and `ApiConnectionError` when the
    connection breaks. `resource_version` is the last one seen (from any event, bookmarks
    included), where a new watch should resume.
    """

    def __init__(self, client: ApiClient, path: str, params: Mapping[str, Any],
                 timeout_seconds: int | None) -> None:
        self._client = client
        self._path = path
        self._params = params
        self._timeout_seconds = timeout_seconds
        self._events = self._stream()
        self._response: httpx.Response | None = None
        self._closing = False
        self.resource_version: str = str(params.get("resourceVersion") or "")

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        return await self._events.__anext__()

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the watch. Safe from another task while one iterates: the iterating task
        then sees the end of the stream."""
        self._closing = True
        if getattr(self._events, "ag_running", False):
            if self._response is not None:
                await self._response.aclose()  # wakes the reader, which then stops
            return
        await self._events.aclose()

    async def _stream(self) -> AsyncGenerator[WatchEvent, None]:
        response = await self._client._open_stream(self._path, self._params,
                                                   self._timeout_seconds)
        self._response = response
        try:
            pending: list[bytes] = []
            chunks = response.aiter_bytes()
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except (httpx.TransportError, httpx.StreamClosed) as err:
                    if self._closing:
                        return
                    raise ApiConnectionError(f"watch {self._path}: {err!r}") from err
                if b"\n" not in chunk:
                    pending.append(chunk)
                    continue
                if pending:
                    pending.append(chunk)
                    chunk = b"".join(pending)
                    pending.clear()
                lines = chunk.split(b"\n")
                tail = lines.pop()
                if tail:
                    pending.append(tail)
                for line in lines:
                    if line:
                        yield self._decode(line)
            if pending and b"".join(pending).strip():
                yield self._decode(b"".join(pending))
        finally:
            await response.aclose()

    def _decode(self, line: bytes) -> WatchEvent:
        try:
            frame = orjson.loads(line)
            kind = frame["type"]
            obj = frame["object"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as err:
            raise ApiConnectionError(
                f"watch {self._path}: undecodable event {line[:200]!r}") from err
        if kind == "ERROR":
            raise ApiError.from_status(obj if isinstance(obj, dict) else {},
                                       method="WATCH", url=self._path)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        return WatchEvent(kind, obj)


# ----------------------------------------------------------------------------- helpers


def _encode_query(params: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


def _write_params(dry_run: bool, field_manager: str | None, field_validation: str | None
                  ) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if dry_run:
        params["dryRun"] = "All"
    if field_manager:
        params["fieldManager"] = field_manager
    if field_validation:
        params["fieldValidation"] = field_validation
    return params


def _delete_options(policy: str | None, grace: int | None, preconditions: Preconditions | None,
                    dry_run: bool) -> Obj:
    options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if policy is not None:
        options["propagationPolicy"] = policy
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if preconditions is not None:
        pre: dict[str, str] = {}
        if preconditions.uid is not None:
            pre["uid"] = preconditions.uid
        if preconditions.resource_version is not None:
            pre["resourceVersion"] = preconditions.resource_version
        options["preconditions"] = pre
    if dry_run:
        options["dryRun"] = ["All"]
    return options


def _retry_after_seconds(value: str) -> float:
    try:
        return max(0.0, min(float(value), 60.0))
    except ValueError:
        return 1.0


def _log_warnings(response: httpx.Response) -> None:
    for value in response.headers.get_list("warning"):
        log.warning("server warning: %s", value)
