"""The container runtime interface the kubelet drives, one implementation per backend.

A runtime turns a pod bound to this node into something running and reports what it looks
like, in the shape of `pod.status`: the kubelet owns the API side (watching pods, patching
status, deleting them once stopped), the runtime owns the machine side. The interface is
deliberately small — start what a pod describes, stop it, say how it is doing — so that the
simulated runtime used for scale tests and the real one (runc, images, CNI) are
interchangeable and unit tests can fake it.

Implementations: `simulated.SimulatedRuntime` (pod-level, for simulated nodes); the real
kubelet drives the CRI-shaped `cri.ContainerRuntime`, implemented by `runc.runtime.RuncRuntime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]


@dataclass(frozen=True)
class NodeContext:
    """What a runtime knows of the node it runs on."""

    name: str
    host_ip: str
    pod_cidr: str = ""
    labels: dict[str, str] = field(default_factory=dict)


class Runtime(Protocol):
    """A container runtime, as the kubelet's pod workers see it."""

    name: str

    async def start_pod(self, pod: Obj, node: NodeContext) -> Obj:
        """Make the pod run; returns its `status` (phase, conditions, IPs, containers)."""
        ...

    async def stop_pod(self, pod: Obj, node: NodeContext) -> None:
        """Stop everything the pod runs and release what it holds (IPs, cgroups)."""
        ...

    def pod_status(self, pod: Obj, node: NodeContext) -> Obj | None:
        """The pod's current status as the runtime sees it (None: not running here)."""
        ...


__all__ = ["NodeContext", "Obj", "Runtime"]
