"""REST handlers for registered resources: the verbs, their query parameters, their bodies.

`ResourceHandlers.handle` takes a parsed resource path and turns one HTTP request into a call
on the generic store: get, list, watch, create, update, patch, delete, deletecollection, and
the `status` and `scale` subresources. Bodies are decoded, checked against the kind's schema
(`fieldValidation`), and answers are rendered as the client asked (object, Table, metadata).
Bodies and answers are in the version the request named; the store converts (see store.py),
and what is read from the watch cache (lists, watches) is converted here as it is rendered
(custom resources a page or a batch of events at a time, which may call a webhook).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from kybernetes.api import errors, schema
from kybernetes.api.managedfields import server_side_apply
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.api.validation.schemacheck import check_schema, drop_unknown_fields
from kybernetes.apiserver import patch as patches
from kybernetes.apiserver.binding import create_binding
from kybernetes.apiserver.customresources import CustomResourceStrategy
from kybernetes.apiserver.eviction import Eviction
from kybernetes.apiserver.http import Request, Response, Streaming, json_response
from kybernetes.apiserver.listing import Filter, list_body, list_page
from kybernetes.apiserver.negotiation import (
    Wanted,
    decode_body,
    encode_yaml,
    negotiate,
)
from kybernetes.apiserver.podproxy import STREAMING, PodProxy
from kybernetes.apiserver.requestcontext import warning_header
from kybernetes.apiserver.routing import ResourcePath
from kybernetes.apiserver.store import (
    DEFAULT_MANAGER,
    DeleteOptions,
    ObjectStore,
    check_propagation_policy,
    kind_schema,
    now_rfc3339,
    parse_grace_period,
)
from kybernetes.apiserver.watch import validate_watch_query, watch_stream
from kybernetes.apiserver.watchcache import CachedObject

Result = Response | Streaming
# A resource that is created and answered, never stored (TokenReview, SubjectAccessReview):
# (request, resource, namespace, decoded body) -> the answered object.
VirtualCreate = Callable[[Request, ResourceInfo, str, dict[str, Any]],
                         Awaitable[dict[str, Any]]]
# A read-only resource computed on each read, never stored (ComponentStatus): () -> the
# objects, each with its name.
ComputedRead = Callable[[], Awaitable[list[dict[str, Any]]]]
# A subresource served by its own handler (serviceaccounts/token, csr/approval).
SubresourceHandler = Callable[[Request, ResourceInfo, ResourcePath], Awaitable[Result]]


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun", "")
    if value and value != "All":
        raise errors.bad_request(f'unsupported dryRun value "{value}": must be "All"')
    return value == "All"


def _manager(request: Request) -> str:
    """The field manager: `fieldManager`, else the user agent's program name, as upstream."""
    named = request.query.get("fieldManager", "")
    if len(named) > 128:
        raise errors.invalid("meta.k8s.io", "PatchOptions", "", [errors.FieldError.too_long(
            "fieldManager", named, 128)])
    if named:
        return named
    agent = request.header("user-agent")
    return agent.split("/", 1)[0][:128] if agent else DEFAULT_MANAGER


