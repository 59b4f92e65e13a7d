"""What a request asks to do, in the terms authorizers and audit use (upstream's
`RequestInfoFactory` and `authorizer.Attributes`).

A resource request has a verb (get, list, watch, create, update, patch, delete,
deletecollection), an API group and version, a resource and subresource, a namespace and a
name. Anything else (`/healthz`, `/version`, `/apis`) is a non-resource request whose verb is
the lower-cased HTTP method. As upstream (since 1.31), a WebSocket upgrade to `pods/exec`,
`attach` or `portforward` is a `create`, like the POST it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.routing import ResourcePath, parse_resource_path

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_CREATE_ON_UPGRADE = ("exec", "attach", "portforward")


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    # The request's `fieldSelector` (upstream's GetFieldSelector: the Node authorizer lets
    # a kubelet list only the pods with `spec.nodeName=<its name>`).
    field_selector: str = ""

    @property
    def is_read_only(self) -> bool:
        return self.verb in ("get", "list", "watch")


def request_attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str], *,
                       websocket: bool = False) -> Attributes:
    """The attributes of a request to `path` by `user`."""
    parsed = parse_resource_path(path.rstrip("/") or "/")
    if parsed is None or not parsed.resource:
        return Attributes(user, method.lower(), False, path=path)
    return Attributes(user, _verb(method, parsed, query, websocket), True, path=path,
                      api_group=parsed.group, api_version=parsed.version,
                      namespace=parsed.namespace, resource=parsed.resource,
                      subresource=parsed.subresource, name=parsed.name or _named_by(query),
                      field_selector=query.get("fieldSelector", ""))


def _verb(method: str, parsed: ResourcePath, query: Mapping[str, str], websocket: bool) -> str:
    if websocket and parsed.subresource in _CREATE_ON_UPGRADE:
        return "create"
    if method in ("GET", "HEAD"):
        if parsed.legacy_watch or query.get("watch", "").lower() in ("true", "1"):
            return "watch"
        return "get" if parsed.name else "list"
    if method == "DELETE":
        return "delete" if parsed.name else "deletecollection"
    return _METHOD_VERBS.get(method, method.lower())


def _named_by(query: Mapping[str, str]) -> str:
    """A list or watch narrowed to one name by `fieldSelector=metadata.name=X` is about
    that name, as upstream's RequestInfoFactory says."""
    selector = query.get("fieldSelector", "")
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if key.strip() == "metadata.name" and sep and not value.startswith("="):
            return value.strip()
    return ""
