"""`kubectl debug` with ephemeral containers on a real node (`kyb server` with its kubelet
and runc, in a network namespace made here: tests/e2e/nodens.py).

kubectl patches the pod's `ephemeralcontainers` subresource; the kubelet starts the debug
container in the pod's sandbox, in the PID namespace of its `--target`, once, and reports
it in `status.ephemeralContainerStatuses`; its output is read with `kubectl logs -c`, and
`kubectl exec -c` runs in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, wait_until
from tests.e2e.nodens import REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-1"
IMAGE = "busybox:1.36"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    data: Path = tmp_path_factory.mktemp("kyb-debug")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-debug", NODE) as (_server, kubectl):
        yield kubectl


@pytest.fixture
def ns(node: Kubectl) -> str:
    return new_namespace(node, "dbg")


def target_pod(kubectl: Kubectl, ns: str) -> None:
    """A pod whose one container `app` runs `sleep 3601` (a process to look for)."""
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "target"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "app", "image": IMAGE, "command": ["sleep", "3601"]}]}}))
    kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/target", "--timeout=60s")


def ephemeral_status(kubectl: Kubectl, ns: str, name: str) -> Obj | None:
    pod: Obj = kubectl.json("get", "pod", "target", "-n", ns)
    statuses = (pod.get("status") or {}).get("ephemeralContainerStatuses") or []
    return next((s for s in statuses if s["name"] == name), None)


def test_debug_container_sees_the_target_and_reports_its_status(node: Kubectl,
                                                               ns: str) -> None:
    target_pod(node, ns)
    out = node("debug", "target", "-n", ns, f"--image={IMAGE}", "--target=app",
               "--profile=general", "-c", "debugger", "--attach=false", "--",
               "sh", "-c", "ps; echo hello")
    assert 'Targeting container "app"' in out
    spec: Obj = node.json("get", "pod", "target", "-n", ns)["spec"]
    [added] = spec["ephemeralContainers"]
    assert added["targetContainerName"] == "app" and added["image"] == IMAGE

    def finished() -> Obj | None:
        status = ephemeral_status(node, ns, "debugger")
        return status if status and "terminated" in status["state"] else None

    status = wait_until(finished, "the debug container to finish")
    assert status["state"]["terminated"]["exitCode"] == 0
    assert status["state"]["terminated"]["reason"] == "Completed"
    assert status["restartCount"] == 0 and status["containerID"].startswith("runc://")
    logs = node("logs", "target", "-n", ns, "-c", "debugger")
    assert "hello" in logs
    assert "sleep 3601" in logs  # the target's process: its PID namespace is shared
    # The pod itself is untouched: still Running, its container not restarted, and the
    # finished debug container is not started again.
    pod: Obj = node.json("get", "pod", "target", "-n", ns)
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    again = ephemeral_status(node, ns, "debugger")
    assert again is not None and again["containerID"] == status["containerID"]


def test_exec_into_a_running_debug_container(node: Kubectl, ns: str) -> None:
    target_pod(node, ns)
    node("debug", "target", "-n", ns, f"--image={IMAGE}", "--target=app",
         "--profile=general", "-c", "shell", "--attach=false", "--", "sleep", "300")

    def running() -> Obj | None:
        status = ephemeral_status(node, ns, "shell")
        return status if status and "running" in status["state"] else None

    wait_until(running, "the debug container running")
    seen = node("exec", "target", "-n", ns, "-c", "shell", "--", "ps")
    assert "sleep 3601" in seen and "sleep 300" in seen
    # A second debug container goes next to the first, which keeps running.
    node("debug", "target", "-n", ns, f"--image={IMAGE}", "--profile=general", "-c",
         "second", "--attach=false", "--", "sh", "-c", "ps; echo second")

    def second_done() -> Obj | None:
        status = ephemeral_status(node, ns, "second")
        return status if status and "terminated" in status["state"] else None

    wait_until(second_done, "the second debug container to finish")
    # No --target: its own PID namespace, where only it runs.
    logs = node("logs", "target", "-n", ns, "-c", "second")
    assert "second" in logs and "sleep 3601" not in logs
    assert running() is not None
