"""Container resources through the downward API: upstream's pkg/api/v1/resource
(`ExtractContainerResourceValue`, `ExtractResourceValueByContainerName`,
`MergeContainerResourceLimits`) for `resourceFieldRef` in env vars and volumes.

A limit that is unset (or zero) reads as the node's allocatable amount, as the kubelet's
`defaultPodLimitsForDownwardAPI` arranges: a container without a memory limit sees the
node's allocatable memory. Values are divided by the divisor (default 1) and rounded up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.api.quantity import Quantity, QuantityError

Obj = dict[str, Any]

_DEFAULTED_LIMITS = ("cpu", "memory", "ephemeral-storage")


class ResourceFieldError(ValueError):
    """An unsupported resource or unknown container; the message is upstream's."""


def find_container(pod: Mapping[str, Any], name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        if container.get("name") == name:
            return dict(container)
    raise ResourceFieldError(f"container {name} not found")


def merge_limits(container: Mapping[str, Any], allocatable: Mapping[str, Any]) -> Obj:
    """A copy of `container` whose unset cpu/memory/ephemeral-storage limits are the
    node's allocatable amounts."""
    resources = dict(container.get("resources") or {})
    limits = dict(resources.get("limits") or {})
    for name in _DEFAULTED_LIMITS:
        current = limits.get(name)
        if (current is None or Quantity.parse(current).is_zero()) and name in allocatable:
            limits[name] = allocatable[name]
    resources["limits"] = limits
    return {**container, "resources": resources}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def container_resource_value(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """Upstream `ExtractContainerResourceValue`: the container's resource, in divisors."""
    resource = str(ref.get("resource") or "")
    try:
        divisor = Quantity.parse(ref.get("divisor") if ref.get("divisor") else "1")
    except QuantityError as err:
        raise ResourceFieldError(str(err)) from err
    if divisor.is_zero():
        divisor = Quantity.parse("1")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name or not (
            name in _DEFAULTED_LIMITS or name.startswith("hugepages-")):
        raise ResourceFieldError(f"unsupported container resource : {resource}")
    amounts = (container.get("resources") or {}).get(kind) or {}
    amount = Quantity.parse(amounts.get(name, "0"))
    if name == "cpu":
        return str(_ceil_div(amount.milli_value(), divisor.milli_value()))
    return str(_ceil_div(amount.int_value(), divisor.int_value()))


def resource_value(ref: Mapping[str, Any], pod: Mapping[str, Any], container: Mapping[str, Any]
                   | None, allocatable: Mapping[str, Any]) -> str:
    """The value of a resourceFieldRef: of `ref.containerName` when set (volumes always
    name one), else of `container`; limits defaulted to `allocatable`."""
    name = str(ref.get("containerName") or "")
    if name:
        target = find_container(pod, name)
    elif container is not None:
        target = dict(container)
    else:
        raise ResourceFieldError("container name is required for resourceFieldRef")
    return container_resource_value(ref, merge_limits(target, allocatable))
