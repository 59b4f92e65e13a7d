"""Creating, fixing and deleting one StatefulSet pod and its claims: upstream's
`pkg/controller/statefulset/stateful_pod_control.go`.

- `create_stateful_pod` creates the pod's missing PersistentVolumeClaims first, then the pod,
  then sets the claims' owner references as the retention policy wants (as far as possible:
  the pod's uid is only known once it exists).
- `update_stateful_pod` restores a pod's identity (name label, index label) and storage
  (volumes for its claims, creating missing claims), fixes its claims' owner references,
  and writes the pod if anything changed, retrying conflicts on a fresh copy.
- `delete_stateful_pod` deletes it.
- `pod_claim_is_stale`: under `whenScaled: Delete`, a claim still owned by an earlier pod of
  that name blocks creating the pod until the garbage collector removes it.

Each action is recorded as an Event on the set with upstream's reasons and messages
(`SuccessfulCreate` "create Pod web-0 in StatefulSet web successful", `FailedCreate` ...,
`SuccessfulCreate` "create Claim www-web-0 Pod web-0 in StatefulSet web success").

Claims are read from the PVC informer. Where upstream would fail the sync on an
AlreadyExists answer for a claim the informer has not shown yet, a live GET settles it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kybernetes.api.objects import meta
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ConflictError,
    EventRecorder,
    NotFoundError,
    Store,
    resource,
)
from kybernetes.client.rest import ApiError, Obj
from kybernetes.controllers.statefulset import claims as claimutil
from kybernetes.controllers.statefulset.identity import (
    RETAIN,
    SET_KIND,
    claim_name,
    claim_templates,
    get_ordinal,
    identity_matches,
    persistent_volume_claims,
    storage_matches,
    update_identity,
    update_storage,
)

log = logging.getLogger(__name__)

PODS = resource("", "v1", "pods")
CLAIMS = resource("", "v1", "persistentvolumeclaims")
# client-go's retry.DefaultBackoff steps.
_UPDATE_ATTEMPTS = 4


class StatefulSetError(Exception):
    """One or several failures of a sync (upstream's aggregate errors)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        self.errors = errors


def error_text(err: BaseException) -> str:
    return err.message if isinstance(err, ApiError) and err.message else str(err)


def event_ref(sts: Obj) -> dict[str, Any]:
    m = meta(sts)
    return {"kind": SET_KIND[1], "apiVersion": SET_KIND[0], "name": m.get("name"),
            "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion")}


