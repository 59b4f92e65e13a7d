"""`kubectl top` on a real node: the kubelet's stats, the metrics server, the API server's
proxy to it, and discovery.

`kyb server` runs with its node in a network namespace (tests/e2e/nodens.py) and a metric
resolution of 2 s. A pod runs a cpu-bound loop held to a quarter of a cpu, with 32 MiB in
/dev/shm, beside an idle container. `kubectl top pods|nodes` answer, and the figures agree
with the container's cgroup files within 10%: the cpu rate the test measures from the
cumulative file, the memory working set (usage - inactive file). The kubelet's own
endpoints answer too: `/stats/summary`, `/metrics/resource` and `/metrics/cadvisor` (an idle
pod's container, network and writable-layer series).
"""

from __future__ import annotations

import json
import math
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.api.quantity import parse_quantity
from kybernetes.apiserver.pki import Pki, ssl_client_context
from kybernetes.kubelet.stats_cgroup import Hierarchies
from tests.e2e.cluster import Kubectl, wait_until
from tests.e2e.nodens import NODE_IP, REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-top"
IMAGE = "busybox:1.36"
CGROUP_ROOT = "/kyb-e2e-top"
SHM_BYTES = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    data = tmp_path_factory.mktemp("kyb-top")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-top", NODE, ["--metric-resolution", "2s",
                                               "--cgroup-root", CGROUP_ROOT]) as (_, kubectl):
        yield kubectl


