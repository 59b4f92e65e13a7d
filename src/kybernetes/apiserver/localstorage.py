"""What `kyb server` sets up for the local-path storage it ships, as k3s does with its
`local-storage` manifest:

- the StorageClass `local-path` (provisioner `rancher.io/local-path`, WaitForFirstConsumer,
  reclaim Delete), marked the default class, allowing volume expansion (k3s' does not:
  kybernetes' provisioner resizes, see controllers/localpath.py); created when missing
  and otherwise left as the administrator made it (one may drop the default mark or
  delete it);
- the ClusterRole and ClusterRoleBinding `kybernetes:local-path-provisioner` for the
  provisioner's account `kube-system/local-path-provisioner-service-account`
  (controllers/localpath.py): read claims and classes, create, delete and resize volumes,
  write claims' status and events;
- the ClusterRole and ClusterRoleBinding `kybernetes:local-path-node`: nodes
  (`system:nodes`) may list PersistentVolumes, which the kubelet does to remove the
  directories of local-path volumes that are gone (kubelet/volumes/localpath.py); the Node
  authorizer alone only lets a node get the volumes of its own pods.

Objects are written through the store as the API server itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.authn.user import NODES_GROUP

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

RBAC = "rbac.authorization.k8s.io"
STORAGE_CLASS = "local-path"
PROVISIONER = "rancher.io/local-path"
PROVISIONER_ACCOUNT = "local-path-provisioner-service-account"
PROVISIONER_ROLE = "kybernetes:local-path-provisioner"
NODE_ROLE = "kybernetes:local-path-node"
_READ = ["get", "list", "watch"]


def storage_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "annotations": {
                "storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete", "allowVolumeExpansion": True}


def cluster_role(name: str, rules: list[Obj], *subjects: Obj) -> list[Obj]:
    """A ClusterRole of `rules` and its ClusterRoleBinding of that name to `subjects`."""
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name},
         "rules": rules},
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
         "subjects": list(subjects)},
    ]


def rbac() -> list[Obj]:
    provisioner = cluster_role(PROVISIONER_ROLE, [
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": _READ},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"],
         "verbs": ["update", "patch"]},
        {"apiGroups": [""], "resources": ["persistentvolumes"],
         "verbs": [*_READ, "create", "delete", "update", "patch"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": _READ},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
         "verbs": ["create", "patch", "update"]},
    ], {"kind": "ServiceAccount", "name": PROVISIONER_ACCOUNT, "namespace": "kube-system"})
    node = cluster_role(NODE_ROLE, [
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["list"]},
    ], {"apiGroup": RBAC, "kind": "Group", "name": NODES_GROUP})
    return provisioner + node


async def write(server: ApiServer, group: str, plural: str, obj: Obj, *,
                keep_existing: bool) -> None:
    """Create the cluster-scoped `obj`; if it exists, leave it (`keep_existing`) or make
    its top-level fields (not metadata) what `obj` says."""
    info = server.registry.get(group, "v1", plural)
    assert info is not None
    try:
        await server.store.create(info, "", obj)
        return
    except errors.StatusError as err:
        if err.code != 409:
            raise
    if keep_existing:
        return
    name = obj["metadata"]["name"]
    current = (await server.store.get(info, "", name)).obj
    updated = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
    if updated != current:
        await server.store.update(info, "", name, updated)


async def bootstrap(server: ApiServer) -> None:
    await write(server, "storage.k8s.io", "storageclasses", storage_class(),
                 keep_existing=True)
    for obj in rbac():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        await write(server, RBAC, plural, obj, keep_existing=False)
