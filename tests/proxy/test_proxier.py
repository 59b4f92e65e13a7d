"""The proxy's sync loop pieces: what a sync hands the backend, failures forcing a full
sync, health as upstream reports it, and upstream's metric names."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from kybernetes.client import ApiClient
from kybernetes.proxy.execute import Completed
from kybernetes.proxy.health import ProxyHealth, health_routes, metrics_routes
from kybernetes.proxy.proxier import KubeProxy, ProxyConfig, detect_mode, make_backend
from tests.proxy.fixtures import endpoint, endpoint_slice, service
from tests.proxy.recorder import Recorder


def _proxy(recorder: Recorder, mode: str = "nftables") -> KubeProxy:
    config = ProxyConfig(node_name="node-a", node_ips=("192.0.2.10",))
    client: ApiClient = None  # type: ignore[assignment] # the handlers are fed directly
    return KubeProxy(client, config, make_backend(mode, config, recorder),
                     execute_=recorder)


async def test_first_sync_full_then_partial_and_metrics() -> None:
    recorder = Recorder()
    proxy = _proxy(recorder)
    proxy._on_service(service("ns", "web", "10.43.0.5"))
    eps = endpoint_slice("ns", "web", [endpoint("10.42.0.5")])
    eps["metadata"]["annotations"] = {
        "endpoints.kubernetes.io/last-change-trigger-time":
            datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    proxy._on_slice(eps)
    assert not proxy.health.healthy()
    await proxy.sync_once()
    assert recorder.inputs("nft")[0].startswith("add table ip kube-proxy\ndelete table")
    assert "nodeport-ips { 192.0.2.10 }" in recorder.inputs("nft")[0]
    assert proxy.health.healthy()
    proxy._on_slice(endpoint_slice("ns", "web", [endpoint("10.42.0.6")]))
    await proxy.sync_once()
    assert "delete table" not in recorder.inputs("nft")[1]
    metrics = proxy.metrics.render()
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count 2.0" in metrics
    assert "kubeproxy_sync_full_proxy_rules_duration_seconds_count 1.0" in metrics
    assert "kubeproxy_network_programming_duration_seconds_count 1.0" in metrics


async def test_a_failed_sync_makes_the_next_one_full() -> None:
    recorder = Recorder()
    proxy = _proxy(recorder, "iptables")
    proxy._on_service(service("ns", "web", "10.43.0.5"))
    await proxy.sync_once()

    async def failing(argv: Sequence[str], input: str | None = None) -> Completed:
        return Completed(4, "", "iptables-restore: line 3 failed")

    proxy.backend._execute = failing  # type: ignore[attr-defined]
    proxy._on_service(service("ns", "other", "10.43.0.6"))
    with pytest.raises(Exception, match="line 3 failed"):
        await proxy.sync_once()
    assert "kubeproxy_sync_proxy_rules_iptables_restore_failures_total 1" in \
        proxy.metrics.render()
    proxy.backend._execute = recorder  # type: ignore[attr-defined]
    await proxy.sync_once()
    # A full sync again: every service chain declared, stale ones looked up.
    assert any(argv[0] == "iptables-save" for argv, _ in recorder.calls[-12:])
    assert '"ns/other:p80 has no endpoints"' in recorder.inputs("iptables-restore")[-1]


def test_health_as_upstream() -> None:
    now = [1000.0]
    health = ProxyHealth(60.0, clock=lambda: now[0])
    status, _, body = health_routes(health)["/healthz"]()
    assert status == 503 and json.loads(body)["lastUpdated"] == ""
    health.updated()
    assert health_routes(health)["/healthz"]()[0] == 200
    health.queued()
    now[0] += 61
    assert health_routes(health)["/healthz"]()[0] == 503
    health.updated()
    status, kind, body = health_routes(health)["/healthz"]()
    assert (status, kind) == (200, "application/json")
    assert json.loads(body)["nodeEligible"] is True


def test_metrics_routes_serve_the_mode() -> None:
    proxy = _proxy(Recorder())
    routes = metrics_routes(proxy.metrics, proxy.health)
    assert routes["/proxyMode"]() == (200, "text/plain", "nftables")
    assert "kubeproxy_sync_proxy_rules_nftables_sync_failures_total 0.0" in routes["/metrics"]()[2]


async def test_mode_detection() -> None:
    assert await detect_mode(Recorder()) == "nftables"

    async def no_nft(argv: Sequence[str], input: str | None = None) -> Completed:
        return Completed(1, "", "Operation not permitted")

    assert await detect_mode(no_nft) == "iptables"