def burner(ns: str, kubectl: Kubectl) -> dict[str, Any]:
    kubectl("apply", "-n", ns, "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: burner, labels: {{app: burner}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: burn
    image: {IMAGE}
    command: [sh, -c, "head -c {SHM_BYTES} /dev/zero > /dev/shm/fill; while :; do :; done"]
    resources: {{limits: {{cpu: 250m}}}}
  - name: idle
    image: {IMAGE}
    command: [sleep, "3600"]
""")
    def running() -> dict[str, Any] | None:
        pod: dict[str, Any] = kubectl.json("get", "pod", "burner", "-n", ns)
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return pod if len(statuses) == 2 and all("running" in s["state"] for s in statuses) \
            else None
    return wait_until(running, "the burner running")


def cgroup_figures(pod: dict[str, Any], container: str, seconds: float = 3.0
                   ) -> tuple[float, int]:
    """(cpu cores over `seconds`, working set bytes) from the container's cgroup files."""
    status = next(s for s in pod["status"]["containerStatuses"] if s["name"] == container)
    cid = status["containerID"].partition("://")[2]
    path = f"{CGROUP_ROOT}/burstable/pod{pod['metadata']['uid']}/{cid}"
    hierarchies = Hierarchies.discover()
    first, t0 = hierarchies.cpu(path), time.monotonic()
    time.sleep(seconds)
    second, t1 = hierarchies.cpu(path), time.monotonic()
    memory = hierarchies.memory(path)
    assert first is not None and second is not None and memory is not None
    cores = (second.usage_core_nanoseconds - first.usage_core_nanoseconds) / 1e9 / (t1 - t0)
    return cores, memory.working_set_bytes


def raw(kubectl: Kubectl, ns: str) -> str:
    return kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/burner")


def close(a: float, b: float, within: float = 0.10) -> bool:
    return abs(a - b) <= within * max(abs(a), abs(b))


def test_kubectl_top(kubectl: Kubectl) -> None:
    ns = new_namespace(kubectl, "top")
    pod = burner(ns, kubectl)
    # Discovery lists the group (kubectl top asks before it reads).
    groups = json.loads(kubectl("get", "--raw", "/apis"))["groups"]
    assert any(g["name"] == "metrics.k8s.io" for g in groups)
    assert "v1beta1.metrics.k8s.io" in kubectl("get", "apiservices")

    def top_pods() -> str | None:
        result = kubectl.run("top", "pods", "-n", ns, "--containers", check=False)
        return result.stdout if result.returncode == 0 and "burn" in result.stdout \
            and "idle" in result.stdout else None
    listed = wait_until(top_pods, "kubectl top pods --containers")
    assert listed.split("\n")[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]

    # The metrics API's figures against the cgroup files: cpu over a few seconds, since
    # the pod's metric is the rate over the last two scrapes (the first ones may still
    # cover the start; a loaded machine may give the loop less than its quota).
    def settled() -> dict[str, Any] | None:
        cores, working_set = cgroup_figures(pod, "burn")
        metrics: dict[str, Any] = json.loads(raw(kubectl, ns))
        usage = {c["name"]: c["usage"] for c in metrics["containers"]}
        return metrics if close(float(parse_quantity(usage["burn"]["cpu"])), cores) and \
            close(float(parse_quantity(usage["burn"]["memory"])), working_set) else None
    metrics = wait_until(settled, "the burner's metrics near its cgroup's figures")
    assert metrics["kind"] == "PodMetrics" and metrics["metadata"]["name"] == "burner"
    assert metrics["metadata"]["labels"] == {"app": "burner"}
    usage = {c["name"]: c["usage"] for c in metrics["containers"]}
    assert 0.05 < float(parse_quantity(usage["burn"]["cpu"])) <= 0.25 * 1.1
    assert float(parse_quantity(usage["burn"]["memory"])) >= SHM_BYTES
    assert float(parse_quantity(usage["idle"]["cpu"])) < 0.05

    # kubectl top shows the metrics API's figures (one scrape: the same timestamp before
    # and after), in millicores and MiB.
    def shown() -> tuple[list[str], dict[str, Any]] | None:
        before = json.loads(raw(kubectl, ns))
        table = kubectl("top", "pods", "-n", ns, "--containers")
        after = json.loads(raw(kubectl, ns))
        row = next(line.split() for line in table.splitlines()[1:]
                   if line.split()[1] == "burn")
        return (row, after) if before["timestamp"] == after["timestamp"] else None
    row, same = wait_until(shown, "kubectl top within one scrape")
    burn = next(c["usage"] for c in same["containers"] if c["name"] == "burn")
    # MilliValue rounds up, as kubectl prints it.
    assert int(row[2].removesuffix("m")) == math.ceil(parse_quantity(burn["cpu"]) * 1000)
    assert int(row[3].removesuffix("Mi")) == int(parse_quantity(burn["memory"])) // (1 << 20)

    everywhere = kubectl("top", "pods", "-A")
    assert any(line.split()[:2] == [ns, "burner"] for line in everywhere.splitlines())
    selected = kubectl("top", "pods", "-n", ns, "-l", "app=burner")
    assert "burner" in selected
    assert "burner" not in kubectl.run("top", "pods", "-n", ns, "-l", "app=other",
                                       check=False).stdout

    def top_nodes() -> str | None:
        result = kubectl.run("top", "nodes", check=False)
        return result.stdout if result.returncode == 0 and NODE in result.stdout else None
    nodes = wait_until(top_nodes, "kubectl top nodes")
    assert nodes.split("\n")[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)",
                                            "MEMORY(%)"]
    node_row = next(line.split() for line in nodes.splitlines() if line.startswith(NODE))
    assert int(node_row[1].removesuffix("m")) >= 200  # the burner at least

    missing = kubectl.run("get", "--raw",
                          f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/nothing",
                          check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_kubelet_stats_endpoints(kubectl: Kubectl) -> None:
    """/stats/summary and /metrics/resource on the kubelet itself, as the admin (allowed
    nodes/stats and nodes/metrics), and refused to a caller without credentials."""
    pki = Pki.at(kubectl.kubeconfig.parent)
    base = f"https://{NODE_IP}:10250"
    with httpx.Client(verify=ssl_client_context(pki), timeout=30) as client:
        summary = client.get(f"{base}/stats/summary").json()
        text = client.get(f"{base}/metrics/resource").text
    assert summary["node"]["nodeName"] == NODE
    assert summary["node"]["cpu"]["usageCoreNanoSeconds"] > 0
    # Each running container's log and writable layer, each pod's network.
    containers = [c for pod in summary["pods"] for c in pod.get("containers") or ()]
    assert containers and all("usedBytes" in c["logs"] and "usedBytes" in c["rootfs"]
                              for c in containers)
    assert all("rxBytes" in pod["network"] for pod in summary["pods"] if "network" in pod)
    assert "# TYPE node_cpu_usage_seconds_total counter" in text
    assert "scrape_error 0.0" in text
    anonymous = ssl.create_default_context(cafile=str(pki.ca_cert))
    with httpx.Client(verify=anonymous, timeout=30) as client:
        assert client.get(f"{base}/stats/summary").status_code == 401


def test_kubelet_cadvisor_metrics(kubectl: Kubectl) -> None:
    """/metrics/cadvisor parses and has cadvisor's series and labels for a running pod: its
    container's cpu, memory, start time and writable layer, the pod's network."""
    ns = new_namespace(kubectl, "cadvisor")
    kubectl("run", "idle", "-n", ns, f"--image={IMAGE}", "--restart=Never", "--",
            "sleep", "3600")
    kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/idle", "--timeout=120s")
    pod = kubectl.json("get", "pod", "idle", "-n", ns)
    cid = pod["status"]["containerStatuses"][0]["containerID"].partition("://")[2]
    pki = Pki.at(kubectl.kubeconfig.parent)

    def scraped() -> dict[str, Any] | None:
        with httpx.Client(verify=ssl_client_context(pki), timeout=30) as client:
            response = client.get(f"https://{NODE_IP}:10250/metrics/cadvisor")
        assert response.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        ours = [s for s in families["container_cpu_usage_seconds"].samples
                if s.labels.get("pod") == "idle" and s.labels.get("namespace") == ns]
        return families if any(s.labels["container"] == "idle" for s in ours) else None
    families = wait_until(scraped, "the idle pod in /metrics/cadvisor")
    for name in ("container_cpu_usage_seconds", "container_memory_working_set_bytes",
                 "container_memory_usage_bytes", "container_memory_rss",
                 "container_start_time_seconds", "container_fs_usage_bytes"):
        [sample] = [s for s in families[name].samples
                    if s.labels.get("pod") == "idle" and s.labels["container"] == "idle"]
        assert sample.labels == {"container": "idle", "pod": "idle", "namespace": ns,
                                 "id": f"{CGROUP_ROOT}/besteffort/pod{pod['metadata']['uid']}"
                                       f"/{cid}",
                                 "image": IMAGE, "name": cid}, name
    [fs] = [s for s in families["container_fs_usage_bytes"].samples
            if s.labels.get("pod") == "idle"]
    assert fs.value > 0
    received = [s for s in families["container_network_receive_bytes"].samples
                if s.labels.get("pod") == "idle"]
    assert received and all(s.labels["container"] == "" for s in received)
    assert "eth0" in {s.labels["interface"] for s in received}
