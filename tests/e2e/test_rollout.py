"""Rollouts and node loss end to end, observed from the outside while they happen: a real
`kyb server` (scheduler, controller manager with the deployment, replica-set, node
lifecycle and taint eviction controllers, short node periods), simulated nodes from
`kyb sim nodes`, and the real kubectl 1.35 (`set image`, `rollout status`).

- A rolling update keeps at least `replicas - maxUnavailable` pods Ready and never has
  more than `replicas + maxSurge` pods (nor ReplicaSet replicas in total), with absolute
  and percent (25%/25%: surge rounds up, unavailability down) bounds.
- A Recreate update has no old and new pods at the same time: the new ReplicaSet is
  created only once the old one is scaled to 0 and its pods are gone.
- Stopping a simulated node's process (its Lease is no longer renewed) makes the node
  Unknown and tainted unreachable; its pods, tolerating that for 2 s, are evicted, and the
  ReplicaSet's replacements run on the other node until the rollout is complete again.
  Both nodes are in one zone, so the zone is only partly down (Normal): with every node of
  a zone down, upstream evicts nothing.

The bounds are checked on every state the API server went through: a thread watches pods
(and ReplicaSets) from a listed resourceVersion, and the state after each event is one the
storage really held. Waits are bounded polls or `rollout status --timeout` (safety limits,
never measures of speed).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Kubectl, Server, checked_server, wait_until
from tests.e2e.test_scheduler import Process

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]

SIM_FLAGS = ["--node-lease-duration-seconds", "4"]
ROLLOUT_TIMEOUT = "--timeout=90s"
# Simulated nodes never pull images; should a pod reach a real node, its image names a
# registry on a closed loopback port.
IMAGE_1 = "127.0.0.1:1/nginx:1.0"
IMAGE_2 = "127.0.0.1:1/nginx:2.0"
ROLLOUT_POOL = "rollout"
LOSS_POOL = "loss"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Node health is judged within seconds: a node missing 4 s of Lease renewals is
    Unknown (checked every second)."""
    with checked_server(tmp_path_factory.mktemp("kyb"), [
            "--node-monitor-period", "1s", "--node-monitor-grace-period", "4s"]) as running:
        yield running


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rollout-logs")


@pytest.fixture(scope="module")
def rollout_nodes(server: Server, kubectl: Kubectl, logs: Path) -> Iterator[None]:
    """Three nodes for the rollout tests' pods (selected by their `pool` label)."""
    process = sim_nodes(server, "r-", 3, ROLLOUT_POOL, logs)
    try:
        wait_until(lambda: ready_nodes(kubectl) >= {"r-0", "r-1", "r-2"}, "three ready nodes")
        yield
    finally:
        process.stop()


def sim_nodes(server: Server, prefix: str, count: int, pool: str, logs: Path) -> Process:
    return Process(prefix, [
        "sim", "nodes", "--count", str(count), "--name-prefix", prefix, "--labels",
        f"pool={pool}", "--cpu", "32", "--memory", "64Gi",
        "--kubeconfig", str(server.kubeconfig), *SIM_FLAGS], logs / f"{prefix}.log")


def ready_nodes(kubectl: Kubectl) -> set[str]:
    return {n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]
            if condition(n, "Ready").get("status") == "True"}


def condition(obj: Obj, type_: str) -> Obj:
    return next((c for c in obj.get("status", {}).get("conditions", [])
                 if c["type"] == type_), {})


def terminating(pod: Obj) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def ready(pod: Obj) -> bool:
    return not terminating(pod) and condition(pod, "Ready").get("status") == "True"


def finished(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def image(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def deployment(name: str, replicas: int, strategy: Obj, pool: str, **pod_spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "strategy": strategy,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "nodeSelector": {"pool": pool},
                         "containers": [{"name": "web", "image": IMAGE_1}], **pod_spec}}}}


def create(kubectl: Kubectl, ns: str, manifest: Obj) -> None:
    kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))


def rollout_status(kubectl: Kubectl, ns: str, name: str) -> None:
    out = kubectl.run("rollout", "status", f"deployment/{name}", "-n", ns, ROLLOUT_TIMEOUT,
                      timeout=120).stdout
    assert out.strip().splitlines()[-1] == f'deployment "{name}" successfully rolled out', out


def pods(kubectl: Kubectl, ns: str) -> list[Obj]:
    items: list[Obj] = kubectl.json("get", "pods", "-n", ns)["items"]
    return items


