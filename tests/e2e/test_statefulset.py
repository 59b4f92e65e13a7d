"""StatefulSets end to end: a real `kyb server` (API server, scheduler, controller manager
with the StatefulSet controller), simulated nodes (`kyb sim nodes`) that run the pods, and
the real kubectl 1.35: `get sts`, `rollout status|history|undo|restart`, `set image`,
`scale`, `patch`.

- An OrderedReady set of 3 starts its pods in order: each pod appears only once its
  predecessor is Ready, checked on every state the API server went through (a watch).
- A rolling update with a partition replaces only the pods at or above it; lowering the
  partition finishes the update; `rollout undo` goes back to the first template and
  `rollout restart` rolls the pods again.
- volumeClaimTemplates give each pod its claim `<template>-<set>-<ordinal>`; scaling down
  then up keeps the same claims (Retain). The claims' binding is another component's job:
  this set is Parallel and its pods are not required to run.

Waits are bounded polls or kubectl's `rollout status --timeout`; nothing depends on speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.test_rollout import Sampler, ready
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a controller's logic, whatever the storage (conftest.py)

Obj = dict[str, Any]
ROLLOUT_TIMEOUT = "--timeout=90s"
SIM_PREFIX = "sts-"
POOL = "sts"
# Simulated nodes never pull images; should a pod reach a real node, its image names a
# registry on a closed loopback port.
IMAGE_1 = "127.0.0.1:1/nginx:1.0"
IMAGE_2 = "127.0.0.1:1/nginx:2.0"


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[None]:
    """Two simulated nodes, labelled for this module's pods."""
    process = Process(SIM_PREFIX, [
        "sim", "nodes", "--count", "2", "--name-prefix", SIM_PREFIX, "--labels", f"pool={POOL}",
        "--cpu", "32", "--memory", "64Gi", "--kubeconfig", str(server.kubeconfig)],
        tmp_path_factory.mktemp("statefulset-logs") / "nodes.log")
    try:
        def two_ready() -> bool:
            items = kubectl.json("get", "nodes", "-l", f"pool={POOL}")["items"]
            return sum(1 for n in items if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"].get("conditions", []))) >= 2

        wait_until(two_ready, "two ready nodes")
        yield
    finally:
        process.stop()
        if process.popen.returncode not in (0, -15):
            print(process.tail(60))


def stateful_set(name: str, replicas: int, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "nodeSelector": {"pool": POOL},
                         "containers": [{"name": "web", "image": IMAGE_1}]}},
                     **spec}}


def create(kubectl: Kubectl, ns: str, manifest: Obj) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))


def rollout_status(kubectl: Kubectl, ns: str, name: str) -> str:
    return kubectl.run("rollout", "status", f"statefulset/{name}", "-n", ns,
                       ROLLOUT_TIMEOUT, timeout=120).stdout


def pods(kubectl: Kubectl, ns: str) -> dict[str, Obj]:
    return {p["metadata"]["name"]: p for p in kubectl.json("get", "pods", "-n", ns)["items"]}


def images(kubectl: Kubectl, ns: str) -> dict[str, str]:
    return {name: p["spec"]["containers"][0]["image"]
            for name, p in pods(kubectl, ns).items()
            if not p["metadata"].get("deletionTimestamp")}


def pod_states(objects: dict[str, Obj]) -> dict[str, bool]:
    """Each stored pod and whether it is Ready."""
    return {name: ready(pod) for name, pod in objects.items()}


