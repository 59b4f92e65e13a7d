"""Service endpoints end to end: a real `kyb server` (controller manager with the
Endpoints, EndpointSlice, mirroring and ServiceLB controllers), simulated nodes
(`kyb sim nodes`) running a Deployment's pods, and the real kubectl 1.35 doing the "Learn
Kubernetes Basics" steps: `create deployment`, `expose`, `scale`, `get endpointslices`,
`get endpoints`, and a LoadBalancer Service whose EXTERNAL-IP is the nodes' addresses.

Waits are bounded polls or `rollout status --timeout`; nothing depends on how fast things
are. The simulated nodes never pull images (the image names a closed loopback port).
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

SIM_PREFIX = "ep-"
IMAGE = "127.0.0.1:1/web:1.0"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def nodes(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[list[str]]:
    """Two simulated nodes; yields their InternalIPs."""
    logs = tmp_path_factory.mktemp("endpoints-logs")
    process = Process(SIM_PREFIX, [
        "sim", "nodes", "--count", "2", "--name-prefix", SIM_PREFIX, "--cpu", "32",
        "--memory", "64Gi", "--kubeconfig", str(server.kubeconfig)], logs / "nodes.log")
    try:
        def node_ips() -> list[str] | None:
            ips = [a["address"] for n in kubectl.json("get", "nodes")["items"]
                   if any(c["type"] == "Ready" and c["status"] == "True"
                          for c in n["status"].get("conditions", []))
                   for a in n["status"].get("addresses", []) if a["type"] == "InternalIP"]
            return sorted(ips) if len(ips) >= 2 else None

        yield wait_until(node_ips, "two ready nodes")
    finally:
        process.stop()


def slice_ips(kubectl: Kubectl, ns: str, service: str) -> list[str]:
    slices = kubectl.json("get", "endpointslices", "-n", ns, "-l",
                          f"kubernetes.io/service-name={service}")["items"]
    return sorted(a for s in slices for e in s["endpoints"] if e["conditions"].get("ready")
                  for a in e["addresses"])


def pod_ips(kubectl: Kubectl, ns: str) -> list[str]:
    return sorted(p["status"]["podIP"] for p in kubectl.json(
        "get", "pods", "-n", ns, "-l", "app=web")["items"]
        if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp"))


def scale_and_wait(kubectl: Kubectl, ns: str, replicas: int) -> list[str]:
    kubectl("scale", "deployment", "web", f"--replicas={replicas}", "-n", ns)
    kubectl.run("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s", timeout=120)

    def settled() -> list[str] | None:
        ips = slice_ips(kubectl, ns, "web")
        return ips if len(ips) == replicas and ips == pod_ips(kubectl, ns) else None

    return wait_until(settled, f"an EndpointSlice with the {replicas} pod IPs")


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_expose_scale_and_load_balancer(kubectl: Kubectl, ns: str, nodes: list[str]) -> None:
    kubectl("create", "deployment", "web", f"--image={IMAGE}", "--replicas=3", "--port=8080",
            "-n", ns)
    kubectl.run("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s", timeout=120)
    kubectl("expose", "deployment", "web", "--port=8080", "-n", ns)
    ips = scale_and_wait(kubectl, ns, 3)

    [eps] = kubectl.json("get", "endpointslices", "-n", ns, "-l",
                         "kubernetes.io/service-name=web")["items"]
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    assert eps["metadata"]["ownerReferences"][0]["kind"] == "Service"
    header, row = table(kubectl("get", "endpointslices", "-n", ns))
    assert header == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert row[0].startswith("web-") and row[1:3] == ["IPv4", "8080"]
    assert row[3] == ",".join(e["addresses"][0] for e in eps["endpoints"])
    assert sorted(row[3].split(",")) == ips
    header, row = table(kubectl("get", "endpoints", "web", "-n", ns))
    assert header == ["NAME", "ENDPOINTS", "AGE"]
    assert row[:2] == ["web", ",".join(f"{ip}:8080" for ip in sorted(
        ips, key=lambda ip: [int(part) for part in ip.split(".")]))]

    assert len(scale_and_wait(kubectl, ns, 5)) == 5
    assert len(scale_and_wait(kubectl, ns, 2)) == 2

    kubectl("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer",
            "--port=80", "--target-port=8080", "-n", ns)

    def external_ip() -> list[str] | None:
        header, row = table(kubectl("get", "service", "web-lb", "-n", ns))
        assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        return row if row[3] != "<pending>" else None

    row = wait_until(external_ip, "the LoadBalancer's EXTERNAL-IP")
    assert row[1] == "LoadBalancer"
    assert row[3] == ",".join(nodes)
    svc: Obj = kubectl.json("get", "service", "web-lb", "-n", ns)
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": ip, "ipMode": "VIP"}
                                                        for ip in nodes]
    assert row[4] == f"80:{svc['spec']['ports'][0]['nodePort']}/TCP"


def test_selectorless_service_is_mirrored(kubectl: Kubectl, ns: str) -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
               "spec": {"ports": [{"port": 5432}]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext"},
                 "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}
    kubectl("create", "-n", ns, "-f", "-",
            input=f"{json.dumps(service)}\n---\n{json.dumps(endpoints)}\n")

    def mirrored() -> Obj | None:
        items = kubectl.json("get", "endpointslices", "-n", ns, "-l",
                             "kubernetes.io/service-name=ext")["items"]
        return items[0] if items else None

    eps = wait_until(mirrored, "a mirrored EndpointSlice")
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert [e["addresses"] for e in eps["endpoints"]] == [["192.0.2.10"]]
