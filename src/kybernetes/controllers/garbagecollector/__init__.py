"""The garbage collector (upstream's `pkg/controller/garbagecollector`).

Objects name their owners in `metadata.ownerReferences`; when the owners are gone the
object is garbage. Deletion of an owner comes in three flavours, chosen by the deleting
client's `propagationPolicy` (the API server records it as a finalizer on the owner):

- **Background** (no finalizer): the owner goes at once; the collector then deletes every
  dependent whose owners are all gone.
- **Foreground** (`foregroundDeletion`): the owner stays, with a deletionTimestamp, while
  the collector deletes its dependents (those with dependents of their own in the foreground
  too); once no dependent with `blockOwnerDeletion` is left it removes the finalizer and the
  API server deletes the owner.
- **Orphan** (`orphan`): the collector removes the owner's reference from each dependent,
  then the finalizer.

`graph` keeps the dependency graph from informer events (pure, synchronous); `collector`
runs the monitors and the workers that verify and act through the API.
"""

from kybernetes.controllers.garbagecollector.collector import (
    DEFAULT_WORKERS,
    IGNORED_RESOURCES,
    GarbageCollector,
)
from kybernetes.controllers.garbagecollector.graph import (
    DependencyGraph,
    Node,
    ObjectReference,
    OwnerReference,
    ReferenceCache,
)

__all__ = [
    "DEFAULT_WORKERS",
    "IGNORED_RESOURCES",
    "DependencyGraph",
    "GarbageCollector",
    "Node",
    "ObjectReference",
    "OwnerReference",
    "ReferenceCache",
]
