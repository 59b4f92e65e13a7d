"""The cache: assumed pods (confirm, forget, expire), pods before their node, node removal,
and the node table staying in step with the NodeInfos."""

from __future__ import annotations

from kybernetes.scheduler.cache import Cache
from kybernetes.scheduler.podinfo import PodInfo
from tests.scheduler.helpers import node, pod


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def assumed(name: str, node_name: str, cpu: str = "1") -> PodInfo:
    pi = PodInfo(pod(name, cpu=cpu))
    obj = dict(pi.pod)
    obj["spec"] = {**pi.spec, "nodeName": node_name}
    out = pi.with_pod(obj)
    out.node_name = node_name
    return out


def requested(cache: Cache, name: str) -> tuple[int, int]:
    info = cache.nodes[name]
    return info.requested.milli_cpu, int(cache.table.req_cpu[info.index])


def test_assume_confirm_forget() -> None:
    cache = Cache.of([node("a")])
    p = assumed("p", "a")
    cache.assume_pod(p)
    assert cache.is_assumed(p.key) and requested(cache, "a") == (1000, 1000)
    cache.forget_pod(p)
    assert not cache.is_assumed(p.key) and requested(cache, "a") == (0, 0)
    cache.assume_pod(p)
    cache.finish_binding(p)
    bound = PodInfo(pod("p", cpu="1", node_name="a"))
    cache.add_pod(bound)
    assert not cache.is_assumed(p.key) and requested(cache, "a") == (1000, 1000)
    assert cache.cleanup_expired() == []


def test_assumed_pods_expire_after_binding_without_confirmation() -> None:
    clock = Clock()
    cache = Cache(assumed_ttl=30, clock=clock)
    cache.add_node(node("a"))
    p = assumed("p", "a")
    cache.assume_pod(p)
    clock.now = 100
    assert cache.cleanup_expired() == []  # binding not finished: never expires
    cache.finish_binding(p)
    clock.now = 131
    assert [x.key for x in cache.cleanup_expired()] == [p.key]
    assert requested(cache, "a") == (0, 0)


def test_pods_before_their_node_and_after_it_is_gone() -> None:
    cache = Cache()
    cache.add_pod(PodInfo(pod("early", cpu="1", node_name="late")))
    assert cache.num_nodes == 0 and cache.node_infos() == []
    cache.add_node(node("late"))
    assert cache.num_nodes == 1 and requested(cache, "late") == (1000, 1000)
    cache.remove_node(node("late"))
    assert cache.num_nodes == 0 and "late" in cache.nodes  # kept for its pod
    slot = cache.nodes["late"].index
    assert not cache.table.valid[slot]
    cache.remove_pod("default/early")
    assert "late" not in cache.nodes
    cache.add_node(node("new"))
    assert cache.nodes["new"].index == slot  # the slot is reused


def test_table_mirrors_node_updates_and_zones_interleave() -> None:
    cache = Cache.of([node("a1", labels={"topology.kubernetes.io/zone": "a"}),
                      node("a2", labels={"topology.kubernetes.io/zone": "a"}),
                      node("b1", labels={"topology.kubernetes.io/zone": "b"})])
    assert [n.name for n in cache.node_infos()] == ["a1", "b1", "a2"]
    cache.update_node(node("a2", cpu="8", labels={"topology.kubernetes.io/zone": "b"}))
    assert [n.name for n in cache.node_infos()] == ["a1", "b1", "a2"]
    info = cache.nodes["a2"]
    assert cache.table.alloc_cpu[info.index] == 8000
    column = cache.table.column("topology.kubernetes.io/zone")
    assert column.values[column.ids[info.index]] == "b"


def test_status_only_updates_swap_the_object() -> None:
    cache = Cache.of([node("a")], [pod("p", cpu="1", node_name="a")])
    current = cache.get_pod("default/p")
    assert current is not None
    newer = dict(current.pod, status={"phase": "Running"})
    cache.replace_pod_object(current.with_pod(newer))
    assert cache.nodes["a"].pods["default/p"].pod["status"]["phase"] == "Running"
    assert requested(cache, "a") == (1000, 1000)


def test_image_states_count_nodes() -> None:
    cache = Cache.of([node("a", images=[(["nginx:1"], 100)]),
                      node("b", images=[(["nginx:1"], 100)])])
    assert cache.image_states["nginx:1"].num_nodes == 2
    cache.remove_node(node("b"))
    assert cache.image_states["nginx:1"].num_nodes == 1
