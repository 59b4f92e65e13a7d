"""Per-resource strategies of the generic store, keyed by (group, resource).

`base.ResourceStrategy` is the class every resource's behaviour is an instance of (custom
resources subclass it); `registry.StrategyRegistry` files them; `builtin_strategies()` is
the registry of every built-in resource, one module per API group beside this one.
"""

from __future__ import annotations

from kybernetes.apiserver.strategies import (
    admissionregistration,
    apiextensions,
    apiregistration,
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    discovery,
    events,
    flowcontrol,
    networking,
    node,
    policy,
    rbac,
    resource,
    reviews,
    scheduling,
    storage,
)
from kybernetes.apiserver.strategies.base import ResourceStrategy
from kybernetes.apiserver.strategies.registry import StrategyRegistry

__all__ = ["ResourceStrategy", "StrategyRegistry", "builtin_strategies"]

_GROUPS = (core, apps, batch, autoscaling, events, networking, discovery, rbac, reviews,
           certificates, coordination, storage, admissionregistration, apiregistration, policy,
           scheduling, node, flowcontrol, resource, apiextensions)


def builtin_strategies() -> StrategyRegistry:
    """A registry of the strategies of every built-in resource (fresh on each call)."""
    return StrategyRegistry(tuple(s for group in _GROUPS for s in group.strategies()))
