"""The namespace controller: deleting a namespace deletes everything in it, then the
namespace (upstream's `pkg/controller/namespace` and its `NamespacedResourcesDeleter`).

A deleted namespace keeps existing, `Terminating` with a deletionTimestamp, for as long as
its `spec.finalizers` holds `kubernetes`; the API server refuses new objects in it. This
controller owns that finalizer:

1. The informer's handlers enqueue a namespace when it has a deletionTimestamp — after
   `deletion_grace_period` (upstream's 5 s, so that every API server and storage replica has
   seen the deletion and the last creations).
2. `sync` reads the namespace live; nothing to do unless it is being deleted and still
   carries the finalizer.
3. For every namespaced resource the API serves (discovery: preferred versions that can be
   deleted), all objects in the namespace are deleted — one `deletecollection` where the
   resource supports it, else a list and one delete per object — with propagationPolicy
   Background, then listed again to see what remains. Pods still terminating give an
   estimate (their grace period); other leftovers with finalizers give upstream's 15 s.
4. Anything left: the namespace is looked at again after `estimate / 2 + 1` seconds (a
   deletion error instead retries with the rate limiter, 5 ms doubling to 60 s). Nothing
   left: `kubernetes` is removed from `spec.finalizers` through the `finalize`
   subresource, and the API server deletes the namespace once no finalizer remains.

Resources are handled concurrently, each its own requests, so one slow or failing kind does
not hold the others up; errors are collected and reported together.

Upstream also records its progress as status conditions (NamespaceDeletionContentFailure,
NamespaceContentRemaining, ...). This controller does not write namespace status: the API
server deletes a terminating namespace on any write once `metadata.finalizers` is empty,
ignoring `spec.finalizers` (see the report on the `finalize` subresource), so a status
write would end the namespace before its content is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kybernetes.client import (
    ClientError,
    ConflictError,
    NotFoundError,
    resource,
)
from kybernetes.client.rest import Obj
from kybernetes.client.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
)
from kybernetes.controllers.base import ControllerContext, QueueController, Requeue
from kybernetes.controllers.discovery import ApiResource

log = logging.getLogger(__name__)

NAMESPACES = resource("", "v1", "namespaces")
FINALIZER = "kubernetes"
# Upstream's defaults: --concurrent-namespace-syncs, --namespace-sync-period, the delay
# before a deleted namespace is processed, the estimate for leftovers with finalizers.
DEFAULT_WORKERS = 10
DEFAULT_RESYNC_PERIOD = 300.0
DELETION_GRACE_PERIOD = 5.0
FINALIZER_ESTIMATE_SECONDS = 15
# How fresh the list of resources must be for one namespace's deletion.
_DISCOVERY_MAX_AGE = 10.0
_FINALIZE_ATTEMPTS = 5


class ContentRemaining(Requeue):
    """Objects are still being deleted: look again in `estimate / 2 + 1` seconds."""

    def __init__(self, estimate: int, remaining: dict[str, int]) -> None:
        summary = ", ".join(f"{name}: {count}" for name, count in sorted(remaining.items()))
        super().__init__(f"some content remains ({summary or 'pending'}), estimated "
                         f"{estimate}s", after=estimate // 2 + 1)
        self.estimate = estimate
        self.remaining = remaining


class ContentDeletionFailed(ClientError):
    """Deleting some resources failed (retried with backoff)."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = failures


@dataclass
class _Outcome:
    """One resource's share of a namespace's deletion."""

    estimate: int = 0
    remaining: int = 0
    finalizers: dict[str, int] = field(default_factory=dict)


