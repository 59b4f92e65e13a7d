"""DefaultBinder: bind the pod through `POST pods/<name>/binding` (a v1 Binding naming the
node, with the pod's uid as precondition).

Upstream `pkg/scheduler/framework/plugins/defaultbinder/default_binder.go`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kybernetes.client import ClientError, resource
from kybernetes.scheduler.interface import CycleState, Handle
from kybernetes.scheduler.plugins.names import DEFAULT_BINDER
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.status import Status, as_status

PODS = resource("", "v1", "pods")


def binding_for(pod: PodInfo, node_name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "target": {"kind": "Node", "name": node_name}}


class DefaultBinder:
    name = DEFAULT_BINDER

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        client = self.handle.client
        if client is None:
            return as_status(RuntimeError("no API client to bind with"))
        try:
            await client.request("POST", client.path(PODS, pod.namespace, pod.name, "binding"),
                                 body=binding_for(pod, node_name))
        except ClientError as err:
            return as_status(err)
        return None


def new(args: Mapping[str, Any], handle: Handle) -> DefaultBinder:
    return DefaultBinder(handle)
