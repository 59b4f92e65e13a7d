"""Upstream's `LimitRanger` admission plugin (`plugin/pkg/admission/limitranger`): the
LimitRanges of a namespace default and bound what its pods and claims ask for.

Mutating: a new pod's containers without a request or limit get the `defaultRequest` and
`default` of each `Container` limit, recorded in the `kubernetes.io/limit-ranger`
annotation. Validating: every container (`Container`), the pod as a whole (`Pod`) and a
claim's storage request (`PersistentVolumeClaim`) must stay within `min`, `max` and
`maxLimitRequestRatio`, with upstream's messages. Pods are only checked on create (their
containers cannot change afterwards); claims on create and update.

Defaulting resources can change a pod's QoS class, which the store set before admission;
it is recomputed here, as upstream computes it after mutating admission.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kybernetes.api.quantity import Quantity
from kybernetes.api.quota import podresources, resources
from kybernetes.api.quota.resources import ResourceList
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

ANNOTATION = "kubernetes.io/limit-ranger"
# Above this, upstream compares whole units instead of thousandths (MaxMilliValue).
_MAX_MILLI = ((1 << 63) - 1) // 1000
_CONTAINER_KINDS = (("containers", "container"), ("initContainers", "init container"))


def aggregate(messages: list[str]) -> str:
    """Upstream's error aggregate: one message as is, several distinct ones bracketed."""
    distinct = list(dict.fromkeys(messages))
    return distinct[0] if len(distinct) == 1 else "[" + ", ".join(distinct) + "]"


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    for item in value if isinstance(value, list) else ():
        if isinstance(item, dict):
            yield item


def _limits(limit_range: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    return _dicts((limit_range.get("spec") or {}).get("limits"))


def _compared(*values: Quantity | None) -> list[int]:
    """The values at a common precision: thousandths unless that would overflow."""
    present = [v or resources.ZERO for v in values]
    if all(v.int_value() <= _MAX_MILLI for v in present):
        return [v.milli_value() for v in present]
    return [v.int_value() for v in present]


def min_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                   limits: ResourceList) -> str:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, bound = _compared(request, limit, enforced)
    if request is None:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed_request < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {request}"
    if limit is not None and observed_limit < bound:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {limit}"
    return ""


def max_request_constraint(kind: str, name: str, enforced: Quantity,
                           requests: ResourceList) -> str:
    """For claims, whose limits mean nothing: the request alone is bounded."""
    request = requests.get(name)
    observed, bound = _compared(request, enforced)
    if request is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if observed > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return ""


def max_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                   limits: ResourceList) -> str:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, bound = _compared(request, limit, enforced)
    if limit is None:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if observed_limit > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {limit}"
    if request is not None and observed_request > bound:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {request}"
    return ""


def ratio_constraint(kind: str, name: str, enforced: Quantity, requests: ResourceList,
                     limits: ResourceList) -> str:
    request, limit = requests.get(name), limits.get(name)
    observed_request, observed_limit, _ = _compared(request, limit, enforced)
    prefix = f"{name} max limit to request ratio per {kind} is {enforced}"
    if request is None or observed_request == 0:
        return f"{prefix}, but no request is specified or request is 0"
    if limit is None or observed_limit == 0:
        return f"{prefix}, but no limit is specified or limit is 0"
    ratio = observed_limit / observed_request
    shown, bound = ratio, float(enforced.int_value())
    if enforced.int_value() <= _MAX_MILLI:
        ratio, bound = ratio * 1000, float(enforced.milli_value())
    if ratio > bound:
        return f"{prefix}, but provided ratio is {shown:f}"
    return ""


def _check_item(kind: str, item: Mapping[str, Any], requests: ResourceList,
                limits: ResourceList) -> list[str]:
    found = [min_constraint(kind, n, v, requests, limits)
             for n, v in resources.parse(item.get("min")).items()]
    found += [max_constraint(kind, n, v, requests, limits)
              for n, v in resources.parse(item.get("max")).items()]
    found += [ratio_constraint(kind, n, v, requests, limits)
              for n, v in resources.parse(item.get("maxLimitRequestRatio")).items()]
    return [m for m in found if m]


