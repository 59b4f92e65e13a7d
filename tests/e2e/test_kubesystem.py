"""kube-system shows what a node's `kyb server` runs itself: the cluster DNS, kube-proxy, the
NetworkPolicy controller and the ingress controller as mirror pods of the node
(kubelet/mirrorpods.py), Running and Ready, with their logs, recreated when deleted and gone
when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.nodens import NODE_IP, REAL_NODE, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-ks"
ADDONS = ("kube-dns", "kube-proxy", "network-policy", "ingress-nginx")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Kubectl]]:
    data: Path = tmp_path_factory.mktemp("kyb-kubesystem")
    with real_node(data, "kyb-e2e-ks", NODE) as (server, kubectl):
        yield server, kubectl


def _mirror_pods(kubectl: Kubectl) -> dict[str, Any]:
    listed = kubectl.json("get", "pods", "-n", "kube-system")
    return {p["metadata"]["name"]: p for p in listed["items"]
            if "kubernetes.io/config.mirror" in (p["metadata"].get("annotations") or {})}


def _all_ready(kubectl: Kubectl, names: set[str]) -> dict[str, Any] | None:
    pods = _mirror_pods(kubectl)
    if set(pods) != names:
        return None
    ready = all(any(c["type"] == "Ready" and c["status"] == "True"
                    for c in (p.get("status") or {}).get("conditions") or ())
                for p in pods.values())
    return pods if ready else None


def test_add_ons_listed_running_with_logs(node: tuple[Server, Kubectl]) -> None:
    _, kubectl = node
    names = {f"{addon}-{NODE}" for addon in ADDONS}
    pods = wait_until(lambda: _all_ready(kubectl, names), "the add-ons' mirror pods Ready")
    dns = pods[f"kube-dns-{NODE}"]
    assert dns["metadata"]["labels"] == {"k8s-app": "kube-dns"}
    assert dns["spec"]["nodeName"] == NODE and dns["spec"]["hostNetwork"] is True
    owner = dns["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Node", NODE)
    status = dns["status"]["containerStatuses"][0]
    assert status["name"] == "kube-dns" and status["image"].startswith("kybernetes:v1.")
    assert "running" in status["state"] and dns["status"]["podIP"] == NODE_IP
    table = kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-proxy")
    assert f"kube-proxy-{NODE}" in table and "Running" in table and "1/1" in table

    logs = kubectl("logs", "-n", "kube-system", f"kube-dns-{NODE}")
    assert "DNS server for cluster.local" in logs
    assert "kube-proxy" in kubectl("logs", "-n", "kube-system", f"kube-proxy-{NODE}")
    assert "network policy controller" in kubectl(
        "logs", "-n", "kube-system", f"network-policy-{NODE}", "--tail", "50")


def test_exec_refused_with_a_reason(node: tuple[Server, Kubectl]) -> None:
    _, kubectl = node
    result = kubectl.run("exec", "-n", "kube-system", f"kube-dns-{NODE}", "--", "true",
                         check=False)
    assert result.returncode != 0
    assert "runs inside the kyb process" in result.stderr


def test_deleted_mirror_pod_is_recreated(node: tuple[Server, Kubectl]) -> None:
    _, kubectl = node
    name = f"kube-proxy-{NODE}"
    before = wait_until(lambda: _mirror_pods(kubectl).get(name), "kube-proxy's mirror pod")
    kubectl("delete", "pod", "-n", "kube-system", name, "--wait=true", "--timeout=30s")

    def recreated() -> dict[str, Any] | None:
        pod = _mirror_pods(kubectl).get(name)
        return pod if pod is not None and pod["metadata"]["uid"] != \
            before["metadata"]["uid"] and pod["status"].get("phase") == "Running" else None

    wait_until(recreated, "kube-proxy's mirror pod recreated")


def test_disabled_add_on_has_no_mirror_pod(node: tuple[Server, Kubectl]) -> None:
    server, kubectl = node
    dns = _mirror_pods(kubectl)[f"kube-dns-{NODE}"]["metadata"]["uid"]
    server.stop()
    server.extra_args.append("--disable-kube-proxy")
    server.start()
    names = {f"kube-dns-{NODE}", f"network-policy-{NODE}", f"ingress-nginx-{NODE}"}
    pods = wait_until(lambda: _all_ready(kubectl, names), "kube-proxy's mirror pod gone")
    # What still runs keeps its mirror pod across the restart.
    assert pods[f"kube-dns-{NODE}"]["metadata"]["uid"] == dns
