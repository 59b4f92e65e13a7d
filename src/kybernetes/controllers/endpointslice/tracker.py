"""What this controller last wrote to each EndpointSlice: upstream's
`staging/src/k8s.io/endpointslice/endpointslice_tracker.go`.

Upstream tracks each slice's `generation`; kybernetes' API server keeps no generation on
EndpointSlices, so the tracker remembers the `resourceVersion` of each write instead
(kybernetes' resource versions are its storage's revisions, increasing integers). It
answers two questions:

- `stale(service, slices)`: has the informer not yet caught up with our own writes (a slice
  we wrote missing or older than our write, a slice we deleted still listed)? The sync is
  then retried rather than acting on a cache that would make it create slices twice.
- `should_sync(slice)`: is an informer event for a slice someone else's change (newer than
  our write, or an untracked slice), which the Service's sync must then look at?
"""

from __future__ import annotations

from collections.abc import Iterable

from kybernetes.api.objects import meta
from kybernetes.client.rest import Obj
from kybernetes.controllers.endpointslice.utils import LABEL_SERVICE_NAME

# The resource version recorded for a slice whose deletion is expected.
_DELETED = -1


def _rv(obj: Obj) -> int:
    value = str(meta(obj).get("resourceVersion") or "0")
    return int(value) if value.isdigit() else 0


def _service_key(slice_: Obj) -> str:
    slice_meta = meta(slice_)
    service = (slice_meta.get("labels") or {}).get(LABEL_SERVICE_NAME, "")
    return f"{slice_meta.get('namespace')}/{service}"


class EndpointSliceTracker:
    def __init__(self) -> None:
        # service key -> slice uid -> resource version written (or _DELETED).
        self._by_service: dict[str, dict[str, int]] = {}

    def has(self, slice_: Obj) -> bool:
        return str(meta(slice_).get("uid")) in self._by_service.get(_service_key(slice_), {})

    def should_sync(self, slice_: Obj) -> bool:
        expected = self._by_service.get(_service_key(slice_), {}).get(
            str(meta(slice_).get("uid")))
        return expected is None or expected == _DELETED or _rv(slice_) > expected

    def stale(self, service_key: str, slices: Iterable[Obj]) -> bool:
        expected = self._by_service.get(service_key, {})
        present = {str(meta(s).get("uid")): _rv(s) for s in slices}
        for uid, rv in expected.items():
            if rv == _DELETED:
                if uid in present:
                    return True
            elif present.get(uid, -1) < rv:
                return True
        return False

    def update(self, slice_: Obj) -> None:
        self._by_service.setdefault(_service_key(slice_), {})[
            str(meta(slice_).get("uid"))] = _rv(slice_)

    def expect_deletion(self, slice_: Obj) -> None:
        self._by_service.setdefault(_service_key(slice_), {})[
            str(meta(slice_).get("uid"))] = _DELETED

    def handle_deletion(self, slice_: Obj) -> bool:
        """Forget a deleted slice; True when we expected its deletion."""
        tracked = self._by_service.get(_service_key(slice_), {})
        return tracked.pop(str(meta(slice_).get("uid")), None) == _DELETED

    def delete_service(self, service_key: str) -> None:
        self._by_service.pop(service_key, None)
