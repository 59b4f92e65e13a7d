"""The namespace controller's sync, and the `finalize` subresource it relies on.

Intent: a terminating namespace is emptied of every namespaced resource and then finalized
so that it disappears; leftovers held by finalizers postpone that (a requeue with upstream's
estimate, not an error); active namespaces are untouched; handlers only enqueue namespaces
being deleted, after the grace period.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.namespace import ContentRemaining, NamespaceController

Obj = dict[str, Any]
NAMESPACES = resource("", "v1", "namespaces")
CONFIGMAPS = resource("", "v1", "configmaps")
SECRETS = resource("", "v1", "secrets")
PODS = resource("", "v1", "pods")
ROLES = resource("rbac.authorization.k8s.io", "v1", "roles")
DEPLOYMENTS = resource("apps", "v1", "deployments")


async def fill(api: ApiClient, ns: str) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": ns}})
    await api.create(CONFIGMAPS, {"metadata": {"name": "cm"}, "data": {"a": "b"}}, ns)
    await api.create(SECRETS, {"metadata": {"name": "s"}, "stringData": {"a": "b"}}, ns)
    await api.create(PODS, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}}, ns)
    await api.create(ROLES, {"metadata": {"name": "r"}, "rules": []}, ns)
    await api.create(DEPLOYMENTS, {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, ns)


async def terminate(api: ApiClient, ctl: NamespaceController, ns: str) -> Obj:
    """Delete the namespace and show it to the controller's cache."""
    await api.delete(NAMESPACES, ns)
    terminating = await api.get(NAMESPACES, ns)
    ctl.namespaces.store.add(terminating)
    return terminating


async def gone(api: ApiClient, res: Any, name: str, ns: str | None = None) -> bool:
    try:
        await api.get(res, name, ns)
    except NotFoundError:
        return True
    return False


@pytest.fixture
def ctl(ctx: ControllerContext) -> NamespaceController:
    return NamespaceController(ctx, deletion_grace_period=0.0)


async def test_terminating_namespace_is_emptied_then_finalized(
        api: ApiClient, ctl: NamespaceController) -> None:
    await fill(api, "doomed")
    await fill(api, "bystander")
    terminating = await terminate(api, ctl, "doomed")
    assert terminating["status"]["phase"] == "Terminating"
    assert terminating["spec"]["finalizers"] == ["kubernetes"]
    await ctl.sync("doomed")
    assert await gone(api, NAMESPACES, "doomed")
    for res in (CONFIGMAPS, SECRETS, PODS, ROLES, DEPLOYMENTS):
        assert (await api.list(res, "doomed")).items == [], res
    # Other namespaces are untouched.
    assert len((await api.list(CONFIGMAPS, "bystander")).items) == 1


async def test_content_held_by_a_finalizer_postpones_finalizing(
        api: ApiClient, ctl: NamespaceController) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "held"}})
    await api.create(CONFIGMAPS, {"metadata": {"name": "cm",
                                               "finalizers": ["example.com/hold"]}}, "held")
    await terminate(api, ctl, "held")
    with pytest.raises(ContentRemaining) as raised:
        await ctl.sync("held")
    assert raised.value.estimate == 15
    assert raised.value.after == 8
    assert raised.value.remaining == {"configmaps": 1}
    assert (await api.get(NAMESPACES, "held"))["spec"]["finalizers"] == ["kubernetes"]
    await api.patch(CONFIGMAPS, "cm", {"metadata": {"finalizers": None}}, "held")
    await ctl.sync("held")
    assert await gone(api, NAMESPACES, "held")


async def test_active_and_unknown_namespaces_are_left_alone(
        api: ApiClient, ctl: NamespaceController) -> None:
    await fill(api, "alive")
    ctl.namespaces.store.add(await api.get(NAMESPACES, "alive"))
    await ctl.sync("alive")
    await ctl.sync("never-seen")
    assert len((await api.list(CONFIGMAPS, "alive")).items) == 1


async def test_finalize_retries_a_stale_read(api: ApiClient, ctl: NamespaceController
                                            ) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "stale"}})
    await api.delete(NAMESPACES, "stale")
    stale = await api.get(NAMESPACES, "stale")
    await api.patch(NAMESPACES, "stale", {"metadata": {"labels": {"touched": "yes"}}})
    await ctl.finalize(stale)
    assert await gone(api, NAMESPACES, "stale")


def test_handlers_enqueue_only_namespaces_being_deleted(ctl: NamespaceController) -> None:
    ctl._namespace_changed({"metadata": {"name": "active"}})
    assert ctl.queue.waiting == 0 and len(ctl.queue) == 0
    ctl._namespace_changed({"metadata": {"name": "going",
                                         "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert len(ctl.queue) == 1


async def test_handlers_wait_the_grace_period(ctx: ControllerContext) -> None:
    ctl = NamespaceController(ctx, deletion_grace_period=30.0)
    ctl._namespace_changed({"metadata": {"name": "going",
                                         "deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert ctl.queue.waiting == 1 and len(ctl.queue) == 0


# ----------------------------------------------------------------------------- finalize


async def test_finalize_subresource_changes_only_spec_finalizers(api: ApiClient) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "fin"}})
    current = await api.get(NAMESPACES, "fin")
    body = {**current, "metadata": {**current["metadata"], "labels": {"ignored": "yes"}},
            "spec": {"finalizers": ["example.com/mine"]}}
    path = api.path(NAMESPACES, name="fin", subresource="finalize")
    updated = await api.request("PUT", path, body=body)
    assert updated["spec"]["finalizers"] == ["example.com/mine"]
    assert "ignored" not in updated["metadata"].get("labels", {})
    assert updated["status"]["phase"] == "Active"


async def test_finalize_subresource_conflicts_on_a_stale_resource_version(
        api: ApiClient) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "fin2"}})
    stale = await api.get(NAMESPACES, "fin2")
    await api.patch(NAMESPACES, "fin2", {"metadata": {"labels": {"x": "y"}}})
    path = api.path(NAMESPACES, name="fin2", subresource="finalize")
    response = await api.request_raw("PUT", path, check=False, content=httpx.Request(
        "PUT", "http://x", json={**stale, "spec": {}}).content,
        headers={"Content-Type": "application/json"})
    assert response.status_code == 409


async def test_finalize_subresource_deletes_a_finalized_terminating_namespace(
        api: ApiClient) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "fin3"}})
    await api.delete(NAMESPACES, "fin3")
    current = await api.get(NAMESPACES, "fin3")
    path = api.path(NAMESPACES, name="fin3", subresource="finalize")
    await api.request("PUT", path, body={**current, "spec": {"finalizers": []}})
    assert await gone(api, NAMESPACES, "fin3")


async def test_finalize_subresource_only_takes_put(api: ApiClient) -> None:
    path = api.path(NAMESPACES, name="default", subresource="finalize")
    response = await api.request_raw("PATCH", path, check=False, content=b"{}",
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert response.status_code == 405
