"""The CRD controllers of the API server (upstream's apiextensions-apiserver controllers:
naming, establishing, finalizing, and the handler that serves custom resources).

For every CustomResourceDefinition it: checks its names against the other CRDs of its
group (NamesAccepted; Established once accepted) and records them in
`status.acceptedNames`; serves each served version (a `ResourceInfo` in the registry under
/registry/<group>/<plural>/, whence discovery and OpenAPI; the custom resource strategy in
the store; its converter between versions, strategy None or Webhook
(apiserver/crdconversion.py); the scale subresource at the CRD's paths; a local APIService
per group/version, as upstream's crdregistration controller keeps them). A CRD being
deleted (its first delete gave it the `customresourcecleanup.apiextensions.k8s.io`
finalizer, strategies/apiextensions.py) is Terminating: its objects are deleted, then the
finalizer is removed and the resource no longer served: its watches end, as upstream
closes them, and its requests are answered 404.

`sync()` serves what is stored before the server answers requests; `run()` follows
changes for as long as the server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from kybernetes.api import errors, timeutil
from kybernetes.api.registry import ALL_VERBS, ResourceInfo, Subresource
from kybernetes.apiserver import apiservices, crdscale
from kybernetes.apiserver.admission.webhooks.client import WebhookClient
from kybernetes.apiserver.crdconversion import CustomResourceConverter
from kybernetes.apiserver.customresources import CompiledVersion, CustomResourceStrategy
from kybernetes.apiserver.ensure import ensure
from kybernetes.apiserver.store import DeleteOptions
from kybernetes.apiserver.strategies.apiextensions import FINALIZER
from kybernetes.apiserver.watchcache import CacheEvent, TooOldError

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

log = logging.getLogger(__name__)

GROUP = "apiextensions.k8s.io"
RESOURCE = "customresourcedefinitions"
MANAGER = "kube-apiserver"

Obj = dict[str, Any]


def _condition(type_: str, status: str, reason: str, message: str) -> Obj:
    return {"type": type_, "status": status, "lastTransitionTime": timeutil.now_rfc3339(),
            "reason": reason, "message": message}


def set_condition(status: Obj, condition: Obj) -> None:
    """Sets a condition, keeping its lastTransitionTime unless its status changes."""
    conditions = status.setdefault("conditions", [])
    for i, existing in enumerate(conditions):
        if existing.get("type") == condition["type"]:
            if existing.get("status") == condition["status"]:
                condition = {**condition,
                             "lastTransitionTime": existing.get("lastTransitionTime")}
            conditions[i] = condition
            return
    conditions.append(condition)


class CrdController:
    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.registry = server.registry
        self.store = server.store
        self.handlers = server.app.resources
        info = self.registry.get(GROUP, "v1", RESOURCE)
        assert info is not None
        self.info = info
        services = self.registry.get("", "v1", "services")
        slices = self.registry.get("discovery.k8s.io", "v1", "endpointslices")
        assert services is not None and slices is not None
        # Conversion webhooks are called as admission webhooks are.
        self.webhooks = WebhookClient(self.store, services, slices)
        # CRD name -> the versions it serves now.
        self.served: dict[str, list[ResourceInfo]] = {}
        self._finalizing: dict[str, asyncio.Task[None]] = {}

    # -- serving -----------------------------------------------------------------------

    def sync(self) -> None:
        """Serves every stored CRD whose names are accepted (at start, before requests)."""
        for cached in self.store.cache.scan(self.info.key_prefix):
            crd = cached.obj
            if _accepted(crd):
                self._serve(crd)

    def _serve(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        spec = crd["spec"]
        group, names = spec["group"], (crd.get("status") or {}).get("acceptedNames") \
            or spec["names"]
        plural = names["plural"]
        prefix = f"/registry/{group}/{plural}/"
        storage = next(v for v in spec["versions"] if v.get("storage"))
        infos = [self._info(crd, v, names, prefix) for v in spec["versions"]
                 if v.get("served") or v is storage]
        self._unserve(name, keep=frozenset((i.group, i.version, i.plural) for i in infos))
        storage_info = next(i for i in infos if i.version == storage["name"])
        for info in infos:
            self.registry.add(info)
        versions = {f"{group}/{v['name']}": CompiledVersion.of(v) for v in spec["versions"]}
        previous = self.store.strategies.get(group, plural)
        removed = previous.removed if isinstance(previous, CustomResourceStrategy) else None
        self.store.strategies.add(CustomResourceStrategy(storage_info, versions, removed))
        self.store.converters[(group, plural)] = CustomResourceConverter(crd, versions,
                                                                         self.webhooks)
        scale = (storage.get("subresources") or {}).get("scale")
        if isinstance(scale, dict):
            self.handlers.subresources[(group, plural, "scale")] = \
                crdscale.handler(self.store, scale)
        else:
            self.handlers.subresources.pop((group, plural, "scale"), None)
        self.served[name] = infos

    @staticmethod
    def _info(crd: Obj, version: Obj, names: Obj, prefix: str) -> ResourceInfo:
        spec = crd["spec"]
        kind = names["kind"]
        subs = version.get("subresources") or {}
        subresources: list[Subresource] = []
        if "status" in subs:
            subresources.append(Subresource("status", kind, ("get", "patch", "update")))
        if "scale" in subs:
            subresources.append(Subresource("scale", "Scale", ("get", "patch", "update"),
                                            "autoscaling", "v1"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        return ResourceInfo(
            spec["group"], version["name"], kind, names["plural"],
            names.get("singular") or kind.lower(), spec.get("scope") == "Namespaced",
            tuple(names.get("shortNames") or ()), tuple(names.get("categories") or ()),
            ALL_VERBS, tuple(subresources), has_status="status" in subs,
            storage_prefix=prefix,
            openapi_schema=orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode())

    def _unserve(self, name: str, keep: frozenset[tuple[str, str, str]] = frozenset()
                 ) -> None:
        """Stops serving a CRD's versions (all, or those not in `keep`)."""
        infos = self.served.pop(name, [])
        for info in infos:
            key = (info.group, info.version, info.plural)
            if key not in keep:
                self.registry.remove(*key)
        if infos and not keep:
            group, plural = infos[0].group, infos[0].plural
            strategy = self.store.strategies.get(group, plural)
            if isinstance(strategy, CustomResourceStrategy):
                strategy.removed.set()
            self.store.strategies.remove(group, plural)
            self.store.converters.pop((group, plural), None)
            self.handlers.subresources.pop((group, plural, "scale"), None)

    # -- following changes -------------------------------------------------------------

    async def run(self) -> None:
        """Reconciles every CRD on each change, until cancelled."""
        cache = self.store.cache
        await cache.ready.wait()
        while True:
            try:
                async for event in cache.watch(self.info.key_prefix, cache.revision,
                                               initial=lambda: list(cache.scan(
                                                   self.info.key_prefix))):
                    if isinstance(event, CacheEvent):
                        await self._reconcile_event(event)
            except TooOldError:
                continue
            except asyncio.CancelledError:
                for task in self._finalizing.values():
                    task.cancel()
                raise
            except Exception:
                log.exception("the CRD controller failed; starting over")
                await asyncio.sleep(1)

    async def _reconcile_event(self, event: CacheEvent) -> None:
        name = event.key.removeprefix(self.info.key_prefix)
        if event.type == "DELETED":
            gone = self.served.get(name, [])
            self._unserve(name)
            await self._unregister(gone)
            return
        try:
            await self.reconcile(event.current.obj)
        except errors.StatusError as err:
            if err.code != 404:
                log.warning("reconciling CRD %s: %s", name, err.message)

    async def reconcile(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        if crd["metadata"].get("deletionTimestamp"):
            if name not in self._finalizing or self._finalizing[name].done():
                self._finalizing[name] = asyncio.create_task(self._finalize(crd),
                                                             name=f"crd-finalize-{name}")
            return
        accepted_names, names_condition = self._names(crd)

        def mutate(current: Obj) -> Obj:
            status = current.setdefault("status", {})
            status["acceptedNames"] = accepted_names
            set_condition(status, names_condition)
            if names_condition["status"] == "True":
                set_condition(status, _condition("Established", "True", "InitialNamesAccepted",
                                                 "the initial names have been accepted"))
            elif not _accepted(current):
                set_condition(status, _condition("Established", "False", "NotAccepted",
                                                 "not all names are accepted"))
            return current

        updated = await self.store.modify(self.info, "", name, mutate, subresource="status",
                                          manager=MANAGER)
        if _accepted(updated):
            before = self.served.get(name, [])
            self._serve(updated)
            await self._register(self.served[name])
            await self._unregister(before)

    # -- APIServices (upstream's crdregistration controller) --------------------------

    async def _register(self, infos: list[ResourceInfo]) -> None:
        """A local APIService for each group/version a CRD serves."""
        services = self.registry.get("apiregistration.k8s.io", "v1", "apiservices")
        assert services is not None
        for info in infos:
            await ensure(self.server, services, {
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": f"{info.version}.{info.group}",
                             "labels": {apiservices.AUTOMANAGED: "true"}},
                "spec": {"group": info.group, "version": info.version,
                         "groupPriorityMinimum": 1000, "versionPriority": 100}},
                apiservices.AVAILABLE_LOCAL)

    async def _unregister(self, infos: list[ResourceInfo]) -> None:
        """Removes the APIServices of group/versions no CRD serves any more."""
        services = self.registry.get("apiregistration.k8s.io", "v1", "apiservices")
        assert services is not None
        for info in infos:
            if self.registry.in_group_version(info.group, info.version):
                continue
            with contextlib.suppress(errors.StatusError):
                await self.store.delete(services, "", f"{info.version}.{info.group}",
                                        DeleteOptions())

    def _names(self, crd: Obj) -> tuple[Obj, Obj]:
        """The names the CRD may have and its NamesAccepted condition (upstream's naming
        controller): each requested name is taken unless another CRD of the group has
        accepted it already."""
        spec = crd["spec"]
        resources: set[str] = set()
        kinds: set[str] = set()
        for cached in self.store.cache.scan(self.info.key_prefix):
            other = cached.obj
            if other["metadata"]["name"] == crd["metadata"]["name"] or \
                    other["spec"].get("group") != spec.get("group"):
                continue
            theirs = (other.get("status") or {}).get("acceptedNames") or {}
            resources.update([theirs.get("plural", ""), theirs.get("singular", ""),
                              *(theirs.get("shortNames") or [])])
            kinds.update([theirs.get("kind", ""), theirs.get("listKind", "")])
        requested = _accepted_names(spec["names"])
        accepted = dict((crd.get("status") or {}).get("acceptedNames") or {})
        conflict: tuple[str, str] | None = None

        def claim(field: str, used: set[str], reason: str) -> None:
            nonlocal conflict
            wanted = requested.get(field, "")
            if wanted != accepted.get(field) and wanted in used:
                conflict = (reason, f'"{wanted}" is already in use')
            else:
                accepted[field] = wanted

        claim("plural", resources, "PluralConflict")
        claim("singular", resources, "SingularConflict")
        taken = [n for n in requested.get("shortNames") or []
                 if n not in (accepted.get("shortNames") or []) and n in resources]
        if taken:
            conflict = ("ShortNamesConflict",
                        ", ".join(f'"{n}" is already in use' for n in taken))
        elif requested.get("shortNames"):
            accepted["shortNames"] = requested["shortNames"]
        else:
            accepted.pop("shortNames", None)
        claim("kind", kinds, "KindConflict")
        claim("listKind", kinds, "ListKindConflict")
        if requested.get("categories"):
            accepted["categories"] = requested["categories"]
        else:
            accepted.pop("categories", None)
        if conflict is None:
            return accepted, _condition("NamesAccepted", "True", "NoConflicts",
                                        "no conflicts found")
        return accepted, _condition("NamesAccepted", "False", *conflict)

    # -- deletion ----------------------------------------------------------------------

    async def _finalize(self, crd: Obj) -> None:
        """Terminating: delete every object of the resource, wait until they are gone,
        then release the CRD."""
        name = crd["metadata"]["name"]

        def terminating(current: Obj) -> Obj:
            set_condition(current.setdefault("status", {}), _condition(
                "Terminating", "True", "InstanceDeletionInProgress",
                "CustomResource deletion is in progress"))
            return current

        try:
            await self.store.modify(self.info, "", name, terminating, subresource="status",
                                    manager=MANAGER)
            infos = self.served.get(name) or []
            if infos:
                strategy = self.store.strategies.get(infos[0].group, infos[0].plural)
                if isinstance(strategy, CustomResourceStrategy):
                    strategy.terminating = True
            storage = next((i for i in infos if i.version ==
                            _storage_version(crd)), None)
            while storage is not None:
                remaining = list(self.store.cache.scan(storage.key_prefix))
                if not remaining:
                    break
                for cached in remaining:
                    meta = cached.obj["metadata"]
                    if meta.get("deletionTimestamp"):
                        continue
                    with contextlib.suppress(errors.StatusError):
                        await self.store.delete(storage, meta.get("namespace", ""),
                                                meta["name"], DeleteOptions())
                await asyncio.sleep(0.2)

            def release(current: Obj) -> Obj:
                finalizers = [f for f in current["metadata"].get("finalizers") or []
                              if f != FINALIZER]
                current["metadata"]["finalizers"] = finalizers
                if not finalizers:
                    del current["metadata"]["finalizers"]
                return current

            await self.store.modify(self.info, "", name, release, manager=MANAGER)
        except errors.StatusError as err:
            if err.code != 404:
                log.warning("finalizing CRD %s: %s", name, err.message)
        finally:
            self._finalizing.pop(name, None)


def _storage_version(crd: Obj) -> str:
    return next((str(v["name"]) for v in crd["spec"].get("versions") or []
                 if v.get("storage")), "")


def _accepted_names(names: Obj) -> Obj:
    kind = names.get("kind", "")
    accepted = {"plural": names.get("plural", ""), "singular": names.get("singular", ""),
                "kind": kind, "listKind": names.get("listKind") or f"{kind}List"}
    for key in ("shortNames", "categories"):
        if names.get(key):
            accepted[key] = list(names[key])
    return accepted


def _accepted(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])