def namespace_rate_limiter() -> MaxOfRateLimiter[str]:
    """Upstream's nsControllerRateLimiter: 5 ms .. 60 s per namespace, 10 qps overall."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 60.0),
                            BucketRateLimiter(10.0, 100))


class NamespaceController(QueueController):
    name: ClassVar[str] = "namespace-controller"

    def __init__(self, ctx: ControllerContext, *, workers: int = DEFAULT_WORKERS,
                 resync_period: float = DEFAULT_RESYNC_PERIOD,
                 deletion_grace_period: float = DELETION_GRACE_PERIOD) -> None:
        super().__init__(workers=workers, rate_limiter=namespace_rate_limiter())
        self.client = ctx.client
        self.discovery = ctx.discovery
        self.deletion_grace_period = deletion_grace_period
        self.namespaces = ctx.informers.informer(NAMESPACES, resync_period=resync_period)
        self.watch(self.namespaces, on_add=self._namespace_changed,
                   on_update=lambda _old, new: self._namespace_changed(new))

    def _namespace_changed(self, ns: Obj) -> None:
        if not (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        self.queue.add_after(str(ns["metadata"]["name"]), self.deletion_grace_period)

    async def sync(self, key: str) -> None:
        if self.namespaces.store.get(key) is None:
            return
        try:
            ns = await self.client.get(NAMESPACES, key)
        except NotFoundError:
            return
        meta = ns.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or ()):
            return  # finalized already: other finalizers are somebody else's
        await self.delete_all_content(key)
        await self.finalize(ns)

    async def delete_all_content(self, namespace: str) -> None:
        """Delete every namespaced object in `namespace`; raise `ContentRemaining` while
        some are still going, `ContentDeletionFailed` if deletes failed."""
        resources = [r for r in await self.discovery.resources(max_age=_DISCOVERY_MAX_AGE)
                     if r.namespaced and r.preferred and r.supports("delete")]
        outcomes = await asyncio.gather(
            *(self._delete_resource(res, namespace) for res in resources),
            return_exceptions=True)
        estimate = 0
        remaining: dict[str, int] = {}
        failures: list[str] = []
        for res, outcome in zip(resources, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                failures.append(f"{res.group_resource}: {outcome}")
                continue
            estimate = max(estimate, outcome.estimate)
            if outcome.remaining:
                remaining[res.group_resource] = outcome.remaining
        if failures:
            raise ContentDeletionFailed(failures)
        if estimate > 0:
            raise ContentRemaining(estimate, remaining)

    async def _delete_resource(self, res: ApiResource, namespace: str) -> _Outcome:
        estimate = await self._estimate_graceful_termination(res, namespace)
        if res.supports("deletecollection"):
            await self.client.delete_collection(res, namespace,
                                                propagation_policy="Background")
        elif res.supports("list"):
            await self._delete_each(res, namespace)
        else:
            return _Outcome(estimate)
        if not res.supports("list"):
            return _Outcome(estimate)
        left = (await self.client.list(res, namespace)).items
        if not left:
            return _Outcome()
        finalizers: dict[str, int] = {}
        for item in left:
            for name in (item.get("metadata") or {}).get("finalizers") or ():
                finalizers[name] = finalizers.get(name, 0) + 1
        if estimate:
            return _Outcome(estimate, len(left), finalizers)
        if finalizers:
            return _Outcome(FINALIZER_ESTIMATE_SECONDS, len(left), finalizers)
        raise ClientError(f"unexpected items still remain in namespace {namespace}: "
                          f"{len(left)} {res.group_resource}")

    async def _delete_each(self, res: ApiResource, namespace: str) -> None:
        for item in (await self.client.list(res, namespace)).items:
            name = str((item.get("metadata") or {}).get("name") or "")
            if not name:
                continue
            with contextlib.suppress(NotFoundError):
                await self.client.delete(res, name, namespace,
                                         propagation_policy="Background")

    async def _estimate_graceful_termination(self, res: ApiResource, namespace: str) -> int:
        """Pods: the longest grace period of those not yet terminal (upstream)."""
        if (res.group, res.plural) != ("", "pods"):
            return 0
        estimate = 0
        for pod in (await self.client.list(res, namespace)).items:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        return estimate

    async def finalize(self, ns: Obj) -> None:
        """Remove `kubernetes` from spec.finalizers through `/finalize` (retried on
        conflicts with a fresh read, as long as it is the same namespace)."""
        name = str(ns["metadata"]["name"])
        uid = ns["metadata"].get("uid")
        path = self.client.path(NAMESPACES, name=name, subresource="finalize")
        current = ns
        for _ in range(_FINALIZE_ATTEMPTS):
            spec: dict[str, Any] = dict(current.get("spec") or {})
            spec["finalizers"] = sorted({f for f in spec.get("finalizers") or ()
                                         if f != FINALIZER})
            body = {**current, "spec": spec}
            try:
                await self.client.request("PUT", path, body=body)
            except NotFoundError:
                return
            except ConflictError:
                try:
                    current = await self.client.get(NAMESPACES, name)
                except NotFoundError:
                    return
                if current["metadata"].get("uid") != uid:
                    raise ClientError(f"namespace {name} was replaced while being "
                                      "finalized") from None
                continue
            log.info("namespace %s: content deleted, finalized", name)
            return
        raise ConflictError({"code": 409, "reason": "Conflict",
                             "message": f"namespace {name}: finalize kept conflicting"})
