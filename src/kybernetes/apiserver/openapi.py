"""The OpenAPI documents served at `/openapi/v2` and `/openapi/v3`, built from the registry.

Pure functions (the caller serves the results). Paths, parameters and extensions follow
upstream's generated spec closely enough for kubectl: the `--validate=strict` query-param
verifier looks for `fieldValidation` on every PATCH operation tagged with the kind's
`x-kubernetes-group-version-kind`; `kubectl explain` finds the kind through the operations
of the collection path and then the component schema carrying the same GVK; client-side
apply reads `x-kubernetes-patch-*` from the v3 component schemas once the PATCH operation
accepts `application/strategic-merge-patch+json`. Schemas come from `kybernetes.api.schema`;
kinds without an upstream definition (custom resources) get their CRD's schema (or an open
object schema); in v2 that schema is first made digestible for kubectl's client-side
validation as apiextensions does (`_structural_v2`). The v2 document is also served as
gnostic protobuf, which is what kubectl asks for (`openapi_proto`).

Results are cached on the registry's content and shared between callers: treat them as
read-only.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from kybernetes.api.registry import Registry, ResourceInfo, Subresource
from kybernetes.api.schema import (
    KUBERNETES_SCHEMA_RELEASE,
    REF_PREFIX,
    Schema,
    definition_for_kind,
    definitions,
)
from kybernetes.apiserver import openapi_proto

V3_REF_PREFIX = "#/components/schemas/"

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = _META + "Status"
DELETE_OPTIONS = _META + "DeleteOptions"
WATCH_EVENT = _META + "WatchEvent"
PATCH = _META + "Patch"
API_RESOURCE_LIST = _META + "APIResourceList"
API_GROUP = _META + "APIGroup"
API_GROUP_LIST = _META + "APIGroupList"
API_VERSIONS = _META + "APIVersions"
OBJECT_META = _META + "ObjectMeta"
LIST_META = _META + "ListMeta"
VERSION_INFO = "io.k8s.apimachinery.pkg.version.Info"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

PATCH_CONTENT_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_BUILTIN_PRODUCES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_CUSTOM_PRODUCES = ("application/json", "application/yaml")
_WATCH_SUFFIX = ";stream=watch"
_CODES = {"200": "OK", "201": "Created", "202": "Accepted"}
_SECURITY = {"BearerToken": {"description": "Bearer Token authentication", "in": "header",
                             "name": "authorization", "type": "apiKey"}}
_INT_OR_STRING_V3: Schema = {
    "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON "
                   "or YAML marshalling and unmarshalling, it produces or consumes the inner "
                   "type.  This allows you to have, for example, a JSON field that can accept a "
                   "name or number.",
    "format": "int-or-string",
    "oneOf": [{"type": "integer"}, {"type": "string"}],
}
_QUANTITY_V3: Schema = {"oneOf": [{"type": "string"}, {"type": "number"}]}


# --- parameters -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Param:
    name: str
    type: str
    description: str
    location: str = "query"


_API_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_RV_DOCS = "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions"

_Q: dict[str, _Param] = {p.name: p for p in (
    _Param("pretty", "string", "If 'true', then the output is pretty printed. Defaults to "
           "'false' unless the user-agent indicates a browser or command-line HTTP tool (curl "
           "and wget)."),
    _Param("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with "
           "type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and "
           "bookmarks are sent at the server's discretion. Clients should not assume bookmarks "
           "are returned at any specific interval, nor may they assume the server will send any "
           "BOOKMARK event during a session. If this is not a watch, this field is ignored."),
    _Param("continue", "string", "The continue option should be set when retrieving more "
           "results from the server. Since this value is server defined, clients may only use "
           "the continue value from a previous query result with identical query parameters "
           "(except for the value of continue) and the server may reject a continue value it "
           "does not recognize. If the specified continue value is no longer valid whether due "
           "to expiration (generally five to fifteen minutes) or a configuration change on the "
           "server, the server will respond with a 410 ResourceExpired error together with a "
           "continue token.\n\nThis field is not supported when watch is true. Clients may "
           "start a watch from the last resourceVersion value returned by the server and not "
           "miss any modifications."),
    _Param("fieldSelector", "string", "A selector to restrict the list of returned objects by "
           "their fields. Defaults to everything."),
    _Param("labelSelector", "string", "A selector to restrict the list of returned objects by "
           "their labels. Defaults to everything."),
    _Param("limit", "integer", "limit is a maximum number of responses to return for a list "
           "call. If more items exist, the server will set the `continue` field on the list "
           "metadata to a value that can be used with the same initial query to retrieve the "
           "next set of results. Setting a limit may return fewer than the requested amount of "
           "items (up to zero items) in the event all requested objects are filtered out and "
           "clients should only use the presence of the continue field to determine whether "
           "more results are available. This field is not supported if watch is true."),
    _Param("resourceVersion", "string", "resourceVersion sets a constraint on what resource "
           f"versions a request may be served from. See {_RV_DOCS} for details.\n\n"
           "Defaults to unset"),
    _Param("resourceVersionMatch", "string", "resourceVersionMatch determines how "
           "resourceVersion is applied to list calls. It is highly recommended that "
           "resourceVersionMatch be set for list calls where resourceVersion is set See "
           f"{_RV_DOCS} for details.\n\nDefaults to unset"),
    _Param("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with "
           "`watch=true`. In that case, the watch stream will begin with synthetic events to "
           "produce the current state of objects in the collection. Once all such events have "
           "been sent, a synthetic \"Bookmark\" event  will be sent. The bookmark will report "
           "the ResourceVersion (RV) corresponding to the set of objects, and be marked with "
           "`\"k8s.io/initial-events-end\": \"true\"` annotation. Afterwards, the watch stream "
           "will proceed as usual, sending watch events corresponding to changes (subsequent "
           "to the RV) to objects watched.\n\nWhen `sendInitialEvents` option is set, we "
           "require `resourceVersionMatch` option to also be set."),
    _Param("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the "
           "duration of the call, regardless of any activity or inactivity."),
    _Param("watch", "boolean", "Watch for changes to the described resources and return them "
           "as a stream of add, update, and remove notifications. Specify resourceVersion."),
    _Param("dryRun", "string", "When present, indicates that modifications should not be "
           "persisted. An invalid or unrecognized dryRun directive will result in an error "
           "response and no further processing of the request. Valid values are: - All: all "
           "dry run stages will be processed"),
    _Param("fieldManager", "string", "fieldManager is a name associated with the actor or "
           "entity that is making these changes. The value must be less than or 128 characters "
           "long, and only contain printable characters, as defined by "
           "https://golang.org/pkg/unicode/#IsPrint."),
    _Param("fieldValidation", "string", "fieldValidation instructs the server on how to handle "
           "objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. "
           "Valid values are: - Ignore: This will ignore any unknown fields that are silently "
           "dropped from the object, and will ignore all but the last duplicate field that the "
           "decoder encounters. This is the default behavior prior to v1.23. - Warn: This will "
           "send a warning via the standard warning response header for each unknown field "
           "that is dropped from the object, and for each duplicate field that is encountered. "
           "The request will still succeed if there are no other errors, and will only persist "
           "the last of any duplicate fields. This is the default in v1.23+ - Strict: This will "
           "fail the request with a BadRequest error if any unknown fields would be dropped "
           "from the object, or if any duplicate fields are present. The error returned from "
           "the server will contain all unknown and duplicate fields encountered."),
    _Param("force", "boolean", "Force is going to \"force\" Apply requests. It means user will "
           "re-acquire conflicting fields owned by other people. Force flag must be unset for "
           "non-apply patch requests."),
    _Param("gracePeriodSeconds", "integer", "The duration in seconds before the object should "
           "be deleted. Value must be non-negative integer. The value zero indicates delete "
           "immediately. If this value is nil, the default grace period for the specified type "
           "will be used. Defaults to a per object value if not specified. zero means delete "
           "immediately."),
    _Param("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it "
           "will trigger an unsafe deletion of the resource in case the normal deletion flow "
           "fails with a corrupt object error. A resource is considered corrupt if it can not "
           "be retrieved from the underlying storage successfully because of a) its data can "
           "not be transformed e.g. decryption failure, or b) it fails to decode into an "
           "object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition "
           "checks, and removes the object from the storage. WARNING: This may potentially "
           "break the cluster if the workload associated with the resource being unsafe-deleted "
           "relies on normal deletion flow. Use only if you REALLY know what you are doing. The "
           "default value is false, and the user must opt in to enable it"),
    _Param("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this "
           "field will be deprecated in 1.7. Should the dependent objects be orphaned. If "
           "true/false, the \"orphan\" finalizer will be added to/removed from the object's "
           "finalizers list. Either this field or PropagationPolicy may be set, but not both."),
    _Param("propagationPolicy", "string", "Whether and how garbage collection will be "
           "performed. Either this field or OrphanDependents may be set, but not both. The "
           "default policy is decided by the existing finalizer set in the metadata.finalizers "
           "and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan "
           "the dependents; 'Background' - allow the garbage collector to delete the dependents "
           "in the background; 'Foreground' - a cascading policy that deletes all dependents in "
           "the foreground."),
)}
_PATCH_FIELD_MANAGER = _Param("fieldManager", "string", _Q["fieldManager"].description + " This "
                              "field is required for apply requests (application/apply-patch) "
                              "but optional for non-apply patch types (JsonPatch, MergePatch, "
                              "StrategicMergePatch).")
_NAMESPACE = _Param("namespace", "string", "object name and auth scope, such as for teams and "
                    "projects", "path")
_PROXY_PATH = _Param("path", "string", "path to the resource", "path")


def _q(*names: str) -> tuple[_Param, ...]:
    return tuple(_Q[n] for n in names)


_LIST = _q("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
           "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
           "watch")
_WRITE = _q("dryRun", "fieldManager", "fieldValidation")
_PATCH_PARAMS = (_Q["dryRun"], _PATCH_FIELD_MANAGER, _Q["fieldValidation"], _Q["force"])
_DELETE = _q("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
             "orphanDependents", "propagationPolicy")
_DELETE_COLLECTION = _q("continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                        "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector",
                        "limit", "orphanDependents", "propagationPolicy", "resourceVersion",
                        "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds")

# Query parameters of the streaming and connect subresources (upstream's *Options kinds).
_SUB_PARAMS: dict[str, tuple[_Param, ...]] = {
    "log": (
        _Param("container", "string", "The container for which to stream logs. Defaults to "
               "only container if there is one container in the pod."),
        _Param("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
        _Param("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend "
               "indicates that the apiserver should not confirm the validity of the serving "
               "certificate of the backend it is connecting to."),
        _Param("limitBytes", "integer", "If set, the number of bytes to read from the server "
               "before terminating the log output. This may not display a complete final line "
               "of logging, and may return slightly more or slightly less than the specified "
               "limit."),
        _Param("previous", "boolean", "Return previous terminated container logs. Defaults to "
               "false."),
        _Param("sinceSeconds", "integer", "A relative time in seconds before the current time "
               "from which to show logs. If this value precedes the time a pod was started, "
               "only logs since the pod start will be returned. If this value is in the future, "
               "no logs will be returned. Only one of sinceSeconds or sinceTime may be "
               "specified."),
        _Param("stream", "string", "Specify which container log stream to return to the "
               "client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not "
               "specified, \"All\" is used, and both stdout and stderr are returned "
               "interleaved. Note that when \"TailLines\" is specified, \"Stream\" can only be "
               "set to nil or \"All\"."),
        _Param("tailLines", "integer", "If set, the number of lines from the end of the logs to "
               "show. If not specified, logs are shown from the creation of the container or "
               "sinceSeconds or sinceTime. Note that when \"TailLines\" is specified, "
               "\"Stream\" can only be set to nil or \"All\"."),
        _Param("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at "
               "the beginning of every line of log output. Defaults to false."),
    ),
    "exec": (
        _Param("command", "string", "Command is the remote command to execute. argv array. Not "
               "executed within a shell."),
        _Param("container", "string", "Container in which to execute the command. Defaults to "
               "only container if there is only one container in the pod."),
        _Param("stderr", "boolean", "Redirect the standard error stream of the pod for this "
               "call."),
        _Param("stdin", "boolean", "Redirect the standard input stream of the pod for this "
               "call. Defaults to false."),
        _Param("stdout", "boolean", "Redirect the standard output stream of the pod for this "
               "call."),
        _Param("tty", "boolean", "TTY if true indicates that a tty will be allocated for the "
               "exec call. Defaults to false."),
    ),
    "attach": (
        _Param("container", "string", "The container in which to execute the command. "
               "Defaults to only container if there is only one container in the pod."),
        _Param("stderr", "boolean", "Stderr if true indicates that stderr is to be redirected "
               "for the attach call. Defaults to true."),
        _Param("stdin", "boolean", "Stdin if true, redirects the standard input stream of the "
               "pod for this call. Defaults to false."),
        _Param("stdout", "boolean", "Stdout if true indicates that stdout is to be redirected "
               "for the attach call. Defaults to true."),
        _Param("tty", "boolean", "TTY if true indicates that a tty will be allocated for the "
               "attach call. This is passed through the container runtime so the tty is "
               "allocated on the worker node by the container runtime. Defaults to false."),
    ),
    "portforward": (
        _Param("ports", "integer", "List of ports to forward Required when using WebSockets"),
    ),
    "proxy": (
        _Param("path", "string", "Path is the URL path to use for the current proxy request."),
    ),
}


# --- the neutral operation model, rendered as v2 or v3 ----------------------------------

@dataclass(frozen=True)
class _Op:
    method: str
    op_id: str
    description: str
    tag: str
    response: str | None  # definition name; None: a plain string
    produces: tuple[str, ...]
    codes: tuple[str, ...] = ("200",)
    params: tuple[_Param, ...] = ()
    consumes: tuple[str, ...] = ()  # empty: no request body
    body: str | None = None
    body_required: bool = True
    action: str | None = None
    gvk: tuple[str, str, str] | None = None


@dataclass
class _PathItem:
    params: tuple[_Param, ...]
    ops: list[_Op]


_Paths = dict[str, _PathItem]


def _valid_id(text: str, capitalize: bool) -> str:
    """Upstream's ToValidOperationID: drop separators, capitalising the letter after one."""
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch.isalpha() or ch == "_" or (i != 0 and ch.isdigit()):
            out.append(ch.upper() if capitalize else ch)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def _group_id(group: str) -> str:
    return group.removesuffix(".k8s.io") if group else "core"


