"""A node joins a cluster with the server's token, as a k3s agent does: `kyb server` in one
network namespace (without a node of its own), `kyb agent --server --token` in a second one,
the two joined by a veth pair the test makes, nothing else reachable.

The agent trusts the CA by the token's hash, gets its client and serving certificates
through CertificateSigningRequests that the server's controllers approve and sign (the
agent never has the CA's key), turns Ready, runs a pod, and `kubectl logs/exec` reach it
through its kubelet; a restarted agent carries on with its credentials; a wrong token is
refused with a clear message and a non-zero exit.

Images: busybox is built from Debian's busybox-static (tests/kubelet/imagebuild.py) and
imported into the agent's image store. Waits are bounded polls, not measures.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import certificates as csrs
from tests.e2e.cluster import Kubectl, Server, find_kubectl, stop_process, wait_until
from tests.e2e.nodens import REAL_NODE, cleanup_runtime, import_busybox, inside
from tests.kubelet import netns

pytestmark = [pytest.mark.e2e, REAL_NODE]

SERVER_IP = "198.51.100.1"
AGENT_IP = "198.51.100.2"
NODE = "joined-1"
IMAGE = "busybox:1.36"
Obj = dict[str, Any]


@dataclass
class Cluster:
    server: Server
    kubectl: Kubectl
    server_ns: netns.NetNS
    agent_ns: netns.NetNS
    agent_dir: Path
    agent: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://{SERVER_IP}:{self.server.port}"

    @property
    def token(self) -> str:
        return (self.server.data_dir / "token").read_text().strip()

    def agent_command(self, token: str, data_dir: Path, lb_port: int = 6444) -> list[str]:
        return [sys.executable, "-m", "kybernetes.cli.main", "agent", "--server", self.url,
                "--token", token, "--data-dir", str(data_dir), "--node-name", NODE,
                "--node-ip", AGENT_IP, "--run-dir", str(data_dir / "run"),
                "--lb-server-port", str(lb_port)]

    def start_agent(self, token: str) -> None:
        log = open(self.agent_dir / "agent.log", "ab")  # noqa: SIM115 - the process owns it
        with inside(self.agent_ns):
            self.agent = subprocess.Popen(self.agent_command(token, self.agent_dir),
                                          stdout=log, stderr=subprocess.STDOUT)

    def stop_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            stop_process(self.agent, 30, signal.SIGTERM)
        self.agent = None

    def node_ready(self) -> bool:
        with inside(self.server_ns):
            result = self.kubectl.run(
                "get", "node", NODE, "-o",
                'jsonpath={.status.conditions[?(@.type=="Ready")].status}', check=False)
        if self.agent is not None and self.agent.poll() is not None:
            log = (self.agent_dir / "agent.log").read_text(errors="replace")
            raise AssertionError(f"kyb agent exited:\n{log[-3000:]}")
        return result.returncode == 0 and result.stdout.strip() == "True"

    def kubectl_in_server_ns(self, *args: str, check: bool = True
                             ) -> subprocess.CompletedProcess[str]:
        with inside(self.server_ns):
            return self.kubectl.run(*args, check=check)


def connect(server_ns: netns.NetNS, agent_ns: netns.NetNS) -> None:
    """A veth pair between the two namespaces, 198.51.100.0/24 (TEST-NET-2) on it."""
    server_ns.ip("link", "add", "kyb-srv", "type", "veth", "peer", "name", "kyb-agt",
                 "netns", agent_ns.name)
    server_ns.ip("addr", "add", f"{SERVER_IP}/24", "dev", "kyb-srv")
    agent_ns.ip("addr", "add", f"{AGENT_IP}/24", "dev", "kyb-agt")
    server_ns.ip("link", "set", "kyb-srv", "up")
    agent_ns.ip("link", "set", "kyb-agt", "up")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("kyb-join")
    server_dir, agent_dir = root / "server", root / "agent"
    server_dir.mkdir()
    agent_dir.mkdir()
    import_busybox(agent_dir, IMAGE)
    with netns.namespaces("kyb-join-srv", "kyb-join-agt") as (server_ns, agent_ns):
        connect(server_ns, agent_ns)
        server = Server(server_dir, extra_args=["--bind-address", "0.0.0.0",
                                                "--advertise-address", SERVER_IP])
        with inside(server_ns):
            server.start()
        cluster = Cluster(server, Kubectl(server.kubeconfig, find_kubectl()), server_ns,
                          agent_ns, agent_dir)
        try:
            cluster.start_agent(cluster.token)
            wait_until(cluster.node_ready, f"node {NODE} Ready")
            yield cluster
            cluster.kubectl_in_server_ns("delete", "pods", "--all", "--all-namespaces",
                                         "--grace-period=1", "--wait=true", "--timeout=60s",
                                         check=False)
        finally:
            cluster.stop_agent()
            with inside(server_ns):
                server.stop()
            cleanup_runtime(agent_dir)


def test_the_node_gets_its_certificates_by_csr(cluster: Cluster) -> None:
    requests = json.loads(cluster.kubectl_in_server_ns("get", "csr", "-o", "json").stdout)[
        "items"]
    token_id = cluster.token.partition("::")[2].partition(".")[0]
    by_signer = {c["spec"]["signerName"]: c for c in requests}
    client = by_signer[csrs.KUBE_APISERVER_CLIENT_KUBELET]
    serving = by_signer[csrs.KUBELET_SERVING]
    assert client["spec"]["username"] == f"system:bootstrap:{token_id}"
    assert serving["spec"]["username"] == f"system:node:{NODE}"
    for request in (client, serving):
        assert csrs.is_approved(request) and csrs.issued_certificate(request)
    agent = cluster.agent_dir / "agent"
    assert (agent / "kubelet.kubeconfig").stat().st_mode & 0o777 == 0o600
    assert (agent / "pki" / "kubelet-client-current.pem").stat().st_mode & 0o777 == 0o600
    assert not list(cluster.agent_dir.rglob("ca.key"))
    # The node's kubeconfig leads to its load balancer, in the agent's namespace.
    with inside(cluster.agent_ns):
        whoami = cluster.kubectl("--kubeconfig", str(agent / "kubelet.kubeconfig"),
                                 "auth", "whoami")
    assert f"system:node:{NODE}" in whoami
    node: Obj = json.loads(cluster.kubectl_in_server_ns("get", "node", NODE, "-o",
                                                        "json").stdout)
    assert {"type": "InternalIP", "address": AGENT_IP} in node["status"]["addresses"]


def test_a_pod_runs_and_kubectl_logs_and_exec_reach_it(cluster: Cluster) -> None:
    ns = f"j-{uuid.uuid4().hex[:8]}"
    cluster.kubectl_in_server_ns("create", "namespace", ns)
    # Bound to the node directly: this is about the node, not the scheduler.
    cluster.kubectl_in_server_ns("run", "hello", "-n", ns, f"--image={IMAGE}",
                                 "--restart=Never", "--overrides",
                                 json.dumps({"spec": {"nodeName": NODE}}), "--", "sh", "-c",
                                 "echo hello from the joined node; sleep 3600")
    wait_until(lambda: cluster.kubectl_in_server_ns(
        "get", "pod", "hello", "-n", ns, "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}').stdout == "True",
        "the pod Ready")
    logs = wait_until(lambda: cluster.kubectl_in_server_ns("logs", "hello", "-n", ns).stdout,
                      "the pod's output")
    assert logs == "hello from the joined node\n"
    executed = cluster.kubectl_in_server_ns("exec", "hello", "-n", ns, "--", "sh", "-c",
                                            "echo $((6 * 7)); hostname")
    assert executed.stdout.split() == ["42", "hello"]


def test_a_restarted_agent_keeps_its_credentials(cluster: Cluster) -> None:
    before = cluster.kubectl_in_server_ns("get", "csr", "-o", "name").stdout.split()
    cluster.stop_agent()
    # No token is needed any more: the node's own certificate is still valid.
    cluster.start_agent("not-a-token")
    wait_until(cluster.node_ready, f"node {NODE} Ready again")
    lease = cluster.kubectl_in_server_ns("get", "lease", NODE, "-n", "kube-node-lease", "-o",
                                         "jsonpath={.spec.renewTime}").stdout
    wait_until(lambda: cluster.kubectl_in_server_ns(
        "get", "lease", NODE, "-n", "kube-node-lease", "-o",
        "jsonpath={.spec.renewTime}").stdout != lease, "a lease renewal")
    assert cluster.kubectl_in_server_ns("get", "csr", "-o", "name").stdout.split() == before


def test_a_wrong_token_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    digest, _, bootstrap = cluster.token.partition("::")
    token_id, _, secret = bootstrap.partition(".")
    wrong_secret = f"{digest}::{token_id}.{'0' * 16 if secret != '0' * 16 else '1' * 16}"
    wrong_ca = f"K10{'f' * 64}::{bootstrap}"
    for token, message in ((wrong_secret, "the server refused the node token (401 "),
                           (wrong_ca, "the token's CA hash does not match")):
        with inside(cluster.agent_ns):
            # Beside the running agent: a load balancer port of its own.
            result = subprocess.run(cluster.agent_command(token, tmp_path / "refused", 6445),
                                    capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stderr
        assert message in result.stderr
        assert not (tmp_path / "refused" / "agent" / "kubelet.kubeconfig").exists()