class StatefulPodControl:
    """Pod and claim writes of the StatefulSet controller (reads from informer stores)."""

    def __init__(self, client: ApiClient, pods: Store, claims: Store,
                 recorder: EventRecorder) -> None:
        self.client = client
        self.pods = pods
        self.claims = claims
        self.recorder = recorder

    # -- events -------------------------------------------------------------------------

    def record_pod_event(self, verb: str, sts: Obj, pod: Obj, err: BaseException | None
                         ) -> None:
        set_name, name = meta(sts).get("name"), meta(pod).get("name")
        if err is None:
            self.recorder.normal(event_ref(sts), f"Successful{verb.title()}",
                                 f"{verb} Pod {name} in StatefulSet {set_name} successful")
        else:
            self.recorder.warning(event_ref(sts), f"Failed{verb.title()}",
                                  f"{verb} Pod {name} in StatefulSet {set_name} failed "
                                  f"error: {error_text(err)}")

    def record_claim_event(self, verb: str, sts: Obj, pod: Obj, claim: Obj,
                           err: BaseException | None) -> None:
        set_name, name = meta(sts).get("name"), meta(pod).get("name")
        cname = meta(claim).get("name")
        if err is None:
            self.recorder.normal(event_ref(sts), f"Successful{verb.title()}",
                                 f"{verb} Claim {cname} Pod {name} in StatefulSet "
                                 f"{set_name} success")
        else:
            self.recorder.warning(event_ref(sts), f"Failed{verb.title()}",
                                  f"{verb} Claim {cname} for Pod {name} in StatefulSet "
                                  f"{set_name} failed error: {error_text(err)}")

    # -- pods ---------------------------------------------------------------------------

    async def create_stateful_pod(self, sts: Obj, pod: Obj) -> None:
        try:
            await self.create_persistent_volume_claims(sts, pod)
        except Exception as err:
            self.record_pod_event("create", sts, pod, err)
            raise
        try:
            created = await self.client.create(PODS, pod, meta(pod).get("namespace"))
        except AlreadyExistsError:
            raise
        except ApiError as err:
            self.record_pod_event("create", sts, pod, err)
            raise
        try:
            await self.update_pod_claim_for_retention_policy(sts, created)
        except Exception as err:
            self.record_pod_event("update", sts, created, err)
            raise
        self.record_pod_event("create", sts, created, None)

    async def update_stateful_pod(self, sts: Obj, pod: Obj) -> None:
        """Bring `pod` (a copy: it is modified) back to the set's identity, storage and
        claim ownership."""
        attempted = False
        err: BaseException | None = None
        for attempt in range(1, _UPDATE_ATTEMPTS + 1):
            consistent = True
            if not identity_matches(sts, pod):
                update_identity(sts, pod)
                consistent = False
            try:
                if not storage_matches(sts, pod):
                    update_storage(sts, pod)
                    consistent = False
                    await self.create_persistent_volume_claims(sts, pod)
                if not self.claims_match_retention_policy(sts, pod):
                    await self.update_pod_claim_for_retention_policy(sts, pod)
                    consistent = False
            except Exception as failure:
                self.record_pod_event("update", sts, pod, failure)
                raise
            if consistent:
                return
            attempted = True
            try:
                await self.client.update(PODS, pod, meta(pod).get("namespace"))
                err = None
                break
            except ConflictError as conflict:
                err = conflict
                fresh = self.pods.get(f"{meta(sts).get('namespace')}/{meta(pod).get('name')}")
                if fresh is not None:
                    pod = copy.deepcopy(fresh)
                if attempt == _UPDATE_ATTEMPTS:
                    break
            except ApiError as failure:
                err = failure
                break
        if attempted:
            self.record_pod_event("update", sts, pod, err)
        if err is not None:
            raise err

    async def delete_stateful_pod(self, sts: Obj, pod: Obj) -> None:
        try:
            await self.client.delete(PODS, str(meta(pod).get("name")),
                                     meta(pod).get("namespace"))
        except ApiError as err:
            self.record_pod_event("delete", sts, pod, err)
            raise
        self.record_pod_event("delete", sts, pod, None)

    # -- claims -------------------------------------------------------------------------

    def _claim(self, namespace: str, name: str) -> Obj | None:
        return self.claims.get(f"{namespace}/{name}")

    def claims_match_retention_policy(self, sts: Obj, pod: Obj) -> bool:
        namespace, ordinal = str(meta(sts).get("namespace")), get_ordinal(pod)
        for template in claim_templates(sts):
            claim = self._claim(namespace, claim_name(sts, template, ordinal))
            if claim is not None and not claimutil.is_claim_owner_up_to_date(claim, sts, pod):
                return False
        return True

    async def update_pod_claim_for_retention_policy(self, sts: Obj, pod: Obj) -> None:
        namespace, ordinal = str(meta(sts).get("namespace")), get_ordinal(pod)
        for template in claim_templates(sts):
            name = claim_name(sts, template, ordinal)
            claim = self._claim(namespace, name)
            if claim is None:
                continue  # not created yet: picked up by a later sync
            if claimutil.has_unexpected_controller(claim, sts, pod):
                self.recorder.warning(
                    event_ref(sts), "ConflictingController",
                    f"PersistentVolumeClaim {name} has a conflicting OwnerReference that "
                    "acts as a manging controller, the retention policy is ignored for "
                    "this claim")
            if claimutil.is_claim_owner_up_to_date(claim, sts, pod):
                continue
            updated = copy.deepcopy(claim)
            updated["metadata"]["ownerReferences"] = claimutil.updated_owner_refs(
                claim, sts, pod)
            try:
                await self.client.update(CLAIMS, updated, namespace)
            except ApiError as err:
                raise StatefulSetError([f"could not update claim {name} for delete policy "
                                        f"ownerRefs: {error_text(err)}"]) from err

    def pod_claim_is_stale(self, sts: Obj, pod: Obj) -> bool:
        when_scaled, _ = claimutil.retention_policy(sts)
        if when_scaled == RETAIN:
            return False  # claims are meant to be reused
        for claim in persistent_volume_claims(sts, pod).values():
            existing = self._claim(str(meta(claim).get("namespace")),
                                   str(meta(claim).get("name")))
            if existing is not None and \
                    claimutil.has_stale_owner_ref(existing, pod, ("v1", "Pod")):
                return True
        return False

    async def create_missing_persistent_volume_claims(self, sts: Obj, pod: Obj) -> None:
        await self.create_persistent_volume_claims(sts, pod)
        try:
            await self.update_pod_claim_for_retention_policy(sts, pod)
        except Exception as err:
            self.record_pod_event("update", sts, pod, err)
            raise

    async def create_persistent_volume_claims(self, sts: Obj, pod: Obj) -> None:
        errors: list[str] = []
        for claim in persistent_volume_claims(sts, pod).values():
            namespace, name = str(meta(claim).get("namespace")), str(meta(claim).get("name"))
            existing = self._claim(namespace, name)
            if existing is None:
                try:
                    await self.client.create(CLAIMS, claim, namespace)
                except AlreadyExistsError:
                    # Created by an earlier sync the informer has not shown yet.
                    try:
                        existing = await self.client.get(CLAIMS, name, namespace)
                    except NotFoundError as err:
                        errors.append(f"failed to create PVC {name}: {error_text(err)}")
                        continue
                except ApiError as err:
                    errors.append(f"failed to create PVC {name}: {error_text(err)}")
                    self.record_claim_event("create", sts, pod, claim, err)
                    continue
                else:
                    self.record_claim_event("create", sts, pod, claim, None)
                    continue
            if meta(existing).get("deletionTimestamp"):
                errors.append(f"pvc {name} is being deleted")
        if errors:
            raise StatefulSetError(errors)
