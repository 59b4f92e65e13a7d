"""Deployments end to end: a real `kyb server` (API server, scheduler, controller manager
with the deployment and replica-set controllers), simulated nodes (`kyb sim nodes`) that
run the pods, and the real kubectl 1.35 doing what users do: `create deployment`, `scale`,
`set image`, `rollout status|history|undo|pause|resume|restart`, `delete`.

Each test works in its own namespace. Waits are bounded polls or kubectl's own
`rollout status --timeout`; nothing depends on how fast things are. Any node other than the
simulated ones is cordoned, so the pods run where no image is pulled.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # controllers' logic, whatever the storage (conftest.py)

ROLLOUT_TIMEOUT = "--timeout=90s"
SIM_PREFIX = "dep-"
# The simulated nodes never pull images. Should a pod ever reach a real node, its image
# names a registry on a closed loopback port, so nothing leaves the machine.
IMAGE_1 = "127.0.0.1:1/nginx:1.0"
IMAGE_2 = "127.0.0.1:1/nginx:2.0"


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[None]:
    """Two simulated nodes for the module's pods."""
    process = Process(SIM_PREFIX, [
        "sim", "nodes", "--count", "2", "--name-prefix", SIM_PREFIX, "--cpu", "32",
        "--memory", "64Gi", "--kubeconfig", str(server.kubeconfig)],
        tmp_path_factory.mktemp("deployment-logs") / "nodes.log")
    try:
        def ready() -> bool:
            items = kubectl.json("get", "nodes")["items"]
            return sum(1 for n in items if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"].get("conditions", []))) >= 2

        wait_until(ready, "two ready nodes")
        cordon_other_nodes(kubectl)
        yield
    finally:
        process.stop()
        if process.popen.returncode not in (0, -15):
            print(process.tail(60))


def cordon_other_nodes(kubectl: Kubectl) -> None:
    """Keep the pods on the simulated nodes (a `kyb server` may run a real node too)."""
    for node in kubectl.json("get", "nodes")["items"]:
        name = node["metadata"]["name"]
        if not name.startswith(SIM_PREFIX) and not node["spec"].get("unschedulable"):
            kubectl("cordon", name)


@pytest.fixture(autouse=True)
def only_simulated_nodes(nodes: None, kubectl: Kubectl) -> None:
    cordon_other_nodes(kubectl)


def rollout_status(kubectl: Kubectl, ns: str, name: str = "web") -> str:
    out = kubectl("rollout", "status", f"deployment/{name}", "-n", ns, ROLLOUT_TIMEOUT)
    assert out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out', out
    return out


def replica_sets(kubectl: Kubectl, ns: str) -> dict[str, dict[str, Any]]:
    return {rs["metadata"]["name"]: rs
            for rs in kubectl.json("get", "replicasets", "-n", ns)["items"]}


def sizes(kubectl: Kubectl, ns: str) -> dict[str, int]:
    return {name: rs["spec"]["replicas"] for name, rs in replica_sets(kubectl, ns).items()}


def revision(rs: dict[str, Any]) -> str:
    return str(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def running_pods(kubectl: Kubectl, ns: str) -> list[dict[str, Any]]:
    return [p for p in kubectl.json("get", "pods", "-n", ns)["items"]
            if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Running"]


def observed(kubectl: Kubectl, ns: str, name: str = "web") -> dict[str, Any] | None:
    """The Deployment, once the controller has seen its latest spec."""
    d: dict[str, Any] = kubectl.json("get", "deployment", name, "-n", ns)
    if d.get("status", {}).get("observedGeneration", 0) >= d["metadata"]["generation"]:
        return d
    return None


def test_create_scale_update_and_undo(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    [first] = replica_sets(kubectl, ns).values()
    pod_hash = first["metadata"]["labels"]["pod-template-hash"]
    assert first["metadata"]["name"] == f"web-{pod_hash}"
    assert revision(first) == "1"
    wait_until(lambda: len(running_pods(kubectl, ns)) == 2, "two running pods")
    table = kubectl("get", "deployment", "web", "-n", ns, "--no-headers").split()
    assert table[:4] == ["web", "2/2", "2", "2"]

    kubectl("scale", "deployment", "web", "-n", ns, "--replicas=4")
    rollout_status(kubectl, ns)
    assert sizes(kubectl, ns) == {first["metadata"]["name"]: 4}

    kubectl("set", "image", "deployment/web", "-n", ns, f"nginx={IMAGE_2}")
    kubectl("annotate", "deployment/web", "-n", ns, "kubernetes.io/change-cause=to 2.0")
    rollout_status(kubectl, ns)
    rss = replica_sets(kubectl, ns)
    [second] = [rs for name, rs in rss.items() if name != first["metadata"]["name"]]
    assert sizes(kubectl, ns) == {first["metadata"]["name"]: 0,
                                  second["metadata"]["name"]: 4}
    assert revision(second) == "2"
    images = {c["image"] for p in running_pods(kubectl, ns) for c in p["spec"]["containers"]}
    wait_until(lambda: len(running_pods(kubectl, ns)) == 4, "four pods after the update")
    assert images <= {IMAGE_1, IMAGE_2}

    def history_rows() -> list[list[str]]:
        out = kubectl("rollout", "history", "deployment/web", "-n", ns)
        return [line.split(None, 1) for line in out.strip().splitlines()[2:]]

    def with_cause() -> list[list[str]] | None:
        rows = history_rows()
        return rows if rows and rows[-1][1].strip() == "to 2.0" else None

    # The change cause reaches the new ReplicaSet with the sync after the annotation.
    assert [row[0] for row in wait_until(with_cause, "the change cause")] == ["1", "2"]

    out = kubectl("rollout", "undo", "deployment/web", "-n", ns, "--to-revision=1")
    assert out.strip() == "deployment.apps/web rolled back"
    rollout_status(kubectl, ns)
    rss = replica_sets(kubectl, ns)
    assert len(rss) == 2  # the first ReplicaSet is reused, not recreated
    back = rss[first["metadata"]["name"]]
    assert back["spec"]["replicas"] == 4
    assert revision(back) == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert [row[0] for row in history_rows()] == ["2", "3"]
    d = kubectl.json("get", "deployment", "web", "-n", ns)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_pause_holds_the_rollout_until_resume(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    assert kubectl("rollout", "pause", "deployment/web", "-n", ns).strip() == \
        "deployment.apps/web paused"
    kubectl("set", "image", "deployment/web", "-n", ns, f"nginx={IMAGE_2}")
    kubectl("scale", "deployment", "web", "-n", ns, "--replicas=3")
    d = wait_until(lambda: observed(kubectl, ns), "the paused spec observed")
    progressing = {c["type"]: c for c in d["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    # Scaled while paused, but no new ReplicaSet.
    assert list(sizes(kubectl, ns).values()) == [3]
    assert kubectl("rollout", "resume", "deployment/web", "-n", ns).strip() == \
        "deployment.apps/web resumed"
    rollout_status(kubectl, ns)
    assert sorted(sizes(kubectl, ns).values()) == [0, 3]


def test_restart_rolls_out_a_new_replica_set(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    before = set(replica_sets(kubectl, ns))
    assert kubectl("rollout", "restart", "deployment/web", "-n", ns).strip() == \
        "deployment.apps/web restarted"
    rollout_status(kubectl, ns)
    rss = replica_sets(kubectl, ns)
    [new] = [rs for name, rs in rss.items() if name not in before]
    assert "kubectl.kubernetes.io/restartedAt" in \
        new["spec"]["template"]["metadata"]["annotations"]
    assert new["spec"]["replicas"] == 2 and revision(new) == "2"


def test_recreate_replaces_all_pods_at_once(kubectl: Kubectl, ns: str) -> None:
    manifest = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "strategy": {"type": "Recreate"},
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx",
                                                       "image": IMAGE_1}]}}}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    rollout_status(kubectl, ns)
    kubectl("set", "image", "deployment/web", "-n", ns, f"nginx={IMAGE_2}")
    rollout_status(kubectl, ns)
    assert sorted(sizes(kubectl, ns).values()) == [0, 2]
    wait_until(lambda: {c["image"] for p in running_pods(kubectl, ns)
                        for c in p["spec"]["containers"]} == {IMAGE_2},
               "only new pods")


def test_delete_removes_replica_sets_and_pods(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    kubectl("delete", "deployment", "web", "-n", ns)
    wait_until(lambda: not kubectl.json("get", "replicasets,pods", "-n", ns)["items"],
               "the ReplicaSet and pods collected")


def test_delete_with_orphan_cascade_keeps_them(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    [name] = replica_sets(kubectl, ns)
    kubectl("delete", "deployment", "web", "-n", ns, "--cascade=orphan")
    rs = kubectl.json("get", "replicaset", name, "-n", ns)
    assert not rs["metadata"].get("ownerReferences")
    assert rs["spec"]["replicas"] == 2
    wait_until(lambda: len(running_pods(kubectl, ns)) == 2, "the two orphaned pods running")
    # A new Deployment with the same selector and template adopts the orphan.
    kubectl("create", "deployment", "web", "-n", ns, f"--image={IMAGE_1}", "--replicas=2")
    rollout_status(kubectl, ns)
    rs = kubectl.json("get", "replicaset", name, "-n", ns)
    assert [r["kind"] for r in rs["metadata"]["ownerReferences"]] == ["Deployment"]
    assert list(replica_sets(kubectl, ns)) == [name]
