"""The controller against a real API server in this process: its informers see policies,
pods and namespace labels, and each change loads a new table (commands recorded); a
failed load is retried."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from kybernetes.client import ApiClient
from kybernetes.netpol.controller import NetpolConfig, NetworkPolicyController
from kybernetes.proxy.execute import Completed
from tests.apiserver import inprocess
from tests.proxy.recorder import Recorder

NODE = "node-a"
PODS = ("", "v1", "pods")
NAMESPACES = ("", "v1", "namespaces")
POLICIES = ("networking.k8s.io", "v1", "networkpolicies")


controller_apiserver = inprocess.controller_apiserver  # the fixture `apiserver`
api = inprocess.api


async def _running_pod(api: ApiClient, ns: str, name: str, ip: str,
                       labels: dict[str, str]) -> None:
    created = await api.create(PODS, {
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}, ns)
    created["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    await api.update_status(PODS, created, ns)


async def _seed(api: ApiClient, controller: NetworkPolicyController) -> None:
    """The informers' stores as a list would fill them (in-process, watches do not
    stream)."""
    for informer, resource in ((controller.policies, POLICIES), (controller.pods, PODS),
                               (controller.namespaces, NAMESPACES)):
        informer.store.replace((await api.list(resource)).items)


async def test_changes_reprogram_the_table(api: ApiClient) -> None:
    recorder = Recorder()
    controller = NetworkPolicyController(api, NetpolConfig(NODE), execute_=recorder)
    await api.create(NAMESPACES, {"metadata": {"name": "web", "labels": {"team": "web"}}})
    await _running_pod(api, "web", "server", "10.42.0.10", {"app": "server"})
    await _running_pod(api, "web", "client", "10.42.0.11", {"access": "true"})
    await _seed(api, controller)
    await controller.sync_once()
    assert "add element" not in recorder.inputs("nft")[-1]
    await api.create(POLICIES, {"metadata": {"name": "allow"}, "spec": {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "web"}},
                               "podSelector": {"matchLabels": {"access": "true"}}}]}]}},
        "web")
    await _seed(api, controller)
    await controller.sync_once()
    script = recorder.inputs("nft")[-1]
    assert "10.42.0.10 : jump ingress-" in script
    assert 'ip saddr { 10.42.0.11 } accept comment "web/allow"' in script
    # Nothing changed: nothing loaded; a forced sync loads the same table again.
    await controller.sync_once()
    assert len(recorder.inputs("nft")) == 2
    await controller.sync_once(force=True)
    assert recorder.inputs("nft")[-1] == script
    # A new pod with the label joins the allowed peers; the namespace's label leaving
    # removes them all.
    await _running_pod(api, "web", "client2", "10.42.0.12", {"access": "true"})
    await _seed(api, controller)
    await controller.sync_once()
    assert "ip saddr { 10.42.0.11, 10.42.0.12 } accept" in recorder.inputs("nft")[-1]
    await api.patch(NAMESPACES, "web", {"metadata": {"labels": {"team": None}}},
                    patch_type="merge")
    await _seed(api, controller)
    await controller.sync_once()
    script = recorder.inputs("nft")[-1]
    assert "10.42.0.10 : jump ingress-" in script and "accept comment" not in script
    await api.delete(POLICIES, "allow", "web")
    await _seed(api, controller)
    await controller.sync_once()
    assert "add element" not in recorder.inputs("nft")[-1]
    assert "web/allow" not in recorder.inputs("nft")[-1]


async def test_a_failed_load_is_retried(api: ApiClient) -> None:
    attempts: list[str | None] = []

    async def failing_once(argv: Sequence[str], input: str | None = None) -> Completed:
        attempts.append(input)
        return Completed(1 if len(attempts) == 1 else 0, "", "Error: no such file")

    controller = NetworkPolicyController(
        api, NetpolConfig(NODE, min_sync_period=0.01, max_retry_delay=0.05),
        execute_=failing_once)
    running = asyncio.create_task(controller.run())
    try:
        async with asyncio.timeout(30):
            await controller.synced.wait()
        assert len(attempts) == 2 and attempts[0] == attempts[1]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)



def test_only_pod_changes_policies_see_wake_the_loop(api: ApiClient) -> None:
    controller = NetworkPolicyController(api, NetpolConfig(NODE))
    old: dict[str, Any] = {"metadata": {"namespace": "web", "name": "p", "labels": {"a": "1"}},
           "spec": {"nodeName": NODE, "containers": [{"name": "c"}]},
           "status": {"phase": "Running", "podIP": "10.42.0.5", "conditions": []}}
    churn = {**old, "status": {**old["status"], "conditions": [{"type": "Ready"}]}}
    controller._pod_updated(old, churn)
    assert not controller._wake.is_set()
    relabelled = {**old, "metadata": {**old["metadata"], "labels": {"a": "2"}}}
    controller._pod_updated(old, relabelled)
    assert controller._wake.is_set()
