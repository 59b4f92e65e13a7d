"""StatefulSet pure helpers: identities, revisions' data, and the claim retention policy.

Intent: ordinals come from pod names as upstream parses them; new pods are at the current
revision below the partition and at the update revision from it; a revision's data is a
patch restoring the template; maxUnavailable percentages round down to at least 1; a
claim's owner references follow the retention policy table, and claims owned by an
earlier namesake or by another controller are not taken over.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client.rest import Obj
from kybernetes.controllers.statefulset import claims, identity

SET: Obj = {
    "apiVersion": "apps/v1", "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid",
                 "annotations": {"kubernetes.io/change-cause": "v1"}},
    "spec": {"replicas": 2, "serviceName": "svc",
             "selector": {"matchLabels": {"app": "web"}},
             "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


def with_spec(**spec: Any) -> Obj:
    return {**SET, "spec": {**SET["spec"], **spec}}


def pod(name: str, uid: str = "pod-uid") -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid}}


def test_ordinals_from_names() -> None:
    assert identity.parent_name_and_ordinal(pod("web-12")) == ("web", 12)
    assert identity.parent_name_and_ordinal(pod("my-web-3")) == ("my-web", 3)
    assert identity.get_ordinal(pod("web")) == -1
    assert identity.get_ordinal(pod("web-99999999999")) == -1  # not an int32
    assert identity.is_member_of(SET, pod("web-0"))
    assert not identity.is_member_of(SET, pod("webby-0"))
    ranged = with_spec(ordinals={"start": 3})
    assert (identity.start_ordinal(ranged), identity.end_ordinal(ranged)) == (3, 4)
    assert identity.pod_in_ordinal_range(pod("web-4"), ranged)
    assert not identity.pod_in_ordinal_range(pod("web-1"), ranged)


def test_versioned_pods_follow_the_partition() -> None:
    current = identity.new_versioned_pod(SET, SET, "cur", "upd", 0)
    updated = identity.new_versioned_pod(SET, SET, "cur", "upd", 1)
    assert current["metadata"]["labels"]["controller-revision-hash"] == "cur"
    assert updated["metadata"]["labels"]["controller-revision-hash"] == "upd"
    assert current["metadata"]["name"] == "web-0" and "generateName" not in \
        current["metadata"]
    on_delete = with_spec(updateStrategy={"type": "OnDelete"})
    assert identity.pod_revision(identity.new_versioned_pod(
        on_delete, on_delete, "cur", "upd", 0)) == "upd"
    assert identity.identity_matches(SET, current)
    assert identity.storage_matches(SET, current)


def test_revision_data_restores_the_template() -> None:
    revision = identity.new_revision(SET, 1, 0)
    assert revision["data"] == {"spec": {"template": {
        **SET["spec"]["template"], "$patch": "replace"}}}
    assert revision["metadata"]["annotations"] == {"kubernetes.io/change-cause": "v1"}
    assert revision["metadata"]["labels"]["app"] == "web"
    changed = with_spec(template={"metadata": {"labels": {"app": "web"}}, "spec": {
        "containers": [{"name": "c", "image": "nginx:2"}], "hostNetwork": True}})
    restored = identity.apply_revision(changed, revision)
    assert restored["spec"]["template"] == SET["spec"]["template"]
    assert restored["spec"]["replicas"] == 2


@pytest.mark.parametrize(("value", "replicas", "expected"), [
    (None, 10, 1), (3, 10, 3), ("25%", 10, 2), ("5%", 10, 1)])
def test_max_unavailable(value: Any, replicas: int, expected: int) -> None:
    rolling: Obj = {"partition": 0}
    if value is not None:
        rolling["maxUnavailable"] = value
    sts = with_spec(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert identity.max_unavailable(sts, replicas) == expected


@pytest.mark.parametrize(("when_scaled", "when_deleted", "in_range", "owners"), [
    ("Retain", "Retain", True, []),
    ("Retain", "Retain", False, []),
    ("Retain", "Delete", True, ["StatefulSet"]),
    ("Retain", "Delete", False, ["StatefulSet"]),
    ("Delete", "Retain", True, []),
    ("Delete", "Retain", False, ["Pod"]),
    ("Delete", "Delete", True, ["StatefulSet"]),
    ("Delete", "Delete", False, ["Pod"]),
])
def test_retention_policy_owners(when_scaled: str, when_deleted: str, in_range: bool,
                                 owners: list[str]) -> None:
    sts = with_spec(persistentVolumeClaimRetentionPolicy={
        "whenScaled": when_scaled, "whenDeleted": when_deleted})
    member = pod("web-1" if in_range else "web-5")
    claim: Obj = {"metadata": {"name": "www-web-1", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "other"}]}}
    refs = claims.updated_owner_refs(claim, sts, member)
    assert [r["kind"] for r in refs] == ["ConfigMap", *owners]
    assert all(r["controller"] is True for r in refs[1:])
    fixed = {"metadata": {**claim["metadata"], "ownerReferences": refs}}
    assert claims.is_claim_owner_up_to_date(fixed, sts, member)
    assert claims.is_claim_owner_up_to_date(claim, sts, member) == (owners == [])


def test_claims_of_others_are_left_alone() -> None:
    sts = with_spec(persistentVolumeClaimRetentionPolicy={
        "whenScaled": "Delete", "whenDeleted": "Delete"})
    member = pod("web-0")
    stale: Obj = {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "earlier"}]}}
    assert claims.is_claim_owner_up_to_date(stale, sts, member)
    other: Obj = {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid",
         "controller": True}]}}
    assert claims.has_unexpected_controller(other, sts, member)
    assert claims.is_claim_owner_up_to_date(other, sts, member)
    assert claims.updated_owner_refs(other, sts, member) == \
        other["metadata"]["ownerReferences"]
    # An owner reference of ours that is not a controller reference is rewritten.
    plain: Obj = {"metadata": {"ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid"}]}}
    assert not claims.is_claim_owner_up_to_date(plain, sts, member)
    assert claims.updated_owner_refs(plain, sts, member)[0]["controller"] is True
