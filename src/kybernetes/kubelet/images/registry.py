"""Pulling over the OCI distribution API (v2) with httpx.

    GET /v2/<name>/manifests/<tag|digest>   Accept: index, manifest list, manifests
    GET /v2/<name>/blobs/<digest>           (redirects followed; Authorization is not
                                             sent to another host)

Authentication is the registry's to demand: a 401 names a scheme in WWW-Authenticate.
`Bearer realm=…,service=…,scope=…` is the token flow: GET the realm with service and scope
(with Basic credentials when an imagePullSecret applies, anonymously otherwise), then retry
with the `token` (or `access_token`) as Bearer. `Basic` retries with the credentials.

Registries on loopback, and those named insecure, are spoken to over plain http; all
others over https with the system's CAs. An `Endpoint` names another place to ask instead
(a mirror from registries.yaml: its API root, the repository path there, its TLS), as
containerd's hosts do; the reference stays what errors name. An `identity_token` (a
registry's OAuth refresh token) is exchanged at the Bearer realm by POST, as containerd
does. Manifests fetched by digest, and every blob, are verified against their digests.
Failures raise ImagePullError with containerd's wording.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import ssl
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from kybernetes.kubelet.images.blobs import BlobStore, digest_of
from kybernetes.kubelet.images.credentials import RegistryCredential
from kybernetes.kubelet.images.errors import ImageContentError, ImagePullError
from kybernetes.kubelet.images.manifest import (
    ACCEPT,
    INDEX_TYPES,
    Descriptor,
    Manifest,
    media_type_of,
    parse_index,
    parse_manifest,
    select_platform,
)
from kybernetes.kubelet.images.reference import Reference

_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
# Manifests are small; a registry sending more is not one to trust (containerd: 4 MiB).
_MANIFEST_LIMIT = 4 << 20
_CHUNK = 1 << 20
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class ResolvedImage:
    manifest: Manifest
    digest: str  # of what the reference named: the index when it was one


def is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.strip("[]")
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def registry_scheme(host: str, insecure_registries: Collection[str]) -> str:
    bare = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    if is_loopback(host) or host in insecure_registries or bare in insecure_registries:
        return "http"
    return "https"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """The scheme and parameters of a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2] if m[2] is not None else m[3]
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


@dataclass(frozen=True)
class Endpoint:
    """Where a repository's distribution API is served: `<api_root>/<repository>/…`."""

    api_root: str  # "https://mirror.example:5000/v2"
    repository: str  # the repository's path there: "library/busybox"
    tls: ssl.SSLContext | None = None  # None: the system's CAs

    @property
    def base(self) -> str:
        return f"{self.api_root}/{self.repository}"


def default_endpoint(reference: Reference, insecure_registries: Collection[str] = ()
                     ) -> Endpoint:
    """The registry the reference names, as containerd's default host for it."""
    scheme = registry_scheme(reference.api_host, insecure_registries)
    return Endpoint(api_root=f"{scheme}://{reference.api_host}/v2", repository=reference.path)


