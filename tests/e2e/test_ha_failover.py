"""Failover in an HA cluster: three `kyb server`s on the embedded etcd and a `kyb agent`,
each in a network namespace of its own that the test makes, as machines on one LAN
(tests/e2e/hacluster.py: the test itself runs kubectl in the hub), the agent at
198.51.100.20, joined to the first server.

The tests check that the `kubernetes` Service's endpoints list every server (master leases,
upstream's lease reconciler) and each keeps its identity Lease; that after the first server
is killed (-9) its address leaves the endpoints within the lease TTL while the agent, going
through its load balancer on 127.0.0.1:6444, keeps renewing its node's Lease through
another server and its node stays Ready; that scheduled snapshots appear and retention
prunes them; and that deleting a server's Node removes its etcd member. Waits are bounded
polls, not measures.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kybernetes.etcdserver import config as etcd_config
from tests.e2e.cluster import Kubectl, find_kubectl, stop_process, wait_until
from tests.e2e.hacluster import ADDRESSES, HaServer, form, lan
from tests.e2e.nodens import REAL_NODE, cleanup_runtime, inside, node_ready
from tests.e2e.test_ha_etcd import _members
from tests.etcd_cluster import etcd_binary
from tests.kubelet import netns

pytestmark = [
    pytest.mark.e2e, REAL_NODE,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install "
                       "Debian's etcd-server to run the embedded etcd tests"),
]

AGENT_IP = "198.51.100.20"
NODE = "ha-agent"
RETENTION = 2


@dataclass
class Cluster:
    servers: list[HaServer]
    agent_dir: Path
    # The servers' namespaces, then the agent's.
    namespaces: list[netns.NetNS]
    agent: subprocess.Popen[bytes] | None = None

    def members(self, index: int) -> list[Any]:
        """The etcd member list, asked of server `index`'s member in its namespace."""
        with inside(self.namespaces[index]):
            return _members(self.servers[index].data_dir)

    def kubectl(self, index: int) -> Kubectl:
        return Kubectl(self.servers[index].kubeconfig, find_kubectl())

    def agent_log(self) -> str:
        return (self.agent_dir / "agent.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("ha-failover")
    with lan("kyb-ha-hub", [("kyb-ha-s1", ADDRESSES[0]), ("kyb-ha-s2", ADDRESSES[1]),
                            ("kyb-ha-s3", ADDRESSES[2]), ("kyb-ha-agt", AGENT_IP)]
             ) as (hub, spokes), inside(hub):
        started = Cluster([], base / "agent", spokes)
        started.agent_dir.mkdir()
        try:
            form(base, spokes, started.servers,
                 "--etcd-snapshot-schedule-cron", "@every 3s",
                 "--etcd-snapshot-retention", str(RETENTION))
            first = started.servers[0]
            token = (first.data_dir / "token").read_text().strip()
            log = open(started.agent_dir / "agent.log", "ab")  # noqa: SIM115
            with inside(spokes[3]):
                started.agent = subprocess.Popen(
                    [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server",
                     first.url, "--token", token, "--data-dir", str(started.agent_dir),
                     "--node-name", NODE, "--node-ip", AGENT_IP, "--run-dir",
                     str(started.agent_dir / "run"), "--disable-ingress"],
                    stdout=log, stderr=subprocess.STDOUT)
            kubectl = started.kubectl(1)
            wait_until(lambda: node_ready(kubectl, NODE), f"node {NODE} Ready", 90)
            yield started
        finally:
            if started.agent is not None and started.agent.poll() is None:
                stop_process(started.agent, 30, signal.SIGTERM)
            for server in started.servers:
                server.stop()
            cleanup_runtime(started.agent_dir)


def _endpoint_ips(kubectl: Kubectl) -> list[str]:
    endpoints = kubectl.json("get", "endpoints", "kubernetes", "-n", "default")
    return [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses", [])]


def _slice_ips(kubectl: Kubectl) -> list[str]:
    found = kubectl.json("get", "endpointslice", "kubernetes", "-n", "default")
    return [a for e in found["endpoints"] for a in e["addresses"]]


def _renewed(kubectl: Kubectl) -> datetime:
    lease: Any = kubectl.json("get", "lease", NODE, "-n", "kube-node-lease")
    return datetime.fromisoformat(lease["spec"]["renewTime"]).astimezone(UTC)


def test_the_kubernetes_endpoints_list_every_server(cluster: Cluster) -> None:
    kubectl = cluster.kubectl(2)
    wait_until(lambda: _endpoint_ips(kubectl) == ADDRESSES, "every server in the endpoints",
               30)
    assert _slice_ips(kubectl) == ADDRESSES
    leases = kubectl.json("get", "leases", "-n", "kube-system", "-l",
                          "apiserver.kubernetes.io/identity=kube-apiserver")["items"]
    assert sorted(lease["metadata"]["labels"]["kubernetes.io/hostname"]
                  for lease in leases) == ["s1", "s2", "s3"]
    assert all(lease["spec"]["leaseDurationSeconds"] == 3600 for lease in leases)


def test_the_agent_goes_through_its_load_balancer(cluster: Cluster) -> None:
    kubeconfig = (cluster.agent_dir / "agent" / "kubelet.kubeconfig").read_text()
    assert "https://127.0.0.1:6444" in kubeconfig
    wait_until(lambda: all(a in cluster.agent_log() for a in ADDRESSES),
               "the agent to learn every server", 30)


def test_killing_the_agents_server_keeps_its_node_ready(cluster: Cluster) -> None:
    kubectl = cluster.kubectl(1)
    wait_until(lambda: _endpoint_ips(kubectl) == ADDRESSES, "every server in the endpoints",
               30)
    cluster.servers[0].kill()
    killed = datetime.now(UTC)
    started = time.monotonic()
    # Gone from the endpoints once its lease expires (15 s TTL, 10 s reconciles).
    wait_until(lambda: _endpoint_ips(kubectl) == ADDRESSES[1:],
               "the killed server to leave the endpoints", 45)
    assert time.monotonic() - started < 30
    assert _slice_ips(kubectl) == ADDRESSES[1:]
    # The node renews its Lease through another server and stays Ready.
    wait_until(lambda: _renewed(kubectl) > killed, "a node lease renewal after the kill", 30)
    assert "switched to API server" in cluster.agent_log()
    time.sleep(5)
    assert _renewed(cluster.kubectl(2)) > killed
    assert node_ready(kubectl, NODE)
    assert cluster.agent is not None and cluster.agent.poll() is None


def test_scheduled_snapshots_are_saved_and_pruned(cluster: Cluster) -> None:
    directory = cluster.servers[1].data_dir / "db" / "snapshots"

    def pruned() -> bool:
        log = (cluster.servers[1].data_dir / "server.log").read_text(errors="replace")
        return "removed etcd snapshot" in log

    wait_until(pruned, "a scheduled snapshot pruned", 30)
    names = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    assert 1 <= len(names) <= RETENTION
    assert all(n.startswith("etcd-snapshot-s2-") for n in names)


def test_deleting_a_servers_node_removes_its_member(cluster: Cluster) -> None:
    dead = etcd_config.load(cluster.servers[0].data_dir)
    assert dead is not None
    assert dead.name in {m.name for m in cluster.members(1)}
    kubectl = cluster.kubectl(1)
    # The first server's Node as a server running its node marks it (its kubelet is not
    # run here: the Node object alone is what the controller acts on).
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "s1", "annotations": {
            "etcd.kybernetes.io/node-name": dead.name,
            "etcd.kybernetes.io/node-address": ADDRESSES[0]}}}))
    wait_until(lambda: "etcd.kybernetes.io/member-removal" in kubectl.json(
        "get", "node", "s1")["metadata"].get("finalizers", []), "the member finalizer", 20)
    kubectl("delete", "node", "s1", "--timeout=60s")
    members = cluster.members(1)
    assert dead.name not in {m.name for m in members}
    assert len(members) == 2
    kubectl("create", "configmap", "after-member-removal")
    assert cluster.kubectl(2).json("get", "configmap", "after-member-removal")
