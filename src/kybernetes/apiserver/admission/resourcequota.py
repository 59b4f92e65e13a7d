"""Upstream's `ResourceQuota` admission plugin (`k8s.io/apiserver/pkg/admission/plugin/
resourcequota`): a write that would take a namespace past one of its quotas is refused, and
an admitted one is charged to `status.used` before it is stored.

For each quota whose recorded hard limits cover the object (and whose scopes it falls in),
the object's usage (the delta, on update) is added to `status.used`; if any covered
resource then exceeds `status.hard` the request is refused (`exceeded quota: q, requested:
pods=1, used: pods=2, limited: pods=2`), as it is when a cpu or memory quota meets a
container that states no such value (`failed quota: q: must specify limits.cpu for: c`) or
the controller has not yet recorded usage for a covered resource. Charges are written with
the quota's resourceVersion as precondition (compare-and-swap), retried three times on
conflict with fresh quotas, so concurrent API servers never both spend the same headroom;
within this server a namespace's evaluations run one at a time. A quota this server has
just charged is used over an older cached copy. The resource quota controller later
corrects `status.used` from the objects themselves (a charged write that then failed,
deletions).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.api.quota import evaluators, resources
from kybernetes.api.quota.evaluators import Evaluator
from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

# Events are never counted (upstream's default ignored resources).
IGNORED = frozenset({("", "events")})
RETRIES = 3
EVALUATION_TIMEOUT = 10.0
MANAGER = "kube-apiserver"


def _name(quota: Mapping[str, Any]) -> str:
    return str((quota.get("metadata") or {}).get("name", ""))


def _status(quota: Mapping[str, Any], field: str) -> resources.ResourceList:
    return resources.parse((quota.get("status") or {}).get(field))


def check_request(quotas: Sequence[dict[str, Any]], request: AdmissionRequest,
                  evaluator: Evaluator) -> list[dict[str, Any]]:
    """The quotas as they would be with the request charged; raises the refusal."""
    obj = request.obj
    assert obj is not None
    interesting: list[int] = []
    for index, quota in enumerate(quotas):
        if not evaluators.matches(evaluator, quota, obj):
            continue
        hard = _status(quota, "hard")
        restricted = evaluator.matching_resources(hard)
        why = evaluator.constraints(restricted, obj)
        if why:
            raise request.forbidden(f"failed quota: {_name(quota)}: {why}")
        used = _status(quota, "used")
        if any(name not in used for name in restricted):
            raise request.forbidden(f"status unknown for quota: {_name(quota)}, resources: "
                                    f"{','.join(sorted(restricted))}")
        interesting.append(index)
    if not interesting:
        return list(quotas)
    usage = evaluator.usage(obj)
    negative = resources.negative(usage)
    if negative:
        raise request.forbidden("quota usage is negative for resource(s): " +
                                ",".join(sorted(negative)))
    deltas = dict.fromkeys(interesting, usage)
    old = request.old
    if request.operation == "UPDATE" and old is not None and \
            (old.get("metadata") or {}).get("resourceVersion"):
        delta = resources.subtract_non_negative(usage, evaluator.usage(old))
        for index in interesting:
            if evaluators.matches(evaluator, quotas[index], old):
                deltas[index] = delta
    charged = {i: d for i, d in ((i, resources.remove_zeros(d)) for i, d in deltas.items())
               if d}
    out = [copy.deepcopy(q) if i in charged else q for i, q in enumerate(quotas)]
    for index, delta in charged.items():
        quota = out[index]
        hard, used = _status(quota, "hard"), _status(quota, "used")
        requested = resources.mask(delta, hard)
        new_used = resources.add(used, requested)
        allowed, exceeded = resources.less_than_or_equal(resources.mask(new_used, requested),
                                                         hard)
        if not allowed:
            raise request.forbidden(
                f"exceeded quota: {_name(quota)}, "
                f"requested: {resources.pretty(resources.mask(requested, exceeded))}, "
                f"used: {resources.pretty(resources.mask(used, exceeded))}, "
                f"limited: {resources.pretty(resources.mask(hard, exceeded))}")
        quota.setdefault("status", {})["used"] = resources.render(new_used)
    return out


class _NamespaceLocks:
    """One lock per namespace, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def hold(self, namespace: str) -> AsyncIterator[None]:
        """Hold the namespace's lock; waiting longer than upstream's 10 s is its 500."""
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        self._users[namespace] += 1
        try:
            try:
                async with asyncio.timeout(EVALUATION_TIMEOUT):
                    await lock.acquire()
            except TimeoutError:
                raise errors.internal("resource quota evaluation timed out") from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[namespace] -= 1
            if not self._users[namespace]:
                del self._users[namespace], self._locks[namespace]


