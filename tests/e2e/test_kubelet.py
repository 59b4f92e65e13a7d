"""A real node: `kyb server` with its kubelet, runc, CNI and images, driven by kubectl.

The whole cluster runs inside a network namespace this module makes (as kind runs nodes
in containers): the test thread enters it (tests/e2e/nodens.py), so the server, its
kubelet, kubectl and a `docker-registry` are all started there, `127.0.0.1` is the node's
own loopback, the CNI bridge and its iptables rules live there, and nothing routes out.

Images: a busybox image is built from Debian's busybox-static (tests/kubelet/imagebuild.py),
imported with `kyb image import` as `busybox:1.36`, and pushed to the registry as
`127.0.0.1:<port>/test/busybox:1` for the pulls. Waits are bounded polls, not measures.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import WAIT, Kubectl, LineReader, Server, wait_until
from tests.e2e.nodens import (
    NODE_IP,
    REAL_NODE,
    import_busybox,
    new_namespace,
    node_ready,
    real_node,
)
from tests.kubelet.imagebuild import busybox_image, push_image
from tests.kubelet.registry import RunningRegistry, run_registry

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-1"
LOCAL_IMAGE = "busybox:1.36"
Obj = dict[str, Any]


@dataclass
class Node:
    server: Server
    kubectl: Kubectl
    registry: RunningRegistry
    data: Path

    @property
    def pulled_image(self) -> str:
        return f"{self.registry.host}/test/busybox:1"

    def pod(self, ns: str, name: str) -> Obj:
        result: Obj = self.kubectl.json("get", "pod", name, "-n", ns)
        return result

    def apply(self, ns: str, manifest: Obj) -> None:
        self.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))

    def container_status(self, ns: str, name: str, index: int = 0) -> Obj | None:
        statuses = (self.pod(ns, name).get("status") or {}).get("containerStatuses") or []
        return statuses[index] if len(statuses) > index else None

    def wait_ready(self, ns: str, name: str) -> Obj:
        def ready() -> Obj | None:
            obj = self.pod(ns, name)
            conditions = (obj.get("status") or {}).get("conditions") or []
            return obj if any(c["type"] == "Ready" and c["status"] == "True"
                              for c in conditions) else None
        return wait_until(ready, f"pod {ns}/{name} Ready")

    def wait_phase(self, ns: str, name: str, phase: str) -> Obj:
        return wait_until(lambda: (lambda o: o if o.get("status", {}).get("phase") == phase
                                   else None)(self.pod(ns, name)), f"{name} {phase}")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data = tmp_path_factory.mktemp("kyb-node")
    import_busybox(data, LOCAL_IMAGE)
    with real_node(data, "kyb-e2e-node", NODE) as (server, kubectl), \
            run_registry(data / "registry") as registry:
        asyncio.run(push_image(registry.url, "test/busybox", "1", busybox_image()))
        yield Node(server, kubectl, registry, data)


@pytest.fixture
def ns(node: Node) -> str:
    return new_namespace(node.kubectl, "k")


def pod(name: str, *containers: Obj, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers), "terminationGracePeriodSeconds": 5,
                     **spec}}


def sh(name: str, script: str, **extra: Any) -> Obj:
    return {"name": name, "image": LOCAL_IMAGE, "command": ["sh", "-c", script], **extra}


# -- running and seeing ----------------------------------------------------------------


def test_node_reports_itself(node: Node) -> None:
    obj = node.kubectl.json("get", "node", NODE)
    assert obj["status"]["addresses"][0] == {"type": "InternalIP", "address": NODE_IP}
    assert obj["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("runc://")
    wide = node.kubectl("get", "nodes", "-o", "wide")
    assert NODE in wide and NODE_IP in wide


def test_kubectl_run_and_logs_follow(node: Node, ns: str) -> None:
    node.kubectl("run", "ticker", "-n", ns, f"--image={LOCAL_IMAGE}", "--restart=Never",
                 "--", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 1; done")
    wait_until(lambda: node.container_status(ns, "ticker"), "ticker started")
    followed = node.kubectl("logs", "-f", "ticker", "-n", ns)
    assert followed.split("\n")[:3] == ["tick 1", "tick 2", "tick 3"]
    done = node.wait_phase(ns, "ticker", "Succeeded")
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert done["status"]["podIP"].startswith("10.42.")
    wide = node.kubectl("get", "pod", "ticker", "-n", ns, "-o", "wide")
    assert NODE in wide


def test_image_pulled_from_a_registry(node: Node, ns: str) -> None:
    node.apply(ns, pod("pulled", sh("app", "echo pulled; sleep 3600",
                                    image=node.pulled_image)))
    obj = node.wait_ready(ns, "pulled")
    status = obj["status"]["containerStatuses"][0]
    assert status["image"] == node.pulled_image
    assert status["imageID"].startswith(f"{node.registry.host}/test/busybox@sha256:")
    events = node.kubectl("get", "events", "-n", ns, "--field-selector",
                          "involvedObject.name=pulled")
    assert "Pulling" in events and "Pulled" in events and "Started" in events


def test_logs_previous_after_a_crash(node: Node, ns: str) -> None:
    node.apply(ns, pod("crasher", sh("app", "echo attempt $(cat /proc/sys/kernel/random/"
                                            "uuid); sleep 1; exit 2")))

    def restarted() -> Obj | None:
        status = node.container_status(ns, "crasher")
        return status if status and status["restartCount"] >= 1 else None

    status = wait_until(restarted, "a restart")
    assert status["lastState"]["terminated"]["exitCode"] == 2
    previous = node.kubectl("logs", "--previous", "crasher", "-n", ns)
    assert previous.startswith("attempt ")


def test_exec_with_stdin_and_exit_codes(node: Node, ns: str) -> None:
    node.apply(ns, pod("shell", sh("app", "sleep 3600")))
    node.wait_ready(ns, "shell")
    result = node.kubectl.run("exec", "shell", "-n", ns, "--", "sh", "-c",
                              "echo out; echo err >&2; exit 3", check=False)
    assert result.returncode == 3
    assert result.stdout == "out\n" and "err" in result.stderr
    echoed = node.kubectl.run("exec", "-i", "shell", "-n", ns, "--", "sh", "-c",
                              "tr a-z A-Z", input="hello\n", check=False)
    assert echoed.returncode == 0 and echoed.stdout == "HELLO\n"


def _in_terminal(node: Node, argv: list[str], typed: bytes, marker: bytes) -> tuple[int, bytes]:
    """Run kubectl in a terminal of its own, type `typed` once `marker` shows (kubectl
    attached), and read until it exits: (exit code, what the terminal showed)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [node.kubectl.binary, "--kubeconfig", str(node.kubectl.kubeconfig), *argv],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    output = b""
    typed_yet = False
    try:
        deadline = time.monotonic() + WAIT
        while process.poll() is None and time.monotonic() < deadline:
            if not typed_yet and marker in output:
                os.write(leader, typed)
                typed_yet = True
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    output += os.read(leader, 4096)
                except OSError:
                    break
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return process.returncode, output


