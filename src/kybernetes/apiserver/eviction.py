"""`POST /api/v1/namespaces/<ns>/pods/<name>/eviction`: delete a pod within its budget.

This is upstream's `EvictionREST` (`pkg/registry/core/pod/storage/eviction.go`), the API
`kubectl drain` evicts through. The body is a `policy/v1` (or `policy/v1beta1`) `Eviction`
whose `deleteOptions` are honoured for the delete. In upstream's order:

1. A pod that is terminal, Pending or already being deleted has disrupted nothing more by
   going: it is deleted without looking at budgets (guarded by its resourceVersion unless
   the caller pinned one, so a pod that became ready meanwhile is not deleted blindly).
2. Otherwise the PodDisruptionBudgets of its namespace whose (non-empty) selector matches
   it are found. More than one: a 500 Status "This pod has more than one
   PodDisruptionBudget, which the eviction subresource does not support." None: delete.
3. A pod that is not Ready does not count towards the budget: with
   `unhealthyPodEvictionPolicy: AlwaysAllow`, or (the default `IfHealthyBudget`) while
   `currentHealthy >= desiredHealthy > 0`, it is deleted without spending the budget
   (guarded by its resourceVersion: a conflict answers 429 so the client retries).
4. Else the budget is checked and spent in one optimistic update of the PDB's status:
   a status older than the spec (observedGeneration behind) answers 429 "still being
   processed" with Retry-After 10; a negative budget or an oversized disruptedPods map
   answers 403; no disruption allowed answers 429 "Cannot evict pod as it would violate
   the pod's disruption budget." with a `DisruptionBudget` cause saying how many healthy
   pods the budget needs and has. Otherwise disruptionsAllowed is decremented, the pod is
   recorded in `disruptedPods` (so the disruption controller does not count it healthy
   before it is gone) and the status written guarded by its resourceVersion; a conflict
   re-reads the PDB and tries again (upstream's 20 tries, 0.5 s apart).
5. The pod gets the `DisruptionTarget` condition (reason `EvictionByEvictionAPI`) and is
   deleted with the eviction's deleteOptions. The answer is a `Status` of success (201).

Dry runs (`?dryRun=All` or `deleteOptions.dryRun`) check everything and write nothing.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kybernetes.api import errors, timeutil
from kybernetes.api.poddisruptionbudget import (
    DISRUPTION_BUDGET_CAUSE,
    update_disruption_allowed_condition,
)
from kybernetes.api.registry import Registry, ResourceInfo
from kybernetes.api.selectors import label_selector_from_dict
from kybernetes.apiserver.admission.chain import AdmissionRequest
from kybernetes.apiserver.binding import read_posted_object, set_condition
from kybernetes.apiserver.http import Request, Response, json_response
from kybernetes.apiserver.store import (
    DeleteOptions,
    ObjectStore,
    check_propagation_policy,
    parse_grace_period,
)

T = TypeVar("T")

# Upstream's MaxDisruptedPodSize.
MAX_DISRUPTED_POD_SIZE = 2000
# Upstream's EvictionsRetry: 20 steps, 500 ms apart.
RETRY_STEPS = 20
RETRY_DELAY = 0.5
_ACCEPTED_VERSIONS = ("policy/v1", "policy/v1beta1")
_TOO_MANY = "Cannot evict pod as it would violate the pod's disruption budget."
_MULTIPLE = ("This pod has more than one PodDisruptionBudget, which the eviction subresource "
             "does not support.")


def too_many_requests(message: str, retry_after: int, cause: str) -> errors.StatusError:
    """Upstream's `NewTooManyRequests` plus a DisruptionBudget cause."""
    details: dict[str, Any] = {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE,
                                           "message": cause}]}
    if retry_after > 0:
        details["retryAfterSeconds"] = retry_after
    return errors.StatusError(429, "TooManyRequests", message, details)


def _still_processing(pdb_name: str) -> errors.StatusError:
    return too_many_requests(
        _TOO_MANY, 10, f"The disruption budget {pdb_name} is still being processed by the "
        "server.")


