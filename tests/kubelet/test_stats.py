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
from kybernetes.kubelet.stats_cadvisor import cadvisor_metrics
from kybernetes.kubelet.stats_cgroup import (
    CpuSample,
    Hierarchies,
    MemorySample,
    Mount,
    node_cpu,
    node_memory,
)
from kybernetes.kubelet.stats_fs import DiskUsage, disk_usage, upperdir
from kybernetes.kubelet.stats_metrics import resource_metrics
from kybernetes.kubelet.stats_net import InterfaceSample, NetworkSample, parse_net_dev

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


NET_DEV = """Inter-|   Receive                            |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1000      10    1    0    0     0          0         0     2000      20    2    0    0     0       0          0
veth12:       7       1    0    0    0     0          0         0        7       1    0    0    0     0       0          0
"""  # noqa: E501


def test_net_dev_leaves_out_what_cadvisor_ignores() -> None:
    assert parse_net_dev(NET_DEV) == [InterfaceSample("eth0", 1000, 1, 2000, 2)]


def fake_container_proc(proc: Path, pid: int, upper: Path) -> None:
    (proc / str(pid) / "net").mkdir(parents=True)
    (proc / str(pid) / "net" / "dev").write_text(NET_DEV)
    (proc / str(pid) / "mountinfo").write_text(
        f"600 500 0:80 / / rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,"
        f"upperdir={upper},workdir=/w\n"
        "601 600 0:81 / /proc rw - proc proc rw\n")


def test_upperdir_of_the_root_mount(tmp_path: Path) -> None:
    fake_container_proc(tmp_path, 7, tmp_path / "upper")
    assert upperdir([99, 7], tmp_path) == tmp_path / "upper"  # 99 is gone
    assert upperdir([], tmp_path) is None


def test_rootfs_usage_is_cached_for_an_interval(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10_000)
    os.link(tmp_path / "a", tmp_path / "hard")  # one inode, counted once
    used, inodes = disk_usage(tmp_path)
    assert used >= 10_000 and inodes == 1
    now = [100.0]
    disk = DiskUsage(interval=10.0, clock=lambda: now[0])
    first = disk.rootfs("c1", tmp_path)
    assert first is not None and first.used_bytes == used and first.capacity_bytes > 0
    (tmp_path / "b").write_bytes(b"y" * 100_000)
    assert disk.rootfs("c1", tmp_path) == first  # within the interval
    now[0] = 111.0
    second = disk.rootfs("c1", tmp_path)
    assert second is not None and second.used_bytes >= used + 100_000


def test_network_rootfs_and_logs_in_the_summary(tmp_path: Path) -> None:
    v1_tree(tmp_path, POD_CGROUP, 5, 100, 0, 0)
    v1_tree(tmp_path, f"{POD_CGROUP}/c1", 4, 90, 0, 0)
    (tmp_path / "memory" / POD_CGROUP.strip("/") / "c1" / "cgroup.procs").write_text("42\n")
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 1 1 1 1 1 1 1 0 0\nbtime 1\n")
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 200 kB\n")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "file").write_bytes(b"z" * 8192)
    fake_container_proc(proc, 42, upper)
    logs = tmp_path / "logs" / f"ns_web_{UID}" / "app"
    logs.mkdir(parents=True)
    (logs / "0.log").write_bytes(b"l" * 5000)
    pod = api_pod()
    pod["status"]["containerStatuses"][0]["image"] = "busybox:1.36"
    stats = CgroupStats("n", lambda: [pod], "/kubepods", hierarchies=v1(tmp_path), proc=proc,
                        log_root=tmp_path / "logs")
    node = asyncio.run(stats.collect())
    [body] = summary(node)["pods"]
    network = body["network"]
    assert network["name"] == "eth0" and network["rxBytes"] == 1000
    assert network["txBytes"] == 2000 and network["rxErrors"] == 1 and network["txErrors"] == 2
    assert network["interfaces"] == [{"name": "eth0", "rxBytes": 1000, "rxErrors": 1,
                                      "txBytes": 2000, "txErrors": 2}]
    [app] = body["containers"]
    assert app["rootfs"]["usedBytes"] >= 8192 and app["rootfs"]["inodesUsed"] == 1
    assert set(app["rootfs"]) == {"time", "availableBytes", "capacityBytes", "usedBytes",
                                  "inodesFree", "inodes", "inodesUsed"}
    assert app["logs"]["usedBytes"] >= 5000

    families = {f.name: f for f in text_string_to_metric_families(
        cadvisor_metrics(node).decode())}
    [fs] = families["container_fs_usage_bytes"].samples
    assert fs.labels == {"container": "app", "id": f"{POD_CGROUP}/c1", "image": "busybox:1.36",
                         "name": "c1", "namespace": "ns", "pod": "web"}
    [rx] = families["container_network_receive_bytes"].samples
    assert rx.name == "container_network_receive_bytes_total" and rx.value == 1000
    assert rx.labels == {"container": "", "id": POD_CGROUP, "image": "", "name": "",
                         "namespace": "ns", "pod": "web", "interface": "eth0"}
    assert families["container_network_transmit_bytes"].samples[0].value == 2000


def test_cadvisor_series() -> None:
    reading = Usage(1796640000.5, CpuSample(2_500_000_000), None,
                    MemorySample(10, 8, 5, 0, 0))
    app = ContainerUsage("app", 1796637601.0, reading, "c1", "/kubepods/podu/c1", "img")
    node = NodeUsage("n", 1.0, reading, [PodUsage(
        "ns", "web", UID, 2.0, reading, [app], "/kubepods/podu",
        NetworkSample([InterfaceSample("eth0", 1, 0, 2, 0)]))],
        [ContainerUsage("pods", 1.0, reading, cgroup="/kubepods")])
    families = {f.name: f for f in text_string_to_metric_families(
        cadvisor_metrics(node).decode())}
    cpu = {s.labels["id"]: s for s in families["container_cpu_usage_seconds"].samples}
    assert set(cpu) == {"/kubepods", "/kubepods/podu", "/kubepods/podu/c1"}
    sample = cpu["/kubepods/podu/c1"]
    assert sample.name == "container_cpu_usage_seconds_total" and sample.value == 2.5
    assert sample.timestamp == pytest.approx(1796640000.5)
    assert sample.labels == {"container": "app", "id": "/kubepods/podu/c1", "image": "img",
                             "name": "c1", "namespace": "ns", "pod": "web"}
    for name, value in (("container_memory_working_set_bytes", 8),
                        ("container_memory_usage_bytes", 10), ("container_memory_rss", 5)):
        assert families[name].samples[0].value == value
    starts = {s.labels["container"]: s.value
              for s in families["container_start_time_seconds"].samples
              if s.labels["pod"] == "web"}
    assert starts == {"": 2.0, "app": 1796637601.0}
    assert families["container_network_transmit_bytes"].samples[0].value == 2
    assert families["container_fs_usage_bytes"].samples == []  # no rootfs read
