"""The metrics server `kyb server` runs in its own process, as the API server sees it: the
`v1beta1.metrics.k8s.io` backend of the aggregator, its TLS files, and the RBAC objects
upstream's metrics-server manifests install (k3s' metrics-server add-on).

- `enable` registers the backend at `https://127.0.0.1:<port>` (before the server starts,
  so its APIService is kept with the others); `serving` issues the component's serving
  certificate (`<data-dir>/tls/metrics-server/serving.crt`, for 127.0.0.1).
- `bootstrap` keeps the ClusterRole `system:metrics-server` (nodes/metrics get; nodes and
  pods get, list, watch) bound to the component's user `system:metrics-server`, and
  `system:aggregated-metrics-reader` (metrics.k8s.io pods and nodes, aggregated into
  view, edit and admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.aggregator import PROXY_USER, Aggregator, proxy_context
from kybernetes.apiserver.ensure import ensure
from kybernetes.apiserver.pki import Pki, issue_serving_cert

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
USER = "system:metrics-server"
READER = "system:aggregated-metrics-reader"
ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class MetricsServing:
    cert: Path
    key: Path
    client_ca: Path
    proxy_names: tuple[str, ...]
    address: tuple[str, int]


def enable(server: ApiServer, port: int) -> None:
    data_dir = server.config.data_dir
    if server.app.aggregator is None:
        server.app.aggregator = Aggregator(lambda: proxy_context(data_dir))
    server.app.aggregator.register(GROUP, VERSION, f"https://{ADDRESS}:{port}")


def serving(server: ApiServer, port: int) -> MetricsServing:
    """The component's TLS files (once the server has made its PKI) and address."""
    data_dir = server.config.data_dir
    pki = Pki.at(data_dir)
    cert, key = issue_serving_cert(pki, "metrics-server", data_dir / "tls" / "metrics-server",
                                   hostnames=["localhost"], ips=[ADDRESS])
    return MetricsServing(cert, key, pki.ca_cert, (PROXY_USER,), (ADDRESS, port))


def rbac() -> list[Obj]:
    aggregate = {f"{RBAC}/aggregate-to-{r}": "true" for r in ("admin", "edit", "view")}
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
         "metadata": {"name": READER, "labels": aggregate},
         "rules": [{"apiGroups": [GROUP], "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": USER},
         "rules": [{"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                   {"apiGroups": [""], "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": USER},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": USER},
         "subjects": [{"apiGroup": RBAC, "kind": "User", "name": USER}]},
    ]


async def bootstrap(server: ApiServer) -> None:
    for obj in rbac():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        info = server.registry.get(RBAC, "v1", plural)
        assert info is not None
        await ensure(server, info, obj)