def is_pod_ready(pod: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def can_ignore_pdb(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or \
        bool(pod["metadata"].get("deletionTimestamp"))


def should_enforce_resource_version(pod: dict[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and \
        not pod["metadata"].get("deletionTimestamp")


def check_and_decrement(pdb: dict[str, Any], pod_name: str, *, dry_run: bool) -> dict[str, Any]:
    """The PDB with one disruption spent on `pod_name`; raises the refusal otherwise."""
    meta, status = pdb.get("metadata") or {}, pdb.get("status") or {}
    name = meta.get("name", "")
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        raise _still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.forbidden("policy", "poddisruptionbudget", name,
                               "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise errors.forbidden("policy", "poddisruptionbudget", name,
                               "DisruptedPods map too big - too many evictions not confirmed "
                               "by PDB controller")
    if allowed == 0:
        raise too_many_requests(
            _TOO_MANY, 0, f"The disruption budget {name} needs "
            f"{int(status.get('desiredHealthy') or 0)} healthy pods and has "
            f"{int(status.get('currentHealthy') or 0)} currently")
    spent = copy.deepcopy(pdb)
    new_status = spent.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        update_disruption_allowed_condition(spent)
    if not dry_run:
        disrupted = new_status.get("disruptedPods")
        if not isinstance(disrupted, dict):
            disrupted = new_status["disruptedPods"] = {}
        disrupted[pod_name] = timeutil.now_rfc3339()
    return spent


def matching_pdbs(pdbs: list[dict[str, Any]], pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Upstream's `getPodDisruptionBudgets`: a nil or empty selector matches nothing."""
    labels = pod["metadata"].get("labels") or {}
    found = []
    for pdb in pdbs:
        try:
            selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except ValueError:
            continue
        if selector.empty or not selector.matches(labels):
            continue
        found.append(pdb)
    return found


async def _retry_conflicts(step: Callable[[], Awaitable[T]], *, retry: bool = True) -> T:
    """Upstream's `retry.OnError(EvictionsRetry, IsConflict, ...)`."""
    for _ in range(RETRY_STEPS - 1):
        try:
            return await step()
        except errors.StatusError as err:
            if err.code != 409 or not retry:
                raise
        await asyncio.sleep(RETRY_DELAY)
    return await step()


def _dry_run_of(query: dict[str, str], options: dict[str, Any]) -> bool:
    """Upstream's `propagateDryRun`: the request's and the body's dryRun must agree."""
    wanted = query.get("dryRun", "")
    if wanted and wanted != "All":
        raise errors.bad_request(f'unsupported dryRun value "{wanted}": must be "All"')
    from_body = options.get("dryRun") or []
    if wanted and from_body and from_body != [wanted]:
        raise errors.bad_request(f"Non-matching dry-run options in request and content: "
                                 f"[{wanted}] and {from_body}")
    return bool(wanted) or from_body == ["All"]


def _delete_options(options: dict[str, Any], dry_run: bool) -> DeleteOptions:
    preconditions = options.get("preconditions") or {}
    policy = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    return DeleteOptions(check_propagation_policy(policy),
                         parse_grace_period(options.get("gracePeriodSeconds")),
                         preconditions.get("uid"), preconditions.get("resourceVersion"), dry_run)


class Eviction:
    """The eviction subresource of pods over one store."""

    def __init__(self, registry: Registry, store: ObjectStore) -> None:
        self.registry = registry
        self.store = store

    @property
    def pods(self) -> ResourceInfo:
        return self._info("", "v1", "pods")

    @property
    def pdbs(self) -> ResourceInfo:
        return self._info("policy", "v1", "poddisruptionbudgets")

    def _info(self, group: str, version: str, plural: str) -> ResourceInfo:
        info = self.registry.get(group, version, plural)
        if info is None:
            raise errors.StatusError(404, "NotFound",
                                     "the server could not find the requested resource")
        return info

    async def handle(self, request: Request, namespace: str, name: str) -> Response:
        eviction = await read_posted_object(request, "Eviction")
        kind, api_version = eviction.get("kind"), eviction.get("apiVersion")
        if (kind and kind != "Eviction") or (api_version and
                                             api_version not in _ACCEPTED_VERSIONS):
            raise errors.bad_request(f"not a Eviction object: {api_version}, Kind={kind}")
        if (eviction.get("metadata") or {}).get("name") != name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        raw_options = eviction.get("deleteOptions") or {}
        if not isinstance(raw_options, dict):
            raise errors.bad_request("deleteOptions must be an object")
        options = _delete_options(raw_options, _dry_run_of(request.query, raw_options))
        # The eviction is a create of pods/eviction, admitted as upstream's create handler
        # does (NodeRestriction: a node evicts only pods bound to itself).
        review = AdmissionRequest("CREATE", self.pods, namespace, name, eviction,
                                  subresource="eviction", dry_run=options.dry_run)
        await self.store.admission.admit(review)
        await self.store.admission.validate(review)
        try:
            refused = await self.evict(namespace, name, options)
        except errors.StatusError as err:
            # As upstream's response writers: a suggested delay is also a Retry-After.
            seconds = (err.details or {}).get("retryAfterSeconds")
            return json_response(err.status(), err.code,
                                 [("Retry-After", str(seconds))] if seconds else [])
        if refused is not None:
            return json_response(refused, int(refused["code"]))
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201}, 201)

    async def evict(self, namespace: str, name: str, options: DeleteOptions
                    ) -> dict[str, Any] | None:
        """Evict one pod; raise the Status that refuses it, or return the failure Status
        upstream answers with as a result rather than an error (several budgets)."""
        pinned = options.precondition_resource_version is not None
        pod: dict[str, Any] = {}

        async def ignoring_budgets() -> bool:
            nonlocal pod
            pod = (await self.store.get(self.pods, namespace, name)).obj
            if not can_ignore_pdb(pod):
                return False
            delete = options
            if should_enforce_resource_version(pod) and not pinned:
                delete = dataclasses.replace(options, precondition_resource_version=pod["metadata"][
                    "resourceVersion"])
            await self._delete_pod(namespace, name, delete)
            return True

        if await _retry_conflicts(ignoring_budgets, retry=not pinned):
            return None
        await self.store.cache.wait_fresh()
        pdbs = matching_pdbs([c.obj for c in self.store.cache.scan(
            self.pdbs.namespace_prefix(namespace))], pod)
        if len(pdbs) > 1:
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": _MULTIPLE, "code": 500}
        guard_unready = False
        pdb_name = ""
        if pdbs:
            pdb = pdbs[0]
            pdb_name = pdb["metadata"]["name"]
            if not is_pod_ready(pod) and self._unready_may_go(pdb):
                guard_unready = True
            else:
                await self._spend_budget(namespace, pdb, name, options.dry_run)
        delete = options
        if guard_unready:
            delete = dataclasses.replace(options, precondition_resource_version=pod["metadata"][
                "resourceVersion"])
        try:
            await self._delete_pod(namespace, name, delete)
        except errors.StatusError as err:
            if err.code == 409 and guard_unready and not pinned:
                raise _still_processing(pdb_name) from None
            raise
        return None

    @staticmethod
    def _unready_may_go(pdb: dict[str, Any]) -> bool:
        """A not-ready pod may go without spending the budget: the policy says always, or
        (IfHealthyBudget, the default) the application is not disrupted now."""
        if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
            return True
        status = pdb.get("status") or {}
        desired = int(status.get("desiredHealthy") or 0)
        return int(status.get("currentHealthy") or 0) >= desired > 0

    async def _spend_budget(self, namespace: str, pdb: dict[str, Any], pod_name: str,
                            dry_run: bool) -> None:
        current = pdb
        for attempt in range(RETRY_STEPS):
            if attempt:
                await asyncio.sleep(RETRY_DELAY)
                current = (await self.store.get(self.pdbs, namespace,
                                                pdb["metadata"]["name"])).obj
            spent = check_and_decrement(current, pod_name, dry_run=dry_run)
            if dry_run:
                return
            try:
                await self.store.update(self.pdbs, namespace, spent["metadata"]["name"], spent,
                                        subresource="status", manager="kube-apiserver")
                return
            except errors.StatusError as err:
                if err.code != 409:
                    raise
        name = pdb["metadata"]["name"]
        raise errors.StatusError(
            504, "Timeout", f'Timeout: couldn\'t update PodDisruptionBudget "{name}" due to '
            "conflicts", {"retryAfterSeconds": 10})

    async def _delete_pod(self, namespace: str, name: str, options: DeleteOptions) -> None:
        """Upstream's `addConditionAndDeletePod`: mark the pod as a disruption target (on
        the latest pod, honouring the preconditions), then delete it."""
        if not options.dry_run:
            def add_condition(pod: dict[str, Any]) -> dict[str, Any]:
                meta = pod["metadata"]
                if options.precondition_uid and options.precondition_uid != meta.get("uid"):
                    raise errors.conflict(
                        "", "pods", name, f"Precondition failed: UID in precondition: "
                        f"{options.precondition_uid}, UID in object meta: {meta.get('uid')}")
                rv = options.precondition_resource_version
                if rv and rv != meta["resourceVersion"]:
                    raise errors.conflict(
                        "", "pods", name, f"Precondition failed: ResourceVersion in "
                        f"precondition: {rv}, ResourceVersion in object meta: "
                        f"{meta['resourceVersion']}")
                set_condition(pod.setdefault("status", {}), {
                    "type": "DisruptionTarget", "status": "True",
                    "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"},
                    timeutil.now_rfc3339())
                return pod

            updated = await self.store.modify(self.pods, namespace, name, add_condition,
                                              subresource="status", manager="kube-apiserver")
            if options.precondition_resource_version:
                # Our own write moved the resourceVersion the caller's delete is pinned to.
                options = dataclasses.replace(options, precondition_resource_version=updated[
                    "metadata"]["resourceVersion"])
        await self.store.delete(self.pods, namespace, name, options)

