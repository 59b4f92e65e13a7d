"""The ReplicationController controller: upstream's `pkg/controller/replication/`, which is
the ReplicaSet controller run over v1 ReplicationControllers as if they were an older
version of ReplicaSet. Here the same: `ReplicaSetController` with another `Workload`.

What differs: the resource (`v1` `replicationcontrollers`, status through its `/status`),
the kind in ownerReferences and events, the selector (a plain label map, read as
`matchLabels`), the event source (`replication-controller`), and the status, which has no
`terminatingReplicas` (upstream runs it with that feature off).
"""

from __future__ import annotations

from typing import ClassVar

from kybernetes.api.selectors import LabelSelector, label_selector_from_dict
from kybernetes.client import resource
from kybernetes.client.rest import Obj
from kybernetes.controllers.replicaset import ReplicaSetController, Workload

REPLICATION_CONTROLLERS = resource("", "v1", "replicationcontrollers")
# Upstream's --concurrent-rc-syncs.
DEFAULT_WORKERS = 5


def _rc_selector(obj: Obj) -> LabelSelector:
    selector = (obj.get("spec") or {}).get("selector")
    # As upstream's conversion: a set map becomes matchLabels; no map selects nothing.
    return label_selector_from_dict(None if selector is None else {"matchLabels": selector})


REPLICATION_CONTROLLER = Workload(
    resource=REPLICATION_CONTROLLERS, api_version="v1", kind="ReplicationController",
    terminating_replicas=False, selector=_rc_selector)


class ReplicationManager(ReplicaSetController):
    name: ClassVar[str] = "replicationcontroller-controller"
    workload: ClassVar[Workload] = REPLICATION_CONTROLLER
    event_component: ClassVar[str] = "replication-controller"