def _tag(group: str, version: str) -> str:
    return f"{_valid_id(_group_id(group), False)}_{_valid_id(version, False)}"


def _op_prefix(group: str, version: str) -> str:
    return _valid_id(_group_id(group), True) + _valid_id(version, True)


def api_prefix(group: str, version: str) -> str:
    """`/api/v1` or `/apis/<group>/<version>`."""
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _gv_path_key(group: str, version: str) -> str:
    return api_prefix(group, version).lstrip("/")


def _is_builtin(info: ResourceInfo) -> bool:
    return definition_for_kind(info.group, info.version, info.kind) is not None


def _custom_name(group: str, version: str, kind: str) -> str:
    """Upstream's definition name for a custom resource: reversed group, version, kind."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _kind_definition(group: str, version: str, kind: str) -> str:
    return definition_for_kind(group, version, kind) or _custom_name(group, version, kind)


_V2_JUNCTORS = ("allOf", "oneOf", "anyOf", "not")


def _structural_v2(node: Schema) -> Schema:
    """A CRD's structural schema in the form kubectl's v2 validation copes with, as
    apiextensions' `ToStructuralOpenAPIV2`: no junctors, no `nullable` (a nullable node is
    untyped and its properties dropped from `required`), no properties or items under
    `x-kubernetes-preserve-unknown-fields`, and no `type` where kubectl would then insist
    on one (an array without items, a preserved object)."""
    out = {key: value for key, value in node.items() if key not in _V2_JUNCTORS}
    if out.pop("nullable", False):
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("items", None)
        out.pop("properties", None)
    if (out.get("type") == "array" and "items" not in out) or (
            out.get("type") == "object" and out.get("x-kubernetes-preserve-unknown-fields")):
        del out["type"]
    properties: dict[str, Any] = out.get("properties") or {}
    nullable = {name for name, prop in properties.items() if prop.get("nullable")}
    additional = out.get("additionalProperties")
    if isinstance(additional, dict) and additional.get("nullable"):
        out.pop("required", None)
    elif nullable and "required" in out:
        out["required"] = [name for name in out["required"] if name not in nullable]
        if not out["required"]:
            del out["required"]
    if properties:
        out["properties"] = {name: _structural_v2(prop) for name, prop in properties.items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _structural_v2(out[key])
    return out


def _custom_definitions(resources: Iterable[ResourceInfo], v2: bool = False
                        ) -> dict[str, Schema]:
    """Open object schemas for kinds without an upstream definition (custom resources);
    `v2` gives them in the form upstream publishes in `/openapi/v2` (`buildKubeNative`)."""
    api_version = definitions()[STATUS]["properties"]["apiVersion"]
    kind_prop = definitions()[STATUS]["properties"]["kind"]
    out: dict[str, Schema] = {}
    for info in resources:
        if _is_builtin(info):
            continue
        name = _custom_name(info.group, info.version, info.kind)
        standard = {
            "apiVersion": dict(api_version),
            "kind": dict(kind_prop),
            "metadata": {"$ref": REF_PREFIX + OBJECT_META,
                         "description": "Standard object's metadata. More info: "
                                        f"{_API_CONVENTIONS}#metadata"},
        }
        # A CRD's schema, with upstream's standard apiVersion, kind and metadata; a
        # resource without one preserves whatever it is given.
        given: Schema = orjson.loads(info.openapi_schema) if info.openapi_schema else {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True}
        gvk = [{"group": info.group, "kind": info.kind, "version": info.version}]
        if v2 and given.get("x-kubernetes-preserve-unknown-fields"):
            # Properties would make kubectl refuse every field beyond them.
            out[name] = {"type": "object", "x-kubernetes-group-version-kind": gvk}
        else:
            if v2:
                given = _structural_v2(given)
            out[name] = {
                **given,
                "type": "object",
                "properties": {**(given.get("properties") or {}), **standard},
                "x-kubernetes-group-version-kind": gvk,
            }
        out[_custom_name(info.group, info.version, info.list_kind)] = {
            "description": f"{info.list_kind} is a list of {info.kind}",
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": dict(api_version),
                "items": {"description": f"List of {info.plural}. More info: "
                                         f"{_API_CONVENTIONS}",
                          "type": "array", "items": {"$ref": REF_PREFIX + name}},
                "kind": dict(kind_prop),
                "metadata": {"$ref": REF_PREFIX + LIST_META,
                             "description": "Standard list metadata. More info: "
                                            f"{_API_CONVENTIONS}#types-kinds"},
            },
            "x-kubernetes-group-version-kind": [
                {"group": info.group, "kind": info.list_kind, "version": info.version}],
        }
    return out


def _resource_paths(info: ResourceInfo) -> _Paths:
    """Every path of one resource: collection, item, watch and subresources."""
    builtin = _is_builtin(info)
    produces = _BUILTIN_PRODUCES if builtin else _CUSTOM_PRODUCES
    list_produces = produces + tuple(p + _WATCH_SUFFIX for p in produces if "yaml" not in p)
    patch_types = PATCH_CONTENT_TYPES if builtin else tuple(
        t for t in PATCH_CONTENT_TYPES if "strategic" not in t)
    g, v, kind = info.group, info.version, info.kind
    gvk = (g, v, kind)
    tag = _tag(g, v)
    gv = _op_prefix(g, v)
    ns = "Namespaced" if info.namespaced else ""
    obj = _kind_definition(g, v, kind)
    lst = _kind_definition(g, v, info.list_kind)
    prefix = api_prefix(g, v)
    base = f"{prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced \
        else f"{prefix}/{info.plural}"
    scope = (_NAMESPACE,) if info.namespaced else ()
    pretty = (_Q["pretty"],)
    verbs = set(info.verbs)

    def name_param(of: str) -> tuple[_Param, ...]:
        return (_Param("name", "string", f"name of the {of}", "path"),)

    paths: _Paths = {}
    collection: list[_Op] = []
    if "list" in verbs:
        collection.append(_Op("get", f"list{gv}{ns}{kind}", f"list or watch objects of kind {kind}",
                              tag, lst, list_produces, params=_LIST, action="list", gvk=gvk))
    if "create" in verbs:
        collection.append(_Op("post", f"create{gv}{ns}{kind}", f"create a {kind}", tag, obj,
                              produces, ("200", "201", "202"), _WRITE, ("*/*",), obj,
                              action="post", gvk=gvk))
    if "deletecollection" in verbs:
        collection.append(_Op("delete", f"delete{gv}Collection{ns}{kind}",
                              f"delete collection of {kind}", tag, STATUS, produces,
                              params=_DELETE_COLLECTION, consumes=("*/*",), body=DELETE_OPTIONS,
                              body_required=False, action="deletecollection", gvk=gvk))
    if collection:
        paths[base] = _PathItem(scope + pretty, collection)

    item: list[_Op] = []
    if "get" in verbs:
        item.append(_Op("get", f"read{gv}{ns}{kind}", f"read the specified {kind}", tag, obj,
                        produces, action="get", gvk=gvk))
    if "update" in verbs:
        item.append(_Op("put", f"replace{gv}{ns}{kind}", f"replace the specified {kind}", tag,
                        obj, produces, ("200", "201"), _WRITE, ("*/*",), obj, action="put",
                        gvk=gvk))
    if "patch" in verbs:
        item.append(_Op("patch", f"patch{gv}{ns}{kind}", f"partially update the specified {kind}",
                        tag, obj, produces, ("200", "201"), _PATCH_PARAMS, patch_types, PATCH,
                        action="patch", gvk=gvk))
    if "delete" in verbs:
        item.append(_Op("delete", f"delete{gv}{ns}{kind}", f"delete a {kind}", tag, STATUS,
                        produces, ("200", "202"), _DELETE, ("*/*",), DELETE_OPTIONS,
                        body_required=False, action="delete", gvk=gvk))
    if item:
        paths[f"{base}/{{name}}"] = _PathItem(name_param(kind) + scope + pretty, item)

    if info.namespaced and "list" in verbs:
        paths[f"{prefix}/{info.plural}"] = _PathItem(_LIST + pretty, [_Op(
            "get", f"list{gv}{kind}ForAllNamespaces", f"list or watch objects of kind {kind}",
            tag, lst, list_produces, action="list", gvk=gvk)])
    if "watch" in verbs:
        watch_produces = list_produces
        watch_base = f"{prefix}/watch/namespaces/{{namespace}}/{info.plural}" if info.namespaced \
            else f"{prefix}/watch/{info.plural}"
        paths[watch_base] = _PathItem(_LIST + scope + pretty, [_Op(
            "get", f"watch{gv}{ns}{kind}List",
            f"watch individual changes to a list of {kind}. deprecated: use the 'watch' "
            "parameter with a list operation instead.",
            tag, WATCH_EVENT, watch_produces, action="watchlist", gvk=gvk)])
        paths[f"{watch_base}/{{name}}"] = _PathItem(name_param(kind) + _LIST + scope + pretty, [_Op(
            "get", f"watch{gv}{ns}{kind}",
            f"watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter "
            "with a list operation instead, filtered to a single item with the 'fieldSelector' "
            "parameter.",
            tag, WATCH_EVENT, watch_produces, action="watch", gvk=gvk)])
        if info.namespaced:
            paths[f"{prefix}/watch/{info.plural}"] = _PathItem(_LIST + pretty, [_Op(
                "get", f"watch{gv}{kind}ListForAllNamespaces",
                f"watch individual changes to a list of {kind}. deprecated: use the 'watch' "
                "parameter with a list operation instead.",
                tag, WATCH_EVENT, watch_produces, action="watchlist", gvk=gvk)])

    for sub in info.subresources:
        paths.update(_subresource_paths(info, sub, f"{base}/{{name}}", scope, produces,
                                        patch_types))
    return paths


_CONNECT_METHODS = {"get": "get", "create": "post", "update": "put", "patch": "patch",
                    "delete": "delete"}


def _subresource_paths(info: ResourceInfo, sub: Subresource, item_path: str,
                       scope: tuple[_Param, ...], produces: tuple[str, ...],
                       patch_types: tuple[str, ...]) -> _Paths:
    sg, sv = (sub.group, sub.version) if sub.version else (info.group, info.version)
    gvk = (sg, sv, sub.kind)
    g, v, kind = info.group, info.version, info.kind
    tag = _tag(g, v)
    gv = _op_prefix(g, v)
    ns = "Namespaced" if info.namespaced else ""
    suffix = _valid_id(sub.name, True)
    path = f"{item_path}/{sub.name}"
    name = (_Param("name", "string", f"name of the {sub.kind}", "path"),)
    verbs = set(sub.verbs)

    if sub.kind.endswith("Options"):  # exec, attach, portforward, proxy: connect operations
        methods = [_CONNECT_METHODS[vb] for vb in sub.verbs if vb in _CONNECT_METHODS]
        if sub.name == "proxy":
            methods += ["head", "options"]
        extra = _SUB_PARAMS.get(sub.name, ())

        def connect(with_path: bool) -> list[_Op]:
            return [_Op(m, f"connect{gv}{m.capitalize()}{ns}{kind}{suffix}"
                           f"{'WithPath' if with_path else ''}",
                        f"connect {m.upper()} requests to {sub.name} of {kind}", tag, None,
                        ("*/*",),
                        action="connect", gvk=gvk)
                    for m in sorted(set(methods))]

        out = {path: _PathItem(name + scope + extra, connect(False))}
        if sub.name == "proxy":
            out[f"{path}/{{path}}"] = _PathItem(name + scope + (_PROXY_PATH,) + extra,
                                                connect(True))
        return out

    if sub.name == "log":
        return {path: _PathItem(name + scope + _SUB_PARAMS["log"] + (_Q["pretty"],), [_Op(
            "get", f"read{gv}{ns}{kind}{suffix}", f"read {sub.name} of the specified {kind}", tag,
            None, ("text/plain", *produces), action="get", gvk=gvk)])}

    obj = _kind_definition(sg, sv, sub.kind)
    ops: list[_Op] = []
    if "get" in verbs:
        ops.append(_Op("get", f"read{gv}{ns}{kind}{suffix}",
                       f"read {sub.name} of the specified {kind}", tag, obj, produces,
                       action="get", gvk=gvk))
    if "create" in verbs:
        ops.append(_Op("post", f"create{gv}{ns}{kind}{suffix}", f"create {sub.name} of a {kind}",
                       tag, obj, produces, ("200", "201", "202"), _WRITE, ("*/*",), obj,
                       action="post", gvk=gvk))
    if "update" in verbs:
        ops.append(_Op("put", f"replace{gv}{ns}{kind}{suffix}",
                       f"replace {sub.name} of the specified {kind}", tag, obj, produces,
                       ("200", "201"), _WRITE, ("*/*",), obj, action="put", gvk=gvk))
    if "patch" in verbs:
        ops.append(_Op("patch", f"patch{gv}{ns}{kind}{suffix}",
                       f"partially update {sub.name} of the specified {kind}", tag, obj,
                       produces, ("200", "201"), _PATCH_PARAMS, patch_types, PATCH,
                       action="patch", gvk=gvk))
    return {path: _PathItem(name + scope + (_Q["pretty"],), ops)} if ops else {}


def _gv_paths(group: str, version: str, resources: Iterable[ResourceInfo]) -> _Paths:
    tag = _tag(group, version)
    paths: _Paths = {f"{api_prefix(group, version)}/": _PathItem((), [_Op(
        "get", f"get{_op_prefix(group, version)}APIResources", "get available resources", tag,
        API_RESOURCE_LIST, _BUILTIN_PRODUCES)])}
    for info in resources:
        paths.update(_resource_paths(info))
    return paths


def _api_paths() -> _Paths:
    return {"/api/": _PathItem((), [_Op("get", "getCoreAPIVersions", "get available API versions",
                                        "core", API_VERSIONS, _BUILTIN_PRODUCES)])}


def _apis_paths() -> _Paths:
    return {"/apis/": _PathItem((), [_Op("get", "getAPIVersions", "get available API versions",
                                         "apis", API_GROUP_LIST, _BUILTIN_PRODUCES)])}


def _group_paths(group: str) -> _Paths:
    return {f"/apis/{group}/": _PathItem((), [_Op(
        "get", f"get{_valid_id(_group_id(group), True)}APIGroup", "get information of a group",
        _valid_id(_group_id(group), False), API_GROUP, _BUILTIN_PRODUCES)])}


def _version_paths() -> _Paths:
    return {"/version/": _PathItem((), [_Op(
        "get", "getCodeVersion", "get the version information for this server", "version",
        VERSION_INFO, ("application/json",))])}


# --- rendering ---------------------------------------------------------------------------

def _sorted_params(params: Iterable[_Param]) -> list[_Param]:
    return sorted(params, key=lambda p: (p.name, p.location))


def _v3_param(p: _Param) -> dict[str, Any]:
    out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name}
    if p.location == "path":
        out["required"] = True
    out["schema"] = {"type": p.type, "uniqueItems": True}
    return out


def _v3_schema_ref(name: str | None) -> Schema:
    return {"$ref": V3_REF_PREFIX + name} if name else {"type": "string"}


def _v3_op(op: _Op) -> dict[str, Any]:
    out: dict[str, Any] = {"description": op.description, "operationId": op.op_id}
    if op.params:
        out["parameters"] = [_v3_param(p) for p in _sorted_params(op.params)]
    if op.consumes:
        body: dict[str, Any] = {"content": {
            ct: {"schema": _v3_schema_ref(op.body)} for ct in sorted(op.consumes)}}
        if op.body_required:
            body["required"] = True
        out["requestBody"] = body
    responses: dict[str, Any] = {code: {
        "content": {ct: {"schema": _v3_schema_ref(op.response)} for ct in sorted(op.produces)},
        "description": _CODES[code]} for code in op.codes}
    responses["401"] = {"description": "Unauthorized"}
    out["responses"] = responses
    out["tags"] = [op.tag]
    _add_extensions(out, op)
    return out


def _add_extensions(out: dict[str, Any], op: _Op) -> None:
    if op.action:
        out["x-kubernetes-action"] = op.action
    if op.gvk:
        group, version, kind = op.gvk
        out["x-kubernetes-group-version-kind"] = {"group": group, "kind": kind,
                                                  "version": version}


def _v2_param(p: _Param) -> dict[str, Any]:
    out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name,
                           "type": p.type, "uniqueItems": True}
    if p.location == "path":
        out["required"] = True
    return out


def _v2_op(op: _Op) -> dict[str, Any]:
    out: dict[str, Any] = {
        "consumes": list(op.consumes) or ["*/*"],
        "description": op.description,
        "operationId": op.op_id,
    }
    params = [_v2_param(p) for p in _sorted_params(op.params)]
    if op.consumes:
        body: dict[str, Any] = {"in": "body", "name": "body",
                                "schema": {"$ref": REF_PREFIX + op.body} if op.body
                                else {"type": "string"}}
        if op.body_required:
            body["required"] = True
        params.insert(0, body)
    if params:
        out["parameters"] = params
    out["produces"] = list(op.produces)
    schema = {"$ref": REF_PREFIX + op.response} if op.response else {"type": "string"}
    responses: dict[str, Any] = {code: {"description": _CODES[code], "schema": schema}
                                 for code in op.codes}
    responses["401"] = {"description": "Unauthorized"}
    out["responses"] = responses
    out["schemes"] = ["https"]
    out["tags"] = [op.tag]
    _add_extensions(out, op)
    return out


def _render_paths(paths: _Paths, render_op: Callable[[_Op], dict[str, Any]],
                  render_param: Callable[[_Param], dict[str, Any]]) -> dict[str, Any]:
    """Each path's operations by method, and its shared parameters, rendered by the
    version's `render_op` and `render_param`."""
    out: dict[str, Any] = {}
    for path in sorted(paths):
        item = paths[path]
        rendered: dict[str, Any] = {op.method: render_op(op) for op in item.ops}
        if item.params:
            rendered["parameters"] = [render_param(p) for p in _sorted_params(item.params)]
        out[path] = dict(sorted(rendered.items()))
    return out


