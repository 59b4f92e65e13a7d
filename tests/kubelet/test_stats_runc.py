"""The kubelet's stats of a real runc container: the figures agree with its cgroup files.

A pod sandbox and a container (a cpu-bound loop held to half a cpu by its quota, 32 MiB in
its /dev/shm) run under real runc (the runtime tests' fixtures); the pod as the kubelet
would have computed its status names the container, and `CgroupStats` reads the cgroups.
Its cumulative cpu, cpu rate and memory working set must agree with what the cgroup files
say within 10%, in the summary and in `/metrics/resource` as the metrics server decodes it.

A second container sleeps in a pod whose network namespace gets an `eth0` (a veth whose
peer, which cadvisor ignores, stays in the namespace; its neighbour is static): packets sent
through it (from a process the test starts in that namespace) grow the pod's transmitted
bytes, and a file written in the container grows its rootfs (the overlay's upper layer), as
the summary and `/metrics/cadvisor` tell.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.kubelet.runtime.cri import Resources, SandboxConfig
from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
from kybernetes.kubelet.stats import CgroupStats, summary
from kybernetes.kubelet.stats_cadvisor import cadvisor_metrics
from kybernetes.kubelet.stats_cgroup import Hierarchies
from kybernetes.kubelet.stats_fs import DiskUsage
from kybernetes.kubelet.stats_metrics import resource_metrics
from kybernetes.metrics.scrape import decode
from tests.kubelet.runtime.test_runc import container
from tests.kubelet.runtime.test_runc import dirs as dirs  # fixtures
from tests.kubelet.runtime.test_runc import layer as layer
from tests.kubelet.runtime.test_runc import pod as pod
from tests.kubelet.runtime.test_runc import pytestmark as pytestmark
from tests.kubelet.runtime.test_runc import runtime as runtime

HALF_CPU = 50_000  # quota per 100 ms period
SHM_BYTES = 32 * 1024 * 1024


def close(a: float, b: float, within: float = 0.10) -> bool:
    return abs(a - b) <= within * max(abs(a), abs(b))


def cgroup_files(hierarchies: Hierarchies, path: str) -> tuple[int, int]:
    """(cpu ns, working set bytes) straight from the files, v1 or v2."""
    if "cpuacct" in hierarchies.v1:
        cpu_dir = hierarchies.directory(hierarchies.v1["cpuacct"], path)
        cpu = int((cpu_dir / "cpuacct.usage").read_text())
    else:
        assert hierarchies.v2 is not None
        stat = (hierarchies.directory(hierarchies.v2, path) / "cpu.stat").read_text()
        cpu = int(stat.split("usage_usec ")[1].split()[0]) * 1000
    if "memory" in hierarchies.v1:
        mem_dir = hierarchies.directory(hierarchies.v1["memory"], path)
        usage = int((mem_dir / "memory.usage_in_bytes").read_text())
        key = "total_inactive_file"
    else:
        assert hierarchies.v2 is not None
        mem_dir = hierarchies.directory(hierarchies.v2, path)
        usage = int((mem_dir / "memory.current").read_text())
        key = "inactive_file"
    stat_lines = dict(line.split() for line in (mem_dir / "memory.stat").read_text()
                      .splitlines())
    return cpu, usage - int(stat_lines[key])


async def test_stats_agree_with_the_cgroup_files(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path,
        dirs: tuple[Path, Path, str]) -> None:
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "burn", "sh", "-c",
        f"head -c {SHM_BYTES} /dev/zero > /dev/shm/fill; while :; do :; done",
        resources=Resources(cpu_quota=HALF_CPU, cpu_period=100_000)))
    await runtime.start_container(cid)
    started = time.time()
    api_pod: dict[str, Any] = {
        "metadata": {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
        "spec": {"containers": [{"name": "burn"}]},
        "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                   "containerStatuses": [{
                       "name": "burn", "containerID": f"runc://{cid}",
                       "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}}
    stats = CgroupStats("node-1", lambda: [api_pod], dirs[2])
    cgroup = f"{pod.cgroup_parent}/{cid}"
    # The shm file is written at once; give the loop a moment to run.
    async with asyncio.timeout(30):
        while cgroup_files(stats.hierarchies, cgroup)[1] < SHM_BYTES:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await stats.collect()
    cpu_before, before = cgroup_files(stats.hierarchies, cgroup)[0], time.monotonic()
    await asyncio.sleep(2.0)
    node = await stats.collect()
    cpu_file, working_set_file = cgroup_files(stats.hierarchies, cgroup)
    rate_file = (cpu_file - cpu_before) / (time.monotonic() - before)
    assert time.time() - started < 60

    body = summary(node)
    assert body["node"]["nodeName"] == "node-1"
    assert body["node"]["cpu"]["usageCoreNanoSeconds"] > 0
    assert body["node"]["memory"]["workingSetBytes"] > 0
    [pod_stats] = body["pods"]
    assert pod_stats["podRef"] == {"name": pod.name, "namespace": pod.namespace,
                                   "uid": pod.uid}
    [burn] = pod_stats["containers"]
    assert burn["name"] == "burn" and burn["startTime"] == "2026-01-01T00:00:01Z"
    assert close(burn["cpu"]["usageCoreNanoSeconds"], cpu_file)
    assert close(burn["cpu"]["usageNanoCores"], rate_file)
    assert burn["cpu"]["usageNanoCores"] <= HALF_CPU * 10_000 * 1.1  # its quota, in ns/s
    assert close(burn["memory"]["workingSetBytes"], working_set_file)
    assert burn["memory"]["workingSetBytes"] >= SHM_BYTES
    # The pod's cgroup holds the container's usage.
    assert pod_stats["cpu"]["usageCoreNanoSeconds"] >= burn["cpu"]["usageCoreNanoSeconds"]
    assert close(pod_stats["memory"]["workingSetBytes"], working_set_file)

    batch = decode(resource_metrics(node).decode())
    point = batch.pods[(pod.namespace, pod.name)]["burn"]
    assert close(point.cpu_nanoseconds, cpu_file)
    assert close(point.memory_bytes, working_set_file)
    assert point.start_time == pytest.approx(1767225601.0)
    assert batch.node is not None and batch.node.cpu_nanoseconds > 0


SEND = ("import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for _ in range(100): s.sendto(b'x' * 1000, ('10.250.77.2', 9))\n")


def in_netns(netns: Path, *cmd: str) -> None:
    subprocess.run(["nsenter", f"--net={netns}", *cmd], check=True, capture_output=True,
                   timeout=30)


async def test_network_and_filesystem_usage(
        runtime: RuncRuntime, pod: SandboxConfig, layer: Path,
        dirs: tuple[Path, Path, str], tmp_path: Path) -> None:
    log_root = tmp_path / "pod-logs"
    pod = dataclasses.replace(pod, log_directory=str(
        log_root / f"{pod.namespace}_{pod.name}_{pod.uid}"))
    sid = await runtime.run_pod_sandbox(pod)
    cid = await runtime.create_container(sid, container(
        layer, "app", "sh", "-c", "echo started; exec sleep 600"))
    await runtime.start_container(cid)
    netns = runtime.paths.sandbox_run_dir(sid) / "ns" / "net"
    in_netns(netns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "veth-peer")
    in_netns(netns, "ip", "addr", "add", "10.250.77.1/24", "dev", "eth0")
    in_netns(netns, "ip", "link", "set", "veth-peer", "up")
    in_netns(netns, "ip", "link", "set", "eth0", "up")
    in_netns(netns, "ip", "neigh", "add", "10.250.77.2", "lladdr", "02:00:00:00:00:02",
             "dev", "eth0")
    api_pod: dict[str, Any] = {
        "metadata": {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                   "containerStatuses": [{
                       "name": "app", "containerID": f"runc://{cid}", "image": "busybox:test",
                       "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}}
    stats = CgroupStats("node-1", lambda: [api_pod], dirs[2], log_root=log_root,
                        disk=DiskUsage(interval=0.0))
    [before] = summary(await stats.collect())["pods"]
    tx_before = before["network"]["txBytes"]
    assert before["network"]["name"] == "eth0" and "rxBytes" in before["network"]
    assert [i["name"] for i in before["network"]["interfaces"]] == ["eth0"]
    [app] = before["containers"]
    rootfs_before = app["rootfs"]["usedBytes"]
    assert app["rootfs"]["capacityBytes"] > 0
    assert app["logs"]["usedBytes"] > 0  # "started"

    in_netns(netns, sys.executable, "-c", SEND)
    result = await runtime.exec_sync(
        cid, ["sh", "-c", "head -c 2000000 /dev/zero > /home/blob && sync"], 30)
    assert result.exit_code == 0, result
    node = await stats.collect()
    [after] = summary(node)["pods"]
    assert after["network"]["txBytes"] >= tx_before + 100_000
    assert after["containers"][0]["rootfs"]["usedBytes"] >= rootfs_before + 2_000_000

    families = {f.name: f for f in text_string_to_metric_families(
        cadvisor_metrics(node).decode())}
    [tx] = families["container_network_transmit_bytes"].samples
    assert tx.labels["pod"] == pod.name and tx.labels["container"] == ""
    assert tx.labels["interface"] == "eth0" and tx.value >= 100_000
    [fs] = families["container_fs_usage_bytes"].samples
    assert fs.labels["container"] == "app" and fs.labels["name"] == cid
    assert fs.labels["image"] == "busybox:test" and fs.value >= 2_000_000
