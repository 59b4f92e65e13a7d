"""The HorizontalPodAutoscaler controller: upstream's
`pkg/controller/podautoscaler/horizontal.go` (`reconcileAutoscaler` and the metric
computations it calls), for autoscaling/v2 HPAs with Resource and ContainerResource
metrics.

**Schedule.** Every HPA is processed every `sync_period` (15 s,
`--horizontal-pod-autoscaler-sync-period`): its key enters the queue through a
fixed-interval rate limiter when it is added or changed, and is put back `sync_period`
after each pass, so, as upstream, a new HPA is first looked at one period after it
appears.

**One pass** (`reconcile`):

1. The target's `/scale` subresource, its kind mapped to a resource through discovery
   (any kind serving scale: Deployment, ReplicaSet, StatefulSet, ReplicationController,
   custom resources). Failing that: `FailedGetScale` (event and AbleToScale=False).
2. Target at 0 replicas with minReplicas > 0: scaling disabled (ScalingActive=False,
   ScalingDisabled). Above maxReplicas or below minReplicas: brought back within them.
3. Otherwise each metric proposes a count (the replica calculator, `replicas.py`); the
   highest wins. The scale's `status.selector` picks the pods; it must be set, parse, and
   not pick pods another HPA's selector picks (InvalidSelector, AmbiguousSelector). When
   every metric fails, or some fail and the others would scale down, nothing is scaled
   (ScalingActive=False with the first failure's reason, e.g. FailedGetResourceMetric,
   and a FailedComputeMetricsReplicas event); otherwise ScalingActive=True
   (ValidMetricFound).
4. The proposal is normalised (`behavior.py`: stabilisation, policies, min/max; AbleToScale
   and ScalingLimited reasons) and, when it differs from the current count, written to
   `/scale` (`SuccessfulRescale` "New size: N; reason: R", or `FailedRescale`).
5. The status (currentReplicas, desiredReplicas, currentMetrics, lastScaleTime,
   conditions) is written through `/status` when it changed.

Pods, Object and External metrics need the custom and external metrics APIs, which
kybernetes does not serve: such a metric fails as upstream's does when no adapter is
registered (`FailedGetPodsMetric`, `FailedGetObjectMetric`, `FailedGetExternalMetric`, with
upstream's "no custom metrics API (custom.metrics.k8s.io) registered" or the API server's
answer for the external metrics path).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, ClassVar

from kybernetes.api import timeutil
from kybernetes.api.errors import StatusError
from kybernetes.api.quantity import Quantity, QuantityError
from kybernetes.api.selectors import LabelSelector, parse_label_selector
from kybernetes.client import (
    ApiClient,
    ClientError,
    EventRecorder,
    meta_namespace_key,
    resource,
)
from kybernetes.client.informer import NAMESPACE_INDEX
from kybernetes.client.rest import Obj
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.discovery import Discovery, split_api_version
from kybernetes.controllers.podautoscaler.behavior import (
    DEFAULT_DOWNSCALE_STABILIZATION,
    History,
    Recommendation,
    convert_desired_replicas_with_behavior_rate,
    convert_desired_replicas_with_rules,
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
    store_scale_event,
)
from kybernetes.controllers.podautoscaler.metrics import (
    MetricsError,
    ResourceMetricsClient,
    RestResourceMetrics,
)
from kybernetes.controllers.podautoscaler.replicas import (
    DEFAULT_CPU_INITIALIZATION_PERIOD,
    DEFAULT_INITIAL_READINESS_DELAY,
    DEFAULT_TOLERANCE,
    ReplicaCalculator,
    Tolerances,
)

log = logging.getLogger(__name__)

HPAS = resource("autoscaling", "v2", "horizontalpodautoscalers")
PODS = resource("", "v1", "pods")

# Upstream's defaults (--horizontal-pod-autoscaler-sync-period,
# --concurrent-horizontal-pod-autoscaler-syncs).
DEFAULT_SYNC_PERIOD = 15.0
DEFAULT_WORKERS = 5

_FAILED_METRIC_REASONS = {
    "Pods": ("FailedGetPodsMetric", "pods"),
    "Object": ("FailedGetObjectMetric", "object"),
    "External": ("FailedGetExternalMetric", "external"),
}


class FixedIntervalRateLimiter:
    """Upstream's `FixedItemIntervalRateLimiter`: every key waits `interval`."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def when(self, item: str) -> float:
        return self.interval

    def forget(self, item: str) -> None:
        pass

    def num_requeues(self, item: str) -> int:
        return 0


