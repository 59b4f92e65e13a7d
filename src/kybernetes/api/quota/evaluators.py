"""Usage evaluators: for each kind of object, which quota resources it consumes and which
quota scopes it falls in (upstream's `quota.Evaluator`s: the pod, service and
persistentvolumeclaim evaluators of `pkg/quota/v1/evaluator/core`, and the generic object
count evaluator for everything else, `count/<resource>[.<group>]`, with the legacy names
`configmaps`, `secrets`, `replicationcontrollers` and `resourcequotas`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from kybernetes.api import timeutil
from kybernetes.api.quantity import Quantity
from kybernetes.api.quota import podresources, resources
from kybernetes.api.quota.resources import ResourceList

Obj = Mapping[str, Any]

ONE = Quantity.parse("1")

# Resources whose quota makes every container state them (a mistake upstream keeps).
_REQUIRED_PER_CONTAINER = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu",
                           "limits.memory")
_POD_RESOURCES = ("count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu",
                  "requests.memory", "requests.ephemeral-storage", "limits.cpu",
                  "limits.memory", "limits.ephemeral-storage", "pods")
_POD_RESOURCE_PREFIXES = ("hugepages-", "requests.hugepages-")
_SERVICE_RESOURCES = ("count/services", "services", "services.nodeports",
                      "services.loadbalancers")
_PVC_RESOURCES = ("persistentvolumeclaims", "requests.storage")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
BETA_STORAGE_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
# Object counts upstream also accepts under their old names.
LEGACY_ALIASES = {"configmaps": "configmaps", "resourcequotas": "resourcequotas",
                  "replicationcontrollers": "replicationcontrollers", "secrets": "secrets"}


@dataclass(frozen=True)
class ScopeSelector:
    """One `ScopedResourceSelectorRequirement`."""

    scope_name: str
    operator: str = "Exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """As the label selector upstream builds from it, keyed by the scope name."""
        present = self.scope_name in labels
        if self.operator == "In":
            return present and labels[self.scope_name] in self.values
        if self.operator == "NotIn":
            return not present or labels[self.scope_name] not in self.values
        if self.operator == "DoesNotExist":
            return not present
        return present

    def __str__(self) -> str:
        """Go's `%v` of the requirement, as quota errors print it."""
        return f"{{{self.scope_name} {self.operator} [{' '.join(self.values)}]}}"


def quota_scopes(quota: Obj) -> list[ScopeSelector]:
    """A quota's `spec.scopes` (as Exists) and `spec.scopeSelector` expressions."""
    spec = quota.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    selectors = [ScopeSelector(str(s)) for s in spec.get("scopes") or () if s]
    expressions = (spec.get("scopeSelector") or {}).get("matchExpressions") or ()
    for expr in expressions:
        if isinstance(expr, Mapping):
            selectors.append(ScopeSelector(str(expr.get("scopeName", "")),
                                           str(expr.get("operator", "")),
                                           tuple(str(v) for v in expr.get("values") or ())))
    return selectors


