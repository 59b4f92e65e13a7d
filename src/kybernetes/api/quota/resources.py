"""Resource lists (`{"requests.cpu": Quantity}`) and upstream's arithmetic over them
(`k8s.io/apiserver/pkg/quota/v1/resources.go`): add, subtract, mask, compare. Quantities
keep the text upstream keeps, and a sum is canonical, so `str()` of a value is what
upstream writes into `status.used` and prints in quota errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kybernetes.api.quantity import Quantity, QuantityError

ResourceList = dict[str, Quantity]

ZERO = Quantity.parse("0")


def parse(raw: Any) -> ResourceList:
    """A resource list from an object's field (values that are not quantities skipped:
    validation refuses them before they are stored)."""
    if not isinstance(raw, Mapping):
        return {}
    parsed: ResourceList = {}
    for name, value in raw.items():
        try:
            parsed[str(name)] = Quantity.parse(value)
        except QuantityError:
            continue
    return parsed


def render(resources: Mapping[str, Quantity]) -> dict[str, str]:
    """The JSON form, as upstream serialises a ResourceList."""
    return {name: str(value) for name, value in resources.items()}


def add(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    result = dict(a)
    for name, value in b.items():
        result[name] = result[name] + value if name in result else value
    return result


def subtract_non_negative(a: Mapping[str, Quantity], b: Mapping[str, Quantity]
                          ) -> ResourceList:
    """a - b per resource of either, never below zero (upstream's
    SubtractWithNonNegativeResult)."""
    result: ResourceList = {}
    for name, value in a.items():
        left = value - b[name] if name in b else value
        result[name] = left if left > ZERO else ZERO
    for name in b:
        result.setdefault(name, ZERO)
    return result


def maximum(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> ResourceList:
    """The larger value of each resource of either list (upstream's Max)."""
    result = dict(a)
    for name, value in b.items():
        if name not in result or result[name] <= value:
            result[name] = value
    return result


def mask(resources: Mapping[str, Quantity], names: Iterable[str]) -> ResourceList:
    """Only the resources named."""
    wanted = set(names)
    return {name: value for name, value in resources.items() if name in wanted}


def equals(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> bool:
    return a.keys() == b.keys() and all(a[name] == b[name] for name in a)


def less_than_or_equal(a: Mapping[str, Quantity], b: Mapping[str, Quantity]
                       ) -> tuple[bool, list[str]]:
    """Whether every resource of `a` that `b` bounds is within it, and those that are
    not."""
    exceeded = [name for name, bound in b.items() if name in a and a[name] > bound]
    return not exceeded, exceeded


def negative(resources: Mapping[str, Quantity]) -> list[str]:
    return [name for name, value in resources.items() if value.sign() < 0]


def remove_zeros(resources: Mapping[str, Quantity]) -> ResourceList:
    return {name: value for name, value in resources.items() if not value.is_zero()}


def pretty(resources: Mapping[str, Quantity]) -> str:
    """`a=1,b=2` sorted by name, as quota errors print a list."""
    return ",".join(f"{name}={resources[name]}" for name in sorted(resources))