# --- schemas -----------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("not", "additionalProperties", "additionalItems")


def _v3_convert(node: Schema) -> Schema:
    """One schema from v2 form to upstream's v3 form (refs, int-or-string, ref siblings)."""
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = V3_REF_PREFIX + value.removeprefix(REF_PREFIX)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _v3_convert(sub) if isinstance(sub, dict) else sub
                        for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_v3_convert(sub) for sub in value]
        elif key == "items" and isinstance(value, dict | list):
            out[key] = _v3_convert(value) if isinstance(value, dict) \
                else [_v3_convert(sub) for sub in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = _v3_convert(value)
        else:
            out[key] = copy.deepcopy(value)
    if out.get("format") == "int-or-string":
        # An inline int-or-string (custom resource schemas): v3 spells it out.
        del out["format"]
        out.pop("type", None)
        out["x-kubernetes-int-or-string"] = True
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


@functools.cache
def _v3_builtin_schema(name: str) -> Schema:
    if name == INT_OR_STRING:
        return copy.deepcopy(_INT_OR_STRING_V3)
    if name == QUANTITY:
        return copy.deepcopy(_QUANTITY_V3)
    return _v3_convert(definitions()[name])


def _refs(node: Any, prefix: str, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(prefix):
                found.add(value.removeprefix(prefix))
            else:
                _refs(value, prefix, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, prefix, found)


def _closure(roots: set[str], local: dict[str, Schema]) -> set[str]:
    """All definitions reachable from `roots` (names), following refs transitively."""
    builtin = definitions()
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = local.get(name) or builtin.get(name)
        if body is None:
            continue
        found: set[str] = set()
        _refs(body, REF_PREFIX, found)
        todo.extend(found - seen)
    return seen


# --- documents ---------------------------------------------------------------------------

def _v3_document_from(paths: _Paths, local: dict[str, Schema]) -> dict[str, Any]:
    rendered = _render_paths(paths, _v3_op, _v3_param)
    roots: set[str] = set()
    _refs(rendered, V3_REF_PREFIX, roots)
    schemas: dict[str, Any] = {}
    for name in sorted(_closure(roots, local)):
        if name in local:
            schemas[name] = _v3_convert(local[name])
        elif name in definitions():
            schemas[name] = _v3_builtin_schema(name)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": rendered,
        "components": {"schemas": schemas, "securitySchemes": copy.deepcopy(_SECURITY)},
    }


_ResourcesKey = tuple[ResourceInfo, ...]


def _key(resources: Iterable[ResourceInfo]) -> _ResourcesKey:
    return tuple(sorted(resources, key=lambda r: (r.group, r.version, r.plural)))


def registry_key(registry: Registry) -> _ResourcesKey:
    """The cache key of a registry: its resources, in a stable order."""
    return _key(registry.resources.values())


@functools.lru_cache(maxsize=64)
def _gv_document(group: str, version: str, resources: _ResourcesKey) -> dict[str, Any]:
    return _v3_document_from(_gv_paths(group, version, resources),
                             _custom_definitions(resources))


@functools.cache
def _static_document(path: str) -> dict[str, Any]:
    if path == "api":
        return _v3_document_from(_api_paths(), {})
    if path == "apis":
        return _v3_document_from(_apis_paths(), {})
    if path == "version":
        return _v3_document_from(_version_paths(), {})
    return _v3_document_from(_group_paths(path.removeprefix("apis/")), {})


def _split_path(path: str) -> tuple[str, str, str] | None:
    """A `/openapi/v3/<path>` suffix as (kind, group, version); kind one of gv/group/static."""
    parts = path.strip("/").split("/")
    if parts in (["api"], ["apis"], ["version"]):
        return "static", "", ""
    if len(parts) == 2 and parts[0] == "api" and parts[1]:
        return "gv", "", parts[1]
    if len(parts) == 2 and parts[0] == "apis" and parts[1]:
        return "group", parts[1], ""
    if len(parts) == 3 and parts[0] == "apis" and parts[1] and parts[2]:
        return "gv", parts[1], parts[2]
    return None


def openapi_v3_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document of one group-version (`/openapi/v3/apis/<g>/<v>`), or None."""
    resources = _key(registry.in_group_version(group, version))
    return _gv_document(group, version, resources) if resources else None


def openapi_v3_path_document(registry: Registry, path: str) -> dict[str, Any] | None:
    """The document for any key of the v3 index (`api/v1`, `apis/apps/v1`, `api`, `apis`,
    `apis/apps`, `version`), or None if there is none."""
    split = _split_path(path)
    if split is None:
        return None
    kind, group, version = split
    if kind == "gv":
        return openapi_v3_document(registry, group, version)
    if kind == "group":
        return _static_document(f"apis/{group}") if group in registry.group_versions() else None
    return _static_document(path.strip("/"))


@functools.lru_cache(maxsize=64)
def _serialise_gv(group: str, version: str, resources: _ResourcesKey) -> tuple[bytes, str]:
    return _serialise(_gv_document(group, version, resources))


@functools.cache
def _serialise_static(path: str) -> tuple[bytes, str]:
    return _serialise(_static_document(path))


def _serialise(doc: dict[str, Any]) -> tuple[bytes, str]:
    body = orjson.dumps(doc)
    return body, hashlib.sha512(body).hexdigest().upper()


def openapi_v3_path_json(registry: Registry, path: str) -> tuple[bytes, str] | None:
    """The serialised document for a v3 index key and its hash (the `hash=` query value and
    ETag, upstream's upper-case hex SHA-512 of the JSON), or None if there is none."""
    split = _split_path(path)
    if split is None:
        return None
    kind, group, version = split
    if kind == "gv":
        resources = _key(registry.in_group_version(group, version))
        return _serialise_gv(group, version, resources) if resources else None
    if kind == "group":
        return _serialise_static(f"apis/{group}") if group in registry.group_versions() else None
    return _serialise_static(path.strip("/"))


def openapi_v3_index(registry: Registry) -> dict[str, Any]:
    """The `/openapi/v3` discovery document: every document's server-relative URL."""
    return _index(registry_key(registry))


@functools.lru_cache(maxsize=16)
def _index(resources: _ResourcesKey) -> dict[str, Any]:
    by_gv: dict[tuple[str, str], list[ResourceInfo]] = {}
    for info in resources:
        by_gv.setdefault((info.group, info.version), []).append(info)
    entries: dict[str, str] = {}
    for path in ("api", "apis", "version"):
        entries[path] = _serialise_static(path)[1]
    for group in {g for g, _ in by_gv if g}:
        entries[f"apis/{group}"] = _serialise_static(f"apis/{group}")[1]
    for (group, version), infos in by_gv.items():
        entries[_gv_path_key(group, version)] = _serialise_gv(group, version, _key(infos))[1]
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={entries[path]}"}
                      for path in sorted(entries)}}


