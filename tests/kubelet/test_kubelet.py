"""The kubelet's pod lifecycle against a real API server, with in-memory node services.

A real `kyb server` (no controllers, no scheduler: pods are created with `nodeName`), a
`Kubelet` in this process driving `FakeRuntime` (tests/kubelet/fakes.py). What is checked is
what the API shows: phases, conditions, container states, restart counts, events, and the
pod object disappearing once its containers stopped. The real runtime is exercised by the
end-to-end tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kybernetes.client import ApiClient, NotFoundError, load_kubeconfig, resource
from kybernetes.kubelet.backoff import Backoff
from kybernetes.kubelet.kubelet import Kubelet, KubeletConfig
from kybernetes.kubelet.kuberuntime import RuntimeManager
from tests.e2e.cluster import Server, running_server
from tests.kubelet.fakes import FakeImages, FakeNetwork, FakeRuntime, FakeVolumes

pytestmark = pytest.mark.e2e

PODS = resource("", "v1", "pods")
NODES = resource("", "v1", "nodes")
LEASES = resource("coordination.k8s.io", "v1", "leases")
EVENTS = resource("", "v1", "events")
NAMESPACES = resource("", "v1", "namespaces")
NODE = "fake-node"
T = TypeVar("T")
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # No controller manager, so no `default` service accounts: as upstream's integration
    # tests, without the ServiceAccount admission plugin.
    with running_server(tmp_path_factory.mktemp("kyb"),
                        ["--disable-controller-manager", "--disable-scheduler",
                         "--disable-admission-plugins", "ServiceAccount"]) as running:
        yield running


@pytest.fixture
async def api(server: Server) -> AsyncIterator[ApiClient]:
    async with ApiClient(load_kubeconfig(server.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(api: ApiClient) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name


class Node:
    def __init__(self, api: ApiClient, root: Path) -> None:
        self.api = api
        self.root = root
        self.runtime = FakeRuntime()
        self.images = FakeImages()
        self.network = FakeNetwork()
        self.volumes = FakeVolumes()
        self.task: asyncio.Task[None] | None = None
        self.kubelet: Kubelet | None = None

    async def start(self) -> Kubelet:
        manager = RuntimeManager(
            runtime=self.runtime, images=self.images, network=self.network,
            volumes=self.volumes, events=lambda *_: None, pod_root=self.root / "pods",
            log_root=self.root / "logs", crash_backoff=Backoff(0.3, 1.2),
            pull_backoff=Backoff(0.3, 1.2))
        # No controller manager here: the node brings its own pod CIDR (kubelet --pod-cidr).
        config = KubeletConfig(node_name=NODE, node_ip="192.0.2.10", root_dir=self.root,
                               pod_cidr="10.42.7.0/24", relist_period=0.1,
                               resync_period=0.5, backoff_period=0.5, renew_interval=0.5,
                               status_update_period=0.5)
        self.kubelet = Kubelet(self.api, config, manager)
        self.task = asyncio.create_task(self.kubelet.run())
        await asyncio.wait_for(self.kubelet.ready.wait(), 30)
        return self.kubelet

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None


@pytest.fixture
async def node(api: ApiClient, tmp_path: Path) -> AsyncIterator[Node]:
    running = Node(api, tmp_path)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def eventually(check: Callable[[], Awaitable[T | None]], what: str,
                     limit: float = 20.0) -> T:
    """Poll until `check` returns something truthy (a safety limit, not a measure)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def pod(name: str, *containers: Obj, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "containers": list(containers), **spec}}


def container(name: str = "app", command: list[str] | None = None, **extra: Any) -> Obj:
    return {"name": name, "image": "busybox:1.36", "command": command or ["sleep"], **extra}


async def get(api: ApiClient, ns: str, name: str) -> Obj:
    return await api.get(PODS, name, ns)


def condition(obj: Obj, kind: str) -> str | None:
    for found in (obj.get("status") or {}).get("conditions") or ():
        if found["type"] == kind:
            return str(found["status"])
    return None