class MetricFailure(Exception):
    """A metric that gave no proposal: the ScalingActive condition it asks for."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.condition_message = f"the HPA was unable to compute the replica count: {message}"


class SelectorFailure(Exception):
    pass


class ReconcileError(Exception):
    """A pass that could not finish (upstream's returned error): logged, retried next
    period."""


@dataclass(frozen=True, slots=True)
class Proposal:
    replicas: int
    metric: str
    status: Obj


def milli_quantity(milli: int) -> str:
    """`resource.NewMilliQuantity(milli, DecimalSI).String()`."""
    return str(Quantity.from_value(Fraction(milli, 1000)))


def _milli(value: Any) -> int:
    return Quantity.parse(value).milli_value()


def set_condition(hpa: Obj, kind: str, status: str, reason: str, message: str,
                  now: datetime) -> None:
    """Upstream's `setCondition`: the transition time moves only when the status does."""
    conditions: list[Obj] = hpa.setdefault("status", {}).setdefault("conditions", [])
    condition = next((c for c in conditions if c.get("type") == kind), None)
    if condition is None:
        condition = {"type": kind}
        conditions.append(condition)
    if condition.get("status") != status:
        condition["lastTransitionTime"] = timeutil.rfc3339(now)
    condition.update(status=status, reason=reason, message=message)


class HorizontalController(QueueController):
    name: ClassVar[str] = "horizontal-pod-autoscaler-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 sync_period: float = DEFAULT_SYNC_PERIOD,
                 tolerance: float = DEFAULT_TOLERANCE,
                 downscale_stabilization: timedelta = DEFAULT_DOWNSCALE_STABILIZATION,
                 cpu_initialization_period: timedelta = DEFAULT_CPU_INITIALIZATION_PERIOD,
                 initial_readiness_delay: timedelta = DEFAULT_INITIAL_READINESS_DELAY,
                 metrics: ResourceMetricsClient | None = None,
                 clock: Callable[[], datetime] = timeutil.now) -> None:
        super().__init__(workers=workers, rate_limiter=FixedIntervalRateLimiter(sync_period))
        self.client: ApiClient = ctx.client
        self.discovery: Discovery = ctx.discovery
        self.sync_period = sync_period
        self.tolerance = tolerance
        self.downscale_stabilization = downscale_stabilization
        self.clock = clock
        self.recorder = EventRecorder(ctx.client, "horizontal-pod-autoscaler")
        self.hpas = ctx.informers.informer(HPAS)
        self.pods = ctx.informers.informer(PODS)
        self.calculator = ReplicaCalculator(
            metrics or RestResourceMetrics(ctx.client), self.pods.store,
            cpu_initialization_period=cpu_initialization_period,
            delay_of_initial_readiness_status=initial_readiness_delay, clock=clock)
        self.histories: dict[str, History] = {}
        # The selector each HPA's target last had, for the ambiguity check.
        self.selectors: dict[str, LabelSelector] = {}
        self.watch(self.hpas, on_add=self._enqueue,
                   on_update=lambda _old, new: self._enqueue(new), on_delete=self._deleted)
        self.watch(self.pods)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self.recorder.aclose()

    def _enqueue(self, hpa: Obj) -> None:
        self.queue.add_rate_limited(meta_namespace_key(hpa))

    def _deleted(self, hpa: Obj) -> None:
        self.queue.forget(meta_namespace_key(hpa))

    # -- sync ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        hpa = self.hpas.store.get(key)
        if hpa is None:
            log.info("%s: HPA %s has been deleted", self.name, key)
            self.histories.pop(key, None)
            self.selectors.pop(key, None)
            return
        try:
            await self.reconcile(key, copy.deepcopy(hpa))
        except ReconcileError as err:
            log.warning("%s: %s: %s", self.name, key, err)
        raise Requeue("next period", after=self.sync_period)

    async def reconcile(self, key: str, hpa: Obj) -> None:
        """One pass of upstream's `reconcileAutoscaler`; raises what upstream returns."""
        now = self.clock()
        original = copy.deepcopy(hpa.get("status") or {})
        hpa.setdefault("status", {})
        meta, spec = hpa["metadata"], hpa.get("spec") or {}
        namespace = meta.get("namespace", "")
        ref = spec.get("scaleTargetRef") or {}
        reference = f"{ref.get('kind', '')}/{namespace}/{ref.get('name', '')}"
        try:
            target, scale = await self._get_scale(namespace, ref)
        except ClientError as err:
            self.recorder.warning(hpa, "FailedGetScale", str(err))
            set_condition(hpa, "AbleToScale", "False", "FailedGetScale",
                          f"the HPA controller was unable to get the target's current "
                          f"scale: {err}", now)
            await self._update_status_if_needed(original, hpa)
            raise ReconcileError(
                f"failed to query scale subresource for {reference}: {err}") from err
        set_condition(hpa, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", now)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        if key not in self.histories:
            self.histories[key] = History([Recommendation(current, now)])
        history = self.histories[key]
        min_replicas = spec.get("minReplicas")
        min_replicas = 1 if min_replicas is None else int(min_replicas)
        max_replicas = int(spec.get("maxReplicas") or 0)
        statuses: list[Obj] = []
        desired, reason, rescale = 0, "", True
        pending_error: ReconcileError | None = None
        if current == 0 and min_replicas != 0:
            rescale = False
            set_condition(hpa, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero",
                          now)
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            proposal, metric, statuses, error = await self._replicas_for_metrics(
                key, hpa, scale, now)
            if proposal < 0:
                self._set_status(hpa, current, int(hpa["status"].get("desiredReplicas") or 0),
                                 statuses, False, now)
                await self._update_status_if_needed(original, hpa)
                self.recorder.warning(hpa, "FailedComputeMetricsReplicas", str(error))
                raise ReconcileError(f"failed to compute desired number of replicas based "
                                     f"on listed metrics for {reference}: {error}")
            pending_error = error
            desired = proposal
            if desired > current:
                reason = f"{metric} above target"
            if desired < current:
                reason = "All metrics below target"
            desired = self._normalize(hpa, history, current, desired, min_replicas,
                                      max_replicas, now)
            rescale = desired != current
        if rescale:
            try:
                await self._update_scale(target, namespace, scale, desired)
            except ClientError as err:
                self.recorder.warning(hpa, "FailedRescale",
                                      f"New size: {desired}; reason: {reason}; error: {err}")
                set_condition(hpa, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: "
                              f"{err}", now)
                self._set_status(hpa, current, int(hpa["status"].get("desiredReplicas") or 0),
                                 statuses, False, now)
                await self._update_status_if_needed(original, hpa)
                raise ReconcileError(f"failed to rescale {reference}: {err}") from err
            set_condition(hpa, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to "
                          f"{desired}", now)
            self.recorder.normal(hpa, "SuccessfulRescale",
                                 f"New size: {desired}; reason: {reason}")
            store_scale_event(history, spec.get("behavior"), current, desired, now)
            log.info("%s: %s: rescaled %s from %d to %d: %s", self.name, key, reference,
                     current, desired, reason)
        else:
            desired = current
        self._set_status(hpa, current, desired, statuses, rescale, now)
        await self._update_status_if_needed(original, hpa)
        if pending_error is not None:
            raise pending_error

    # -- the target's scale -------------------------------------------------------------

    async def _get_scale(self, namespace: str, ref: Mapping[str, Any]) -> tuple[Any, Obj]:
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        mapper = await self.discovery.mapper()
        target = mapper.kind_for(api_version, kind)
        if target is None:
            group = split_api_version(api_version)[0]
            raise ClientError(f'no matches for kind "{kind}" in group "{group}"')
        scale: Obj = await self.client.get(target, str(ref.get("name") or ""), namespace,
                                           subresource="scale")
        return target, scale

    async def _update_scale(self, target: Any, namespace: str, scale: Obj, replicas: int
                            ) -> None:
        updated = copy.deepcopy(scale)
        updated.setdefault("spec", {})["replicas"] = replicas
        path = self.client.path(target, namespace, scale["metadata"]["name"], "scale")
        await self.client.request("PUT", path, body=updated)

    # -- metrics ------------------------------------------------------------------------

    def _selector(self, key: str, hpa: Obj, text: str, now: datetime) -> str:
        """Upstream's `validateAndParseSelector`; raises SelectorFailure."""
        if not text:
            self.recorder.warning(hpa, "SelectorRequired", "selector is required")
            set_condition(hpa, "ScalingActive", "False", "InvalidSelector",
                          "the HPA target's scale is missing a selector", now)
            raise SelectorFailure("selector is required")
        try:
            parsed = parse_label_selector(text)
        except StatusError as err:
            message = f"couldn't convert selector into a corresponding internal selector " \
                      f"object: {err}"
            self.recorder.warning(hpa, "InvalidSelector", message)
            set_condition(hpa, "ScalingActive", "False", "InvalidSelector", message, now)
            raise SelectorFailure(message) from err
        self.selectors[key] = parsed
        namespace = hpa["metadata"].get("namespace", "")
        pods = [pod for pod in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if parsed.matches((pod.get("metadata") or {}).get("labels") or {})]
        owners = sorted(
            other for other, selector in self.selectors.items()
            if other.startswith(f"{namespace}/") and any(
                selector.matches((pod.get("metadata") or {}).get("labels") or {})
                for pod in pods))
        if len(owners) > 1:
            message = f"pods by selector {text} are controlled by multiple HPAs: " \
                      f"[{' '.join(owners)}]"
            self.recorder.warning(hpa, "AmbiguousSelector", message)
            set_condition(hpa, "ScalingActive", "False", "AmbiguousSelector", message, now)
            raise SelectorFailure(message)
        return text

    async def _replicas_for_metrics(self, key: str, hpa: Obj, scale: Obj, now: datetime
                                    ) -> tuple[int, str, list[Obj], ReconcileError | None]:
        """Upstream's `computeReplicasForMetrics`: (-1 when nothing can be done)."""
        try:
            selector = self._selector(key, hpa, str((scale.get("status") or {}).get(
                "selector") or ""), now)
        except SelectorFailure as err:
            return -1, "", [], ReconcileError(str(err))
        specs = list((hpa.get("spec") or {}).get("metrics") or [])
        spec_replicas = int((scale.get("spec") or {}).get("replicas") or 0)
        statuses: list[Obj] = [{"type": ""} for _ in specs]
        replicas, metric = 0, ""
        invalid = 0
        first: MetricFailure | None = None
        first_error = ""
        for index, spec in enumerate(specs):
            try:
                proposal = await self._replicas_for_metric(hpa, spec, spec_replicas,
                                                           selector)
            except MetricFailure as failure:
                if first is None:
                    first, first_error = failure, self._metric_error(spec, failure)
                invalid += 1
                continue
            statuses[index] = proposal.status
            if replicas == 0 or proposal.replicas > replicas:
                replicas, metric = proposal.replicas, proposal.metric
        error: ReconcileError | None = None
        if first is not None:
            error = ReconcileError(f"invalid metrics ({invalid} invalid out of {len(specs)}), "
                                   f"first error is: {first_error}")
        if first is not None and (invalid >= len(specs) or replicas < spec_replicas):
            set_condition(hpa, "ScalingActive", "False", first.reason,
                          first.condition_message, now)
            return -1, "", statuses, error
        if not specs:
            return -1, "", statuses, ReconcileError("no metrics specified")
        set_condition(hpa, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from "
                      f"{metric}", now)
        return replicas, metric, statuses, error

    @staticmethod
    def _metric_error(spec: Obj, failure: MetricFailure) -> str:
        """The error upstream's `computeReplicasForMetric` wraps a failure in."""
        kind = spec.get("type")
        if kind == "Resource":
            name = (spec.get("resource") or {}).get("name")
            return f"failed to get {name} resource metric value: {failure}"
        if kind == "ContainerResource":
            container = (spec.get("containerResource") or {}).get("container")
            return f"failed to get {container} container metric value: {failure}"
        if kind == "External":
            metric = ((spec.get("external") or {}).get("metric") or {}).get("name")
            return f"failed to get {metric} external metric value: {failure}"
        if kind in _FAILED_METRIC_REASONS:
            return f"failed to get {_FAILED_METRIC_REASONS[kind][1]} metric value: {failure}"
        return str(failure)

    def _tolerances(self, hpa: Obj) -> Tolerances:
        """Upstream's `tolerancesForHpa`: the flag, or the behavior's own."""
        behavior = (hpa.get("spec") or {}).get("behavior") or {}

        def of(direction: str) -> float:
            value = (behavior.get(direction) or {}).get("tolerance")
            if value is None:
                return self.tolerance
            try:
                return float(Quantity.parse(value).value)
            except (QuantityError, TypeError, ValueError):
                return self.tolerance

        return Tolerances(scale_down=of("scaleDown"), scale_up=of("scaleUp"))

    async def _replicas_for_metric(self, hpa: Obj, spec: Obj, spec_replicas: int,
                                   selector: str) -> Proposal:
        kind = spec.get("type")
        if kind == "Resource":
            source, reason, container = spec.get("resource") or {}, \
                "FailedGetResourceMetric", ""
        elif kind == "ContainerResource":
            source = spec.get("containerResource") or {}
            reason, container = "FailedGetContainerResourceMetric", \
                str(source.get("container") or "")
        elif kind in _FAILED_METRIC_REASONS:
            raise await self._unserved_metric(hpa, kind, spec)
        else:
            failure = MetricFailure("InvalidMetricSourceType",
                                    f'unknown metric source type "{kind}"')
            self.recorder.warning(hpa, failure.reason, str(failure))
            raise failure
        try:
            current, metric = await self._resource_proposal(
                hpa, source, spec_replicas, selector, container, kind == "ContainerResource")
        except MetricsError as err:
            self.recorder.warning(hpa, reason, str(err))
            raise MetricFailure(reason, str(err)) from err
        name = str(source.get("name") or "")
        if kind == "Resource":
            status: Obj = {"type": "Resource",
                           "resource": {"name": name, "current": current[1]}}
        else:
            status = {"type": "ContainerResource", "containerResource": {
                "name": name, "container": container, "current": current[1]}}
        return Proposal(current[0], metric, status)

    async def _resource_proposal(self, hpa: Obj, source: Obj, spec_replicas: int,
                                 selector: str, container: str, per_container: bool
                                 ) -> tuple[tuple[int, Obj], str]:
        """Upstream's `computeStatusForResourceMetricGeneric`."""
        target = source.get("target") or {}
        name = str(source.get("name") or "")
        namespace = hpa["metadata"].get("namespace", "")
        tolerances = self._tolerances(hpa)
        if target.get("averageValue") is not None:
            try:
                raw = await self.calculator.get_raw_resource_replicas(
                    spec_replicas, _milli(target["averageValue"]), name, tolerances,
                    namespace, selector, container)
            except MetricsError as err:
                raise MetricsError(f"failed to get {name} usage: {err}") from err
            return (raw.replicas, {"averageValue": milli_quantity(raw.usage)}), \
                f"{name} resource"
        if target.get("averageUtilization") is None:
            raise MetricsError("invalid resource metric source: neither an average "
                               "utilization target nor an average value (usage) target "
                               "was set")
        try:
            found = await self.calculator.get_resource_replicas(
                spec_replicas, int(target["averageUtilization"]), name, tolerances,
                namespace, selector, container)
        except MetricsError as err:
            raise MetricsError(f"failed to get {name} utilization: {err}") from err
        what = "container resource" if per_container else "resource"
        return (found.replicas, {"averageUtilization": found.utilization,
                                 "averageValue": milli_quantity(found.raw_value)}), \
            f"{name} {what} utilization (percentage of request)"

    async def _unserved_metric(self, hpa: Obj, kind: str, spec: Obj) -> MetricFailure:
        """A Pods, Object or External metric. kybernetes serves neither the custom nor the
        external metrics API: the failure is upstream's when no adapter serves them."""
        reason, key = _FAILED_METRIC_REASONS[kind]
        source = spec.get(key) or {}
        metric = str((source.get("metric") or {}).get("name") or "")
        namespace = hpa["metadata"].get("namespace", "")
        if kind == "External":
            path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
            try:
                await self.client.request("GET", path)
                answer = "kybernetes does not read the external metrics API"
            except ClientError as err:
                answer = str(err)
            message = f"unable to get external metric {namespace}/{metric}: unable to fetch " \
                      f"metrics from external metrics API: {answer}"
        else:
            served = any(r.group == "custom.metrics.k8s.io"
                         for r in await self.discovery.resources())
            answer = "kybernetes does not read the custom metrics API" if served \
                else "no custom metrics API (custom.metrics.k8s.io) registered"
            message = f"unable to get metric {metric}: unable to fetch metrics from custom " \
                      f"metrics API: {answer}"
            if kind == "Object":
                described = source.get("describedObject") or {}
                message += f" on {described.get('kind', '')} {namespace}/" \
                           f"{described.get('name', '')}"
        failure = MetricFailure(reason, message)
        self.recorder.warning(hpa, reason, message)
        return failure

    # -- normalisation ------------------------------------------------------------------

    def _normalize(self, hpa: Obj, history: History, current: int, desired: int,
                   min_replicas: int, max_replicas: int, now: datetime) -> int:
        behavior = (hpa.get("spec") or {}).get("behavior")
        if behavior is None:
            stabilized = stabilize_recommendation(history, desired,
                                                  self.downscale_stabilization, now)
            if stabilized != desired:
                set_condition(hpa, "AbleToScale", "True", "ScaleDownStabilized",
                              "recent recommendations were higher than current one, "
                              "applying the highest recent recommendation", now)
            else:
                set_condition(hpa, "AbleToScale", "True", "ReadyForNewScale",
                              "recommended size matches current size", now)
            limited = convert_desired_replicas_with_rules(current, stabilized, min_replicas,
                                                          max_replicas)
        else:
            scale_up = behavior.get("scaleUp") or {}
            scale_down = dict(behavior.get("scaleDown") or {})
            if scale_down.get("stabilizationWindowSeconds") is None:
                scale_down["stabilizationWindowSeconds"] = \
                    int(self.downscale_stabilization.total_seconds())
            stable = stabilize_recommendation_with_behaviors(history, current, desired,
                                                             scale_up, scale_down, now)
            stabilized = stable.replicas
            if stabilized != desired:
                set_condition(hpa, "AbleToScale", "True", stable.reason, stable.message, now)
            else:
                set_condition(hpa, "AbleToScale", "True", "ReadyForNewScale",
                              "recommended size matches current size", now)
            limited = convert_desired_replicas_with_behavior_rate(
                history, current, stabilized, min_replicas, max_replicas, scale_up,
                scale_down, now)
        set_condition(hpa, "ScalingLimited",
                      "False" if limited.replicas == stabilized else "True",
                      limited.reason, limited.message, now)
        return limited.replicas

    # -- status -------------------------------------------------------------------------

    @staticmethod
    def _set_status(hpa: Obj, current: int, desired: int, metrics: list[Obj], rescale: bool,
                    now: datetime) -> None:
        """Upstream's `setStatus`, with its JSON's omitempty fields left out."""
        old = hpa.get("status") or {}
        status: Obj = {"desiredReplicas": desired}
        if current:
            status["currentReplicas"] = current
        last = timeutil.rfc3339(now) if rescale else old.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if metrics:
            status["currentMetrics"] = metrics
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        hpa["status"] = status

    async def _update_status_if_needed(self, original: Obj, hpa: Obj) -> None:
        if original == hpa.get("status"):
            return
        try:
            await self.client.update_status(HPAS, hpa)
        except ClientError as err:
            self.recorder.warning(hpa, "FailedUpdateStatus", str(err))
            raise ReconcileError(f"failed to update status for "
                                 f"{hpa['metadata'].get('name')}: {err}") from err