def _requirements(container: Mapping[str, Any]) -> tuple[ResourceList, ResourceList]:
    res = container.get("resources") or {}
    return resources.parse(res.get("requests")), resources.parse(res.get("limits"))


def validate_pod(limit_range: Mapping[str, Any], pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    found: list[str] = []
    for item in _limits(limit_range):
        kind = str(item.get("type", ""))
        if kind == "Container":
            for container_kind in ("containers", "initContainers"):
                for container in _dicts(spec.get(container_kind)):
                    found += _check_item(kind, item, *_requirements(container))
        if kind == "Pod":
            found += _check_item(kind, item, podresources.containers_total(spec, "requests"),
                                 podresources.containers_total(spec, "limits"))
    return found


def validate_claim(limit_range: Mapping[str, Any], claim: Mapping[str, Any]) -> list[str]:
    requests = resources.parse(((claim.get("spec") or {}).get("resources") or {})
                               .get("requests"))
    found: list[str] = []
    for item in _limits(limit_range):
        kind = str(item.get("type", ""))
        if kind != "PersistentVolumeClaim":
            continue
        found += [min_constraint(kind, n, v, requests, {})
                  for n, v in resources.parse(item.get("min")).items()]
        found += [max_request_constraint(kind, n, v, requests)
                  for n, v in resources.parse(item.get("max")).items()]
    return [m for m in found if m]


def default_pod(limit_range: Mapping[str, Any], pod: dict[str, Any]) -> bool:
    """Fill missing container requests and limits from the range; True if any was."""
    default_requests: dict[str, Any] = {}
    default_limits: dict[str, Any] = {}
    for item in _limits(limit_range):
        if item.get("type") == "Container":
            default_requests.update(item.get("defaultRequest") or {})
            default_limits.update(item.get("default") or {})
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for kind, label in _CONTAINER_KINDS:
        for container in _dicts(spec.get(kind)):
            res = container.setdefault("resources", {})
            set_limits = _fill(res, "limits", default_limits)
            set_requests = _fill(res, "requests", default_requests)
            name = container.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {label} {name}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {name}")
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
    return bool(notes)


def _fill(res: dict[str, Any], field: str, defaults: Mapping[str, Any]) -> list[str]:
    found = res.get(field)
    current: dict[str, Any] = found if isinstance(found, dict) else {}
    added = [name for name in defaults if name not in current]
    if added:
        res[field] = {**current, **{name: defaults[name] for name in added}}
    return added


class LimitRanger:
    name = "LimitRanger"

    def __init__(self, server: ApiServer) -> None:
        info = server.registry.get("", "v1", "limitranges")
        assert info is not None
        self.ranges = lookup.LiveLists(server.store, info)

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.subresource or target.group:
            return Phase.NONE
        if target.resource == "pods":
            return Phase.BOTH if target.operation == "CREATE" else Phase.NONE
        return Phase.VALIDATE if target.resource == "persistentvolumeclaims" and \
            target.operation in ("CREATE", "UPDATE") else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if not self._supported(request) or not request.is_pod():
            return
        assert request.obj is not None
        pod = request.obj
        changed = False
        for limit_range in await self.ranges.objects(request.namespace):
            changed = default_pod(limit_range, pod) or changed
        if changed and isinstance(pod.get("status"), dict):
            pod["status"]["qosClass"] = podresources.compute_qos(pod)

    async def validate(self, request: AdmissionRequest) -> None:
        if not self._supported(request):
            return
        assert request.obj is not None
        check = validate_pod if request.is_pod() else validate_claim
        for limit_range in await self.ranges.objects(request.namespace):
            found = check(limit_range, request.obj)
            if found:
                raise request.forbidden(aggregate(found))

    @staticmethod
    def _supported(request: AdmissionRequest) -> bool:
        """Pod creates and claim writes, not subresources nor objects being deleted."""
        if request.subresource or request.obj is None or request.group:
            return False
        if request.old is not None and (request.old.get("metadata") or {}).get(
                "deletionTimestamp"):
            return False
        if request.resource == "pods":
            return request.operation == "CREATE"
        return request.resource == "persistentvolumeclaims" and \
            request.operation in ("CREATE", "UPDATE")
