"""Synthetic usage of simulated nodes: declared per pod or per container, integrated into
cumulative cpu across changes of the declared rate, summed into pods and the node."""

from __future__ import annotations

from typing import Any

from kybernetes.kubelet.stats_sim import CPU_ANNOTATION, MEMORY_ANNOTATION, SyntheticStats, declared


def sim_pod(name: str, annotations: dict[str, str], containers: tuple[str, ...] = ("app",)
            ) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "uid": f"uid-{name}",
                         "annotations": annotations},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": c, "containerID": f"sim://uid-{name}/{c}",
                 "state": {"running": {"startedAt": "2026-12-07T10:00:00Z"}}}
                for c in containers]}}


def test_declared_figures() -> None:
    pod = sim_pod("a", {CPU_ANNOTATION: '{"app": "250m", "side": "0.1"}',
                        MEMORY_ANNOTATION: "64Mi"})
    assert float(declared(pod, CPU_ANNOTATION, "app")) == 0.25
    assert float(declared(pod, CPU_ANNOTATION, "side")) == 0.1
    assert declared(pod, CPU_ANNOTATION, "other") == 0
    assert declared(pod, MEMORY_ANNOTATION, "anything") == 64 * 1024 * 1024
    assert declared(sim_pod("b", {CPU_ANNOTATION: "lots"}), CPU_ANNOTATION, "app") == 0


def test_cumulative_cpu_follows_the_declared_rate() -> None:
    start = 1796637600.0  # the containers' startedAt
    now = [start + 10]
    annotations = {CPU_ANNOTATION: "500m", MEMORY_ANNOTATION: "10Mi"}
    pods = [sim_pod("a", annotations, ("app", "side")),
            sim_pod("idle", {}), {"metadata": {"name": "pending"}, "status": {}}]
    stats = SyntheticStats("sim-0", lambda: pods, clock=lambda: now[0])
    first = stats.read()
    pod = next(p for p in first.pods if p.name == "a")
    app = pod.containers[0]
    assert app.usage.cpu is not None and app.usage.cpu.usage_core_nanoseconds == 5 * 10**9
    assert app.usage.cpu_nano_cores == 500_000_000
    assert pod.usage.cpu is not None and pod.usage.cpu.usage_core_nanoseconds == 10 * 10**9
    assert pod.usage.memory is not None and pod.usage.memory.working_set_bytes == 20 << 20
    assert first.usage.memory is not None and first.usage.memory.working_set_bytes == 20 << 20
    # The rate steps to 2 cores: the next 10 s add 20 core-seconds per container.
    annotations[CPU_ANNOTATION] = "2"
    now[0] += 10
    second = stats.read()
    app = next(p for p in second.pods if p.name == "a").containers[0]
    assert app.usage.cpu is not None and app.usage.cpu.usage_core_nanoseconds == 25 * 10**9
    assert second.usage.cpu is not None
    assert second.usage.cpu.usage_core_nanoseconds == 50 * 10**9
