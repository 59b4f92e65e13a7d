"""`POST /api/v1/namespaces/<ns>/pods/<name>/binding`: assign a pod to a node.

This is upstream's `BindingREST` (`pkg/registry/core/pod/storage/storage.go`): the body is a
v1 `Binding` whose `target` names a Node; the pod's `spec.nodeName` is set, the binding's
annotations are copied onto the pod and the `PodScheduled` condition becomes True, all in
one guarded read-modify-write. The answer is a `Status` of success (201).

Like upstream, the write goes to storage directly rather than through the pod strategy of the
generic store: the pod update strategy forbids changing `spec.nodeName` (only the binding may
do that) and the main endpoint would keep the old status, so `ObjectStore.modify` cannot
express it. The guards are upstream's, in its order: the pod must exist, must not be
terminating, must match the binding's uid/resourceVersion preconditions, must not be bound
already (409 Conflict "pod X is already assigned to node Y") and must have no scheduling
gates. Any other failure of the update is also reported as a Conflict on `pods/binding`,
as upstream's `assignPod` does. managedFields are not touched (upstream's GuaranteedUpdate
does not track them either).
"""

from __future__ import annotations

from typing import Any

import orjson

from kybernetes.api import errors, timeutil
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.http import Request, Response, json_response
from kybernetes.apiserver.negotiation import decode_body
from kybernetes.apiserver.store import ObjectStore
from kybernetes.storage.interface import ConflictError, KeyNotFoundError

_MAX_RETRIES = 8


class _Refused(Exception):
    """The pod cannot be bound; the text becomes the Conflict's reason."""


def validate_binding(binding: dict[str, Any]) -> list[errors.FieldError]:
    """Upstream's `ValidatePodBinding`."""
    failures: list[errors.FieldError] = []
    target = binding.get("target")
    if not isinstance(target, dict):
        target = {}
    kind = target.get("kind") or ""
    if kind and kind != "Node":
        failures.append(errors.FieldError.not_supported("target.kind", kind,
                                                        ["Node", "<empty>"]))
    if not target.get("name"):
        failures.append(errors.FieldError.required("target.name", ""))
    return failures


def set_condition(status: dict[str, Any], condition: dict[str, Any], now: str) -> None:
    """Upstream's `UpdatePodCondition`: replace the condition of that type, keeping its
    lastTransitionTime when the status does not change."""
    conditions = status.setdefault("conditions", [])
    for i, existing in enumerate(conditions):
        if isinstance(existing, dict) and existing.get("type") == condition["type"]:
            merged = dict(condition)
            if existing.get("status") == condition["status"] and \
                    existing.get("lastTransitionTime"):
                merged["lastTransitionTime"] = existing["lastTransitionTime"]
            else:
                merged.setdefault("lastTransitionTime", now)
            merged.setdefault("lastProbeTime", None)
            conditions[i] = merged
            return
    fresh = {"lastProbeTime": None, "lastTransitionTime": now, **condition}
    conditions.append(fresh)


def bind_pod(pod: dict[str, Any], binding: dict[str, Any], now: str) -> dict[str, Any]:
    """The pod bound as the binding says; raises `_Refused` when it may not be."""
    meta = pod.setdefault("metadata", {})
    bmeta = binding.get("metadata") or {}
    name = meta.get("name", "")
    if meta.get("deletionTimestamp"):
        raise _Refused(f"pod {name} is being deleted, cannot be assigned to a host")
    if bmeta.get("uid") and bmeta["uid"] != meta.get("uid"):
        raise _Refused(f"Precondition failed: UID in precondition: {bmeta['uid']}, "
                       f"UID in object meta: {meta.get('uid')}")
    if bmeta.get("resourceVersion") and bmeta["resourceVersion"] != meta.get("resourceVersion"):
        raise _Refused("Precondition failed: ResourceVersion in precondition: "
                       f"{bmeta['resourceVersion']}, ResourceVersion in object meta: "
                       f"{meta.get('resourceVersion')}")
    spec = pod.setdefault("spec", {})
    if spec.get("nodeName"):
        raise _Refused(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    if spec.get("schedulingGates"):
        raise _Refused(f"pod {name} has non-empty .spec.schedulingGates")
    spec["nodeName"] = binding["target"]["name"]
    annotations = bmeta.get("annotations")
    if isinstance(annotations, dict) and annotations:
        meta.setdefault("annotations", {}).update(annotations)
    status = pod.setdefault("status", {})
    set_condition(status, {"type": "PodScheduled", "status": "True"}, now)
    return pod


async def read_posted_object(request: Request, kind: str) -> dict[str, Any]:
    """The body of a POST to a create-only subresource (binding, eviction): any other
    method is a 405, a body that is not an object a 400."""
    if request.method != "POST":
        raise errors.method_not_allowed(
            "the server does not allow this method on the requested resource")
    body = decode_body(await request.body(), request.header("content-type"))
    if not isinstance(body, dict):
        raise errors.bad_request(f"not a {kind} object: {body!r}"[:200])
    return body


async def create_binding(store: ObjectStore, request: Request, info: ResourceInfo,
                         namespace: str, name: str, dry_run: bool) -> Response:
    """Handle one binding POST."""
    binding = await read_posted_object(request, "Binding")
    kind, api_version = binding.get("kind"), binding.get("apiVersion")
    if (kind and kind != "Binding") or (api_version and api_version != "v1"):
        raise errors.bad_request(f"not a Binding object: {kind} {api_version}")
    if (binding.get("metadata") or {}).get("name") != name:
        raise errors.bad_request("name in URL does not match name in Binding object")
    return json_response(await bind(store, info, namespace, name, binding, dry_run), 201)


async def bind(store: ObjectStore, info: ResourceInfo, namespace: str, name: str,
               binding: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """Bind the pod `name` as `binding` says; the success `Status` (also the answer of the
    top-level `bindings` resource, apiserver/componentstatuses.py)."""
    failures = validate_binding(binding)
    if failures:
        raise errors.invalid("", "Binding", name, failures)
    key = info.key(namespace, name)
    # A guarded write: the first try binds the watch cache's pod (the scheduler binds pods
    # it has just seen), anything it runs into is tried again on a fresh read, as
    # upstream's GuaranteedUpdate does with its cached object.
    cached = None if dry_run else store.cache.get(key)
    for _ in range(_MAX_RETRIES):
        if cached is not None:
            value, revision = cached.raw, cached.revision
        else:
            kv = await store.storage.get(key)
            if kv is None:
                raise errors.not_found(info.group, info.plural, name)
            value, revision = kv.value, kv.mod_revision
        pod: dict[str, Any] = orjson.loads(value)
        pod.setdefault("metadata", {})["resourceVersion"] = str(revision)
        try:
            bound = bind_pod(pod, binding, timeutil.now_rfc3339())
        except _Refused as why:
            if cached is not None:
                cached = None
                continue
            raise errors.conflict("", "pods/binding", name, str(why)) from None
        if dry_run:
            break
        bound["metadata"].pop("resourceVersion", None)
        try:
            await store.storage.update(key, orjson.dumps(bound), expected_revision=revision)
        except ConflictError:
            cached = None
            continue
        except KeyNotFoundError:
            raise errors.not_found(info.group, info.plural, name) from None
        break
    else:
        raise errors.conflict("", "pods/binding", name,
                              "the object has been modified; please apply your changes to "
                              "the latest version and try again")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": 201}
