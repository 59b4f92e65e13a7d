"""The Gateway API's core (gateway.networking.k8s.io/v1: GatewayClass, Gateway, HTTPRoute)
as CustomResourceDefinitions the server installs while the nodes run the ingress (k3s
ships Traefik's; the definitions here are kybernetes' own, with the fields, defaults,
short names and printer columns of the Gateway API's standard channel for what the
controller implements), and the GatewayClass `nginx` of the ingress controller
(`ingress/gateway.py`), created when missing and otherwise left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.localstorage import write

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]
GROUP = "gateway.networking.k8s.io"
CLASS_NAME = "nginx"
CONTROLLER = "kybernetes.io/gateway-nginx"
CRD_GROUP = "apiextensions.k8s.io"
_NAME = {"type": "string", "minLength": 1, "maxLength": 253}
_SECTION = {"type": "string", "minLength": 1, "maxLength": 253}
_PORT = {"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535}
_HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 253,
             "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _obj(properties: dict[str, Any], *, required: tuple[str, ...] = (),
         **extra: Any) -> Obj:
    schema: Obj = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _list(items: Obj, *, max_items: int | None = None, **extra: Any) -> Obj:
    schema: Obj = {"type": "array", "items": items, **extra}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


_CONDITION = _obj({
    "type": {"type": "string", "maxLength": 316}, "status": {"type": "string",
                                                              "enum": ["True", "False",
                                                                       "Unknown"]},
    "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
    "lastTransitionTime": {"type": "string", "format": "date-time"},
    "reason": {"type": "string", "maxLength": 1024}, "message": {"type": "string",
                                                                 "maxLength": 32768}},
    required=("type", "status", "lastTransitionTime", "reason", "message"))
_CONDITIONS = _list(_CONDITION, max_items=8, **{"x-kubernetes-list-type": "map",
                                                 "x-kubernetes-list-map-keys": ["type"]})
_PARENT_REF = _obj({
    "group": {"type": "string", "default": GROUP, "maxLength": 253},
    "kind": {"type": "string", "default": "Gateway", "maxLength": 63},
    "namespace": {"type": "string", "maxLength": 63}, "name": _NAME,
    "sectionName": _SECTION, "port": _PORT}, required=("name",))
_HEADERS = _list(_obj({"name": {"type": "string", "minLength": 1, "maxLength": 256},
                       "value": {"type": "string", "minLength": 1, "maxLength": 4096}},
                      required=("name", "value")), max_items=16)
_HEADER_MODIFIER = _obj({"set": _HEADERS, "add": _HEADERS,
                         "remove": _list({"type": "string"}, max_items=16)})
_PATH_MODIFIER = _obj({
    "type": {"type": "string", "enum": ["ReplaceFullPath", "ReplacePrefixMatch"]},
    "replaceFullPath": {"type": "string", "maxLength": 1024},
    "replacePrefixMatch": {"type": "string", "maxLength": 1024}}, required=("type",))
_FILTER = _obj({
    "type": {"type": "string", "enum": ["RequestHeaderModifier", "ResponseHeaderModifier",
                                        "RequestMirror", "RequestRedirect", "URLRewrite",
                                        "ExtensionRef", "CORS"]},
    "requestHeaderModifier": _HEADER_MODIFIER, "responseHeaderModifier": _HEADER_MODIFIER,
    "requestRedirect": _obj({
        "scheme": {"type": "string", "enum": ["http", "https"]}, "hostname": _HOSTNAME,
        "path": _PATH_MODIFIER, "port": _PORT,
        "statusCode": {"type": "integer", "default": 302, "enum": [301, 302]}}),
    "urlRewrite": _obj({"hostname": _HOSTNAME, "path": _PATH_MODIFIER}),
    "requestMirror": _OPEN, "extensionRef": _OPEN, "cors": _OPEN}, required=("type",))
_MATCH_VALUE = {"type": "string", "minLength": 1, "maxLength": 4096}
_MATCH = _obj({
    "path": _obj({"type": {"type": "string", "default": "PathPrefix",
                           "enum": ["Exact", "PathPrefix", "RegularExpression"]},
                  "value": {"type": "string", "default": "/", "maxLength": 1024}},
                 default={"type": "PathPrefix", "value": "/"}),
    "headers": _list(_obj({"type": {"type": "string", "default": "Exact",
                                    "enum": ["Exact", "RegularExpression"]},
                           "name": {"type": "string", "minLength": 1, "maxLength": 256},
                           "value": _MATCH_VALUE}, required=("name", "value")),
                     max_items=16),
    "queryParams": _list(_obj({"type": {"type": "string", "default": "Exact",
                                        "enum": ["Exact", "RegularExpression"]},
                               "name": {"type": "string", "minLength": 1, "maxLength": 256},
                               "value": {"type": "string", "minLength": 1,
                                         "maxLength": 1024}},
                              required=("name", "value")), max_items=16),
    "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
                                          "OPTIONS", "TRACE", "PATCH"]}})
_BACKEND_REF = _obj({
    "group": {"type": "string", "default": "", "maxLength": 253},
    "kind": {"type": "string", "default": "Service", "maxLength": 63},
    "name": _NAME, "namespace": {"type": "string", "maxLength": 63}, "port": _PORT,
    "weight": {"type": "integer", "format": "int32", "default": 1, "minimum": 0,
               "maximum": 1000000},
    "filters": _list(_FILTER, max_items=16)}, required=("name",))
_RULE = _obj({
    "name": _SECTION,
    "matches": _list(_MATCH, max_items=64,
                     default=[{"path": {"type": "PathPrefix", "value": "/"}}]),
    "filters": _list(_FILTER, max_items=16),
    "backendRefs": _list(_BACKEND_REF, max_items=16),
    "timeouts": _obj({"request": {"type": "string"}, "backendRequest": {"type": "string"}}),
    "retry": _OPEN, "sessionPersistence": _OPEN})
_LISTENER = _obj({
    "name": _SECTION, "hostname": _HOSTNAME, "port": _PORT,
    "protocol": {"type": "string", "minLength": 1, "maxLength": 255},
    "tls": _obj({"mode": {"type": "string", "default": "Terminate",
                          "enum": ["Terminate", "Passthrough"]},
                 "certificateRefs": _list(_obj({
                     "group": {"type": "string", "default": ""},
                     "kind": {"type": "string", "default": "Secret"},
                     "name": _NAME, "namespace": {"type": "string"}}, required=("name",)),
                     max_items=64),
                 "options": {"type": "object", "additionalProperties": {"type": "string"}}}),
    "allowedRoutes": _obj({
        "namespaces": _obj({"from": {"type": "string", "default": "Same",
                                     "enum": ["All", "Selector", "Same"]},
                            "selector": _OPEN}, default={"from": "Same"}),
        "kinds": _list(_obj({"group": {"type": "string"}, "kind": {"type": "string"}},
                            required=("kind",)), max_items=8)},
        default={"namespaces": {"from": "Same"}})},
    required=("name", "port", "protocol"))
_ADDRESS = _obj({"type": {"type": "string", "default": "IPAddress"},
                 "value": {"type": "string", "minLength": 1, "maxLength": 253}},
                required=("value",))


def _crd(kind: str, plural: str, *, namespaced: bool, spec: Obj, status: Obj,
         columns: list[Obj], short: tuple[str, ...] = ()) -> Obj:
    names: Obj = {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                  "singular": kind.lower(), "categories": ["gateway-api"]}
    if short:
        names["shortNames"] = list(short)
    return {
        "apiVersion": f"{CRD_GROUP}/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "annotations": {
            "gateway.networking.k8s.io/bundle-version": "v1.3.0",
            "gateway.networking.k8s.io/channel": "standard"}},
        "spec": {"group": GROUP, "names": names,
                 "scope": "Namespaced" if namespaced else "Cluster",
                 "versions": [{
                     "name": "v1", "served": True, "storage": True,
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [
                         *columns, {"name": "Age", "type": "date",
                                    "jsonPath": ".metadata.creationTimestamp"}],
                     "schema": {"openAPIV3Schema": _obj({
                         "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                         "metadata": {"type": "object"}, "spec": spec, "status": status},
                         required=("spec",))}}]}}


def crds() -> list[Obj]:
    return [
        _crd("GatewayClass", "gatewayclasses", namespaced=False, short=("gc",),
             spec=_obj({"controllerName": {"type": "string", "minLength": 1,
                                           "maxLength": 253},
                        "parametersRef": _OPEN,
                        "description": {"type": "string", "maxLength": 64}},
                       required=("controllerName",)),
             status=_obj({"conditions": _CONDITIONS, "supportedFeatures": _list(
                 _obj({"name": {"type": "string"}}, required=("name",)), max_items=64)}),
             columns=[{"name": "Controller", "type": "string",
                       "jsonPath": ".spec.controllerName"},
                      {"name": "Accepted", "type": "string",
                       "jsonPath": '.status.conditions[?(@.type=="Accepted")].status'},
                      {"name": "Description", "type": "string", "priority": 1,
                       "jsonPath": ".spec.description"}]),
        _crd("Gateway", "gateways", namespaced=True, short=("gtw",),
             spec=_obj({"gatewayClassName": {"type": "string", "minLength": 1,
                                             "maxLength": 253},
                        "listeners": _list(_LISTENER, max_items=64, minItems=1, **{
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"]}),
                        "addresses": _list(_ADDRESS, max_items=16),
                        "infrastructure": _OPEN},
                       required=("gatewayClassName", "listeners")),
             status=_obj({"addresses": _list(_ADDRESS, max_items=16),
                          "conditions": _CONDITIONS,
                          "listeners": _list(_obj({
                              "name": _SECTION,
                              "supportedKinds": _list(_obj({
                                  "group": {"type": "string"}, "kind": {"type": "string"}},
                                  required=("kind",))),
                              "attachedRoutes": {"type": "integer", "format": "int32"},
                              "conditions": _CONDITIONS},
                              required=("name", "supportedKinds", "attachedRoutes",
                                        "conditions")), max_items=64)}),
             columns=[{"name": "Class", "type": "string", "jsonPath": ".spec.gatewayClassName"},
                      {"name": "Address", "type": "string",
                       "jsonPath": ".status.addresses[*].value"},
                      {"name": "Programmed", "type": "string",
                       "jsonPath": '.status.conditions[?(@.type=="Programmed")].status'}]),
        _crd("HTTPRoute", "httproutes", namespaced=True,
             spec=_obj({"parentRefs": _list(_PARENT_REF, max_items=32),
                        "hostnames": _list(_HOSTNAME, max_items=16),
                        "rules": _list(_RULE, max_items=16,
                                       default=[{"matches": [{"path": {
                                           "type": "PathPrefix", "value": "/"}}]}])}),
             status=_obj({"parents": _list(_obj({
                 "parentRef": _PARENT_REF,
                 "controllerName": {"type": "string", "minLength": 1, "maxLength": 253},
                 "conditions": _CONDITIONS}, required=("parentRef", "controllerName")),
                 max_items=32)}, required=("parents",)),
             columns=[{"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"}]),
    ]


def gateway_class() -> Obj:
    return {"apiVersion": f"{GROUP}/v1", "kind": "GatewayClass",
            "metadata": {"name": CLASS_NAME},
            "spec": {"controllerName": CONTROLLER,
                     "description": "nginx on every node (kybernetes)"}}


async def bootstrap(server: ApiServer) -> None:
    """The definitions (made what they say here), each served at once, then the class."""
    definitions = server.registry.get(CRD_GROUP, "v1", "customresourcedefinitions")
    assert definitions is not None
    for crd in crds():
        await write(server, CRD_GROUP, "customresourcedefinitions", crd, keep_existing=False)
        stored = (await server.store.get(definitions, "", crd["metadata"]["name"])).obj
        await server.crds.reconcile(stored)
    await write(server, GROUP, "gatewayclasses", gateway_class(), keep_existing=True)
