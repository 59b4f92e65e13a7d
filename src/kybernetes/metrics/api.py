"""The metrics API over HTTPS: `metrics.k8s.io/v1beta1` as upstream metrics-server serves it
(pkg/api: `node.go`, `pod.go`), for the API server to proxy to.

- `GET /apis/metrics.k8s.io/v1beta1`: the APIResourceList (nodes, pods: get, list);
- `GET .../nodes[/{name}]`: NodeMetrics, `labelSelector` on the nodes' labels;
- `GET .../pods`, `.../namespaces/{ns}/pods[/{name}]`: PodMetrics, `labelSelector` on the
  pods' labels, `fieldSelector` on their metadata (name, namespace).

Objects and lists are those of nodes and pods the informers know and the storage has
metrics for; a get of one without metrics is upstream's NotFound (`nodemetrics.metrics.k8s.io
"x" not found`).

Who may ask is decided by the API server before it proxies (the RBAC rules on
`metrics.k8s.io` resources, e.g. `system:aggregated-metrics-reader`). Here a request must
come with a client certificate of the cluster CA (TLS asks for one and checks it) naming
one of the front proxies (`proxy_names`, upstream's `--requestheader-allowed-names`); the
user it acts for is its `X-Remote-User`. Anything else is 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from cryptography import x509
from cryptography.x509.oid import NameOID

from kybernetes.api import errors
from kybernetes.api.selectors import field_set, parse_field_selector, parse_label_selector
from kybernetes.kubelet.tlspeer import client_certificate
from kybernetes.metrics.storage import API_VERSION, MetricsStorage, node_metrics, pod_metrics

Obj = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
GROUP = "metrics.k8s.io"
PREFIX = f"/apis/{API_VERSION}"

RESOURCES: Obj = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]}]}


class MetricsApi:
    """`nodes` and `pods` list the informers' objects."""

    def __init__(self, storage: MetricsStorage, nodes: Callable[[], Iterable[Obj]],
                 pods: Callable[[], Iterable[Obj]], proxy_names: Iterable[str]) -> None:
        self.storage = storage
        self.nodes = nodes
        self.pods = pods
        self.proxy_names = frozenset(proxy_names)

    def _proxied(self, scope: Scope) -> bool:
        der = client_certificate(scope)
        if der is None:
            return False
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)
        if not names or str(names[0].value) not in self.proxy_names:
            return False
        return any(k.lower() == b"x-remote-user" and v for k, v in scope.get("headers") or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            if not self._proxied(scope):
                raise errors.unauthorized()
            if scope["method"] not in ("GET", "HEAD"):
                raise errors.method_not_allowed(
                    "the server does not allow this method on the requested resource")
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            body = self.route(scope["path"], query)
            status = 200
        except errors.StatusError as err:
            body, status = err.status(), err.code
        data = orjson.dumps(body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    def route(self, path: str, query: Mapping[str, list[str]]) -> Obj:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        labels = parse_label_selector((query.get("labelSelector") or [""])[-1])
        fields = parse_field_selector((query.get("fieldSelector") or [""])[-1])
        if parts[:3] != ["apis", GROUP, "v1beta1"]:
            raise errors.StatusError(404, "NotFound", "the server could not find the "
                                                     "requested resource")
        rest = parts[3:]
        if not rest:
            return RESOURCES
        if rest[0] == "nodes" and len(rest) <= 2:
            chosen = [n for n in self.nodes() if labels.matches(
                (n.get("metadata") or {}).get("labels"))]
            return self._answer("nodes", "NodeMetrics", chosen, rest[1] if len(rest) == 2
                                else None, self._node)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if rest[0] == "pods" and len(rest) <= 2:
            chosen = [p for p in self.pods()
                      if (namespace is None or p["metadata"].get("namespace") == namespace)
                      and labels.matches(p["metadata"].get("labels"))
                      and (fields.empty or fields.matches(field_set("pods", p)))]
            return self._answer("pods", "PodMetrics", chosen, rest[1] if len(rest) == 2
                                else None, self._pod)
        raise errors.StatusError(404, "NotFound", "the server could not find the requested "
                                                 "resource")

    def _node(self, node: Obj) -> Obj | None:
        found = self.storage.node_usage(node["metadata"]["name"])
        return None if found is None else node_metrics(node, found)

    def _pod(self, pod: Obj) -> Obj | None:
        meta = pod["metadata"]
        found = self.storage.pod_usage(meta.get("namespace", ""), meta["name"])
        return None if found is None else pod_metrics(pod, found)

    @staticmethod
    def _answer(resource: str, kind: str, objects: list[Obj], name: str | None,
                metrics: Callable[[Obj], Obj | None]) -> Obj:
        if name is not None:
            for obj in objects:
                if obj["metadata"]["name"] == name:
                    found = metrics(obj)
                    if found is not None:
                        return found
            raise errors.not_found(GROUP, resource.removesuffix("s") + "metrics", name)
        items = [m for m in map(metrics, objects) if m is not None]
        items.sort(key=lambda m: (m["metadata"].get("namespace", ""), m["metadata"]["name"]))
        return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {},
                "items": items}
