"""What a request to the kubelet API asks: upstream's `NodeAuthorizerAttributesGetter`
(`pkg/kubelet/server/auth.go`), for the webhook authorizer the kubelet delegates to
(`authorization.mode: Webhook`, client/delegatedauth.py).

A request is a resource request on this node's `nodes` object: the verb is the HTTP
method's (GET get, POST create, PUT update, PATCH patch, DELETE delete; a WebSocket
upgrade is a GET, so `get`, as upstream 1.35 still maps it); the subresource is `stats`,
`metrics`, `log`, `spec` or `checkpoint` for those paths and `proxy` for everything else
(containerLogs, exec, attach, portForward, run, pods).
"""

from __future__ import annotations

from kybernetes.client.delegatedauth import Attributes, User

VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch",
         "DELETE": "delete"}
# Path prefixes with a subresource of their own (upstream's statsPath, metricsPath,
# logsPath, specPath, checkpointPath); any other path is `proxy`.
SUBRESOURCES = (("/stats/", "stats"), ("/metrics", "metrics"), ("/logs/", "log"),
                ("/spec/", "spec"), ("/checkpoint/", "checkpoint"))


def is_subpath(subpath: str, path: str) -> bool:
    path = path.removesuffix("/")
    return subpath == path or (subpath.startswith(path) and subpath[len(path):][:1] == "/")


def request_attributes(user: User, method: str, path: str, node_name: str) -> Attributes:
    subresource = next((sub for prefix, sub in SUBRESOURCES if is_subpath(path, prefix)),
                       "proxy")
    return Attributes(user, VERBS.get(method, ""), path, resource="nodes",
                      subresource=subresource, name=node_name, version="v1")


def describe(attrs: Attributes) -> str:
    """The request as the kubelet's refusals name it."""
    return (f"user={attrs.user.name}, verb={attrs.verb}, resource={attrs.resource}, "
            f"subresource={attrs.subresource}")
