"""`kyb server`'s own components (controllers, scheduler, kubelet, kube-proxy, DNS, network
policy, ingress, metrics server) reach its API server over its Unix socket, not loopback
TLS, each still as the user its client certificate names: the audit log of a real node
shows each component's requests under its own user and groups, from 127.0.0.1, and the
server process holds no TCP connection to its own HTTPS port."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.nodens import REAL_NODE, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-uds"
POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}
AUTHENTICATED = "system:authenticated"
# The program of each component's User-Agent, and the user it runs as.
COMPONENTS = {
    "kube-controller-manager": ("system:kube-controller-manager", [AUTHENTICATED]),
    "kube-scheduler": ("system:kube-scheduler", [AUTHENTICATED]),
    "kubelet": (f"system:node:{NODE}", ["system:nodes", AUTHENTICATED]),
    "kube-proxy": ("system:kube-proxy", [AUTHENTICATED]),
    "kybernetes-dns": ("system:kybernetes:dns", [AUTHENTICATED]),
    "network-policy-controller": ("system:kybernetes:network-policy", [AUTHENTICATED]),
    "ingress-nginx": ("system:kybernetes:ingress", [AUTHENTICATED]),
    "kybernetes": ("system:metrics-server", [AUTHENTICATED]),
}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Kubectl]]:
    data: Path = tmp_path_factory.mktemp("kyb-uds")
    policy = data / "policy.json"
    policy.write_text(json.dumps(POLICY))
    with real_node(data, "kyb-e2e-uds", NODE, [
            "--audit-policy-file", str(policy),
            "--audit-log-path", str(data / "audit.log")]) as running:
        yield running


def events(server: Server) -> list[dict[str, Any]]:
    path = server.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def program(event: dict[str, Any]) -> str:
    return str(event.get("userAgent", "")).split("/", 1)[0]


def test_each_component_is_its_own_user(node: tuple[Server, Kubectl]) -> None:
    server, _ = node
    users = {user for user, _ in COMPONENTS.values()}

    def all_seen() -> list[dict[str, Any]] | None:
        found = [e for e in events(server) if e["user"]["username"] in users]
        return found if {e["user"]["username"] for e in found} == users else None

    found = wait_until(all_seen, "requests of every in-process component")
    for event in found:
        username, groups = COMPONENTS[program(event)]
        assert (event["user"]["username"], event["user"].get("groups")) == \
            (username, groups), event
        assert event["sourceIPs"] == ["127.0.0.1"], event
    # The controllers acting as their service accounts, over the socket too.
    assert any(e["user"]["username"].startswith("system:serviceaccount:kube-system:")
               and program(e) == "kube-controller-manager" for e in events(server))


def test_components_use_the_socket_not_tls(node: tuple[Server, Kubectl]) -> None:
    server, _ = node
    assert server.process is not None
    mode = (server.data_dir / "apiserver.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    connections = subprocess.run(
        ["ss", "-Htnp", "state", "established", "(", "dport", "=", f":{server.port}", ")"],
        capture_output=True, text=True, check=True).stdout
    own = [line for line in connections.splitlines() if f"pid={server.process.pid}," in line]
    assert own == []
    unix = subprocess.run(["ss", "-Hxp"], capture_output=True, text=True, check=True).stdout
    served = [line for line in unix.splitlines()
              if str(server.data_dir / "apiserver.sock") in line
              and f"pid={server.process.pid}," in line]
    assert len(served) > len(COMPONENTS)
