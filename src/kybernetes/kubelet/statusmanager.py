"""Pod status writes: only when something changed, through `pods/status`.

Upstream's pkg/kubelet/status/status_manager.go in its essentials: the kubelet computes a
pod's whole status on every sync; this keeps the last one written per pod and sends a merge
patch only when the new one differs. The patch replaces each top-level status field it
names (lists such as `conditions` and `containerStatuses` are replaced whole by a merge
patch) and nulls the fields that disappeared, and it carries the pod's uid so that it cannot
land on a newer pod of the same name (the uid is immutable: a mismatch is refused).

Once written, a status is written again only when it changes, or when the API shows a
different one in a version after the kubelet's write (`needs_reconcile`, upstream's
needsReconcile): someone else changed it (the node lifecycle controller marking the pod
not Ready while the node was unreachable, say), and the kubelet's view is restored. A
watch that has not yet brought the kubelet's own write back is not mistaken for that.
"""

from __future__ import annotations

import logging
from typing import Any

from kybernetes.client import ApiClient, NotFoundError, resource
from kybernetes.client.rest import ApiError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PODS = resource("", "v1", "pods")


class StatusManager:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._written: dict[str, Obj] = {}  # uid -> last status written
        self._versions: dict[str, int] = {}  # uid -> the resourceVersion that write made

    def last(self, uid: str) -> Obj | None:
        return self._written.get(uid)

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
        self._versions.pop(uid, None)

    def needs_reconcile(self, pod: Obj) -> bool:
        """Whether the API shows, after the last write, a status other than it."""
        uid = str(pod["metadata"]["uid"])
        written = self._written.get(uid)
        if written is None or (pod.get("status") or {}) == written:
            return False
        try:
            return int(pod["metadata"].get("resourceVersion") or 0) > \
                self._versions.get(uid, 0)
        except ValueError:
            return False

    async def set(self, pod: Obj, status: Obj) -> bool:
        """Write `status` if it differs from what was written (or what the pod shows);
        True if a write happened."""
        meta = pod["metadata"]
        uid = str(meta["uid"])
        shown: Obj = pod.get("status") or {}
        before: Obj = self._written.get(uid) or shown
        if before == status and not self.needs_reconcile(pod):
            return False
        patch_status: Obj = {key: None for key in before if key not in status}
        patch_status.update(status)
        try:
            written = await self.client.patch(PODS, meta["name"],
                                    {"metadata": {"uid": uid}, "status": patch_status},
                                    meta["namespace"], patch_type="merge",
                                    subresource="status")
        except NotFoundError:
            return False
        except ApiError as err:
            log.warning("status of pod %s/%s not written: %s", meta["namespace"],
                        meta["name"], err)
            raise
        self._written[uid] = status
        try:
            self._versions[uid] = int(written["metadata"]["resourceVersion"])
        except (KeyError, TypeError, ValueError):
            self._versions.pop(uid, None)
        return True
