"""The mandatory API Priority and Fairness configuration, ensured at start: upstream's
`exempt` and `catch-all` PriorityLevelConfigurations and FlowSchemas
(k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go), as its configuration
controller's ensurer keeps them.

A missing object is created with `apf.kubernetes.io/autoupdate-spec: "true"`; an existing
one has its spec put back unless that annotation says "false" (its owner took it over).
Each FlowSchema's `Dangling` condition says whether its priority level exists, as the
controller reports it. Requests are not yet classified or queued by this configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.ensure import ensure

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

GROUP = "flowcontrol.apiserver.k8s.io"
AUTO_UPDATE = "apf.kubernetes.io/autoupdate-spec"
_ALL_RULES: Obj = {
    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                       "clusterScope": True, "namespaces": ["*"]}],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
}


def _meta(name: str) -> Obj:
    return {"name": name, "annotations": {AUTO_UPDATE: "true"}}


def _groups(*names: str) -> list[Obj]:
    return [{"kind": "Group", "group": {"name": n}} for n in names]


PRIORITY_LEVELS: list[Obj] = [
    {"apiVersion": f"{GROUP}/v1", "kind": "PriorityLevelConfiguration",
     "metadata": _meta("exempt"),
     "spec": {"type": "Exempt",
              "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}},
    {"apiVersion": f"{GROUP}/v1", "kind": "PriorityLevelConfiguration",
     "metadata": _meta("catch-all"),
     "spec": {"type": "Limited",
              "limited": {"nominalConcurrencyShares": 5, "lendablePercent": 0,
                          "limitResponse": {"type": "Reject"}}}},
]

FLOW_SCHEMAS: list[Obj] = [
    {"apiVersion": f"{GROUP}/v1", "kind": "FlowSchema", "metadata": _meta("exempt"),
     "spec": {"priorityLevelConfiguration": {"name": "exempt"}, "matchingPrecedence": 1,
              "rules": [{"subjects": _groups("system:masters"), **_ALL_RULES}]}},
    {"apiVersion": f"{GROUP}/v1", "kind": "FlowSchema", "metadata": _meta("catch-all"),
     "spec": {"priorityLevelConfiguration": {"name": "catch-all"},
              "matchingPrecedence": 10000, "distinguisherMethod": {"type": "ByUser"},
              "rules": [{"subjects": _groups("system:unauthenticated",
                                             "system:authenticated"), **_ALL_RULES}]}},
]


def dangling(schema: Obj, levels: set[str]) -> Obj:
    """The status upstream's controller gives a FlowSchema: whether its level exists."""
    level = schema["spec"]["priorityLevelConfiguration"]["name"]
    if level in levels:
        condition = {"type": "Dangling", "status": "False", "reason": "Found",
                     "message": f"This FlowSchema references the PriorityLevelConfiguration "
                                f"object named \"{level}\" and it exists"}
    else:
        condition = {"type": "Dangling", "status": "True", "reason": "NotFound",
                     "message": f"This FlowSchema references the PriorityLevelConfiguration "
                                f"object named \"{level}\" but there is no such object"}
    return {"conditions": [condition]}


def _auto_update(server: ApiServer, plural: str, name: str) -> bool:
    info = server.registry.get(GROUP, "v1", plural)
    assert info is not None
    current = lookup.cached(server.store, info, "", name)
    if current is None:
        return True
    return ((current["metadata"].get("annotations") or {}).get(AUTO_UPDATE)) != "false"


async def bootstrap(server: ApiServer) -> None:
    levels_info = server.registry.get(GROUP, "v1", "prioritylevelconfigurations")
    schemas_info = server.registry.get(GROUP, "v1", "flowschemas")
    assert levels_info is not None and schemas_info is not None
    for level in PRIORITY_LEVELS:
        await ensure(server, levels_info, level, overwrite=_auto_update(
            server, "prioritylevelconfigurations", level["metadata"]["name"]))
    levels = {o["metadata"]["name"] for o in lookup.cached_list(server.store, levels_info, "")}
    levels.update(level["metadata"]["name"] for level in PRIORITY_LEVELS)
    for schema in FLOW_SCHEMAS:
        current = await ensure(server, schemas_info, schema, overwrite=_auto_update(
            server, "flowschemas", schema["metadata"]["name"]))
        await ensure(server, schemas_info, current, dangling(current, levels), overwrite=False)