class Sampler:
    """Every state a collection went through, from a list and a watch on its thread.

    After each watch event, `sample` is called with the objects then stored (by name), and
    its result kept in `samples`. The watch is reopened from the last resourceVersion seen
    (events or bookmarks) whenever the server ends it, so no state is skipped."""

    def __init__(self, server: Server, path: str, sample: Callable[[dict[str, Obj]], Any]
                 ) -> None:
        self.samples: list[Any] = []
        self.error: BaseException | None = None
        self._server = server
        self._path = path
        self._sample = sample
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        if not self._started.wait(30):
            raise AssertionError(f"the watch on {self._path} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), f"the watch on {self._path} did not stop"

    def _run(self) -> None:
        try:
            with self._server.client() as client:
                self._watch(client)
        except BaseException as error:  # handed to the test's thread
            self.error = error
        finally:
            self._started.set()

    def _watch(self, client: httpx.Client) -> None:
        listed = client.get(self._path)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        objects = {o["metadata"]["name"]: o for o in body["items"]}
        version = body["metadata"]["resourceVersion"]
        self.samples.append(self._sample(objects))
        self._started.set()
        while not self._stop.is_set():
            # A short server-side timeout lets the thread notice `stop` soon.
            params = {"watch": "1", "resourceVersion": version, "allowWatchBookmarks": "true",
                      "timeoutSeconds": "1"}
            with client.stream("GET", self._path, params=params) as response:
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    assert event["type"] != "ERROR", obj
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        objects.pop(obj["metadata"]["name"], None)
                    else:
                        objects[obj["metadata"]["name"]] = obj
                    self.samples.append(self._sample(objects))

    def result(self) -> list[Any]:
        """The samples, once stopped; a failure of the watch fails the test."""
        if self.error is not None:
            raise AssertionError(f"the watch on {self._path} failed") from self.error
        return self.samples


def pod_counts(objects: dict[str, Obj]) -> tuple[int, int]:
    """(Ready pods, pods not terminating nor finished) in one stored state."""
    return (sum(1 for p in objects.values() if ready(p)),
            sum(1 for p in objects.values() if not terminating(p) and not finished(p)))


def total_replicas(objects: dict[str, Obj]) -> int:
    return sum(int(rs["spec"].get("replicas", 0)) for rs in objects.values())


@pytest.mark.parametrize(("max_surge", "max_unavailable", "most", "fewest"), [
    (1, 1, 7, 5),
    # 25% of 6: surge rounds up (2), unavailability rounds down (1).
    ("25%", "25%", 8, 5),
    (0, 1, 6, 5),
])
def test_rolling_update_keeps_pods_available_within_the_surge(
        server: Server, kubectl: Kubectl, rollout_nodes: None, ns: str,
        max_surge: int | str, max_unavailable: int | str, most: int, fewest: int) -> None:
    replicas = 6
    create(kubectl, ns, deployment("web", replicas, {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}},
        ROLLOUT_POOL))
    rollout_status(kubectl, ns, "web")
    wait_until(lambda: sum(map(ready, pods(kubectl, ns))) == replicas, "six ready pods")

    with Sampler(server, f"/api/v1/namespaces/{ns}/pods", pod_counts) as pod_sampler, \
            Sampler(server, f"/apis/apps/v1/namespaces/{ns}/replicasets",
                    total_replicas) as rs_sampler:
        kubectl("set", "image", "deployment/web", "-n", ns, f"web={IMAGE_2}")
        rollout_status(kubectl, ns, "web")
        # The last pods of the old ReplicaSet may still be going when the rollout is
        # complete: sample until they are gone.
        wait_until(lambda: {image(p) for p in pods(kubectl, ns)} == {IMAGE_2},
                   "only new pods")
    counts = pod_sampler.result()
    totals = rs_sampler.result()

    assert counts[0] == (replicas, replicas)
    assert counts[-1] == (replicas, replicas)
    assert len(counts) > 2 * replicas  # every old pod deleted, every new one created
    assert min(ready for ready, _ in counts) >= fewest, counts
    # maxSurge bounds the ReplicaSets' replicas, not the pods: as upstream's
    # (NewRSNewReplicas sums spec.replicas), the new set may grow as soon as the old one is
    # scaled down, before the ReplicaSet controller has deleted the old pod. Upstream's own
    # check of a rolling update (test/utils checkRollingUpdateStatus) is this one: the
    # ReplicaSets' replicas never add up to more than replicas + maxSurge.
    assert totals[0] == replicas
    assert max(totals) <= most, totals
    assert sorted(int(rs["spec"]["replicas"]) for rs in kubectl.json(
        "get", "replicasets", "-n", ns)["items"]) == [0, replicas]