def object_count_name(group: str, plural: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


class Evaluator(Protocol):
    """What quota needs to know about one resource."""

    @property
    def group(self) -> str: ...

    @property
    def plural(self) -> str: ...

    def handles(self, operation: str, subresource: str, obj: Obj | None,
                old: Obj | None) -> bool:
        """Whether this write can change the usage quota tracks."""
        ...

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        """The quota resources among `names` this resource consumes."""
        ...

    def matches_scope(self, selector: ScopeSelector, obj: Obj) -> bool: ...

    def constraints(self, required: Sequence[str], obj: Obj) -> str:
        """Why the object cannot be admitted under a quota on `required` ('' if it can)."""
        ...

    def usage(self, obj: Obj) -> ResourceList: ...


def matches(evaluator: Evaluator, quota: Obj, obj: Obj) -> bool:
    """Whether the quota (its recorded hard limits and its scopes) covers the object."""
    hard = resources.parse((quota.get("status") or {}).get("hard"))
    if not evaluator.matching_resources(hard):
        return False
    return all(evaluator.matches_scope(s, obj) for s in quota_scopes(quota))


def matching_scopes(evaluator: Evaluator, obj: Obj, selectors: Iterable[ScopeSelector]
                    ) -> list[ScopeSelector]:
    return [s for s in selectors if evaluator.matches_scope(s, obj)]


def usage_stats(evaluator: Evaluator, objects: Iterable[Obj], names: Sequence[str],
                selectors: Sequence[ScopeSelector]) -> ResourceList:
    """The usage of `names` by the objects in the scopes (each name at least zero)."""
    used: ResourceList = {name: resources.ZERO for name in names}
    for obj in objects:
        if all(evaluator.matches_scope(s, obj) for s in selectors):
            used = resources.add(used, evaluator.usage(obj))
    return used


def calculate_usage(hard: Mapping[str, Any], selectors: Sequence[ScopeSelector],
                    evaluators: Iterable[Evaluator],
                    objects_of: Callable[[Evaluator], Iterable[Obj]]) -> ResourceList:
    """A namespace's usage of every resource `hard` limits that some evaluator tracks
    (upstream's CalculateUsage); `objects_of` lists an evaluator's objects there."""
    hard_names = list(hard)
    chosen = list(evaluators)
    tracked = {name for ev in chosen for name in ev.matching_resources(hard_names)}
    used: ResourceList = {}
    for evaluator in chosen:
        names = evaluator.matching_resources(tracked)
        if names:
            used = resources.add(used, usage_stats(evaluator, objects_of(evaluator), names,
                                                   selectors))
    return resources.mask(used, tracked)


# ------------------------------------------------------------------------------- pods


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _spec(obj: Obj) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def is_terminating(pod: Obj) -> bool:
    deadline = _spec(pod).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and not isinstance(deadline, bool) and deadline >= 0


def _container_usage(requests: Mapping[str, Quantity],
                     limits: Mapping[str, Quantity]) -> ResourceList:
    """Upstream's podComputeUsageHelper."""
    result: ResourceList = {"pods": ONE}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            result[name] = requests[name]
            result[f"requests.{name}"] = requests[name]
        if name in limits:
            result[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            result[name] = value
            result[f"requests.{name}"] = value
        elif _is_extended(name):
            result[f"requests.{name}"] = value
    return result


def _is_native(name: str) -> bool:
    """Upstream's IsNativeResource: unprefixed, or in the kubernetes.io domain."""
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    """An extended resource (a domain-prefixed name outside kubernetes.io)."""
    return not _is_native(name) and not name.startswith("requests.")


@dataclass(frozen=True)
class PodEvaluator:
    group: str = ""
    plural: str = "pods"
    now: Callable[[], datetime] = field(default=timeutil.now)

    def handles(self, operation: str, subresource: str, obj: Obj | None,
                old: Obj | None) -> bool:
        if subresource == "resize":
            return operation == "UPDATE"
        if subresource:
            return False
        if operation == "UPDATE" and obj is not None and old is not None:
            return is_terminating(old) != is_terminating(obj)
        return operation == "CREATE"

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in _POD_RESOURCES or n.startswith(_POD_RESOURCE_PREFIXES)
                or (n.startswith("requests.") and not _is_native(n))]

    def matches_scope(self, selector: ScopeSelector, obj: Obj) -> bool:
        scope = selector.scope_name
        if scope == "Terminating":
            return is_terminating(obj)
        if scope == "NotTerminating":
            return not is_terminating(obj)
        if scope == "BestEffort":
            return podresources.qos_class(obj) == "BestEffort"
        if scope == "NotBestEffort":
            return podresources.qos_class(obj) != "BestEffort"
        if scope == "PriorityClass":
            name = str(_spec(obj).get("priorityClassName") or "")
            if selector.operator == "Exists":
                return bool(name)
            return selector.matches({"PriorityClass": name} if name else {})
        if scope == "CrossNamespacePodAffinity":
            return _uses_cross_namespace_affinity(_spec(obj))
        return False

    def constraints(self, required: Sequence[str], obj: Obj) -> str:
        """With a cpu or memory quota every container must state it (unless the pod sets
        pod-level resources)."""
        spec = _spec(obj)
        if isinstance(spec.get("resources"), Mapping) and spec["resources"]:
            return ""
        wanted = set(required) & set(_REQUIRED_PER_CONTAINER)
        missing: dict[str, set[str]] = {}
        for kind in ("containers", "initContainers"):
            for container in spec.get(kind) or ():
                if not isinstance(container, Mapping):
                    continue
                res = container.get("resources") or {}
                own = _container_usage(resources.parse(res.get("requests")),
                                       resources.parse(res.get("limits")))
                for name in wanted - own.keys():
                    missing.setdefault(name, set()).add(str(container.get("name", "")))
        if not missing:
            return ""
        return "must specify " + "; ".join(
            f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))

    def usage(self, obj: Obj) -> ResourceList:
        """count/pods always; compute resources unless the pod is done or its deletion
        grace period is over."""
        result: ResourceList = {"count/pods": ONE}
        if not self.charged(obj):
            return result
        return resources.add(result, _container_usage(podresources.pod_requests(obj),
                                                      podresources.pod_limits(obj)))

    def charged(self, pod: Obj) -> bool:
        """Whether compute resources are charged: not once the pod is done or its
        deletion grace period is over."""
        if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return False
        meta = _meta(pod)
        deleted = timeutil.parse_time(meta.get("deletionTimestamp"))
        grace = meta.get("deletionGracePeriodSeconds")
        if deleted is not None and isinstance(grace, int):
            return self.now() <= deleted + timedelta(seconds=grace)
        return True