def _metadata_only(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


class ResourceHandlers:
    def __init__(self, registry: Registry, store: ObjectStore, *,
                 kubelet_ca: Path | None = None) -> None:
        self.registry = registry
        self.store = store
        self.pods = PodProxy(registry, store, kubelet_ca=kubelet_ca)
        self.eviction = Eviction(registry, store)
        # Keyed by (group, plural) and (group, plural, subresource).
        self.virtual: dict[tuple[str, str], VirtualCreate] = {}
        self.computed: dict[tuple[str, str], ComputedRead] = {}
        self.subresources: dict[tuple[str, str, str], SubresourceHandler] = {}

    # -- dispatch ----------------------------------------------------------------------

    async def handle(self, request: Request, path: ResourcePath) -> Result:
        info = self.registry.get(path.group, path.version, path.resource)
        if info is None:
            raise errors.StatusError(404, "NotFound",
                                     "the server could not find the requested resource")
        if info.namespaced and not path.namespace and path.name:
            raise errors.StatusError(404, "NotFound",
                                     "the server could not find the requested resource")
        if path.subresource:
            handler = self.subresources.get((info.group, info.plural, path.subresource))
            if handler is not None:
                return await handler(request, info, path)
            return await self._subresource(request, info, path)
        method = request.method
        virtual = self.virtual.get((info.group, info.plural))
        if virtual is not None:
            if method != "POST" or path.name:
                raise errors.method_not_allowed(
                    "the server does not allow this method on the requested resource")
            headers: list[tuple[str, str]] = []
            body = await self._decode_object(request, info, headers)
            return json_response(await virtual(request, info, path.namespace, body), 201,
                                 headers)
        wanted = negotiate(request.header("accept"))
        computed = self.computed.get((info.group, info.plural))
        if computed is not None:
            return await self._computed(request, info, path, wanted, computed)
        if method == "GET":
            if path.name:
                found = await self.store.get(info, path.namespace, path.name)
                return self._render_one(info, found.obj, wanted, request.query)
            if path.legacy_watch or _flag(request.query, "watch"):
                return await self._watch(request, info, path.namespace, wanted)
            return await self._list(request, info, path.namespace, wanted)
        if method == "POST" and not path.name:
            return await self._create(request, info, path.namespace, wanted)
        if method == "PUT" and path.name:
            return await self._update(request, info, path, wanted)
        if method == "PATCH" and path.name:
            return await self._patch(request, info, path, wanted)
        if method == "DELETE":
            if path.name:
                return await self._delete(request, info, path, wanted)
            return await self._delete_collection(request, info, path.namespace, wanted)
        raise errors.method_not_allowed(
            "the server does not allow this method on the requested resource")

    async def _computed(self, request: Request, info: ResourceInfo, path: ResourcePath,
                        wanted: Wanted, computed: ComputedRead) -> Response:
        """get and list (no watch) of a computed resource."""
        if request.method != "GET" or path.legacy_watch or _flag(request.query, "watch"):
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        objects = await computed()
        if path.name:
            found = next((o for o in objects if o["metadata"]["name"] == path.name), None)
            if found is None:
                raise errors.not_found(info.group, info.plural, path.name)
            return self._render_one(info, found, wanted, request.query)
        if wanted.shape == "table":
            table = self.store.strategies.of(info).table(
                objects, include_object=request.query.get("includeObject", "Metadata"))
            table["metadata"] = {"resourceVersion": ""}
            return json_response(table)
        body = {"kind": info.list_kind, "apiVersion": info.group_version, "metadata": {},
                "items": objects}
        if wanted.shape == "metadata":
            body = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": {}, "items": [_metadata_only(o) for o in objects]}
        if wanted.yaml:
            return Response(200, encode_yaml(body), "application/yaml")
        return json_response(body)

    # -- rendering ---------------------------------------------------------------------

    def _table(self, info: ResourceInfo, objects: list[dict[str, Any]], include: str, *,
               stored: bool = False) -> dict[str, Any]:
        """A Table of objects, in the served version unless `stored`. The printers read
        the storage version (upstream's print the internal one); an included object is in
        the served version."""
        stored_info, converted = self.store.stored(info)
        strategy = self.store.strategies.of(stored_info)
        if converted is None:
            return strategy.table(objects, include_object=include)
        printed = objects if stored else [converted.to_storage(o) for o in objects]
        table = strategy.table(printed, include_object=include)
        if include == "Object":
            for row in table["rows"]:
                row["object"] = converted.from_storage(row["object"])
        return table

    def _render_one(self, info: ResourceInfo, obj: dict[str, Any], wanted: Wanted,
                    query: dict[str, str], status: int = 200) -> Response:
        if wanted.shape == "table":
            body = self._table(info, [obj], query.get("includeObject", "Metadata"))
            body["metadata"] = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(body, status)
        if wanted.shape == "metadata":
            return json_response(_metadata_only(obj), status)
        if wanted.yaml:
            return Response(status, encode_yaml(obj), "application/yaml")
        return json_response(obj, status)

    def _renderer(self, info: ResourceInfo, wanted: Wanted, query: dict[str, str]
                  ) -> Callable[[CachedObject], bytes]:
        if wanted.shape == "table":
            include = query.get("includeObject", "Metadata")

            def table(o: CachedObject) -> bytes:
                body = self._table(info, [o.obj], include, stored=True)
                body["metadata"] = {"resourceVersion": str(o.revision)}
                return orjson.dumps(body)
            return table
        if wanted.shape == "metadata":
            return lambda o: orjson.dumps(_metadata_only(o.obj))
        return self._raw(info)

    def _raw(self, info: ResourceInfo) -> Callable[[CachedObject], bytes]:
        """A cached object's JSON in the served version."""
        _, converted = self.store.stored(info)
        if converted is None:
            return lambda o: o.raw
        return lambda o: orjson.dumps(converted.from_storage(o.obj))

    # -- reads -------------------------------------------------------------------------

    async def _list(self, request: Request, info: ResourceInfo, namespace: str,
                    wanted: Wanted) -> Response:
        selection = Filter.from_query(self.store.strategies.of(info), request.query)
        page = await list_page(info, namespace, request.query, selection, self.store.cache,
                               self.store.storage)
        page = dataclasses.replace(
            page, items=await self.store.cached_as_version(info, page.items))
        if wanted.shape == "object" and not wanted.yaml:
            return Response(200, list_body(info, page, self._raw(info)))
        meta: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            meta["continue"] = page.continue_token
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
        objects = [o.obj for o in page.items]
        if wanted.shape == "table":
            table = self._table(info, objects, request.query.get("includeObject", "Metadata"),
                                stored=True)
            table["metadata"] = meta
            return json_response(table)
        if wanted.shape == "metadata":
            return json_response({"kind": "PartialObjectMetadataList",
                                  "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                                  "items": [_metadata_only(o) for o in objects]})
        _, converted = self.store.stored(info)
        items = objects if converted is None else [converted.from_storage(o) for o in objects]
        body = {"kind": info.list_kind, "apiVersion": info.group_version, "metadata": meta,
                "items": items}
        return Response(200, encode_yaml(body), "application/yaml")

    async def _watch(self, request: Request, info: ResourceInfo, namespace: str,
                     wanted: Wanted) -> Streaming:
        selection = Filter.from_query(self.store.strategies.of(info), request.query)
        validate_watch_query(request.query)
        if request.query.get("resourceVersion", "") == "" or \
                _flag(request.query, "sendInitialEvents"):
            # A watch that starts with a consistent snapshot fails before its 200 when
            # storage cannot vouch for one.
            await self.store.cache.wait_fresh()
        strategy = self.store.strategies.of(info)
        custom = strategy if isinstance(strategy, CustomResourceStrategy) else None

        async def convert(objects: list[CachedObject]) -> list[CachedObject]:
            return await self.store.cached_as_version(info, objects)

        chunks = watch_stream(info, namespace, request.query, selection, self.store.cache,
                              self._renderer(info, wanted, request.query),
                              convert if custom else None, custom.removed if custom else None)
        return Streaming(chunks)

    # -- writes ------------------------------------------------------------------------

    async def _decode_object(self, request: Request, info: ResourceInfo,
                             headers: list[tuple[str, str]]) -> dict[str, Any]:
        obj = decode_body(await request.body(), request.header("content-type"))
        if not isinstance(obj, dict):
            raise errors.bad_request(
                f"Object '{info.kind}' is invalid: the body must be a JSON object")
        self._check_type(info, obj)
        self._check_fields(info, obj, request.query, headers)
        return obj

    @staticmethod
    def _check_type(info: ResourceInfo, obj: dict[str, Any]) -> None:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version and api_version != info.group_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({info.group_version})")
        if kind and kind != info.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
        obj["apiVersion"] = info.group_version
        obj["kind"] = info.kind

    def _check_fields(self, info: ResourceInfo, obj: dict[str, Any], query: dict[str, str],
                      headers: list[tuple[str, str]], patch: Any = None) -> None:
        """fieldValidation: Strict rejects unknown fields, Warn reports them, Ignore drops
        them. Wrongly typed fields are a decode error whatever the mode. A custom resource's
        unknown fields are those its schema prunes (the strategy drops them).

        `patch`: the merge or strategic merge patch that made `obj` from the stored object.
        Every value of `obj` is then the stored object's (which holds no unknown or wrongly
        typed field) or the patch's at the same path, so a patch found clean spares walking
        the whole object (a pod status patch is a third of the pod); otherwise (unknown
        fields, a directive such as `$patch`) the whole object is checked as before."""
        definition = schema.definition_for_kind(info.group, info.version, info.kind)
        custom = self.store.strategies.get(info.group, info.plural)
        if definition is None and not isinstance(custom, CustomResourceStrategy):
            return
        mode = query.get("fieldValidation", "Warn") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(
                f'fieldValidation parameter unsupported: "{mode}": must be one of '
                '"Ignore", "Warn" or "Strict"')
        type_errors: list[errors.FieldError] = []
        if definition is None:
            assert isinstance(custom, CustomResourceStrategy)
            unknown = custom.unknown_fields(obj)
        elif isinstance(patch, dict) and check_schema(patch, definition) == ([], []):
            return
        else:
            unknown, type_errors = check_schema(obj, definition)
        if type_errors:
            raise errors.bad_request(
                f"{info.kind} in version \"{info.version}\" cannot be handled as a "
                f"{info.kind}: {type_errors[0].detail}")
        if not unknown:
            return
        if mode == "Strict":
            listed = ", ".join(f'unknown field "{u.lstrip(".")}"' for u in unknown)
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                f"strict decoding error: {listed}")
        if mode == "Warn":
            headers.extend(("warning", warning_header(f'unknown field "{u.lstrip(".")}"'))
                           for u in unknown)
        if definition is not None:
            drop_unknown_fields(obj, schema.definitions()[definition])

    async def _create(self, request: Request, info: ResourceInfo, namespace: str,
                      wanted: Wanted) -> Response:
        headers: list[tuple[str, str]] = []
        obj = await self._decode_object(request, info, headers)
        created = await self.store.create(info, namespace, obj, dry_run=_dry_run(request.query),
                                          manager=_manager(request))
        response = self._render_one(info, created, wanted, request.query, 201)
        response.headers += headers
        return response

    async def _update(self, request: Request, info: ResourceInfo, path: ResourcePath,
                      wanted: Wanted) -> Response:
        headers: list[tuple[str, str]] = []
        obj = await self._decode_object(request, info, headers)
        updated = await self.store.update(info, path.namespace, path.name, obj,
                                          dry_run=_dry_run(request.query),
                                          manager=_manager(request))
        response = self._render_one(info, updated, wanted, request.query)
        response.headers += headers
        return response

    async def _patch(self, request: Request, info: ResourceInfo, path: ResourcePath,
                     wanted: Wanted, subresource: str = "") -> Response:
        if patches.is_apply(request.header("content-type")):
            return await self._apply(request, info, path, wanted, subresource)
        kind = patches.patch_type(request.header("content-type"))
        document = decode_body(await request.body(), request.header("content-type"))
        headers: list[tuple[str, str]] = []

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            headers.clear()  # the warnings of the last try (a write may be tried again)
            patched = patches.apply_patch(info, kind, current, document)
            self._check_type(info, patched)
            self._check_fields(info, patched, request.query, headers, document if kind in (
                patches.MERGE_PATCH, patches.STRATEGIC_PATCH) else None)
            return patched

        updated = await self.store.modify(info, path.namespace, path.name, mutate,
                                          subresource=subresource,
                                          dry_run=_dry_run(request.query),
                                          manager=_manager(request))
        response = self._render_one(info, updated, wanted, request.query)
        response.headers += headers
        return response

    async def _apply(self, request: Request, info: ResourceInfo, path: ResourcePath,
                     wanted: Wanted, subresource: str) -> Response:
        """Server-side apply: merge the applied configuration by field ownership; an
        absent object is created."""
        manager = request.query.get("fieldManager", "")
        if not manager:
            raise errors.invalid("meta.k8s.io", "PatchOptions", "", [errors.FieldError.required(
                "fieldManager", "is required for apply patch")])
        force = _flag(request.query, "force")
        dry_run = _dry_run(request.query)
        headers: list[tuple[str, str]] = []
        applied = decode_body(await request.body(), request.header("content-type"))
        if not isinstance(applied, dict):
            raise errors.bad_request("the applied configuration must be an object")
        self._check_fields(info, applied, request.query, headers)
        meta = applied.get("metadata") or {}
        if meta.get("name") and meta["name"] != path.name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({path.name})")

        def merge(live: dict[str, Any] | None) -> dict[str, Any]:
            return server_side_apply(live, applied, manager=manager, force=force,
                                     schema=kind_schema(info), api_version=info.group_version,
                                     now=now_rfc3339(), subresource=subresource)

        try:
            updated = await self.store.modify(info, path.namespace, path.name, merge,
                                              subresource=subresource, dry_run=dry_run,
                                              manager=manager, tracked=False)
            status = 200
        except errors.StatusError as err:
            if err.code != 404 or subresource:
                raise
            fresh = merge(None)
            fresh.setdefault("metadata", {})["name"] = path.name
            updated = await self.store.create(info, path.namespace, fresh, dry_run=dry_run,
                                              manager=manager, tracked=False)
            status = 201
        response = self._render_one(info, updated, wanted, request.query, status)
        response.headers += headers
        return response

    async def _delete_options(self, request: Request) -> tuple[DeleteOptions, bool | None]:
        """The DeleteOptions, and the deprecated `orphanDependents` as the client set it
        (None when unset): upstream's handler answers 202 on it."""
        query = request.query
        body_bytes = await request.body() if request.header("content-length") not in ("", "0") \
            else b""
        body: dict[str, Any] = {}
        if body_bytes.strip():
            decoded = decode_body(body_bytes, request.header("content-type") or
                                  "application/json")
            if not isinstance(decoded, dict):
                raise errors.bad_request("DeleteOptions must be a JSON object")
            body = decoded
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        policy = check_propagation_policy(policy)
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        preconditions = body.get("preconditions") or {}
        dry_run = body.get("dryRun") == ["All"] or _dry_run(query)
        return (DeleteOptions(policy, parse_grace_period(grace), preconditions.get("uid"),
                              preconditions.get("resourceVersion"), dry_run),
                None if orphan is None else str(orphan).lower() == "true")

    async def _delete(self, request: Request, info: ResourceInfo, path: ResourcePath,
                      wanted: Wanted) -> Response:
        """As upstream's generic store and delete handler: an object still held (graceful
        deletion, finalizers) comes back as it now is; a removed one comes back itself for
        kinds with `ReturnDeletedObject`, else as a Success `Status`. The code is 202 only
        when the object is still held and the client set `orphanDependents: false`."""
        options, orphan = await self._delete_options(request)
        obj, gone = await self.store.delete(info, path.namespace, path.name, options)
        code = 202 if not gone and orphan is False else 200
        if gone and not self.store.strategies.of(info).returns_deleted_object:
            return json_response(errors.deleted_status(
                info.group, info.plural, path.name, obj["metadata"].get("uid", "")), code)
        return self._render_one(info, obj, wanted, request.query, code)

    async def _delete_collection(self, request: Request, info: ResourceInfo, namespace: str,
                                 wanted: Wanted) -> Response:
        """Deletes each listed object; answers the list as it was before (upstream's
        store `DeleteCollection`), with 200."""
        if "deletecollection" not in info.verbs:
            raise errors.method_not_allowed(
                "the server does not allow this method on the requested resource")
        options, _ = await self._delete_options(request)
        selection = Filter.from_query(self.store.strategies.of(info), request.query)
        query = {k: v for k, v in request.query.items() if k not in ("limit", "continue")}
        page = await list_page(info, namespace, query, selection, self.store.cache,
                               self.store.storage)
        page = dataclasses.replace(
            page, items=await self.store.cached_as_version(info, page.items))
        for item in page.items:
            meta = item.obj["metadata"]
            try:
                await self.store.delete(info, meta.get("namespace", ""), meta["name"], options)
            except errors.StatusError as err:
                if err.code != 404:
                    raise
        return Response(200, list_body(info, page, self._raw(info)))

    # -- subresources ------------------------------------------------------------------

    async def _subresource(self, request: Request, info: ResourceInfo, path: ResourcePath
                           ) -> Result:
        sub = info.subresource(path.subresource)
        if sub is None:
            raise errors.StatusError(404, "NotFound",
                                     "the server could not find the requested resource")
        wanted = negotiate(request.header("accept"))
        pods = (info.group, info.plural) == ("", "pods")
        if sub.name == "status" or (sub.name == "ephemeralcontainers" and pods):
            # pods/ephemeralcontainers is served as /status is: the Pod, read or written
            # through its own strategy (apiserver/ephemeralcontainers.py).
            return await self._status(request, info, path, wanted, sub.name)
        if sub.name == "scale":
            return await self._scale(request, info, path)
        if sub.name == "finalize":
            return await self._finalize(request, info, path, wanted)
        if sub.name in ("log", *STREAMING) and pods:
            return await self.pods.handle(request, path)
        if sub.name == "binding" and pods:
            return await create_binding(self.store, request, info, path.namespace, path.name,
                                        _dry_run(request.query))
        if sub.name == "eviction" and pods:
            return await self.eviction.handle(request, path.namespace, path.name)
        raise errors.method_not_allowed(
            f"{info.plural}/{sub.name} is not served by this API server yet")

    async def _finalize(self, request: Request, info: ResourceInfo, path: ResourcePath,
                        wanted: Wanted) -> Response:
        """PUT namespaces/<name>/finalize: only spec.finalizers changes (upstream's
        finalizeNamespaceStrategy); a namespace being deleted with no finalizer left is
        deleted by the store's update."""
        if request.method != "PUT":
            raise errors.method_not_allowed("the server does not allow this method on finalize")
        headers: list[tuple[str, str]] = []
        obj = await self._decode_object(request, info, headers)
        finalizers = (obj.get("spec") or {}).get("finalizers") or []
        if not isinstance(finalizers, list) or \
                not all(isinstance(f, str) and f for f in finalizers):
            raise errors.invalid(info.group, info.kind, path.name, [errors.FieldError.invalid(
                "spec.finalizers", finalizers, "must be a list of finalizer names")])
        wanted_rv = (obj.get("metadata") or {}).get("resourceVersion")

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.stale_conflict(info.group, info.plural, path.name)
            spec = current.setdefault("spec", {})
            if finalizers:
                spec["finalizers"] = list(finalizers)
            else:
                spec.pop("finalizers", None)
            return current

        updated = await self.store.modify(info, path.namespace, path.name, mutate,
                                          subresource="finalize",
                                          dry_run=_dry_run(request.query),
                                          manager=_manager(request))
        response = self._render_one(info, updated, wanted, request.query)
        response.headers += headers
        return response

    async def _status(self, request: Request, info: ResourceInfo, path: ResourcePath,
                      wanted: Wanted, subresource: str = "status") -> Response:
        if request.method == "GET":
            found = await self.store.get(info, path.namespace, path.name)
            return self._render_one(info, found.obj, wanted, request.query)
        if request.method == "PUT":
            headers: list[tuple[str, str]] = []
            obj = await self._decode_object(request, info, headers)
            updated = await self.store.update(info, path.namespace, path.name, obj,
                                              subresource=subresource,
                                              dry_run=_dry_run(request.query),
                                              manager=_manager(request))
            return self._render_one(info, updated, wanted, request.query)
        if request.method == "PATCH":
            return await self._patch(request, info, path, wanted, subresource=subresource)
        raise errors.method_not_allowed(f"the server does not allow this method on {subresource}")

    async def _scale(self, request: Request, info: ResourceInfo, path: ResourcePath
                     ) -> Response:
        if request.method == "GET":
            found = await self.store.get(info, path.namespace, path.name)
            return json_response(_scale_of(found.obj))
        if request.method not in ("PUT", "PATCH"):
            raise errors.method_not_allowed("the server does not allow this method on scale")
        document = decode_body(await request.body(), request.header("content-type"))
        kind = patches.patch_type(request.header("content-type")) \
            if request.method == "PATCH" else ""
        scale_info = self.registry.get("autoscaling", "v1", "scale") or _SCALE_INFO

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            scale = _scale_of(current)
            if kind:
                wanted_scale = patches.apply_patch(scale_info, kind, scale, document)
            else:
                if not isinstance(document, dict):
                    raise errors.bad_request("the body must be a Scale object")
                wanted_scale = document
                rv = (document.get("metadata") or {}).get("resourceVersion")
                if rv and rv != current["metadata"]["resourceVersion"]:
                    raise errors.stale_conflict(info.group, info.plural, path.name)
            replicas = (wanted_scale.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("autoscaling", "Scale", path.name, [
                    errors.FieldError.invalid("spec.replicas", replicas,
                                              "must be greater than or equal to 0")])
            updated = copy.deepcopy(current)
            updated.setdefault("spec", {})["replicas"] = replicas
            return updated

        updated = await self.store.modify(info, path.namespace, path.name, mutate,
                                          subresource="scale", dry_run=_dry_run(request.query),
                                          manager=_manager(request))
        return json_response(_scale_of(updated))


_SCALE_INFO = ResourceInfo("autoscaling", "v1", "Scale", "scale", "scale", True)


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    spec = obj.get("spec", {})
    status = obj.get("status", {})
    selector = spec.get("selector") or {}
    if obj.get("kind") == "ReplicationController":
        # A plain map of labels, as upstream's labels.SelectorFromSet prints it (sorted).
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    else:
        selector_text = str(label_selector_from_dict(selector))
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_text},
    }


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