def openapi_v2(registry: Registry) -> dict[str, Any]:
    """The swagger 2.0 document served at `/openapi/v2` (JSON form)."""
    return _v2_document(registry_key(registry))


def openapi_v2_json(registry: Registry) -> bytes:
    """`openapi_v2` serialised once per registry content."""
    return _v2_json(registry_key(registry))


def openapi_v2_protobuf(registry: Registry) -> bytes:
    """`openapi_v2` as gnostic's protobuf `Document`, encoded once per registry content."""
    return _v2_protobuf(registry_key(registry))


@functools.lru_cache(maxsize=4)
def _v2_json(resources: _ResourcesKey) -> bytes:
    return orjson.dumps(_v2_document(resources))


@functools.lru_cache(maxsize=4)
def _v2_protobuf(resources: _ResourcesKey) -> bytes:
    return openapi_proto.encode_document(_v2_document(resources))


@functools.lru_cache(maxsize=4)
def _v2_document(resources: _ResourcesKey) -> dict[str, Any]:
    paths: _Paths = {**_api_paths(), **_apis_paths(), **_version_paths()}
    groups: dict[tuple[str, str], list[ResourceInfo]] = {}
    for info in resources:
        groups.setdefault((info.group, info.version), []).append(info)
    for (group, version), infos in groups.items():
        if group:
            paths.update(_group_paths(group))
        paths.update(_gv_paths(group, version, infos))
    defs: dict[str, Any] = copy.deepcopy(definitions())
    defs.update(_custom_definitions(resources, v2=True))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_SCHEMA_RELEASE},
        "paths": _render_paths(paths, _v2_op, _v2_param),
        "definitions": dict(sorted(defs.items())),
        "securityDefinitions": copy.deepcopy(_SECURITY),
        "security": [{"BearerToken": []}],
    }
