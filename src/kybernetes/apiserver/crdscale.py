"""The `scale` subresource of a custom resource (upstream's apiextensions-apiserver
registry/customresource scale REST): an autoscaling/v1 Scale read from and written to the
paths its CRD names (`specReplicasPath`, `statusReplicasPath`, `labelSelectorPath`)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import patch as patches
from kybernetes.apiserver.http import Request, Response, json_response
from kybernetes.apiserver.negotiation import decode_body
from kybernetes.apiserver.routing import ResourcePath
from kybernetes.apiserver.store import DEFAULT_MANAGER, ObjectStore

Obj = dict[str, Any]

_SCALE_INFO = ResourceInfo("autoscaling", "v1", "Scale", "scale", "scale", True)


def _steps(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


def _read(obj: Any, path: str) -> Any:
    for step in _steps(path):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(step)
    return obj


def _write(obj: Obj, path: str, value: Any) -> None:
    steps = _steps(path)
    for step in steps[:-1]:
        obj = obj.setdefault(step, {})
    obj[steps[-1]] = value


def scale_of(obj: Obj, spec: Obj) -> Obj:
    meta = obj["metadata"]
    status: Obj = {"replicas": _read(obj, str(spec.get("statusReplicasPath") or "")) or 0}
    if spec.get("labelSelectorPath"):
        selector = _read(obj, str(spec["labelSelectorPath"]))
        if isinstance(selector, str) and selector:
            status["selector"] = selector
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": _read(obj, str(spec.get("specReplicasPath") or "")) or 0},
        "status": status,
    }


def handler(store: ObjectStore, spec: Obj
            ) -> Callable[[Request, ResourceInfo, ResourcePath], Awaitable[Response]]:
    """The scale handler of a resource whose CRD's scale subresource is `spec`."""

    async def handle(request: Request, info: ResourceInfo, path: ResourcePath) -> Response:
        if request.method == "GET":
            found = await store.get(info, path.namespace, path.name)
            return json_response(scale_of(found.obj, spec))
        if request.method not in ("PUT", "PATCH"):
            raise errors.method_not_allowed("the server does not allow this method on scale")
        document = decode_body(await request.body(), request.header("content-type"))
        kind = patches.patch_type(request.header("content-type")) \
            if request.method == "PATCH" else ""

        def mutate(current: Obj) -> Obj:
            scale = scale_of(current, spec)
            wanted = patches.apply_patch(_SCALE_INFO, kind, scale, document) if kind \
                else document
            if not isinstance(wanted, dict):
                raise errors.bad_request("the body must be a Scale object")
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if not kind and rv and rv != current["metadata"]["resourceVersion"]:
                raise errors.stale_conflict(info.group, info.plural, path.name)
            replicas = (wanted.get("spec") or {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("autoscaling", "Scale", path.name, [
                    errors.FieldError.invalid("spec.replicas", replicas,
                                              "must be greater than or equal to 0")])
            updated = copy.deepcopy(current)
            _write(updated, str(spec.get("specReplicasPath") or ".spec.replicas"), replicas)
            return updated

        dry_run = request.query.get("dryRun") == "All"
        agent = request.header("user-agent").split("/", 1)[0][:128]
        manager = request.query.get("fieldManager") or agent or DEFAULT_MANAGER
        updated = await store.modify(info, path.namespace, path.name, mutate,
                                     subresource="scale", dry_run=dry_run, manager=manager)
        return json_response(scale_of(updated, spec))

    return handle