def test_exec_interactive_terminal(node: Node, ns: str) -> None:
    node.apply(ns, pod("tty", sh("app", "sleep 3600")))
    node.wait_ready(ns, "tty")
    code, output = _in_terminal(node, ["exec", "-it", "tty", "-n", ns, "--", "sh", "-c",
                                       "echo ready; read x; echo got $x; exit 4"],
                                b"abc\n", b"ready")
    assert code == 4
    assert b"got abc" in output


def test_port_forward(node: Node, ns: str) -> None:
    node.apply(ns, pod("web", sh("app", "mkdir -p /www && echo hello-web > /www/index.html"
                                        " && httpd -f -p 8080 -h /www")))
    node.wait_ready(ns, "web")
    process = node.kubectl.popen("port-forward", "-n", ns, "pod/web", "0:8080")
    try:
        assert process.stdout is not None
        line = LineReader(process.stdout).wait_for(lambda text: "Forwarding from 127.0.0.1" in text)
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line)[1])  # type: ignore[index]
        answer = httpx.get(f"http://127.0.0.1:{port}/index.html", timeout=30)
        assert answer.status_code == 200 and answer.text == "hello-web\n"
    finally:
        process.terminate()
        process.wait(10)


def test_two_containers_share_localhost(node: Node, ns: str) -> None:
    node.apply(ns, pod("duo",
                       sh("server", "mkdir -p /www && echo from-server > /www/index.html && "
                                    "httpd -f -p 127.0.0.1:8080 -h /www"),
                       sh("client", "until wget -qO- http://127.0.0.1:8080/; do sleep 1; "
                                    "done; sleep 3600")))
    node.wait_ready(ns, "duo")
    wait_until(lambda: "from-server" in node.kubectl("logs", "duo", "-c", "client", "-n", ns),
               "the client's fetch")


