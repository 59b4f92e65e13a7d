"""The DaemonSet controller (upstream's `pkg/controller/daemon`): one pod per eligible
node, RollingUpdate and OnDelete updates, ControllerRevision history. `controller` runs it;
`placement`, `manage`, `update`, `status`, `revisions`, `backoff` and `util` are its parts.
"""

from kybernetes.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController"]
