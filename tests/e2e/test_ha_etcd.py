"""Three `kyb server` processes on the embedded etcd, formed from the README's HA commands.

The first runs `--cluster-init`, the two others join it with `--server URL --token T`; each
runs its own etcd member (a child process) on its own ports and data dir. The tests check
that the three members form one cluster, that a write through one server reads through
another, that killing a server (kill -9: its member dies with it) leaves the two others
serving reads and writes and that it comes back with what it missed, that a snapshot saved
by `kyb etcd-snapshot save` brings the objects back into a wiped data dir with `kyb server
--cluster-reset --cluster-reset-restore-path`, and that `--cluster-reset` alone makes a
member that lost its quorum a single-member cluster with its data.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kybernetes.etcdserver import client as etcd_client
from kybernetes.etcdserver import config as etcd_config
from tests.e2e.cluster import Kubectl, Server, free_port, wait_until
from tests.etcd_cluster import etcd_binary

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(etcd_binary() is None, reason="etcd binary not found: install "
                       "Debian's etcd-server to run the embedded etcd tests"),
]


def _server(data_dir: Path, *flags: str) -> Server:
    """A `kyb server` with ports of its own (API, etcd client and peer) and no metrics
    ports, so that three fit on one machine."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Server(data_dir, extra_args=[
        "--etcd-client-port", str(free_port()), "--etcd-peer-port", str(free_port()),
        "--controller-manager-metrics-bind-address", "",
        "--scheduler-metrics-bind-address", "", "--disable-metrics-server", *flags])


def _members(data_dir: Path) -> list[etcd_client.Member]:
    """The member list, asked of the data dir's own member with its client certificate."""
    member = etcd_config.load(data_dir)
    assert member is not None, f"{data_dir} has no embedded etcd"

    async def ask() -> list[etcd_client.Member]:
        async with etcd_client.connect(member, [member.local_endpoint]) as channel:
            return await etcd_client.members(channel)

    return asyncio.run(ask())


def _etcd_of(data_dir: Path) -> list[int]:
    """The pids of etcd processes running on `data_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"etcd") and str(data_dir / "db" / "etcd").encode() in argv:
            found.append(int(entry.name))
    return found


def _kyb(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "kybernetes.cli.main", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kyb {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    base = tmp_path_factory.mktemp("ha")
    started: list[Server] = []
    try:
        first = _server(base / "s1", "--cluster-init")
        first.start(timeout=90)
        started.append(first)
        token = (first.data_dir / "token").read_text().strip()
        for name in ("s2", "s3"):
            joined = _server(base / name, "--server", first.url, "--token", token)
            joined.start(timeout=120)
            started.append(joined)
        yield started
    finally:
        for server in started:
            server.stop()


def test_three_servers_form_one_etcd_cluster(servers: list[Server]) -> None:
    members = _members(servers[2].data_dir)
    configs = [etcd_config.load(s.data_dir) for s in servers]
    assert {m.name for m in members} == {c.name for c in configs if c is not None}
    assert len(members) == 3
    assert all(m.client_urls for m in members), "every member started"
    for server in servers:
        assert len(_etcd_of(server.data_dir)) == 1


def test_a_write_through_one_server_reads_through_another(servers: list[Server]) -> None:
    Kubectl(servers[0].kubeconfig)("create", "configmap", "written-on-1", "--from-literal=a=1")
    got = Kubectl(servers[2].kubeconfig).json("get", "configmap", "written-on-1")
    assert got["data"] == {"a": "1"}


def test_killing_a_server_leaves_the_others_serving(servers: list[Server]) -> None:
    first = servers[0]
    first.kill()
    wait_until(lambda: not _etcd_of(first.data_dir), "the killed server's etcd to end", 10)
    two, three = Kubectl(servers[1].kubeconfig), Kubectl(servers[2].kubeconfig)
    # The first write may wait for a new etcd leader (if the killed member led).
    wait_until(lambda: two.run("create", "configmap", "after-kill-0", check=False
                               ).returncode == 0, "a write through server 2", 30)
    failed = 0
    for i in range(1, 11):
        kubectl = two if i % 2 else three
        failed += kubectl.run("create", "configmap", f"after-kill-{i}", check=False
                              ).returncode != 0
    assert failed == 0, f"{failed} of 10 writes failed with server 1 gone"
    names = {o["metadata"]["name"] for o in three.json("get", "configmaps")["items"]}
    assert {"written-on-1", *(f"after-kill-{i}" for i in range(11))} <= names
    assert len(_members(servers[2].data_dir)) == 3  # a dead member stays a member


def test_a_killed_server_comes_back_with_what_it_missed(servers: list[Server]) -> None:
    first = servers[0]
    first.start(timeout=120)  # the same flags: its member rejoins from its own data
    kubectl = Kubectl(first.kubeconfig)
    names = {o["metadata"]["name"] for o in kubectl.json("get", "configmaps")["items"]}
    assert "after-kill-10" in names
    kubectl("create", "configmap", "back-on-1")
    assert Kubectl(servers[2].kubeconfig).json("get", "configmap", "back-on-1")
    assert len(_etcd_of(first.data_dir)) == 1


def test_a_snapshot_restores_a_wiped_server(servers: list[Server]) -> None:
    second = servers[1]
    data_dir = second.data_dir
    saved = _kyb("etcd-snapshot", "save", "--data-dir", str(data_dir), "--name", "before")
    assert "saved" in saved
    listed = _kyb("etcd-snapshot", "ls", "--data-dir", str(data_dir))
    snapshots = sorted((data_dir / "db" / "snapshots").iterdir())
    assert len(snapshots) == 1 and snapshots[0].name in listed
    Kubectl(second.kubeconfig)("create", "configmap", "after-snapshot")
    for server in servers:
        server.stop()
    # The data is lost: the member's directory is gone.
    shutil.rmtree(data_dir / "db" / "etcd")
    restored = _server(data_dir, "--cluster-reset", "--cluster-reset-restore-path",
                       str(snapshots[0]))
    restored.start(timeout=120)
    try:
        kubectl = Kubectl(restored.kubeconfig)
        names = {o["metadata"]["name"] for o in kubectl.json("get", "configmaps")["items"]}
        assert {"written-on-1", "after-kill-0", "after-kill-10"} <= names
        assert "after-snapshot" not in names
        member = etcd_config.load(data_dir)
        assert member is not None
        assert [m.name for m in _members(data_dir)] == [member.name]
        kubectl("create", "configmap", "after-restore")
        assert kubectl.json("get", "configmap", "after-restore")["metadata"]["name"]
    finally:
        restored.stop()
    assert not _etcd_of(data_dir), "the member stops with its server"


def test_a_cluster_reset_keeps_the_data_of_a_member_that_lost_its_quorum(
        servers: list[Server]) -> None:
    third = servers[2]  # stopped with the two others: alone it has no quorum
    reset = _server(third.data_dir, "--cluster-reset")
    reset.start(timeout=120)
    try:
        kubectl = Kubectl(reset.kubeconfig)
        names = {o["metadata"]["name"] for o in kubectl.json("get", "configmaps")["items"]}
        assert {"written-on-1", "back-on-1", "after-snapshot"} <= names
        assert len(_members(third.data_dir)) == 1
        kubectl("create", "configmap", "after-reset")
    finally:
        reset.stop()
