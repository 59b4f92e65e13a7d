"""The network policy controller of a node (k3s' embedded kube-router netpol controller):
informers on NetworkPolicies, Pods and Namespaces in, the `ip kube-network-policies` table
out.

Every change that can matter wakes the sync loop (a pod's update only when its address,
labels, node, phase or ports change), which waits `min_sync_period` to batch what follows,
renders the whole table (`rules.render`) and loads it in one `nft -f -` transaction when it
differs from what was loaded last (and at least every `resync_period`, which restores a
table someone removed). A failed sync is logged and retried with backoff; the controller
keeps running, as kube-proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from kybernetes.api.version import user_agent
from kybernetes.client import ApiClient, SharedInformerFactory, wait_for_cache_sync
from kybernetes.netpol import rules
from kybernetes.proxy import execute

log = logging.getLogger(__name__)

USER_AGENT = user_agent("network-policy-controller")
Obj = dict[str, Any]


@dataclass
class NetpolConfig:
    node_name: str
    min_sync_period: float = 0.1
    resync_period: float = 60.0
    max_retry_delay: float = 10.0


class NetworkPolicyController:
    def __init__(self, client: ApiClient, config: NetpolConfig, *,
                 execute_: execute.Executor = execute.run) -> None:
        self.client = client
        self.config = config
        self.execute = execute_
        self._wake = asyncio.Event()
        self._loaded: str | None = None
        self._informers = SharedInformerFactory(client)
        self.policies = self._informers.informer(
            ("networking.k8s.io", "v1", "networkpolicies"))
        self.pods = self._informers.informer(("", "v1", "pods"))
        self.namespaces = self._informers.informer(("", "v1", "namespaces"))
        self.synced = asyncio.Event()  # set after each successful load

    def _changed(self, *_args: Any) -> None:
        self._wake.set()

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        # Most pod updates are status churn that policies never see (conditions, restarts).
        if rules.pod_of(old) != rules.pod_of(new):
            self._wake.set()

    def render(self) -> str:
        namespaces = {ns["metadata"]["name"]: dict(ns["metadata"].get("labels") or {})
                      for ns in self.namespaces.store.list()}
        return rules.render(self.policies.store.list(), self.pods.store.list(),
                            namespaces, self.config.node_name)

    async def sync_once(self, *, force: bool = False) -> None:
        script = self.render()
        if script == self._loaded and not force:
            return
        await execute.check(self.execute, ["nft", "-f", "-"], script)
        self._loaded = script
        self.synced.set()

    async def _sync_loop(self) -> None:
        delay = self.config.min_sync_period
        loop = asyncio.get_running_loop()
        last_forced = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.resync_period)
            await asyncio.sleep(self.config.min_sync_period)
            self._wake.clear()
            force = loop.time() - last_forced >= self.config.resync_period
            try:
                await self.sync_once(force=force)
            except Exception as err:  # a failed load or a bad object: retry, never stop
                log.error("loading network policy rules failed (retrying in %.1fs): %s",
                          delay, err, exc_info=not isinstance(err, execute.CommandError))
                self._loaded = None
                await asyncio.sleep(delay)
                delay = min(2 * delay, self.config.max_retry_delay)
                self._wake.set()
                continue
            delay = self.config.min_sync_period
            if force:
                last_forced = loop.time()

    async def run(self) -> None:
        """Watch and program until cancelled (the rules stay, as kube-router's do)."""
        registrations = [
            self.policies.add_event_handler(self._changed, self._changed, self._changed),
            self.pods.add_event_handler(self._changed, self._pod_updated, self._changed),
            self.namespaces.add_event_handler(self._changed, self._changed, self._changed)]
        self._informers.start()
        try:
            await wait_for_cache_sync(*registrations)
            log.info("network policy controller on node %s", self.config.node_name)
            self._wake.set()
            await self._sync_loop()
        finally:
            await self._informers.shutdown()


async def serve(client_config: Any, node_name: str) -> None:
    """Run the controller of `node_name` with its own client until cancelled."""
    async with ApiClient(client_config.replace(user_agent=USER_AGENT)) as client:
        await NetworkPolicyController(client, NetpolConfig(node_name)).run()

