"""A component of `kyb server` that loses its lease comes back (issue 24): another holder
is written into the Lease of the scheduler and of the controller manager; each notices it
lost, stands for election again, leads once the intruder's short lease lapses, and works
(a pod is bound, a Deployment gets its ReplicaSet). The scheduler is restarted by
`kyb server`'s supervisor, and `/livez` names it while it is down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Server, make_namespace, wait_until

pytestmark = pytest.mark.e2e

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
INTRUDER = "intruder"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(Path(tmp_path_factory.mktemp("leadership")))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _holder(api: httpx.Client, name: str) -> str:
    response = api.get(f"{LEASES}/{name}")
    if response.status_code != 200:
        return ""
    return str(response.json()["spec"].get("holderIdentity") or "")


def _steal(api: httpx.Client, name: str) -> None:
    """Write another holder in, with a 2 s lease that then lapses."""
    lease: dict[str, Any] = wait_until(
        lambda: (r.json() if (r := api.get(f"{LEASES}/{name}")).status_code == 200 and
                 r.json()["spec"].get("holderIdentity") else None), f"a {name} leader")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease["spec"].update(holderIdentity=INTRUDER, leaseDurationSeconds=2, acquireTime=now,
                         renewTime=now)
    response = api.put(f"{LEASES}/{name}", json=lease)
    assert response.status_code == 200, response.text


def _node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def test_the_scheduler_leads_again_after_losing_its_lease(server: Server) -> None:
    with server.client() as api:
        previous = wait_until(lambda: _holder(api, "kube-scheduler"), "a scheduler leader")
        _steal(api, "kube-scheduler")
        back = wait_until(lambda: (h if (h := _holder(api, "kube-scheduler")) not in
                                   ("", INTRUDER, previous) else None),
                          "the scheduler leading again")
        assert back.startswith(previous.split("_")[0])  # the same host, a new term
        wait_until(lambda: api.get("/livez").status_code == 200, "/livez well again")
        assert api.post("/api/v1/nodes", json=_node("spare")).status_code == 201
        ns = make_namespace(api, "leadership")
        wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default")
                   .status_code == 200, "the default service account")
        created = api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert created.status_code == 201, created.text
        wait_until(lambda: api.get(f"/api/v1/namespaces/{ns}/pods/after").json()["spec"]
                   .get("nodeName") == "spare", "the pod bound by the new term")


def test_the_controller_manager_leads_again_after_losing_its_lease(server: Server) -> None:
    with server.client() as api:
        previous = wait_until(lambda: _holder(api, "kube-controller-manager"),
                              "a controller manager leader")
        _steal(api, "kube-controller-manager")
        wait_until(lambda: _holder(api, "kube-controller-manager") not in ("", INTRUDER),
                   "the controller manager leading again")
        assert _holder(api, "kube-controller-manager") == previous  # it re-campaigns itself
        ns = make_namespace(api, "leadership-cm")
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "web"},
                      "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                               "template": {"metadata": {"labels": {"app": "web"}},
                                            "spec": {"containers": [{"name": "c",
                                                                     "image": "busybox"}]}}}}
        response = api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", json=deployment)
        assert response.status_code == 201, response.text
        wait_until(lambda: api.get(f"/apis/apps/v1/namespaces/{ns}/replicasets")
                   .json()["items"], "the deployment's ReplicaSet")