async def test_node_registers_with_capacity_and_renews_its_lease(api: ApiClient,
                                                                 node: Node) -> None:
    registered = await api.get(NODES, NODE)
    status = registered["status"]
    assert registered["spec"]["podCIDR"] == "10.42.7.0/24"
    assert {"cpu", "memory", "pods", "ephemeral-storage"} <= set(status["capacity"])
    assert status["capacity"]["pods"] == "110"
    assert [c["type"] for c in status["conditions"]] == [
        "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.35.0"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    async def lease() -> Obj | None:
        try:
            found: Obj = await api.get(LEASES, NODE, "kube-node-lease")
        except NotFoundError:
            return None  # the first heartbeat has not run yet
        return found

    first = (await eventually(lease, "the node's Lease"))["spec"]["renewTime"]

    async def renewed() -> bool:
        lease = await api.get(LEASES, NODE, "kube-node-lease")
        return bool(lease["spec"]["renewTime"] != first)

    await eventually(renewed, "a lease renewal")


async def test_pod_runs_and_reports_upstream_status(api: ApiClient, node: Node,
                                                    namespace: str) -> None:
    await api.create(PODS, pod("web", container(env=[{"name": "A", "value": "1"}])), namespace)

    async def running() -> Obj | None:
        obj = await get(api, namespace, "web")
        return obj if condition(obj, "Ready") == "True" else None

    obj = await eventually(running, "web Ready")
    status = obj["status"]
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("10.42.0.") and status["hostIP"] == "192.0.2.10"
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    (app,) = status["containerStatuses"]
    assert app["state"]["running"]["startedAt"]
    assert app["ready"] is True and app["started"] is True and app["restartCount"] == 0
    assert app["containerID"].startswith("runc://")
    assert status["qosClass"] == "BestEffort"


async def test_a_status_changed_by_someone_else_is_restored(
        api: ApiClient, node: Node, namespace: str) -> None:
    """As the node lifecycle controller marks pods not Ready while their node looks
    unreachable: the kubelet writes its own view back (upstream's needsReconcile), and keeps
    the conditions it does not own."""
    await api.create(PODS, pod("web", container()), namespace)

    async def ready() -> Obj | None:
        obj = await get(api, namespace, "web")
        return obj if condition(obj, "Ready") == "True" else None

    obj = await eventually(ready, "web Ready")
    conditions = [{**c, "status": "False"} if c["type"] == "Ready" else c
                  for c in obj["status"]["conditions"]]
    conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "Test"})
    await api.patch(PODS, "web", {"status": {"conditions": conditions}}, namespace,
                    subresource="status")
    obj = await eventually(ready, "web Ready again")
    assert condition(obj, "DisruptionTarget") == "True"