def test_ordered_ready_rolling_update_undo_restart(
        server: Server, kubectl: Kubectl, nodes: None, ns: str) -> None:
    with Sampler(server, f"/api/v1/namespaces/{ns}/pods", pod_states) as sampler:
        create(kubectl, ns, stateful_set("web", 3))
        out = rollout_status(kubectl, ns, "web")
        # kubectl's message whenever spec.updateStrategy.rollingUpdate.partition is set,
        # as it is by default.
        assert out.splitlines()[-1] == \
            "partitioned roll out complete: 3 new pods have been updated...", out
    states = sampler.result()

    # Order: each pod appears only once every lower ordinal is Ready.
    first_seen: list[str] = []
    for state in states:
        for name in state:
            if name not in first_seen:
                first_seen.append(name)
                ordinal = int(name.rsplit("-", 1)[1])
                assert all(state.get(f"web-{k}") for k in range(ordinal)), (name, state)
    assert first_seen == ["web-0", "web-1", "web-2"]
    current = pods(kubectl, ns)
    assert current["web-1"]["spec"]["hostname"] == "web-1"
    assert current["web-1"]["spec"]["subdomain"] == "web"
    assert current["web-1"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    table = kubectl("get", "sts", "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"]
    assert table[1].split()[:2] == ["web", "3/3"]

    # A partitioned update: only web-2 gets the new image.
    kubectl("patch", "sts", "web", "-n", ns, "-p",
            '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}')
    kubectl("set", "image", "sts/web", "-n", ns, f"web={IMAGE_2}")
    out = rollout_status(kubectl, ns, "web")
    assert "partitioned roll out complete: 1 new pods have been updated..." in out, out
    assert images(kubectl, ns) == {"web-0": IMAGE_1, "web-1": IMAGE_1, "web-2": IMAGE_2}

    kubectl("patch", "sts", "web", "-n", ns, "-p",
            '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
    out = rollout_status(kubectl, ns, "web")
    assert out.splitlines()[-1] == \
        "partitioned roll out complete: 3 new pods have been updated...", out
    wait_until(lambda: set(images(kubectl, ns).values()) == {IMAGE_2}
               and len(images(kubectl, ns)) == 3, "the second image everywhere")

    history = kubectl("rollout", "history", "sts/web", "-n", ns)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        ["1", "2"], history

    kubectl("rollout", "undo", "sts/web", "-n", ns)
    rollout_status(kubectl, ns, "web")
    wait_until(lambda: set(images(kubectl, ns).values()) == {IMAGE_1}
               and len(images(kubectl, ns)) == 3, "the first image back")
    history = kubectl("rollout", "history", "sts/web", "-n", ns)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        ["2", "3"], history

    before = {name: p["metadata"]["uid"] for name, p in pods(kubectl, ns).items()}
    kubectl("rollout", "restart", "sts/web", "-n", ns)
    rollout_status(kubectl, ns, "web")
    after = wait_until(lambda: (lambda now: now if len(now) == 3 and all(
        ready(p) for p in now.values()) else None)(pods(kubectl, ns)), "three ready pods")
    assert all(after[name]["metadata"]["uid"] != uid for name, uid in before.items())
    status = kubectl.json("get", "sts", "web", "-n", ns)["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == \
        (3, 3, 3)


def test_claims_per_pod_survive_scale_down_and_up(
        kubectl: Kubectl, nodes: None, ns: str) -> None:
    create(kubectl, ns, stateful_set("db", 3, podManagementPolicy="Parallel",
                                     volumeClaimTemplates=[{
                                         "metadata": {"name": "data"},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {
                                                      "storage": "1Gi"}}}}]))

    def claims() -> dict[str, str]:
        return {c["metadata"]["name"]: c["metadata"]["uid"]
                for c in kubectl.json("get", "pvc", "-n", ns)["items"]}

    names = ["data-db-0", "data-db-1", "data-db-2"]
    created = wait_until(lambda: (lambda c: c if sorted(c) == names else None)(claims()),
                         "three claims")
    wait_until(lambda: sorted(pods(kubectl, ns)) == ["db-0", "db-1", "db-2"], "three pods")
    volumes = pods(kubectl, ns)["db-1"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in volumes

    kubectl("scale", "sts", "db", "-n", ns, "--replicas=1")
    wait_until(lambda: sorted(pods(kubectl, ns)) == ["db-0"], "one pod")
    assert claims() == created
    kubectl("scale", "sts", "db", "-n", ns, "--replicas=3")
    wait_until(lambda: sorted(pods(kubectl, ns)) == ["db-0", "db-1", "db-2"],
               "three pods again")
    assert claims() == created
