"""What a pod asks for as a whole: the sum of its containers' requests and limits with
init containers and sidecars folded in (`k8s.io/component-helpers/resource` PodRequests and
PodLimits), pod-level resources and overhead, and its QoS class (upstream's
ComputePodQOS/GetPodQOS). Quota charges these; LimitRanger checks the Pod-level limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kybernetes.api.quota import resources
from kybernetes.api.quota.resources import ResourceList

# Resources a pod may set in spec.resources (PodLevelResources) and that decide QoS.
POD_LEVEL_RESOURCES = ("cpu", "memory")


def _spec(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pod.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _containers(spec: Mapping[str, Any], kind: str) -> Iterator[Mapping[str, Any]]:
    items = spec.get(kind)
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            yield item


def _field(container: Mapping[str, Any], name: str) -> ResourceList:
    res = container.get("resources")
    return resources.parse(res.get(name)) if isinstance(res, Mapping) else {}


def _is_sidecar(container: Mapping[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


def containers_total(spec: Mapping[str, Any], name: str) -> ResourceList:
    """Containers add up; each init container runs alone beside the sidecars started
    before it, so the pod needs the largest of those moments or the steady state."""
    total: ResourceList = {}
    for container in _containers(spec, "containers"):
        total = resources.add(total, _field(container, name))
    sidecars: ResourceList = {}
    init_peak: ResourceList = {}
    for container in _containers(spec, "initContainers"):
        own = _field(container, name)
        if _is_sidecar(container):
            total = resources.add(total, own)
            sidecars = resources.add(sidecars, own)
            moment = sidecars
        else:
            moment = resources.add(own, sidecars)
        init_peak = _max_into(init_peak, moment)
    return _max_into(total, init_peak)


def _max_into(base: ResourceList, other: ResourceList) -> ResourceList:
    """Upstream's maxResourceList: each resource of `other` raises `base` if larger."""
    result = dict(base)
    for name, value in other.items():
        if name not in result or value > result[name]:
            result[name] = value
    return result


def _pod_level(spec: Mapping[str, Any], name: str) -> ResourceList:
    res = spec.get("resources")
    if not isinstance(res, Mapping):
        return {}
    return {k: v for k, v in resources.parse(res.get(name)).items()
            if k in POD_LEVEL_RESOURCES}


def pod_requests(pod: Mapping[str, Any]) -> ResourceList:
    spec = _spec(pod)
    requests = {**containers_total(spec, "requests"), **_pod_level(spec, "requests")}
    return resources.add(requests, resources.parse(spec.get("overhead")))


def pod_limits(pod: Mapping[str, Any]) -> ResourceList:
    """Overhead is added only to resources that have a limit."""
    spec = _spec(pod)
    limits = {**containers_total(spec, "limits"), **_pod_level(spec, "limits")}
    overhead = resources.parse(spec.get("overhead"))
    return {name: value + overhead[name] if name in overhead else value
            for name, value in limits.items()}


def compute_qos(pod: Mapping[str, Any]) -> str:
    """Guaranteed when cpu and memory requests equal limits everywhere, BestEffort when
    nothing is set, Burstable otherwise; pod-level resources decide when present."""
    spec = _spec(pod)
    pod_level = spec.get("resources")
    if isinstance(pod_level, Mapping):
        sources: list[Mapping[str, Any]] = [{"resources": pod_level}]
    else:
        sources = [*_containers(spec, "containers"), *_containers(spec, "initContainers")]
    requests: ResourceList = {}
    limits: ResourceList = {}
    guaranteed = True
    for source in sources:
        for name, value in _field(source, "requests").items():
            if name in POD_LEVEL_RESOURCES and value.sign() > 0:
                requests = resources.add(requests, {name: value})
        own_limits = _field(source, "limits")
        found = {name for name, value in own_limits.items()
                 if name in POD_LEVEL_RESOURCES and value.sign() > 0}
        limits = resources.add(limits, {name: own_limits[name] for name in found})
        # A pod-level stanza without limits leaves the decision to the requests.
        if (own_limits or not isinstance(pod_level, Mapping)) and \
                not found >= set(POD_LEVEL_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and len(requests) == len(limits) and \
            all(name in limits and limits[name] == value for name, value in requests.items()):
        return "Guaranteed"
    return "Burstable"


def qos_class(pod: Mapping[str, Any]) -> str:
    """The pod's recorded QoS class, else computed (upstream's GetPodQOS)."""
    status = pod.get("status")
    if isinstance(status, Mapping) and status.get("qosClass"):
        return str(status["qosClass"])
    return compute_qos(pod)
