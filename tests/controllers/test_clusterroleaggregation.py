"""The ClusterRole aggregation controller's sync against a real API server in this process
(which has reconciled upstream's bootstrap roles: admin, edit and view aggregate).

Intent: an aggregated ClusterRole's rules are those of the ClusterRoles its selectors
match, in name order, each once; a role no longer selected takes its rules away; an
up-to-date role is not written; roles without an aggregation rule are left alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client import ApiClient, resource
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.clusterroleaggregation import (
    FIELD_MANAGER,
    ClusterRoleAggregationController,
    aggregated_rules,
)

CLUSTER_ROLES = resource("rbac.authorization.k8s.io", "v1", "clusterroles")
TO_VIEW = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
WIDGETS = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}
GADGETS = {"apiGroups": ["example.com"], "resources": ["gadgets"], "verbs": ["list"]}


@pytest.fixture
def ctl(ctx: ControllerContext) -> ClusterRoleAggregationController:
    return ClusterRoleAggregationController(ctx)


async def seed(api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    """The informer's view: every ClusterRole as the server has it now."""
    ctl.cluster_roles.store.replace((await api.list(CLUSTER_ROLES)).items)


async def cluster_role(api: ApiClient, name: str, labels: dict[str, str],
                       *rules: dict[str, Any]) -> None:
    await api.create(CLUSTER_ROLES, {"metadata": {"name": name, "labels": labels},
                                     "rules": list(rules)})


async def test_view_gathers_the_selected_roles_rules(
        api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    await cluster_role(api, "zz-widgets", TO_VIEW, WIDGETS, GADGETS)
    await cluster_role(api, "aa-widgets", TO_VIEW, WIDGETS)
    await cluster_role(api, "unrelated", {}, GADGETS)
    await seed(api, ctl)
    await ctl.sync("view")

    view = await api.get(CLUSTER_ROLES, "view")
    source = await api.get(CLUSTER_ROLES, "system:aggregate-to-view")
    # In name order (aa-, system:, zz-), each rule once.
    assert view["rules"] == [WIDGETS, *source["rules"], GADGETS]
    assert [(m["manager"], m["operation"]) for m in view["metadata"]["managedFields"]
            if m["manager"] == FIELD_MANAGER] == [(FIELD_MANAGER, "Apply")]


async def test_a_role_no_longer_selected_takes_its_rules_away(
        api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    await cluster_role(api, "widgets", TO_VIEW, WIDGETS)
    await seed(api, ctl)
    await ctl.sync("view")
    assert WIDGETS in (await api.get(CLUSTER_ROLES, "view"))["rules"]

    await api.patch(CLUSTER_ROLES, "widgets", {"metadata": {"labels": None}})
    await seed(api, ctl)
    await ctl.sync("view")
    view = await api.get(CLUSTER_ROLES, "view")
    assert WIDGETS not in view["rules"]
    assert view["rules"] == (await api.get(CLUSTER_ROLES, "system:aggregate-to-view"))["rules"]


async def test_an_up_to_date_role_is_not_written(
        api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    await seed(api, ctl)
    await ctl.sync("view")
    await seed(api, ctl)
    written = (await api.get(CLUSTER_ROLES, "view"))["metadata"]["resourceVersion"]
    await ctl.sync("view")
    assert (await api.get(CLUSTER_ROLES, "view"))["metadata"]["resourceVersion"] == written


async def test_roles_without_an_aggregation_rule_are_left_alone(
        api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    await cluster_role(api, "plain", TO_VIEW, WIDGETS)
    await seed(api, ctl)
    before = await api.get(CLUSTER_ROLES, "system:aggregate-to-view")
    await ctl.sync("system:aggregate-to-view")
    await ctl.sync("gone")
    assert await api.get(CLUSTER_ROLES, "system:aggregate-to-view") == before


async def test_every_aggregated_role_is_enqueued_on_any_change(
        api: ApiClient, ctl: ClusterRoleAggregationController) -> None:
    await seed(api, ctl)
    ctl._enqueue_all()
    queued = set()
    while len(ctl.queue):
        key = await ctl.queue.get()
        queued.add(key)
        ctl.queue.done(key)
    assert queued == {"admin", "edit", "view"}


def test_an_invalid_selector_fails_the_sync() -> None:
    role = {"metadata": {"name": "r"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchExpressions": [{"key": "a", "operator": "Near"}]}]}}
    with pytest.raises(ValueError, match='"Near" is not a valid label selector operator'):
        aggregated_rules(role, [{"metadata": {"name": "x", "labels": {"a": "b"}}}])