class ResourceQuota:
    name = "ResourceQuota"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get("", "v1", "resourcequotas")
        assert info is not None
        self.info = info
        self.lists = lookup.LiveLists(server.store, info)
        self._locks = _NamespaceLocks()
        # Quotas this server charged, by key: (revision written, the quota).
        self._written: dict[str, tuple[int, dict[str, Any]]] = {}

    @staticmethod
    def handles(target: Target) -> Phase:
        if target.subresource or target.operation not in ("CREATE", "UPDATE") or \
                (target.group, target.resource) in IGNORED:
            return Phase.NONE
        # An object count changes only on create.
        if target.operation == "UPDATE" and isinstance(
                evaluators.evaluator_for(target.group, target.resource),
                evaluators.ObjectCountEvaluator):
            return Phase.NONE
        return Phase.VALIDATE

    async def admit(self, request: AdmissionRequest) -> None:
        return None

    async def validate(self, request: AdmissionRequest) -> None:
        if request.subresource or not request.namespace or request.obj is None or \
                request.operation not in ("CREATE", "UPDATE") or \
                (request.group, request.resource) in IGNORED:
            return
        evaluator = evaluators.evaluator_for(request.group, request.resource)
        if not evaluator.handles(request.operation, request.subresource, request.obj,
                                 request.old):
            return
        if not await self._quotas(request.namespace):
            return
        async with self._locks.hold(request.namespace):
            await self._charge(request, evaluator, await self._quotas(request.namespace),
                               RETRIES)

    async def _quotas(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's quotas, each in the newest version this server knows."""
        quotas = []
        for quota in await self.lists.objects(namespace):
            key = self.info.key(namespace, _name(quota))
            cached_rev = int((quota.get("metadata") or {}).get("resourceVersion") or 0)
            written = self._written.get(key)
            if written is not None:
                if written[0] > cached_rev:
                    quota = written[1]
                else:
                    del self._written[key]
            quotas.append(quota)
        return quotas

    async def _charge(self, request: AdmissionRequest, evaluator: Evaluator,
                      quotas: list[dict[str, Any]], retries: int) -> None:
        charged = check_request(quotas, request, evaluator)
        if request.dry_run:
            return
        failed: list[str] = []
        last_error: errors.StatusError | None = None
        for before, after in zip(quotas, charged, strict=True):
            if resources.equals(_status(before, "used"), _status(after, "used")):
                continue
            try:
                await self._write(request.namespace, after)
            except errors.StatusError as err:
                if err.code not in (404, 409):
                    raise
                failed.append(_name(after))
                last_error = err
        if not failed:
            return
        assert last_error is not None
        if retries <= 0:
            raise last_error
        fresh = [await lookup.live(self.store, self.info, request.namespace, name)
                 for name in failed]
        await self._charge(request, evaluator, [q for q in fresh if q is not None],
                           retries - 1)

    async def _write(self, namespace: str, quota: dict[str, Any]) -> None:
        """Write the charged status, on the condition that the quota is unchanged."""
        name = _name(quota)
        written = await self.store.update(self.info, namespace, name, copy.deepcopy(quota),
                                          subresource="status", manager=MANAGER)
        revision = int(written["metadata"]["resourceVersion"])
        self._written[self.info.key(namespace, name)] = (revision, written)
