"""The strategies the store serves, filed by (group, resource).

A lookup is always group-qualified: a resource `jobs` in group `example.com` is a
different key from `batch` `jobs` and never gets its rules. A served resource without a
strategy is a server error rather than a resource silently served without validation.
Custom resources are added and removed at run time (`add`, `remove`).
"""

from __future__ import annotations

from collections.abc import Iterator

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.strategies.base import ResourceStrategy


class StrategyRegistry:
    def __init__(self, strategies: tuple[ResourceStrategy, ...] = ()) -> None:
        self._strategies: dict[tuple[str, str], ResourceStrategy] = {}
        for strategy in strategies:
            self.add(strategy)

    def add(self, strategy: ResourceStrategy) -> None:
        """Files `strategy` under its (group, resource), replacing any there."""
        self._strategies[strategy.key] = strategy

    def remove(self, group: str, resource: str) -> None:
        self._strategies.pop((group, resource), None)

    def get(self, group: str, resource: str) -> ResourceStrategy | None:
        return self._strategies.get((group, resource))

    def of(self, info: ResourceInfo) -> ResourceStrategy:
        """The strategy of a served resource; a 500 when it has none."""
        found = self._strategies.get((info.group, info.plural))
        if found is None:
            raise errors.internal(f"no strategy serves {info.group_resource}")
        return found

    def __iter__(self) -> Iterator[ResourceStrategy]:
        return iter(self._strategies.values())