class RegistryClient:
    """One repository at one endpoint (by default the reference's registry), with one set
    of credentials (or none)."""

    def __init__(self, reference: Reference, *, credential: RegistryCredential | None = None,
                 identity_token: str = "", insecure_registries: Collection[str] = (),
                 endpoint: Endpoint | None = None) -> None:
        self.reference = reference
        self.endpoint = endpoint or default_endpoint(reference, insecure_registries)
        self._credential = credential
        self._identity_token = identity_token
        self._base = self.endpoint.base
        self._client = httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=True,
                                         verify=self.endpoint.tls or True)
        self._authorization: str | None = None

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._client.aclose()

    def _fail(self, message: str) -> ImagePullError:
        return ImagePullError(f'failed to pull and unpack image "{self.reference}": {message}')

    def _resolve_fail(self, message: str) -> ImagePullError:
        return self._fail(f'failed to resolve reference "{self.reference}": {message}')

    async def resolve(self) -> ResolvedImage:
        """The image manifest for this node's platform, and the digest the reference
        resolves to."""
        data, media_type = await self._get_manifest(self.reference.manifest_ref)
        digest = digest_of(data)
        if self.reference.digest is not None and digest != self.reference.digest:
            raise self._resolve_fail(f"manifest digest mismatch: expected "
                                     f"{self.reference.digest}, got {digest}")
        try:
            while media_type in INDEX_TYPES:
                chosen = select_platform(parse_index(data))
                data, media_type = await self._get_manifest(chosen.digest)
                if digest_of(data) != chosen.digest:
                    raise self._fail(f"manifest {chosen.digest}: digest mismatch")
            return ResolvedImage(manifest=parse_manifest(data), digest=digest)
        except ImageContentError as err:
            raise self._fail(str(err)) from None

    async def _get_manifest(self, ref: str) -> tuple[bytes, str]:
        url = f"{self._base}/manifests/{ref}"
        response = await self._request(url, headers={"Accept": ACCEPT})
        try:
            data = await response.aread()
        except httpx.HTTPError as err:
            raise self._resolve_fail(f'failed to do request: GET "{url}": {err}') from None
        finally:
            await response.aclose()
        if response.status_code == 404:
            raise self._resolve_fail(f"{self.reference}: not found"
                                     f"{_registry_message(response, ': ')}")
        self._check(response, url)
        if len(data) > _MANIFEST_LIMIT:
            raise self._fail(f"manifest {ref} is larger than {_MANIFEST_LIMIT} bytes")
        try:
            return data, media_type_of(data, response.headers.get("content-type", ""))
        except ImageContentError as err:
            raise self._fail(str(err)) from None

    async def fetch_blob(self, descriptor: Descriptor, blobs: BlobStore,
                         fetched: Callable[[int], None] | None = None) -> None:
        """Download a blob into the store, verifying digest and size; `fetched` is told
        the bytes of each chunk received (a pull's progress)."""
        url = f"{self._base}/blobs/{descriptor.digest}"
        response = await self._request(url)
        try:
            if response.status_code >= 400:
                await response.aread()
                self._check(response, url)
            with blobs.writer(descriptor.digest, descriptor.size) as writer:
                async for chunk in response.aiter_bytes(_CHUNK):
                    await asyncio.to_thread(writer.write, chunk)
                    if fetched is not None:
                        fetched(len(chunk))
                await asyncio.to_thread(writer.commit)
        except ImageContentError as err:
            raise self._fail(f"failed to copy {descriptor.digest}: {err}") from None
        except httpx.HTTPError as err:
            raise self._fail(f"failed to copy {descriptor.digest}: {err}") from None
        finally:
            await response.aclose()

    def _check(self, response: httpx.Response, url: str) -> None:
        if response.status_code in (401, 403):
            raise self._resolve_fail(
                "pull access denied, repository does not exist or may require "
                f"authorization: server message{_registry_message(response, ': ')}")
        if response.status_code >= 400:
            raise self._fail(f"unexpected status from GET request to {url}: "
                             f"{response.status_code} {response.reason_phrase}"
                             f"{_registry_message(response, ': ')}")

    async def _request(self, url: str, headers: dict[str, str] | None = None
                       ) -> httpx.Response:
        """GET `url` (streamed), authenticating once if the registry asks to."""
        headers = dict(headers or {})
        for attempt in range(2):
            if self._authorization is not None:
                headers["Authorization"] = self._authorization
            try:
                response = await self._client.send(
                    self._client.build_request("GET", url, headers=headers), stream=True)
            except httpx.HTTPError as err:
                raise self._resolve_fail(f'failed to do request: GET "{url}": {err}'
                                         ) from None
            if response.status_code != 401 or attempt == 1:
                return response
            challenge = response.headers.get("www-authenticate", "")
            await response.aread()
            await response.aclose()
            if not challenge:
                return response
            self._authorization = await self._authorize(challenge)
        raise AssertionError("unreachable")

    async def _authorize(self, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        credential = self._credential
        if scheme == "basic":
            if credential is None:
                raise self._resolve_fail("pull access denied, repository does not exist or "
                                         "may require authorization: no basic auth "
                                         "credentials")
            pair = f"{credential.username}:{credential.password}".encode()
            return f"Basic {base64.b64encode(pair).decode()}"
        if scheme != "bearer" or "realm" not in params:
            raise self._resolve_fail(f"unsupported authentication challenge {challenge!r}")
        query = {"scope": params.get("scope")
                 or f"repository:{self.endpoint.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (httpx.BasicAuth(credential.username, credential.password)
                if credential is not None else None)
        kind = ("oauth token" if credential is not None or self._identity_token
                else "anonymous token")
        try:
            if self._identity_token:
                response = await self._client.post(params["realm"], data={
                    **query, "grant_type": "refresh_token", "client_id": "containerd-client",
                    "refresh_token": self._identity_token})
            else:
                response = await self._client.get(params["realm"], params=query,
                                                  auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as err:
            raise self._fail(f"failed to authorize: failed to fetch {kind}: {err}"
                             ) from None
        if response.status_code != 200:
            raise self._fail(f"failed to authorize: failed to fetch {kind}: unexpected "
                             f"status from GET request to {params['realm']}: "
                             f"{response.status_code} {response.reason_phrase}")
        try:
            body: dict[str, Any] = response.json()
            token = str(body.get("token") or body.get("access_token") or "")
        except ValueError:
            token = ""
        if not token:
            raise self._fail(f"failed to authorize: failed to fetch {kind}: the token "
                             "server sent no token")
        return f"Bearer {token}"


def _registry_message(response: httpx.Response, prefix: str) -> str:
    """The registry's own words from its `{"errors": [{code, message}]}` body, if any."""
    try:
        errors = response.json().get("errors") or []
        words = [f"{str(e.get('code', '')).lower()}: {e.get('message', '')}".strip(": ")
                 for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        return ""
    return prefix + "; ".join(words) if words else ""
