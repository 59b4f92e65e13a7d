"""The local APIServices: one per group/version the server serves, as kube-aggregator's
autoregister controller keeps them (`v1.` for core, `v1.apps`, ...).

At start the server creates each missing one, puts back the spec of one changed, and
deletes those it made at an earlier start (label `kube-aggregator.kubernetes.io/
automanaged: onstart`) for group/versions it no longer serves. The spec carries upstream's
priorities (cmd/kube-apiserver/app/aggregator.go and pkg/controlplane/apiserver/
aggregator.go's `DefaultGenericAPIServicePriorities`); a group/version without one gets no
APIService (upstream skips those too, CRD groups included). The status is the available
controller's for a local service: Available, reason Local. Groups the server proxies to
a component of its own process (aggregator.py: the metrics server) are kept the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.ensure import ensure
from kybernetes.apiserver.store import DeleteOptions

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
ON_START = "onstart"

# (group, version) -> (groupPriorityMinimum, versionPriority), for the GA versions.
PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("resource.k8s.io", "v1"): (16200, 21),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
    # A proxied group (aggregator.py): upstream metrics-server's APIService's priorities.
    ("metrics.k8s.io", "v1beta1"): (100, 100),
}

AVAILABLE_LOCAL: Obj = {"conditions": [{
    "type": "Available", "status": "True", "reason": "Local",
    "message": "Local APIServices are always available"}]}


def api_service(group: str, version: str) -> Obj | None:
    """Upstream's `makeAPIService`: None for a group/version without a priority."""
    priority = PRIORITIES.get((group, version))
    if priority is None:
        return None
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": f"{version}.{group}", "labels": {AUTOMANAGED: ON_START}},
            "spec": {"group": group, "version": version,
                     "groupPriorityMinimum": priority[0], "versionPriority": priority[1]}}


def desired(server: ApiServer) -> list[Obj]:
    wanted = []
    proxied = server.app.aggregator.group_versions() if server.app.aggregator else {}
    for group, versions in {**server.registry.group_versions(), **proxied}.items():
        if group == "apiregistration.k8s.io":
            continue
        for version in versions:
            service = api_service(group, version)
            if service is not None:
                wanted.append(service)
    return wanted


async def bootstrap(server: ApiServer) -> None:
    info = server.registry.get("apiregistration.k8s.io", "v1", "apiservices")
    assert info is not None
    wanted = desired(server)
    for service in wanted:
        await ensure(server, info, service, AVAILABLE_LOCAL)
    names = {s["metadata"]["name"] for s in wanted}
    for existing in lookup.cached_list(server.store, info, ""):
        name = existing["metadata"]["name"]
        labels = existing["metadata"].get("labels") or {}
        if labels.get(AUTOMANAGED) == ON_START and name not in names:
            await server.store.delete(info, "", name, DeleteOptions())