def test_recreate_scales_the_old_pods_away_before_creating_new_ones(
        server: Server, kubectl: Kubectl, rollout_nodes: None, ns: str) -> None:
    replicas = 4
    create(kubectl, ns, deployment("web", replicas, {"type": "Recreate"}, ROLLOUT_POOL))
    rollout_status(kubectl, ns, "web")
    wait_until(lambda: sum(map(ready, pods(kubectl, ns))) == replicas, "four ready pods")

    def images(objects: dict[str, Obj]) -> frozenset[str]:
        # Upstream waits for old pods to stop, terminating ones included.
        return frozenset(image(p) for p in objects.values() if not finished(p))

    def sizes(objects: dict[str, Obj]) -> dict[str, int]:
        return {name: int(rs["spec"].get("replicas", 0)) for name, rs in objects.items()}

    with Sampler(server, f"/api/v1/namespaces/{ns}/pods", images) as pod_sampler, \
            Sampler(server, f"/apis/apps/v1/namespaces/{ns}/replicasets",
                    sizes) as rs_sampler:
        kubectl("set", "image", "deployment/web", "-n", ns, f"web={IMAGE_2}")
        rollout_status(kubectl, ns, "web")
        wait_until(lambda: sum(map(ready, pods(kubectl, ns))) == replicas, "four new pods")
    seen = pod_sampler.result()
    rs_states: list[dict[str, int]] = rs_sampler.result()

    assert seen[0] == {IMAGE_1}
    assert seen[-1] == {IMAGE_2}
    assert frozenset() in seen  # the old pods all went before any new one came
    assert all(len(state) <= 1 for state in seen), seen
    [old] = rs_states[0]
    first_with_new = next(state for state in rs_states if len(state) == 2)
    assert first_with_new[old] == 0, rs_states
    assert rs_states[-1][old] == 0
    assert sorted(rs_states[-1].values()) == [0, replicas]


def test_pods_of_a_stopped_node_move_to_the_other_node(
        server: Server, kubectl: Kubectl, ns: str, logs: Path) -> None:
    replicas = 4
    processes = {prefix: sim_nodes(server, prefix, 1, LOSS_POOL, logs)
                 for prefix in ("a-", "b-")}
    try:
        wait_until(lambda: ready_nodes(kubectl) >= {"a-0", "b-0"}, "nodes a-0 and b-0")
        short = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists",
                  "effect": "NoExecute", "tolerationSeconds": 2}
                 for key in ("unreachable", "not-ready")]
        spread = [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                   "whenUnsatisfiable": "ScheduleAnyway",
                   "labelSelector": {"matchLabels": {"app": "keep"}}}]
        create(kubectl, ns, deployment(
            "keep", replicas, {"type": "RollingUpdate"}, LOSS_POOL, tolerations=short,
            topologySpreadConstraints=spread))
        rollout_status(kubectl, ns, "keep")
        placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods(kubectl, ns)}
        assert sorted(placed.values()) == ["a-0", "a-0", "b-0", "b-0"], placed
        lost = {name for name, node in placed.items() if node == "a-0"}

        processes["a-"].stop()  # a-0's Lease is no longer renewed

        def unknown() -> Obj | None:
            node: Obj = kubectl.json("get", "node", "a-0")
            return node if condition(node, "Ready").get("status") == "Unknown" else None

        ready_condition = condition(wait_until(unknown, "node a-0 Unknown"), "Ready")
        assert ready_condition["reason"] == "NodeStatusUnknown"
        wait_until(lambda: ("node.kubernetes.io/unreachable", "NoExecute") in
                   {(t["key"], t["effect"]) for t in
                    kubectl.json("get", "node", "a-0")["spec"].get("taints", [])},
                   "the unreachable NoExecute taint on a-0")

        def evicted() -> list[Obj] | None:
            gone = [p for p in pods(kubectl, ns)
                    if p["metadata"]["name"] in lost and terminating(p)]
            return gone if len(gone) == len(lost) else None

        for pod in wait_until(evicted, "a-0's pods evicted"):
            target = condition(pod, "DisruptionTarget")
            assert (target.get("status"), target.get("reason")) == \
                ("True", "DeletionByTaintManager"), pod["status"]

        rollout_status(kubectl, ns, "keep")
        current = [p for p in pods(kubectl, ns) if not terminating(p)]
        assert len(current) == replicas
        assert all(ready(p) and p["spec"]["nodeName"] == "b-0" for p in current), current
        assert not {p["metadata"]["name"] for p in current} & lost
        status = kubectl.json("get", "deployment", "keep", "-n", ns)["status"]
        assert (status["availableReplicas"], status["updatedReplicas"]) == (replicas, replicas)
        assert "node/a-0" in kubectl("get", "node", "a-0", "-o", "name")  # not deleted
    finally:
        # No kubelet finishes the deletions on a-0: force them, then drop the nodes.
        kubectl.run("delete", "deployment", "--all", "-n", ns, check=False)
        kubectl.run("delete", "pods", "--all", "-n", ns, "--force", "--grace-period=0",
                    check=False)
        for process in processes.values():
            process.stop()
