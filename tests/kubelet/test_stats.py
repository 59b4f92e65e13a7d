"""The kubelet's stats without a runtime: cgroup v1 and v2 files and /proc as fixtures,
the Summary's shape, cpu rates, and `/metrics/resource` as Prometheus text."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.kubelet.stats import (
    CgroupStats,
    ContainerUsage,
    NodeUsage,
    PodUsage,
    RateTracker,
    Usage,
    running_containers,
    summary,
)
from kybernetes.kubelet.stats_cgroup import (
    CpuSample,
    Hierarchies,
    MemorySample,
    Mount,
    node_cpu,
    node_memory,
)
from kybernetes.kubelet.stats_metrics import resource_metrics

UID = "u-1"
POD_CGROUP = f"/kubepods/besteffort/pod{UID}"


def v1_tree(root: Path, path: str, cpu: int, usage: int, inactive: int, rss: int) -> None:
    cpu_dir = root / "cpuacct" / path.strip("/")
    cpu_dir.mkdir(parents=True, exist_ok=True)
    (cpu_dir / "cpuacct.usage").write_text(f"{cpu}\n")
    mem_dir = root / "memory" / path.strip("/")
    mem_dir.mkdir(parents=True, exist_ok=True)
    (mem_dir / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (mem_dir / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (mem_dir / "memory.stat").write_text(
        f"cache 1\nrss 2\ntotal_rss {rss}\ntotal_inactive_file {inactive}\n"
        "total_pgfault 10\ntotal_pgmajfault 1\n")


def v2_tree(root: Path, path: str, cpu_usec: int, usage: int, inactive: int, anon: int,
            limit: str = "max") -> None:
    d = root / "unified" / path.strip("/")
    d.mkdir(parents=True, exist_ok=True)
    (d / "cpu.stat").write_text(f"usage_usec {cpu_usec}\nuser_usec 1\nsystem_usec 2\n")
    (d / "memory.current").write_text(f"{usage}\n")
    (d / "memory.max").write_text(f"{limit}\n")
    (d / "memory.stat").write_text(
        f"anon {anon}\nfile 5\ninactive_file {inactive}\npgfault 7\npgmajfault 0\n")


def v1(root: Path) -> Hierarchies:
    return Hierarchies({"cpuacct": Mount(str(root / "cpuacct"), "/"),
                        "cpu": Mount(str(root / "cpuacct"), "/"),
                        "memory": Mount(str(root / "memory"), "/")}, None)


def v2(root: Path) -> Hierarchies:
    return Hierarchies({}, Mount(str(root / "unified"), "/"))


def test_v1_files(tmp_path: Path) -> None:
    v1_tree(tmp_path, POD_CGROUP, 5_000_000_000, 100 << 20, 30 << 20, 60 << 20)
    h = v1(tmp_path)
    assert h.cpu(POD_CGROUP) == CpuSample(5_000_000_000)
    assert h.memory(POD_CGROUP) == MemorySample(100 << 20, 70 << 20, 60 << 20, 10, 1, None)
    assert h.cpu("/kubepods/gone") is None and h.memory("/kubepods/gone") is None


def test_v2_files_and_a_limit(tmp_path: Path) -> None:
    v2_tree(tmp_path, POD_CGROUP, 2_000_000, 50 << 20, 60 << 20, 40 << 20, str(80 << 20))
    h = v2(tmp_path)
    assert h.cpu(POD_CGROUP) == CpuSample(2_000_000_000)
    memory = h.memory(POD_CGROUP)
    # The working set never goes below zero (cadvisor's rule); the room left is the limit's.
    assert memory == MemorySample(50 << 20, 0, 40 << 20, 7, 0, 80 << 20)


def test_relative_paths_resolve_under_the_own_cgroup(tmp_path: Path) -> None:
    h = Hierarchies({"cpuacct": Mount(str(tmp_path), "/user.slice/me")}, None)
    assert h.directory(h.v1["cpuacct"], "kyb/pod1") == tmp_path / "user.slice/me/kyb/pod1"
    assert h.directory(h.v1["cpuacct"], "/kyb/pod1") == tmp_path / "kyb/pod1"


def test_discover_reads_mountinfo(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("4:memory:/a\n3:cpu,cpuacct:/\n0::/b\n")
    (tmp_path / "mountinfo").write_text(
        "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "33 25 0:29 / /proc rw - proc proc rw\n")
    h = Hierarchies.discover(tmp_path)
    assert h.v1["cpuacct"] == Mount("/sys/fs/cgroup/cpu,cpuacct", "/")
    assert h.v1["memory"] == Mount("/sys/fs/cgroup/memory", "/a")
    assert h.v2 == Mount("/sys/fs/cgroup/unified", "/b")


def test_node_totals_from_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(
        "cpu  100 10 50 1000 20 5 5 0 0 0\ncpu0 1 1 1 1 1 1 1 1 1 1\nbtime 1700000000\n")
    (tmp_path / "meminfo").write_text(
        "MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 500 kB\nInactive(file): 100 kB\n"
        "AnonPages: 300 kB\n")
    (tmp_path / "vmstat").write_text("pgfault 42\npgmajfault 3\n")
    hz = os.sysconf("SC_CLK_TCK")
    assert node_cpu(tmp_path) == CpuSample(170 * 1_000_000_000 // hz)
    assert node_memory(tmp_path) == MemorySample(800 * 1024, 700 * 1024, 300 * 1024, 42, 3,
                                                 300 * 1024)


def test_cpu_rates() -> None:
    rates = RateTracker(min_interval=1.0)
    assert rates.rate("a", 100.0, CpuSample(1_000_000_000)) is None  # the first reading
    assert rates.rate("a", 100.5, CpuSample(1_200_000_000)) is None  # too soon: base kept
    assert rates.rate("a", 102.0, CpuSample(2_000_000_000)) == 500_000_000
    assert rates.rate("a", 103.0, CpuSample(10)) is None  # a reset starts over
    rates.forget_unseen()
    rates.forget_unseen()
    assert rates.rate("a", 104.0, CpuSample(20)) is None  # forgotten while unseen


def api_pod(container_id: str = "runc://c1") -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "web", "uid": UID},
            "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
            "status": {"phase": "Running", "startTime": "2026-12-07T10:00:00Z",
                       "containerStatuses": [
                           {"name": "app", "containerID": container_id,
                            "state": {"running": {"startedAt": "2026-12-07T10:00:01Z"}}},
                           {"name": "side", "containerID": "runc://c2",
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}


def test_running_containers() -> None:
    assert running_containers(api_pod()) == [("app", "c1", 1796637601.0)]


def test_cgroup_stats_summary_shape(tmp_path: Path) -> None:
    v1_tree(tmp_path, "/kubepods", 9_000_000_000, 300 << 20, 0, 0)
    v1_tree(tmp_path, POD_CGROUP, 5_000_000_000, 100 << 20, 30 << 20, 60 << 20)
    v1_tree(tmp_path, f"{POD_CGROUP}/c1", 4_000_000_000, 90 << 20, 30 << 20, 50 << 20)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 1 1 1 1 1 1 1 0 0\nbtime 1796600000\n")
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 200 kB\n")
    clock = iter([1796640000.0 + i for i in range(100)])
    stats = CgroupStats("node-1", lambda: [api_pod(), {"metadata": {"name": "pending"}}],
                        "/kubepods", hierarchies=v1(tmp_path), proc=proc,
                        clock=lambda: next(clock))
    body = summary(asyncio.run(stats.collect()))
    node = body["node"]
    assert node["nodeName"] == "node-1" and node["startTime"] == "2026-12-06T23:33:20Z"
    assert set(node["cpu"]) == {"time", "usageCoreNanoSeconds"}  # no rate on a first read
    assert node["systemContainers"][0]["name"] == "pods"
    assert node["systemContainers"][0]["cpu"]["usageCoreNanoSeconds"] == 9_000_000_000
    [pod] = body["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "ns", "uid": UID}
    assert pod["startTime"] == "2026-12-07T10:00:00Z"
    assert pod["memory"]["workingSetBytes"] == 70 << 20
    [container] = pod["containers"]
    assert container == {
        "name": "app", "startTime": "2026-12-07T10:00:01Z",
        "cpu": {"time": container["cpu"]["time"], "usageCoreNanoSeconds": 4_000_000_000},
        "memory": {"time": container["memory"]["time"], "usageBytes": 90 << 20,
                   "workingSetBytes": 60 << 20, "rssBytes": 50 << 20, "pageFaults": 10,
                   "majorPageFaults": 1}}
    # A second reading has the rates.
    v1_tree(tmp_path, f"{POD_CGROUP}/c1", 6_000_000_000, 90 << 20, 30 << 20, 50 << 20)
    again = summary(asyncio.run(stats.collect()))
    rate = again["pods"][0]["containers"][0]["cpu"]["usageNanoCores"]
    assert 0 < rate <= 2_000_000_000


def test_a_container_gone_is_a_scrape_error(tmp_path: Path) -> None:
    v1_tree(tmp_path, POD_CGROUP, 1, 1, 0, 0)
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 1 1 1 1 1 1 1 0 0\nbtime 1\n")
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 200 kB\n")
    stats = CgroupStats("n", lambda: [api_pod("runc://gone")], "/kubepods",
                        hierarchies=v1(tmp_path), proc=proc)
    node = asyncio.run(stats.collect())
    assert node.error and node.pods[0].containers == []
    assert b"scrape_error 1.0" in resource_metrics(node)


def test_resource_metrics_series() -> None:
    reading = Usage(1796640000.5, CpuSample(2_500_000_000), None,
                    MemorySample(10, 8, 5, 0, 0))
    node = NodeUsage("n", 1.0, reading, [PodUsage(
        "ns", "web", UID, 2.0, reading, [ContainerUsage("app", 1796637601.0, reading)])])
    families = {f.name: f for f in text_string_to_metric_families(
        resource_metrics(node).decode())}
    assert families["node_cpu_usage_seconds"].type == "counter"
    [sample] = families["node_cpu_usage_seconds"].samples
    assert sample.name == "node_cpu_usage_seconds_total" and sample.value == 2.5
    assert sample.timestamp == pytest.approx(1796640000.5)
    labels = {"container": "app", "pod": "web", "namespace": "ns"}
    assert families["container_cpu_usage_seconds"].samples[0].labels == labels
    assert families["container_memory_working_set_bytes"].samples[0].value == 8
    assert families["container_start_time_seconds"].samples[0].value == 1796637601.0
    assert families["pod_cpu_usage_seconds"].samples[0].labels == {"pod": "web",
                                                                   "namespace": "ns"}
    assert families["pod_memory_working_set_bytes"].samples[0].value == 8
    assert families["node_memory_working_set_bytes"].samples[0].value == 8
    assert families["scrape_error"].samples[0].value == 0
