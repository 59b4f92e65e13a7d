"""The strategy of a resource named by its plural, for tests of the api/ functions a
strategy wires together: built-ins by plural (core first, so `events` is core/v1's), and
`widgets.example.com` as a resource of a group with no built-in rules."""

from __future__ import annotations

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.strategies import ResourceStrategy, builtin_strategies

_BUILTIN = builtin_strategies()
_WIDGETS = ResourceStrategy(ResourceInfo("example.com", "v1", "Widget", "widgets", "widget",
                                         True))


def strategy_for(resource: str) -> ResourceStrategy:
    if resource == "widgets.example.com":
        return _WIDGETS
    return next(s for s in _BUILTIN if s.resource == resource)