def test_configmap_volume_shows_its_keys(node: Node, ns: str) -> None:
    node.kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=colour=blue",
                 "--from-literal=size=9")
    spec = pod("reader", sh("app", "ls /etc/settings; cat /etc/settings/colour; echo; "
                                   "sleep 3600",
                            volumeMounts=[{"name": "cfg", "mountPath": "/etc/settings"}]),
               volumes=[{"name": "cfg", "configMap": {"name": "settings"}}])
    node.apply(ns, spec)
    node.wait_ready(ns, "reader")
    logs = wait_until(lambda: node.kubectl("logs", "reader", "-n", ns) or None, "output")
    assert logs.split() == ["colour", "size", "blue"]


# -- failing -------------------------------------------------------------------------------


def test_memory_hog_is_oom_killed_and_backs_off(node: Node, ns: str) -> None:
    hog = sh("hog", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
             resources={"limits": {"memory": "32Mi"}})
    node.apply(ns, pod("hog", hog))

    def backing_off() -> Obj | None:
        status = node.container_status(ns, "hog")
        if status and status["restartCount"] >= 1 and \
                (status["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            return status
        return None

    status = wait_until(backing_off, "OOMKilled then CrashLoopBackOff")
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["lastState"]["terminated"]["exitCode"] == 137


def test_failing_liveness_probe_restarts(node: Node, ns: str) -> None:
    probe = {"exec": {"command": ["test", "-f", "/tmp/healthy"]}, "periodSeconds": 1,
             "failureThreshold": 1}
    node.apply(ns, pod("liveness", sh("app", "touch /tmp/healthy; sleep 3; "
                                             "rm /tmp/healthy; sleep 3600",
                                      livenessProbe=probe)))

    def restarted() -> Obj | None:
        status = node.container_status(ns, "liveness")
        return status if status and status["restartCount"] >= 1 else None

    wait_until(restarted, "a liveness restart")
    events = node.kubectl("get", "events", "-n", ns, "--field-selector",
                          "involvedObject.name=liveness")
    assert "Liveness probe failed" in events


def test_failing_readiness_probe_keeps_the_pod_unready(node: Node, ns: str) -> None:
    probe = {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}
    node.apply(ns, pod("unready", sh("app", "sleep 3600", readinessProbe=probe)))
    wait_until(lambda: (s := node.container_status(ns, "unready")) and "running" in s["state"],
               "running")
    time.sleep(3)  # several probe periods
    obj = node.pod(ns, "unready")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert obj["status"]["phase"] == "Running"


def test_delete_stops_processes_within_the_grace_period(node: Node, ns: str) -> None:
    node.apply(ns, pod("stubborn", sh("app", "trap '' TERM; sleep 3600 & wait; sleep 3600"),
                       terminationGracePeriodSeconds=3))
    node.apply(ns, pod("polite", sh("app", "trap 'exit 0' TERM; while true; do sleep 0.2; "
                                           "done"), terminationGracePeriodSeconds=60))
    node.wait_ready(ns, "stubborn")
    node.wait_ready(ns, "polite")
    started = time.monotonic()
    node.kubectl("delete", "pod", "polite", "-n", ns, "--timeout=60s")
    polite = time.monotonic() - started
    started = time.monotonic()
    node.kubectl("delete", "pod", "stubborn", "-n", ns, "--timeout=60s")
    stubborn = time.monotonic() - started
    # SIGTERM ended the polite one long before its 60 s; the stubborn one ignored SIGTERM
    # and was killed once its 3 s were up, not before.
    assert polite < 30
    assert stubborn >= 3
    assert not [p for p in node.kubectl("get", "pods", "-n", ns, "-o", "name").split()]


def test_restarted_kubelet_keeps_containers_running(node: Node, ns: str) -> None:
    node.apply(ns, pod("survivor", sh("app", "sleep 3600")))
    before = node.wait_ready(ns, "survivor")["status"]["containerStatuses"][0]
    node.server.kill()
    node.server.start()
    wait_until(lambda: node_ready(node.kubectl, NODE), "the node Ready again")
    time.sleep(3)  # some relists and syncs of the new kubelet
    after = node.wait_ready(ns, "survivor")["status"]["containerStatuses"][0]
    assert after["containerID"] == before["containerID"]
    assert after["restartCount"] == 0
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]


def test_missing_image_reports_pull_errors(node: Node, ns: str) -> None:
    image = f"{node.registry.host}/test/nosuch:1"
    node.apply(ns, pod("noimage", {"name": "app", "image": image}))
    seen: dict[str, str] = {}

    def both() -> bool:
        status = node.container_status(ns, "noimage")
        waiting = ((status or {}).get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            seen[waiting["reason"]] = waiting.get("message", "")
        return {"ErrImagePull", "ImagePullBackOff"} <= set(seen)

    wait_until(both, "ErrImagePull and ImagePullBackOff")
    assert image in seen["ErrImagePull"] and "not found" in seen["ErrImagePull"]
    assert seen["ImagePullBackOff"] == f'Back-off pulling image "{image}"'


def test_missing_command_reports_a_container_error(node: Node, ns: str) -> None:
    node.apply(ns, pod("nocmd", {"name": "app", "image": LOCAL_IMAGE,
                                 "command": ["/no/such/binary"]}))
    seen: dict[str, str] = {}

    def failed() -> bool:
        status = node.container_status(ns, "nocmd") or {}
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("RunContainerError", "CreateContainerError"):
            seen[waiting["reason"]] = waiting.get("message", "")
        return bool(seen)

    wait_until(failed, "RunContainerError or CreateContainerError")
    assert any("/no/such/binary" in message for message in seen.values())


# ----------------------------------------------------------------------------- identities

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _reader_pod(node: Node, ns: str) -> None:
    """A pod of service account `reader`, which a Role lets read ConfigMaps only."""
    kubectl = node.kubectl
    kubectl("create", "serviceaccount", "reader", "-n", ns)
    kubectl("create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps",
            "-n", ns)
    kubectl("create", "rolebinding", "reader", "--role=cm-reader",
            f"--serviceaccount={ns}:reader", "-n", ns)
    node.apply(ns, pod("caller", {"name": "c", "image": LOCAL_IMAGE,
                                  "command": ["sleep", "3600"]},
                       serviceAccountName="reader"))
    node.wait_ready(ns, "caller")


def _api(node: Node, token: str) -> httpx.Client:
    return httpx.Client(base_url=node.server.url, verify=str(node.data / "tls" / "ca.crt"),
                        headers={"authorization": f"Bearer {token}"}, timeout=30)


def test_a_pod_calls_the_api_with_its_projected_token(node: Node, ns: str) -> None:
    """The ServiceAccount admission plugin mounts a projected token, the kubelet writes it
    with the CA and namespace, and the pod is exactly what its Role allows; the token dies
    with the pod."""
    _reader_pod(node, ns)
    kubectl = node.kubectl
    token = kubectl("exec", "-n", ns, "caller", "--", "cat", f"{SA_DIR}/token").strip()
    assert kubectl("exec", "-n", ns, "caller", "--", "cat", f"{SA_DIR}/namespace") == ns
    assert kubectl("exec", "-n", ns, "caller", "--", "cat", f"{SA_DIR}/ca.crt") == \
        (node.data / "tls" / "ca.crt").read_text()
    # The call is made with the token the pod read (busybox's own TLS, the only client
    # in the test image, shares no cipher suite with an ECDSA server certificate).
    with _api(node, token) as api:
        assert api.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 200
        denied = api.get(f"/api/v1/namespaces/{ns}/secrets")
        assert denied.status_code == 403
        assert denied.json()["message"] == (
            f'secrets is forbidden: User "system:serviceaccount:{ns}:reader" cannot list '
            f'resource "secrets" in API group "" in the namespace "{ns}"')
    head, payload, signature = token.split(".")
    tampered = ".".join((head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA"
                                                          else "BBBB")))
    with _api(node, tampered) as api:
        response = api.get(f"/api/v1/namespaces/{ns}/configmaps")
        assert response.status_code == 401 and response.json()["reason"] == "Unauthorized"
    kubectl("delete", "pod", "caller", "-n", ns, "--wait=true", "--timeout=60s")
    with _api(node, token) as api:
        assert api.get(f"/api/v1/namespaces/{ns}/configmaps").status_code == 401


def test_the_kubelet_serves_only_whom_the_api_authorizes(node: Node, ns: str) -> None:
    """Port 10250: no credential is 401; a token whose user lacks nodes/proxy is 403; the
    API server's own client certificate (kubectl exec through it) gets through."""
    _reader_pod(node, ns)
    token = node.kubectl("create", "token", "reader", "-n", ns).strip()
    exec_path = f"/exec/{ns}/caller/c?command=true&output=1"
    kubelet = f"https://{NODE_IP}:10250"
    ca = str(node.data / "tls" / "ca.crt")
    with httpx.Client(base_url=kubelet, verify=ca, timeout=30) as anonymous:
        assert anonymous.post(exec_path).status_code == 401
    with httpx.Client(base_url=kubelet, verify=ca, timeout=30,
                      headers={"authorization": f"Bearer {token}"}) as reader:
        refused = reader.post(exec_path)
        assert refused.status_code == 403
        assert refused.text == (f"Forbidden (user=system:serviceaccount:{ns}:reader, "
                                "verb=create, resource=nodes, subresource=proxy)")
    assert node.kubectl("exec", "-n", ns, "caller", "--", "echo", "through").strip() == \
        "through"


# -- attach (the container's own stdio, kept by conmon) ---------------------------------


def test_kubectl_attach_joins_the_containers_stdio(node: Node, ns: str) -> None:
    node.apply(ns, pod("reader", sh("app", "read l; echo got $l; echo bye >&2; exit 3",
                                    stdin=True, stdinOnce=True), restartPolicy="Never"))
    node.wait_ready(ns, "reader")
    result = node.kubectl.run("attach", "-i", "reader", "-n", ns, "-c", "app",
                              input="hello\n", check=False)
    assert "got hello\n" in result.stdout and "bye" in result.stderr
    done = node.wait_phase(ns, "reader", "Failed")
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert node.kubectl("logs", "reader", "-n", ns) == "got hello\nbye\n"


def test_kubectl_run_interactive_and_removed(node: Node, ns: str) -> None:
    out = node.kubectl("run", "piped", "-i", "--rm", "-n", ns, f"--image={LOCAL_IMAGE}",
                       "--restart=Never", "--", "sh", "-c", "read l; echo got $l",
                       input="through stdin\n")
    assert "got through stdin" in out
    wait_until(lambda: not node.kubectl("get", "pods", "-n", ns, "-o", "name").strip(),
               "the pod removed")


def test_kubectl_run_with_a_terminal(node: Node, ns: str) -> None:
    code, output = _in_terminal(node, [
        "run", "term", "-it", "--rm", "-n", ns, f"--image={LOCAL_IMAGE}", "--restart=Never",
        "--", "sh", "-c", "stty size; read x; echo got $x"], b"abc\n", b"command prompt")
    assert code == 0, output
    assert b"got abc" in output


def test_kubectl_debug_attaches_an_ephemeral_container(node: Node, ns: str) -> None:
    node.apply(ns, pod("target", sh("app", "sleep 3600")))
    node.wait_ready(ns, "target")
    out = node.kubectl("debug", "-i", "target", "-n", ns, f"--image={LOCAL_IMAGE}",
                       "-c", "debugger", "--target=app", "--profile=general", "--",
                       "sh", "-c", "read l; echo got $l; ps", input="debugging\n")
    assert "got debugging" in out and "sleep 3600" in out
