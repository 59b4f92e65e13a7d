"""The kubelet's stats of a real runc container: the figures agree with its cgroup files.

A pod sandbox and a container (a cpu-bound loop held to half a cpu by its quota, 32 MiB in
its /dev/shm) run under real runc (the runtime tests' fixtures); the pod as the kubelet
would have computed its status names the container, and `CgroupStats` reads the cgroups.
Its cumulative cpu, cpu rate and memory working set must agree with what the cgroup files
say within 10%, in the summary and in `/metrics/resource` as the metrics server decodes it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from kybernetes.kubelet.runtime.cri import Resources, SandboxConfig
from kybernetes.kubelet.runtime.runc.runtime import RuncRuntime
from kybernetes.kubelet.stats import CgroupStats, summary
from kybernetes.kubelet.stats_cgroup import Hierarchies
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
