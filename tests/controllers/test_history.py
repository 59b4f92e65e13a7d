"""ControllerRevision history (controllers/history.py), pure helpers and against a real API
server.

Intent: revisions are named `<parent>-<hash>` with upstream's FNV-1 hash and safe alphabet;
the collision count changes the name; equality is by data; order is by revision number;
creating an existing equal revision returns it, a name taken by other data bumps the
collision count; revision numbers are updated through conflicts; orphans are adopted and
released with the uid precondition.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.api.selectors import label_selector_from_set
from kybernetes.client import ApiClient, resource
from kybernetes.client.rest import Obj
from kybernetes.controllers import history
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.history import (
    CONTROLLER_REVISION_HASH_LABEL,
    CONTROLLER_REVISIONS,
    ControllerHistory,
    controller_revision_name,
    equal_revision,
    find_equal_revisions,
    hash_controller_revision,
    new_controller_revision,
    next_revision,
    sort_controller_revisions,
)
from kybernetes.controllers.refmanager import controller_ref

STATEFUL_SETS = resource("apps", "v1", "statefulsets")
STS_KIND = ("apps/v1", "StatefulSet")
TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
DATA: dict[str, Any] = {"spec": {"template": {"$patch": "replace", **TEMPLATE}}}


def revision(name: str, number: int, created: str = "2026-01-01T00:00:00Z",
             data: Any = None, hash_label: str | None = None) -> Obj:
    labels = {CONTROLLER_REVISION_HASH_LABEL: hash_label} if hash_label else {}
    return {"metadata": {"name": name, "creationTimestamp": created, "labels": labels},
            "revision": number, "data": DATA if data is None else data}


async def make_set(api: ApiClient, name: str = "web") -> Obj:
    return await api.create(STATEFUL_SETS, {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": name,
                 "template": TEMPLATE}}, "default")


def test_fnv_is_gos_fnv_new32() -> None:
    # Go: fnv.New32() (FNV-1, not FNV-1a) test vectors.
    assert history._fnv32(b"") == 0x811C9DC5
    assert history._fnv32(b"a") == 0x050C5D7E
    assert history._fnv32(b"foobar") == 0x31F0B262


def test_hash_and_name() -> None:
    rev = {"data": DATA}
    value = history._fnv32(history.data_bytes(DATA))
    assert hash_controller_revision(rev, None) == history.safe_encode_string(str(value))
    with_probe = history._fnv32(b"3", value)
    assert hash_controller_revision(rev, 3) == history.safe_encode_string(str(with_probe))
    assert hash_controller_revision(rev, 3) != hash_controller_revision(rev, 4)
    assert set(hash_controller_revision(rev, None)) <= set("bcdfghjklmnpqrstvwxz2456789")
    # Key order does not matter: the data is hashed in canonical form.
    reordered = {"spec": {"template": dict(reversed(list(DATA["spec"]["template"].items())))}}
    assert hash_controller_revision({"data": reordered}, 0) == hash_controller_revision(rev, 0)
    assert controller_revision_name("web", "abc") == "web-abc"
    assert controller_revision_name("x" * 300, "abc") == "x" * 223 + "-abc"


def test_new_controller_revision() -> None:
    parent = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}}
    cr = new_controller_revision(parent, STS_KIND, {"app": "web"}, DATA, 3, None)
    hash_ = hash_controller_revision(cr, None)
    assert cr["metadata"]["name"] == f"web-{hash_}"
    assert cr["metadata"]["namespace"] == "ns"
    assert cr["metadata"]["labels"] == {"app": "web", CONTROLLER_REVISION_HASH_LABEL: hash_}
    assert cr["revision"] == 3 and cr["data"] == DATA
    assert controller_ref(cr) == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                  "name": "web", "uid": "u1", "controller": True,
                                  "blockOwnerDeletion": True}
    bumped = new_controller_revision(parent, STS_KIND, {"app": "web"}, DATA, 3, 1)
    assert bumped["metadata"]["name"] != cr["metadata"]["name"]


def test_sort_equal_find_next() -> None:
    a = revision("a", 2, "2026-01-01T00:00:02Z")
    b = revision("b", 1)
    c = revision("c", 2, "2026-01-01T00:00:01Z")
    d = revision("d", 2, "2026-01-01T00:00:01Z")
    assert [r["metadata"]["name"] for r in sort_controller_revisions([a, d, b, c])] == [
        "b", "c", "d", "a"]
    assert next_revision(sort_controller_revisions([a, b])) == 3
    assert next_revision([]) == 1

    other = revision("o", 1, data={"spec": {"template": {"$patch": "replace"}}})
    assert equal_revision(a, b)
    assert not equal_revision(a, other)
    assert equal_revision(None, None)
    assert not equal_revision(a, None)
    # Hash labels that parse as integers must agree (upstream's quirk).
    assert not equal_revision(revision("x", 1, hash_label="12"),
                              revision("y", 1, hash_label="13"))
    assert equal_revision(revision("x", 1, hash_label="bcd"),
                          revision("y", 1, hash_label="fgh"))
    assert find_equal_revisions([a, other, b], b) == [a, b]


async def test_create_returns_existing_equal_and_counts_collisions(api: ApiClient) -> None:
    parent = await make_set(api)
    hist = ControllerHistory(api, None)  # type: ignore[arg-type]  # no listing here
    cr = new_controller_revision(parent, STS_KIND, {"app": "web"}, DATA, 1, 0)

    created, count = await hist.create_controller_revision(parent, cr, 0)
    assert count == 0
    assert created["metadata"]["name"] == cr["metadata"]["name"]
    assert created["data"] == DATA and created["revision"] == 1
    again, count = await hist.create_controller_revision(parent, cr, 0)
    assert count == 0 and again["metadata"]["uid"] == created["metadata"]["uid"]

    # Another revision's data under the name collision count 0 gives: the next name.
    other_data = {"spec": {"template": {"$patch": "replace", "metadata": {}}}}
    clash = new_controller_revision(parent, STS_KIND, {}, other_data, 2, 0)
    taker = dict(clash, metadata=dict(clash["metadata"],
                                      name=controller_revision_name(
                                          "web", hash_controller_revision(clash, 0))),
                 data={"something": "else"})
    await api.create(CONTROLLER_REVISIONS, taker, "default")
    moved, count = await hist.create_controller_revision(parent, clash, 0)
    assert count == 1
    assert moved["metadata"]["name"] == f"web-{hash_controller_revision(clash, 1)}"
    assert moved["data"] == other_data


async def test_update_retries_conflicts(api: ApiClient) -> None:
    parent = await make_set(api)
    hist = ControllerHistory(api, None)  # type: ignore[arg-type]
    created, _ = await hist.create_controller_revision(
        parent, new_controller_revision(parent, STS_KIND, {}, DATA, 1, 0), 0)
    # Someone else changes it: our copy is stale, the first update conflicts.
    await api.patch(CONTROLLER_REVISIONS, created["metadata"]["name"],
                    {"metadata": {"annotations": {"x": "y"}}}, "default")
    updated = await hist.update_controller_revision(created, 5)
    assert updated["revision"] == 5
    live = await api.get(CONTROLLER_REVISIONS, created["metadata"]["name"], "default")
    assert live["revision"] == 5 and live["metadata"]["annotations"] == {"x": "y"}
    # Already at that number: no write.
    same = await hist.update_controller_revision(live, 5)
    assert same["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]


async def test_list_adopt_release_delete(api: ApiClient, ctx: ControllerContext) -> None:
    parent = await make_set(api)
    other = await make_set(api, "other")
    informer = ctx.informers.informer(CONTROLLER_REVISIONS)
    hist = ControllerHistory(api, informer)
    orphan = await api.create(CONTROLLER_REVISIONS, {
        "metadata": {"name": "orphan", "labels": {"app": "web"}}, "data": DATA,
        "revision": 1}, "default")
    foreign, _ = await hist.create_controller_revision(
        other, new_controller_revision(other, STS_KIND, {"app": "web"}, DATA, 1, 0), 0)
    unlabelled = await api.create(CONTROLLER_REVISIONS, {
        "metadata": {"name": "unlabelled"}, "data": DATA, "revision": 1}, "default")
    for obj in (orphan, foreign, unlabelled):
        informer.store.add(obj)

    listed = hist.list_controller_revisions(parent, label_selector_from_set({"app": "web"}))
    assert [r["metadata"]["name"] for r in listed] == ["orphan"]

    adopted = await hist.adopt_controller_revision(parent, STS_KIND, orphan)
    ref = controller_ref(adopted)
    assert ref is not None and ref["uid"] == parent["metadata"]["uid"]
    with pytest.raises(ValueError, match="attempt to adopt revision owned by"):
        await hist.adopt_controller_revision(parent, STS_KIND, adopted)

    released = await hist.release_controller_revision(parent, adopted)
    assert released is not None and controller_ref(released) is None

    await hist.delete_controller_revision(released)
    # Releasing what is gone is not an error.
    assert await hist.release_controller_revision(parent, released) is None
    names = [r["metadata"]["name"] for r in
             (await api.list(CONTROLLER_REVISIONS, "default")).items]
    assert "orphan" not in names