def _uses_cross_namespace_affinity(spec: Mapping[str, Any]) -> bool:
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        section = affinity.get(kind) or {}
        terms = list(section.get("requiredDuringSchedulingIgnoredDuringExecution") or ())
        terms += [t.get("podAffinityTerm") or {} for t in
                  section.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
                  if isinstance(t, Mapping)]
        if any(isinstance(t, Mapping) and (t.get("namespaces") or
                                           t.get("namespaceSelector") is not None)
               for t in terms):
            return True
    return False


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class ServiceEvaluator:
    group: str = ""
    plural: str = "services"

    def handles(self, operation: str, subresource: str, obj: Obj | None,
                old: Obj | None) -> bool:
        return operation in ("CREATE", "UPDATE") and not subresource

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in _SERVICE_RESOURCES]

    def matches_scope(self, selector: ScopeSelector, obj: Obj) -> bool:
        return False

    def constraints(self, required: Sequence[str], obj: Obj) -> str:
        return ""

    def usage(self, obj: Obj) -> ResourceList:
        spec = _spec(obj)
        ports = [p for p in spec.get("ports") or () if isinstance(p, Mapping)]
        zero = resources.ZERO
        result: ResourceList = {"count/services": ONE, "services": ONE,
                                "services.loadbalancers": zero, "services.nodeports": zero}
        kind = spec.get("type")
        if kind == "NodePort":
            result["services.nodeports"] = Quantity.from_value(len(ports))
        elif kind == "LoadBalancer":
            counted = ports
            if spec.get("allocateLoadBalancerNodePorts") is False:
                counted = [p for p in ports if p.get("nodePort")]
            result["services.nodeports"] = Quantity.from_value(len(counted))
            result["services.loadbalancers"] = ONE
        return result


# -------------------------------------------------------------- persistent volume claims


def claim_class(pvc: Obj) -> str:
    """The claim's storage class: the beta annotation, else spec.storageClassName."""
    annotations = _meta(pvc).get("annotations") or {}
    if BETA_STORAGE_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_STORAGE_CLASS_ANNOTATION])
    return str(_spec(pvc).get("storageClassName") or "")


def _volume_attributes_classes(pvc: Obj) -> set[str]:
    status = pvc.get("status") or {}
    names = {_spec(pvc).get("volumeAttributesClassName"),
             status.get("currentVolumeAttributesClassName"),
             (status.get("modifyVolumeStatus") or {}).get("targetVolumeAttributesClassName")}
    return {str(n) for n in names if n}


@dataclass(frozen=True)
class ClaimEvaluator:
    group: str = ""
    plural: str = "persistentvolumeclaims"

    def handles(self, operation: str, subresource: str, obj: Obj | None,
                old: Obj | None) -> bool:
        return operation in ("CREATE", "UPDATE") and not subresource

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n == "count/persistentvolumeclaims" or n in _PVC_RESOURCES
                or any(n.endswith(STORAGE_CLASS_SUFFIX + r) for r in _PVC_RESOURCES)]

    def matches_scope(self, selector: ScopeSelector, obj: Obj) -> bool:
        if selector.scope_name != "VolumeAttributesClass":
            return False
        classes = _volume_attributes_classes(obj)
        if selector.operator == "Exists":
            return bool(classes)
        if not classes:
            return selector.matches({})
        return any(selector.matches({"VolumeAttributesClass": c}) for c in classes)

    def constraints(self, required: Sequence[str], obj: Obj) -> str:
        return ""

    def usage(self, obj: Obj) -> ResourceList:
        result: ResourceList = {"persistentvolumeclaims": ONE,
                                "count/persistentvolumeclaims": ONE}
        storage_class = claim_class(obj)
        if storage_class:
            result[f"{storage_class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
        requested = self._storage(obj)
        if requested is not None:
            result["requests.storage"] = requested
            if storage_class:
                result[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = requested
        return result

    @staticmethod
    def _storage(pvc: Obj) -> Quantity | None:
        """The requested storage in whole bytes, or what was allocated if larger."""
        requests = resources.parse((_spec(pvc).get("resources") or {}).get("requests"))
        if "storage" not in requests:
            return None
        wanted = requests["storage"].round_up(0)
        allocated = resources.parse((pvc.get("status") or {}).get("allocatedResources"))
        if "storage" in allocated and allocated["storage"] > wanted:
            return allocated["storage"].round_up(0)
        return wanted


# ----------------------------------------------------------------------- object counts


@dataclass(frozen=True)
class ObjectCountEvaluator:
    """Counts objects of one resource, under `count/...` and its legacy name if any."""

    group: str
    plural: str

    @property
    def names(self) -> tuple[str, ...]:
        alias = LEGACY_ALIASES.get(self.plural) if not self.group else None
        count = object_count_name(self.group, self.plural)
        return (count, alias) if alias else (count,)

    def handles(self, operation: str, subresource: str, obj: Obj | None,
                old: Obj | None) -> bool:
        return operation == "CREATE"

    def matching_resources(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n in self.names]

    def matches_scope(self, selector: ScopeSelector, obj: Obj) -> bool:
        return False

    def constraints(self, required: Sequence[str], obj: Obj) -> str:
        return ""

    def usage(self, obj: Obj) -> ResourceList:
        return dict.fromkeys(self.names, ONE)


def evaluator_for(group: str, plural: str) -> Evaluator:
    """The evaluator of a resource: a special one, else an object counter."""
    if not group:
        if plural == "pods":
            return PodEvaluator()
        if plural == "services":
            return ServiceEvaluator()
        if plural == "persistentvolumeclaims":
            return ClaimEvaluator()
    return ObjectCountEvaluator(group, plural)
