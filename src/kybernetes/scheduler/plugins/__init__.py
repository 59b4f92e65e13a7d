"""The in-tree plugins and their registry (upstream's `plugins/registry.go`).

Each plugin is one module with the check itself as pure functions (`fits(pod, node)`,
`fits_request(...)`, `check_node(state, ...)`) that tests call directly, a class
implementing the extension points, and a factory `new(args, handle)`. `REGISTRY` maps the
plugin names a KubeSchedulerConfiguration uses to those factories; an out-of-tree plugin is
one more entry (`Scheduler(..., registry={**REGISTRY, "Mine": mine.new})`).
"""

from __future__ import annotations

from kybernetes.scheduler.interface import PluginFactory
from kybernetes.scheduler.plugins import (
    balancedallocation,
    defaultbinder,
    defaultpreemption,
    imagelocality,
    interpodaffinity,
    names,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    queuesort,
    schedulinggates,
    tainttoleration,
    volumebinding,
)

REGISTRY: dict[str, PluginFactory] = {
    names.PRIORITY_SORT: queuesort.new,
    names.SCHEDULING_GATES: schedulinggates.new,
    names.NODE_UNSCHEDULABLE: nodeunschedulable.new,
    names.NODE_NAME: nodename.new,
    names.TAINT_TOLERATION: tainttoleration.new,
    names.NODE_AFFINITY: nodeaffinity.new,
    names.NODE_PORTS: nodeports.new,
    names.NODE_RESOURCES_FIT: noderesources.new,
    names.NODE_RESOURCES_BALANCED_ALLOCATION: balancedallocation.new,
    names.POD_TOPOLOGY_SPREAD: podtopologyspread.new,
    names.INTER_POD_AFFINITY: interpodaffinity.new,
    names.IMAGE_LOCALITY: imagelocality.new,
    names.DEFAULT_PREEMPTION: defaultpreemption.new,
    names.DEFAULT_BINDER: defaultbinder.new,
    names.VOLUME_BINDING: volumebinding.new,
}

__all__ = ["REGISTRY", "names"]
