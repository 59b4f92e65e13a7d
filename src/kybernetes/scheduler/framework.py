"""`Framework`: one profile's plugins, and the code that runs each extension point.

Built from a `Profile` and the plugin registry: every plugin the profile names is created
once with its `pluginConfig` args, the profile is expanded into an ordered plugin list per
extension point (`config.expand_profile`), and score weights are resolved. The run methods
follow upstream's `frameworkImpl` (`pkg/scheduler/framework/runtime/framework.go`): status
codes, Skip handling (a PreFilter Skip removes that plugin's Filter for the cycle; a PreScore
Skip its Score), the order in which failures are reported, and the "filter twice with
nominated pods" rule. The bulk (vectorised) filter and score passes are driven from
`schedule_one`, which uses the lists kept here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from kybernetes.scheduler.config import (
    ConfigError,
    Profile,
    check_known,
    expand_profile,
    referenced_plugins,
)
from kybernetes.scheduler.interface import (
    BindPlugin,
    CycleState,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    NormalizeScorePlugin,
    PermitPlugin,
    PluginFactory,
    PostBindPlugin,
    PostFilterPlugin,
    PostFilterResult,
    PreBindPlugin,
    PreEnqueuePlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    QueueSortPlugin,
    ReservePlugin,
    ScorePlugin,
    VectorFilterPlugin,
    VectorScorePlugin,
)
from kybernetes.scheduler.nodeinfo import NodeInfo
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import (
    Code,
    NodeToStatus,
    Status,
    as_status,
    is_success,
    unresolvable,
)

log = logging.getLogger(__name__)

_PROTOCOLS: dict[str, type] = {
    "preEnqueue": PreEnqueuePlugin, "queueSort": QueueSortPlugin,
    "preFilter": PreFilterPlugin, "filter": FilterPlugin, "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin, "score": ScorePlugin, "reserve": ReservePlugin,
    "permit": PermitPlugin, "preBind": PreBindPlugin, "bind": BindPlugin,
    "postBind": PostBindPlugin,
}

# Upstream waits at most this long for a Permit plugin's Wait.
MAX_PERMIT_TIMEOUT = 15 * 60.0


class WaitingPod:
    """A pod a Permit plugin asked to wait; plugins allow or reject it by name."""

    def __init__(self, pod: PodInfo, pending: dict[str, float]) -> None:
        self.pod = pod
        self.pending = dict(pending)
        self.future: asyncio.Future[Status | None] = asyncio.get_running_loop().create_future()

    def allow(self, plugin: str) -> None:
        self.pending.pop(plugin, None)
        if not self.pending and not self.future.done():
            self.future.set_result(None)

    def reject(self, plugin: str, message: str) -> None:
        if not self.future.done():
            self.future.set_result(Status(Code.UNSCHEDULABLE, (message,), plugin))


def _implements(plugin: Any) -> set[str]:
    return {point for point, protocol in _PROTOCOLS.items() if isinstance(plugin, protocol)}


class Framework:
    def __init__(self, profile: Profile, registry: Mapping[str, PluginFactory],
                 handle: Handle) -> None:
        self.profile = profile
        self.name = profile.scheduler_name
        self.handle = handle
        handle.framework = self
        unknown = check_known(profile, set(registry))
        if unknown:
            raise ConfigError(f"profile {self.name}: plugin(s) {', '.join(unknown)} not found")
        self.plugins: dict[str, Any] = {}
        for name in referenced_plugins(profile):
            factory = registry.get(name)
            if factory is None:
                continue
            try:
                self.plugins[name] = factory(profile.plugin_config.get(name, {}), handle)
            except (ValueError, KeyError, TypeError) as err:
                raise ConfigError(f"profile {self.name}: initializing plugin {name}: {err}"
                                  ) from err
        expanded = expand_profile(profile, {n: _implements(p) for n, p in self.plugins.items()})
        points = expanded.points
        plugins = self.plugins
        self.pre_enqueue: list[PreEnqueuePlugin] = [plugins[n] for n in points["preEnqueue"]]
        sorts = points["queueSort"]
        if len(sorts) != 1:
            raise ConfigError(f"profile {self.name}: exactly one queue sort plugin is needed, "
                              f"found {len(sorts)}")
        self.queue_sort: Any = plugins[sorts[0]]
        self.pre_filter: list[PreFilterPlugin] = [plugins[n] for n in points["preFilter"]]
        self.filter: list[FilterPlugin] = [plugins[n] for n in points["filter"]]
        self.post_filter: list[PostFilterPlugin] = [plugins[n] for n in points["postFilter"]]
        self.pre_score: list[PreScorePlugin] = [plugins[n] for n in points["preScore"]]
        self.score: list[ScorePlugin] = [plugins[n] for n in points["score"]]
        self.reserve: list[ReservePlugin] = [plugins[n] for n in points["reserve"]]
        self.permit: list[PermitPlugin] = [plugins[n] for n in points["permit"]]
        self.pre_bind: list[PreBindPlugin] = [plugins[n] for n in points["preBind"]]
        self.bind: list[BindPlugin] = [plugins[n] for n in points["bind"]]
        self.post_bind: list[PostBindPlugin] = [plugins[n] for n in points["postBind"]]
        if not self.bind:
            raise ConfigError(f"profile {self.name}: at least one bind plugin is needed")
        self.weights: dict[str, int] = expanded.weights
        self.vector_filters = {p.name for p in self.filter if isinstance(p, VectorFilterPlugin)}
        self.vector_scores = {p.name for p in self.score if isinstance(p, VectorScorePlugin)}
        self.normalizers = {p.name for p in self.score if isinstance(p, NormalizeScorePlugin)}
        self.waiting: dict[str, WaitingPod] = {}

    @property
    def percentage_of_nodes_to_score(self) -> int | None:
        return self.profile.percentage_of_nodes_to_score

    def events_to_register(self) -> list[tuple[str, Any]]:
        """(plugin name, ClusterEventWithHint) for every plugin that can reject pods."""
        out: list[tuple[str, Any]] = []
        rejecting: set[str] = set()
        for point in (self.pre_enqueue, self.pre_filter, self.filter, self.reserve,
                      self.permit):
            rejecting.update(p.name for p in point)
        for name in rejecting:
            plugin = self.plugins[name]
            if isinstance(plugin, EnqueueExtensions):
                out.extend((name, e) for e in plugin.events_to_register())
        return out

    # -- queueing ------------------------------------------------------------------------

    def run_pre_enqueue(self, pod: PodInfo) -> Status | None:
        for plugin in self.pre_enqueue:
            status = plugin.pre_enqueue(pod)
            if not is_success(status):
                assert status is not None
                return status.with_plugin(plugin.name)
        return None

    # -- filtering -----------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: PodInfo
                       ) -> tuple[PreFilterResult | None, Status | None, set[str]]:
        """(result, status, plugins): the plugins that rejected the pod, or when none did,
        those that restricted the nodes (upstream's `unscheduledPlugins`)."""
        result: PreFilterResult | None = None
        returned: Status | None = None
        rejecting: set[str] = set()
        with_nodes: list[str] = []
        snapshot = self.handle.snapshot
        for plugin in self.pre_filter:
            try:
                r, status = plugin.pre_filter(state, pod, snapshot)
            except Exception as err:  # a plugin bug must not stop the scheduler
                log.exception("PreFilter plugin %s failed", plugin.name)
                return None, as_status(err).with_plugin(plugin.name), rejecting
            if status is not None and status.is_skip:
                state.skip_filter_plugins.add(plugin.name)
                continue
            if not is_success(status):
                assert status is not None
                status = status.with_plugin(plugin.name)
                rejecting.add(plugin.name)
                if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                    return None, status, rejecting
                if status.code == Code.UNSCHEDULABLE:
                    returned = status
                    continue
                return None, Status(Code.ERROR, (f'running PreFilter plugin "{plugin.name}": '
                                                 f"{status.message}",), plugin.name,
                                    status.error), rejecting
            if r is not None and r.node_names is not None:
                with_nodes.append(plugin.name)
                result = r if result is None else result.merge(r)
                if result.node_names is not None and not result.node_names:
                    msg = (f"node(s) didn't satisfy plugin {with_nodes[0]}"
                           if len(with_nodes) == 1 else
                           f"node(s) didn't satisfy plugin(s) [{' '.join(with_nodes)}] "
                           "simultaneously")
                    rejecting.update(with_nodes)
                    return result, unresolvable(msg), rejecting
        return result, returned, rejecting or set(with_nodes)

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Every Filter in order; the first that does not pass decides."""
        skip = state.skip_filter_plugins
        for plugin in self.filter:
            if plugin.name in skip:
                continue
            status = plugin.filter(state, pod, node)
            if status is not None and status.code != Code.SUCCESS:
                if not status.is_rejected:
                    return Status(Code.ERROR, (f'running "{plugin.name}" filter plugin: '
                                               f"{status.message}",), plugin.name, status.error)
                return status.with_plugin(plugin.name)
        return None

    def run_pre_filter_extension_add_pod(self, state: CycleState, pod: PodInfo,
                                         pod_to_add: PodInfo, node: NodeInfo) -> Status | None:
        for plugin in self.pre_filter:
            if plugin.name in state.skip_filter_plugins:
                continue
            extensions = plugin.pre_filter_extensions()
            if extensions is None:
                continue
            status = extensions.add_pod(state, pod, pod_to_add, node)
            if not is_success(status):
                return status
        return None

    def run_pre_filter_extension_remove_pod(self, state: CycleState, pod: PodInfo,
                                            pod_to_remove: PodInfo, node: NodeInfo
                                            ) -> Status | None:
        for plugin in self.pre_filter:
            if plugin.name in state.skip_filter_plugins:
                continue
            extensions = plugin.pre_filter_extensions()
            if extensions is None:
                continue
            status = extensions.remove_pod(state, pod, pod_to_remove, node)
            if not is_success(status):
                return status
        return None

    def nominated_for(self, pod: PodInfo, node_name: str) -> list[PodInfo]:
        """Pods nominated to the node that this pod must leave room for."""
        nominator = self.handle.nominator
        if nominator is None:
            return []
        return [p for p in nominator.nominated_pods_for_node(node_name)
                if p.priority >= pod.priority and p.uid != pod.uid]

    def run_filter_plugins_with_nominated_pods(self, state: CycleState, pod: PodInfo,
                                               node: NodeInfo) -> Status | None:
        """Upstream's RunFilterPluginsWithNominatedPods: with equal or higher priority pods
        nominated to the node counted first, then (if any were) without them."""
        nominated = self.nominated_for(pod, node.name) if node.node is not None else []
        if not nominated:
            return self.run_filter(state, pod, node)
        with_state = state.clone()
        with_node = node.clone()
        for other in nominated:
            with_node.add_pod(other)
            status = self.run_pre_filter_extension_add_pod(with_state, pod, other, with_node)
            if not is_success(status):
                assert status is not None
                return as_status(RuntimeError(status.message))
        status = self.run_filter(with_state, pod, with_node)
        if not is_success(status):
            return status
        return self.run_filter(state, pod, node)

    def run_post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                        ) -> tuple[PostFilterResult | None, Status | None]:
        result: PostFilterResult | None = None
        reasons: list[str] = []
        rejector = ""
        for plugin in self.post_filter:
            r, status = plugin.post_filter(state, pod, statuses)
            if is_success(status):
                return r, status
            assert status is not None
            if status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return r, status.with_plugin(plugin.name)
            if not status.is_rejected:
                return None, Status(Code.ERROR, status.reasons, plugin.name, status.error)
            if r is not None and r.nominating_info is not None:
                result = r
            reasons.extend(status.reasons)
            rejector = rejector or plugin.name
        return result, Status(Code.UNSCHEDULABLE, tuple(reasons), rejector)

    # -- scoring -------------------------------------------------------------------------

    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                      ) -> Status | None:
        for plugin in self.pre_score:
            status = plugin.pre_score(state, pod, nodes)
            if status is not None and status.is_skip:
                state.skip_score_plugins.add(plugin.name)
                continue
            if not is_success(status):
                assert status is not None
                return Status(Code.ERROR, (f'running PreScore plugin "{plugin.name}": '
                                           f"{status.message}",), plugin.name, status.error)
        return None

    # -- reserve, permit -----------------------------------------------------------------

    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for plugin in self.reserve:
            status = plugin.reserve(state, pod, node_name)
            if not is_success(status):
                assert status is not None
                if status.is_rejected:
                    return status.with_plugin(plugin.name)
                return Status(Code.ERROR, (f'running Reserve plugin "{plugin.name}": '
                                           f"{status.message}",), plugin.name, status.error)
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in reversed(self.reserve):
            try:
                plugin.unreserve(state, pod, node_name)
            except Exception:
                log.exception("Unreserve plugin %s failed", plugin.name)

    def run_permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        pending: dict[str, float] = {}
        for plugin in self.permit:
            status, timeout = plugin.permit(state, pod, node_name)
            if is_success(status):
                continue
            assert status is not None
            if status.is_rejected:
                return status.with_plugin(plugin.name)
            if status.is_wait:
                pending[plugin.name] = min(timeout, MAX_PERMIT_TIMEOUT)
                continue
            return Status(Code.ERROR, (f'running Permit plugin "{plugin.name}": '
                                       f"{status.message}",), plugin.name, status.error)
        if pending:
            self.waiting[pod.uid] = WaitingPod(pod, pending)
            return Status(Code.WAIT, ("one or more plugins asked to wait and no plugin "
                                      "rejected pod",))
        return None

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        return self.waiting.get(uid)

    async def wait_on_permit(self, pod: PodInfo) -> Status | None:
        waiting = self.waiting.get(pod.uid)
        if waiting is None:
            return None
        timeout = min(waiting.pending.values(), default=0.0)
        try:
            async with asyncio.timeout(timeout):
                status = await waiting.future
        except TimeoutError:
            plugin = min(waiting.pending, key=lambda k: waiting.pending[k])
            status = Status(Code.UNSCHEDULABLE,
                            (f"rejected due to timeout after waiting {timeout}s at plugin "
                             f"{plugin}",), plugin)
        finally:
            self.waiting.pop(pod.uid, None)
        return status

    # -- binding -------------------------------------------------------------------------

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                           ) -> Status | None:
        for plugin in self.pre_bind:
            status = await plugin.pre_bind(state, pod, node_name)
            if status is not None and status.is_skip:
                continue
            if not is_success(status):
                assert status is not None
                return status.with_plugin(plugin.name)
        return None

    async def run_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None:
        for plugin in self.bind:
            status = await plugin.bind(state, pod, node_name)
            if status is not None and status.is_skip:
                continue
            if not is_success(status):
                assert status is not None
                return status.with_plugin(plugin.name)
            return None
        return Status(Code.SKIP)

    def run_post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in self.post_bind:
            try:
                plugin.post_bind(state, pod, node_name)
            except Exception:
                log.exception("PostBind plugin %s failed", plugin.name)
