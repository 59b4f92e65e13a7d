"""API discovery and REST mapping, as the controllers that handle every resource need it.

The garbage collector watches every resource that can be listed, watched and deleted; the
namespace controller deletes every namespaced resource; both must turn an ownerReference's
`apiVersion` + `kind` into a resource to GET. Upstream uses a discovery client and a
`RESTMapper`; this is both, small:

- `discover(client)` asks the API server itself (so custom resources will be found the day
  they are served): aggregated discovery (`apidiscovery.k8s.io/v2`, two requests: `/api`
  and `/apis`) and, if the server answers with the legacy documents instead, the legacy walk
  (`/api/v1`, `/apis`, each group version). Every served version is returned, the first
  listed version of each group marked `preferred` (upstream lists the preferred first).
  Subresources are left out.
- `RestMapper` maps (apiVersion, kind) to an `ApiResource`: the exact group version when it
  is served, else the group's preferred version of that kind (an ownerReference may name an
  older version of its owner's group).
- `Discovery` caches the answer for a while and is shared by the controllers of a manager.
  When the API cannot be asked, the built-in registry stands in, so a controller can still
  start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.api.registry import builtin_registry
from kybernetes.client import ApiClient, ClientError

log = logging.getLogger(__name__)

AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json")
# How long a discovery answer is reused by default.
DEFAULT_TTL = 30.0


@dataclass(frozen=True, slots=True)
class ApiResource:
    """One served resource in one version (satisfies the client's `ResourceLike`)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str]
    preferred: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def supports(self, *verbs: str) -> bool:
        return all(verb in self.verbs for verb in verbs)

    def __str__(self) -> str:
        return f"{self.group_version}/{self.plural}"


def split_api_version(api_version: str) -> tuple[str, str]:
    """("apps", "v1") for "apps/v1", ("", "v1") for "v1"."""
    group, _, version = api_version.rpartition("/")
    return group, version


class RestMapper:
    """(apiVersion, kind) -> resource, over one discovery answer."""

    def __init__(self, resources: Iterable[ApiResource]) -> None:
        self.resources = list(resources)
        self._exact: dict[tuple[str, str, str], ApiResource] = {}
        self._by_group_kind: dict[tuple[str, str], ApiResource] = {}
        for res in self.resources:
            self._exact.setdefault((res.group, res.version, res.kind), res)
            if res.preferred or (res.group, res.kind) not in self._by_group_kind:
                self._by_group_kind[(res.group, res.kind)] = res

    def kind_for(self, api_version: str, kind: str) -> ApiResource | None:
        group, version = split_api_version(api_version)
        return self._exact.get((group, version, kind)) or \
            self._by_group_kind.get((group, kind))

    def preferred(self) -> list[ApiResource]:
        return [r for r in self.resources if r.preferred]


def builtin_resources() -> list[ApiResource]:
    """The built-in registry as discovery would report it."""
    seen: set[str] = set()
    resources: list[ApiResource] = []
    for info in builtin_registry().resources.values():
        preferred = info.group not in seen
        seen.add(info.group)
        resources.append(ApiResource(info.group, info.version, info.plural, info.kind,
                                     info.namespaced, frozenset(info.verbs), preferred))
    return resources


async def discover(client: ApiClient) -> list[ApiResource]:
    """Every served resource and version (preferred versions marked), from the API."""
    resources: list[ApiResource] = []
    for path in ("/api", "/apis"):
        response = await client.request_raw("GET", path, headers={"Accept": AGGREGATED_ACCEPT})
        body = orjson.loads(response.content)
        if isinstance(body, dict) and body.get("kind") == "APIGroupDiscoveryList":
            resources.extend(_from_aggregated(body))
        elif path == "/api":
            for version in (body.get("versions") or ["v1"])[:1]:
                resources.extend(await _legacy_group_version(client, "", version, True))
        else:
            for group in body.get("groups") or ():
                preferred = (group.get("preferredVersion") or {}).get("version")
                for entry in group.get("versions") or ():
                    version = str(entry.get("version") or "")
                    resources.extend(await _legacy_group_version(
                        client, str(group.get("name") or ""), version, version == preferred))
    return resources


def _from_aggregated(body: Mapping[str, Any]) -> list[ApiResource]:
    found: list[ApiResource] = []
    for item in body.get("items") or ():
        group = str((item.get("metadata") or {}).get("name") or "")
        for index, version_entry in enumerate(item.get("versions") or ()):
            version = str(version_entry.get("version") or "")
            for entry in version_entry.get("resources") or ():
                kind = str((entry.get("responseKind") or {}).get("kind") or "")
                plural = str(entry.get("resource") or "")
                if not plural or not kind or "/" in plural:
                    continue
                found.append(ApiResource(group, version, plural, kind,
                                         entry.get("scope") == "Namespaced",
                                         frozenset(entry.get("verbs") or ()), index == 0))
    return found


async def _legacy_group_version(client: ApiClient, group: str, version: str,
                                preferred: bool) -> list[ApiResource]:
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    body: dict[str, Any] = await client.request("GET", path)
    found: list[ApiResource] = []
    for entry in body.get("resources") or ():
        plural = str(entry.get("name") or "")
        if not plural or "/" in plural:
            continue
        found.append(ApiResource(group, version, plural, str(entry.get("kind") or ""),
                                 bool(entry.get("namespaced")),
                                 frozenset(entry.get("verbs") or ()), preferred))
    return found


class Discovery:
    """Discovery answers shared by the controllers of one manager, reused for `ttl`
    seconds. Falls back to the built-in registry when the API cannot be asked."""

    def __init__(self, client: ApiClient, *, ttl: float = DEFAULT_TTL) -> None:
        self.client = client
        self.ttl = ttl
        self._resources: list[ApiResource] | None = None
        self._mapper: RestMapper | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def resources(self, *, max_age: float | None = None) -> list[ApiResource]:
        """All served resources; `max_age` (default: `ttl`) bounds how old the answer
        may be. Raises `ClientError` only if no answer was ever obtained."""
        limit = self.ttl if max_age is None else max_age
        async with self._lock:
            if self._resources is None or time.monotonic() - self._fetched_at > limit:
                try:
                    fresh = await discover(self.client)
                except ClientError as err:
                    if self._resources is None:
                        raise
                    log.info("discovery failed, using the previous answer: %s", err)
                else:
                    self._set(fresh)
            assert self._resources is not None
            return self._resources

    async def mapper(self, *, max_age: float | None = None) -> RestMapper:
        await self.resources(max_age=max_age)
        assert self._mapper is not None
        return self._mapper

    def invalidate(self) -> None:
        """The next call asks the API again (e.g. a kind could not be mapped)."""
        self._fetched_at = float("-inf")

    def use_builtin(self) -> None:
        """Answer from the built-in registry until the next successful discovery."""
        if self._resources is None:
            self._set(builtin_resources())
            self._fetched_at = float("-inf")

    def _set(self, resources: list[ApiResource]) -> None:
        self._resources = resources
        self._mapper = RestMapper(resources)
        self._fetched_at = time.monotonic()