async def test_crashing_container_restarts_with_backoff(api: ApiClient, node: Node,
                                                        namespace: str) -> None:
    await api.create(PODS, pod("crash", container(command=["exit", "3"])), namespace)

    async def looping() -> Obj | None:
        obj = await get(api, namespace, "crash")
        statuses = (obj.get("status") or {}).get("containerStatuses") or []
        if statuses and statuses[0]["restartCount"] >= 2 and \
                (statuses[0]["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            return obj
        return None

    obj = await eventually(looping, "CrashLoopBackOff")
    (app,) = obj["status"]["containerStatuses"]
    assert app["lastState"]["terminated"]["exitCode"] == 3
    assert app["lastState"]["terminated"]["reason"] == "Error"
    assert "restarting failed container=app pod=crash_" in app["state"]["waiting"]["message"]
    assert obj["status"]["phase"] == "Running"  # restartPolicy Always: still Running
    assert condition(obj, "Ready") == "False"


async def test_restart_policy_never_ends_the_pod(api: ApiClient, node: Node,
                                                 namespace: str) -> None:
    await api.create(PODS, pod("ok", container(command=["exit", "0"]),
                               restartPolicy="Never"), namespace)
    await api.create(PODS, pod("bad", container(command=["exit", "1"]),
                               restartPolicy="Never"), namespace)

    async def phase(name: str, wanted: str) -> Obj | None:
        obj = await get(api, namespace, name)
        return obj if (obj.get("status") or {}).get("phase") == wanted else None

    ok = await eventually(lambda: phase("ok", "Succeeded"), "ok Succeeded")
    bad = await eventually(lambda: phase("bad", "Failed"), "bad Failed")
    assert ok["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert condition(ok, "Ready") == "False"
    assert node.runtime.started.count("ok/app") == 1  # never restarted
    assert node.runtime.started.count("bad/app") == 1


async def test_init_containers_run_first_in_order(api: ApiClient, node: Node,
                                                  namespace: str) -> None:
    spec = pod("init", container(), initContainers=[
        container("first", ["exit", "0"]), container("second", ["exit", "0"])])
    await api.create(PODS, spec, namespace)

    async def ready() -> Obj | None:
        obj = await get(api, namespace, "init")
        return obj if condition(obj, "Ready") == "True" else None

    obj = await eventually(ready, "init pod Ready")
    order = [n for n in node.runtime.started if n.startswith("init/")]
    assert order == ["init/first", "init/second", "init/app"]
    inits = obj["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed", "Completed"]


async def test_image_pull_failure_backs_off(api: ApiClient, node: Node,
                                            namespace: str) -> None:
    await api.create(PODS, pod("img", {"name": "app", "image": "nosuch:1"}), namespace)
    reasons: set[str] = set()

    async def both() -> bool:
        obj = await get(api, namespace, "img")
        for status in (obj.get("status") or {}).get("containerStatuses") or ():
            waiting = status["state"].get("waiting") or {}
            if waiting.get("reason"):
                reasons.add(waiting["reason"])
                if waiting["reason"] == "ErrImagePull":
                    assert 'Failed to pull image "nosuch:1"' in waiting["message"]
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons

    await eventually(both, "ErrImagePull then ImagePullBackOff")
    obj = await get(api, namespace, "img")
    assert obj["status"]["phase"] == "Pending"


async def test_a_start_failure_is_run_container_error(api: ApiClient, node: Node,
                                                      namespace: str) -> None:
    await api.create(PODS, pod("nocmd", container(command=["nosuch"])), namespace)

    async def failed() -> Obj | None:
        obj = await get(api, namespace, "nocmd")
        for status in (obj.get("status") or {}).get("containerStatuses") or ():
            waiting = status["state"].get("waiting") or {}
            if waiting.get("reason") == "RunContainerError":
                return waiting
        return None

    waiting = await eventually(failed, "RunContainerError")
    assert "executable file not found" in waiting["message"]


async def test_failing_liveness_probe_restarts_the_container(api: ApiClient, node: Node,
                                                             namespace: str) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
    await api.create(PODS, pod("live", container(livenessProbe=probe)), namespace)

    async def running() -> bool:
        return bool(node.runtime.running("live", "app"))

    await eventually(running, "app running")
    node.runtime.health["app"] = 1

    async def restarted() -> Obj | None:
        obj = await get(api, namespace, "live")
        statuses = (obj.get("status") or {}).get("containerStatuses") or []
        return obj if statuses and statuses[0]["restartCount"] >= 1 else None

    await eventually(restarted, "a liveness restart")


async def test_failing_readiness_probe_keeps_the_pod_unready(api: ApiClient, node: Node,
                                                             namespace: str) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
    node.runtime.health["gated"] = 1
    await api.create(PODS, pod("ready", container("gated", readinessProbe=probe)), namespace)

    async def unready() -> Obj | None:
        obj = await get(api, namespace, "ready")
        statuses = (obj.get("status") or {}).get("containerStatuses") or []
        if statuses and "running" in statuses[0]["state"]:
            return obj
        return None

    obj = await eventually(unready, "gated running")
    await asyncio.sleep(1.5)  # a few probe periods: it must stay unready
    obj = await get(api, namespace, "ready")
    assert condition(obj, "Ready") == "False"
    assert obj["status"]["containerStatuses"][0]["ready"] is False
    node.runtime.health["gated"] = 0

    async def ready() -> bool:
        return condition(await get(api, namespace, "ready"), "Ready") == "True"

    await eventually(ready, "Ready once the probe passes")


async def test_deleting_a_pod_stops_it_and_removes_the_object(api: ApiClient, node: Node,
                                                              namespace: str) -> None:
    await api.create(PODS, pod("gone", container()), namespace)

    async def running() -> bool:
        return condition(await get(api, namespace, "gone"), "Ready") == "True"

    await eventually(running, "gone Ready")
    await api.delete(PODS, "gone", namespace, grace_period_seconds=5)

    async def deleted() -> bool:
        try:
            await get(api, namespace, "gone")
        except NotFoundError:
            return True
        return False

    await eventually(deleted, "the pod object deleted by the kubelet")
    assert not node.runtime.running("gone", "app")
    assert not [s for s in node.runtime.sandboxes.values() if s.name == "gone"]


async def test_a_restarted_kubelet_adopts_running_containers(api: ApiClient, node: Node,
                                                             namespace: str) -> None:
    await api.create(PODS, pod("stay", container("keeper")), namespace)

    async def running() -> bool:
        return condition(await get(api, namespace, "stay"), "Ready") == "True"

    await eventually(running, "stay Ready")
    before = [s.id for s in node.runtime.running("stay", "keeper")]
    await node.stop()
    await node.start()
    await asyncio.sleep(1.0)  # a few relists and resyncs of the new kubelet
    assert [s.id for s in node.runtime.running("stay", "keeper")] == before
    assert node.runtime.started.count("stay/keeper") == 1
    obj = await get(api, namespace, "stay")
    assert obj["status"]["containerStatuses"][0]["restartCount"] == 0


async def test_a_failing_pre_stop_hook_is_reported_and_the_pod_still_stops(
        api: ApiClient, node: Node, namespace: str) -> None:
    hooked = container("hooked", lifecycle={"preStop": {"exec": {"command": ["drain"]}}})
    await api.create(PODS, pod("hook", hooked), namespace)

    async def running() -> bool:
        return bool(node.runtime.running("hook", "hooked"))

    await eventually(running, "hooked running")
    node.runtime.health["hooked"] = 1
    await api.delete(PODS, "hook", namespace, grace_period_seconds=5)

    async def reported() -> Obj | None:
        events = await api.list(EVENTS, namespace)
        return next((e for e in events.items if e["reason"] == "FailedPreStopHook"), None)

    event = await eventually(reported, "a FailedPreStopHook event")
    assert event["message"].startswith("PreStopHook failed: command ['drain'] exited with 1")

    async def deleted() -> bool:
        try:
            await get(api, namespace, "hook")
        except NotFoundError:
            return True
        return False

    await eventually(deleted, "the pod deleted despite its hook")
