"""From pod spec to runtime config: QoS, resources, cgroup parents, DNS, hosts, back-off,
the per-pod workers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kybernetes.kubelet import containers as specs
from kybernetes.kubelet.backoff import Backoff
from kybernetes.kubelet.podworkers import DONE, PodWorkers, SyncOutcome

Obj = dict[str, Any]


def pod(*resources: Obj, **spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": f"c{i}", "resources": r}
                                    for i, r in enumerate(resources)], **spec}}


def test_qos_classes() -> None:
    assert specs.qos_class(pod({})) == "BestEffort"
    assert specs.qos_class(pod({"requests": {"cpu": "100m"}})) == "Burstable"
    both = {"cpu": "1", "memory": "1Gi"}
    assert specs.qos_class(pod({"limits": both})) == "Guaranteed"
    assert specs.qos_class(pod({"limits": both, "requests": both})) == "Guaranteed"
    assert specs.qos_class(pod({"limits": both}, {})) == "Burstable"


def test_resources_follow_upstream_arithmetic() -> None:
    burstable = pod({"requests": {"cpu": "250m", "memory": "1Gi"},
                     "limits": {"cpu": "500m", "memory": "2Gi"}})
    res = specs.resources(burstable, burstable["spec"]["containers"][0],
                          memory_capacity=4 << 30)
    assert res.cpu_shares == 256 and res.cpu_quota == 50_000 and res.cpu_period == 100_000
    assert res.memory_limit_bytes == 2 << 30
    assert res.oom_score_adj == 1000 - (1000 * (1 << 30)) // (4 << 30)
    best_effort = pod({})
    res = specs.resources(best_effort, best_effort["spec"]["containers"][0],
                          memory_capacity=4 << 30)
    assert res.cpu_shares == 2 and res.cpu_quota == 0 and res.memory_limit_bytes == 0
    assert res.oom_score_adj == 1000
    guaranteed = pod({"limits": {"cpu": "1", "memory": "64Mi"}})
    res = specs.resources(guaranteed, guaranteed["spec"]["containers"][0],
                          memory_capacity=4 << 30)
    assert res.cpu_shares == 1024 and res.oom_score_adj == -997


def test_cgroup_parent_by_qos() -> None:
    assert specs.cgroup_parent("/kubepods", pod({})) == "/kubepods/besteffort/podu1"
    assert specs.cgroup_parent("/kubepods/", pod({"limits": {"cpu": "1", "memory": "1Gi"}})
                               ) == "/kubepods/podu1"


def test_dns_by_policy(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 192.0.2.53\ndomain ignored.example\nsearch old.example\n"
                    "search example.org. cluster.local\noptions edns0\n")
    cluster = specs.dns_config(pod({}), cluster_dns=["10.43.0.10"],
                               cluster_domain="cluster.local", host_resolv_conf=host)
    assert cluster.servers == ("10.43.0.10",)
    # The cluster's searches, then the host's (last `search` line, no trailing dot, no
    # duplicates), as upstream's GetPodDNS.
    assert cluster.searches == ("ns.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                "example.org")
    assert cluster.options == ("ndots:5",)
    default = specs.dns_config(pod({}, dnsPolicy="Default"), cluster_dns=["10.43.0.10"],
                               cluster_domain="cluster.local", host_resolv_conf=host)
    assert default.servers == ("192.0.2.53",)
    assert default.searches == ("example.org", "cluster.local")
    assert default.options == ("edns0",)
    host_net = specs.dns_config(pod({}, hostNetwork=True), cluster_dns=["10.43.0.10"],
                                cluster_domain="cluster.local", host_resolv_conf=host)
    assert host_net.servers == ("192.0.2.53",)
    custom = specs.dns_config(
        pod({}, dnsPolicy="None", dnsConfig={"nameservers": ["1.2.3.4"], "searches": ["a"],
                                             "options": [{"name": "ndots", "value": "2"}]}),
        cluster_dns=["10.43.0.10"], cluster_domain="cluster.local", host_resolv_conf=host)
    assert custom == specs.DNSConfig(("1.2.3.4",), ("a",), ("ndots:2",))
    too_many = specs.dns_config(
        pod({}, dnsPolicy="None", dnsConfig={
            "nameservers": [f"10.0.0.{i}" for i in range(5)],
            "searches": ["x" * 254, *(f"s{i:02}." + "d" * 60 for i in range(40))]}),
        cluster_dns=[], cluster_domain="cluster.local", host_resolv_conf=host)
    assert len(too_many.servers) == 3
    assert "x" * 254 not in too_many.searches
    assert len(" ".join(too_many.searches)) <= 2048 and len(too_many.searches) == 31


def test_hosts_file_names_the_pod() -> None:
    text = specs.hosts_file(pod({}, hostname="web", subdomain="svc"), ["10.42.0.5"],
                            "cluster.local")
    assert "127.0.0.1\tlocalhost" in text
    assert "10.42.0.5\tweb.svc.ns.svc.cluster.local\tweb" in text


def test_container_hash_ignores_resources_only() -> None:
    base = {"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}
    assert specs.container_hash(base) == specs.container_hash({**base, "resources": {}})
    assert specs.container_hash(base) != specs.container_hash({**base, "image": "y"})


def test_port_mappings() -> None:
    spec = pod({})
    spec["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080},
                                              {"containerPort": 53, "protocol": "UDP"}]
    assert specs.port_mappings(spec) == [{"containerPort": 80, "hostPort": 8080,
                                          "protocol": "tcp"}]


def test_backoff_doubles_caps_and_resets() -> None:
    now = [1000.0]
    backoff = Backoff(10, 40, clock=lambda: now[0])
    assert backoff.in_backoff("k", now[0]) == 0
    assert backoff.next("k") == 10
    assert backoff.in_backoff("k", now[0]) == 10
    now[0] += 10
    assert backoff.in_backoff("k", now[0] - 10) == 0
    assert [backoff.next("k") for _ in range(3)] == [20, 40, 40]
    now[0] += 81  # idle for more than twice the maximum: forgotten
    assert backoff.current("k") == 0
    backoff.next("k")
    backoff.forget_prefix("k")
    assert backoff.current("k") == 0


@pytest.mark.asyncio
async def test_pod_workers_fold_wakeups_and_end_when_done() -> None:
    calls: list[str] = []
    release = asyncio.Event()
    outcomes: dict[str, SyncOutcome] = {"a": None, "b": DONE}

    async def sync(uid: str) -> SyncOutcome:
        calls.append(uid)
        if uid == "a" and len([c for c in calls if c == "a"]) == 1:
            await release.wait()
        return outcomes[uid]

    workers = PodWorkers(sync)
    workers.wake("a")
    await asyncio.sleep(0)
    workers.wake("a")  # while the first sync runs: one more sync afterwards
    workers.wake("a")
    workers.wake("b")
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0.01)
    assert calls.count("a") == 2 and calls.count("b") == 1
    assert "b" not in workers and "a" in workers
    outcomes["a"] = DONE
    workers.wake("a")
    await asyncio.sleep(0.01)
    assert "a" not in workers
    await workers.stop()
