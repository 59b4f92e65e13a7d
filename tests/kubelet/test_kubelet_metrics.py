"""The kubelet's own metrics: pod start duration (first seen to first Running), PLEG
relists, and runtime operations counted, timed and their errors counted per operation."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.kubelet.metrics import InstrumentedRuntime, KubeletMetrics
from kybernetes.kubelet.runtime.cri import ContainerId, ContainerRuntime, CRIError


def _samples(metrics: KubeletMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(x.name, tuple(sorted(x.labels.items()))): x.value
            for family in text_string_to_metric_families(metrics.render().decode())
            for x in family.samples}


class _Runtime:
    async def start_container(self, container_id: ContainerId) -> None:
        if container_id == "bad":
            raise CRIError("no such container")


async def test_runtime_operations_and_pod_start() -> None:
    metrics = KubeletMetrics()
    runtime = InstrumentedRuntime(_Runtime(), metrics)  # type: ignore[arg-type]
    typed: ContainerRuntime = runtime
    await typed.start_container(ContainerId("good"))
    with pytest.raises(CRIError):
        await typed.start_container(ContainerId("bad"))
    metrics.pod_seen("uid-1")
    metrics.pod_synced("uid-1", "Pending", "Pending")
    metrics.pod_synced("uid-1", "Pending", "Running")
    metrics.pod_synced("uid-1", "Running", "Running")
    metrics.relisted(0.002)
    found = _samples(metrics)
    start = (("operation_type", "start_container"),)
    assert found[("kubelet_runtime_operations_total", start)] == 2
    assert found[("kubelet_runtime_operations_errors_total", start)] == 1
    assert found[("kubelet_runtime_operations_duration_seconds_count", start)] == 2
    assert found[("kubelet_pod_start_duration_seconds_count", ())] == 1
    assert found[("kubelet_pleg_relist_duration_seconds_count", ())] == 1
