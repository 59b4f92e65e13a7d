"""The eviction subresource (`pods/<name>/eviction`) and the DefaultTolerationSeconds
admission, against a real API server in this process (SQLite in a temporary directory,
its ASGI app behind httpx). PDB statuses are written by the tests, standing in for the
disruption controller."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.api.test_protobuf import PB, encode_object
from tests.apiserver.inprocess import controller_apiserver, controller_http, ok

from kybernetes.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds

__all__ = ["controller_apiserver", "controller_http"]  # the fixtures apiserver, http

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
PDBS = f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets"


async def running_pod(http: httpx.AsyncClient, name: str, *, ready: bool = True,
                      labels: dict[str, str] | None = None,
                      phase: str = "Running") -> dict[str, Any]:
    pod = ok(await http.post(PODS, json={
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "pause"}]}}))
    pod["status"] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    return ok(await http.put(f"{PODS}/{name}/status", json=pod))


async def pdb(http: httpx.AsyncClient, name: str, *, allowed: int, current: int = 3,
              desired: int = 2, observed: bool = True, **spec: Any) -> dict[str, Any]:
    created = ok(await http.post(PDBS, json={
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"minAvailable": desired, "selector": {"matchLabels": {"app": "web"}},
                 **spec}}))
    generation = created["metadata"].get("generation", 1)
    created["status"] = {"disruptionsAllowed": allowed, "currentHealthy": current,
                         "desiredHealthy": desired, "expectedPods": current,
                         "observedGeneration": generation if observed else 0}
    return ok(await http.put(f"{PDBS}/{name}/status", json=created))


async def evict(http: httpx.AsyncClient, name: str, *, version: str = "policy/v1",
                **extra: Any) -> httpx.Response:
    return await http.post(f"{PODS}/{name}/eviction", json={
        "apiVersion": version, "kind": "Eviction", "metadata": {"name": name}, **extra})


async def get_pod(http: httpx.AsyncClient, name: str) -> httpx.Response:
    return await http.get(f"{PODS}/{name}")


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in obj.get("status", {}).get("conditions", [])
                 if c["type"] == type_), None)


async def test_eviction_without_budget_marks_and_deletes_the_pod(
        http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    answer = await evict(http, "p1", deleteOptions={"gracePeriodSeconds": 0})
    assert answer.status_code == 201
    assert answer.json()["status"] == "Success"
    assert (await get_pod(http, "p1")).status_code == 404


async def test_protobuf_eviction_as_kubectl_may_send_it(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    body = encode_object({"apiVersion": "policy/v1", "kind": "Eviction",
                          "metadata": {"name": "p1", "namespace": NS},
                          "deleteOptions": {"gracePeriodSeconds": 0}})
    answer = await http.post(f"{PODS}/p1/eviction", content=body,
                             headers={"Content-Type": PB})
    assert answer.status_code == 201, answer.text
    assert (await get_pod(http, "p1")).status_code == 404


async def test_eviction_with_grace_leaves_a_terminating_disruption_target(
        http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    assert (await evict(http, "p1")).status_code == 201
    pod = ok(await get_pod(http, "p1"))
    assert pod["metadata"]["deletionTimestamp"]
    target = condition(pod, "DisruptionTarget")
    assert target is not None
    assert (target["status"], target["reason"], target["message"]) == (
        "True", "EvictionByEvictionAPI", "Eviction API: evicting")


async def test_eviction_spends_the_budget(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    await pdb(http, "budget", allowed=1)
    assert (await evict(http, "p1", version="policy/v1beta1")).status_code == 201
    status = ok(await http.get(f"{PDBS}/budget"))["status"]
    assert status["disruptionsAllowed"] == 0
    assert list(status["disruptedPods"]) == ["p1"]
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "InsufficientPods")


async def test_exhausted_budget_answers_429_with_the_cause(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    await pdb(http, "budget", allowed=0, current=2, desired=2)
    answer = await evict(http, "p1")
    assert answer.status_code == 429
    body = answer.json()
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget budget needs 2 healthy pods and has 2 currently"}]
    assert "retry-after" not in answer.headers
    assert "deletionTimestamp" not in ok(await get_pod(http, "p1"))["metadata"]


async def test_unprocessed_budget_asks_to_retry_later(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    await pdb(http, "budget", allowed=1, observed=False)
    answer = await evict(http, "p1")
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "10"
    assert answer.json()["details"]["causes"][0]["message"] == \
        "The disruption budget budget is still being processed by the server."


async def test_several_budgets_are_refused(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    await pdb(http, "one", allowed=1)
    await pdb(http, "two", allowed=1)
    answer = await evict(http, "p1")
    assert answer.status_code == 500
    assert answer.json()["message"] == ("This pod has more than one PodDisruptionBudget, "
                                        "which the eviction subresource does not support.")
    assert (await get_pod(http, "p1")).status_code == 200


async def test_budget_with_other_selector_does_not_apply(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1", labels={"app": "db"})
    await pdb(http, "budget", allowed=0)
    assert (await evict(http, "p1")).status_code == 201


async def test_pending_pod_ignores_the_budget(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1", phase="Pending", ready=False)
    await pdb(http, "budget", allowed=0)
    assert (await evict(http, "p1")).status_code == 201


@pytest.mark.parametrize(("policy", "current", "evicted"), [
    ("AlwaysAllow", 1, True),
    ("IfHealthyBudget", 1, False),
    ("IfHealthyBudget", 2, True),
])
async def test_unready_pod_and_unhealthy_pod_eviction_policy(
        http: httpx.AsyncClient, policy: str, current: int, evicted: bool) -> None:
    await running_pod(http, "p1", ready=False)
    await pdb(http, "budget", allowed=0, current=current, desired=2,
              unhealthyPodEvictionPolicy=policy)
    answer = await evict(http, "p1")
    assert answer.status_code == (201 if evicted else 429)
    # An unready pod never spends the budget.
    assert ok(await http.get(f"{PDBS}/budget"))["status"].get("disruptedPods") is None


async def test_dry_run_writes_nothing(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    await pdb(http, "budget", allowed=1)
    answer = await evict(http, "p1", deleteOptions={"dryRun": ["All"]})
    assert answer.status_code == 201
    assert ok(await http.get(f"{PDBS}/budget"))["status"]["disruptionsAllowed"] == 1
    assert condition(ok(await get_pod(http, "p1")), "DisruptionTarget") is None


async def test_uid_precondition_is_honoured(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    answer = await evict(http, "p1", deleteOptions={"preconditions": {"uid": "other"}})
    assert answer.status_code == 409
    assert (await get_pod(http, "p1")).status_code == 200


async def test_malformed_evictions(http: httpx.AsyncClient) -> None:
    await running_pod(http, "p1")
    wrong_name = await http.post(f"{PODS}/p1/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p2"}})
    assert wrong_name.status_code == 400
    assert wrong_name.json()["message"] == "name in URL does not match name in Eviction object"
    missing = await evict(http, "nope")
    assert missing.status_code == 404


async def test_default_toleration_seconds(http: httpx.AsyncClient) -> None:
    pod = ok(await http.post(PODS, json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}}))
    assert pod["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
           "effect": "NoExecute", "tolerationSeconds": 5}
    pod = ok(await http.post(PODS, json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p2"},
        "spec": {"tolerations": [own], "containers": [{"name": "c", "image": "pause"}]}}))
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [
        "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"]
    assert pod["spec"]["tolerations"][0]["tolerationSeconds"] == 5


def test_default_toleration_seconds_are_configurable() -> None:
    pod: dict[str, Any] = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    DefaultTolerationSeconds(not_ready_seconds=5).add_tolerations(pod)
    # A toleration of every taint covers both: nothing is added.
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    pod = {"spec": {}}
    DefaultTolerationSeconds(not_ready_seconds=5, unreachable_seconds=7).add_tolerations(pod)
    assert [t["tolerationSeconds"] for t in pod["spec"]["tolerations"]] == [5, 7]
