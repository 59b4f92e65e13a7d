"""What `kyb server` sets up for the ingress controller it runs on every node (unless
`--disable-ingress`), as k3s's bundled ingress manifests do:

- the IngressClass `nginx` of controller `kybernetes.io/ingress-nginx`, marked the default
  class (Ingresses created without a class get it: the DefaultIngressClass admission);
  created when missing and otherwise left as the administrator made it;
- the Gateway API's definitions and the GatewayClass `nginx` (`gatewayapi.py`);
- the ClusterRole and ClusterRoleBinding `system:kybernetes:ingress`: read Ingresses,
  IngressClasses, Services, EndpointSlices, Secrets, the ingress pods and the Gateway API's
  objects, write the status of Ingresses, GatewayClasses, Gateways and HTTPRoutes, and
  events; bound to the user the server's own controller acts as and to
  `system:nodes`, since a joined node runs its controller on its node credentials. That
  lets every node read every Secret, the exposure of ingress-nginx run as a DaemonSet
  (each node holds its ServiceAccount token); `--disable-ingress` removes the binding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver import gatewayapi
from kybernetes.apiserver.authn.user import NODES_GROUP
from kybernetes.apiserver.localstorage import RBAC, cluster_role, write
from kybernetes.apiserver.store import DeleteOptions

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

Obj = dict[str, Any]

CLASS_NAME = "nginx"
CONTROLLER = "kybernetes.io/ingress-nginx"
USER = "system:kybernetes:ingress"
_READ = ["get", "list", "watch"]


def ingress_class() -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": CLASS_NAME, "annotations": {
                "ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": CONTROLLER}}


def rbac() -> list[Obj]:
    return cluster_role(USER, [
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"],
         "verbs": _READ},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"],
         "verbs": ["update", "patch"]},
        {"apiGroups": [""], "resources": ["services", "secrets", "pods"], "verbs": _READ},
        {"apiGroups": [gatewayapi.GROUP],
         "resources": ["gatewayclasses", "gateways", "httproutes"], "verbs": _READ},
        {"apiGroups": [gatewayapi.GROUP],
         "resources": ["gatewayclasses/status", "gateways/status", "httproutes/status"],
         "verbs": ["update", "patch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _READ},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
         "verbs": ["create", "patch", "update"]},
    ], {"apiGroup": RBAC, "kind": "User", "name": USER},
        {"apiGroup": RBAC, "kind": "Group", "name": NODES_GROUP})


async def bootstrap(server: ApiServer) -> None:
    bindings = server.registry.get(RBAC, "v1", "clusterrolebindings")
    assert bindings is not None
    if not server.config.ingress:
        try:
            await server.store.delete(bindings, "", USER, DeleteOptions())
        except errors.StatusError as err:
            if err.code != 404:
                raise
        return
    await write(server, "networking.k8s.io", "ingressclasses", ingress_class(),
                keep_existing=True)
    for obj in rbac():
        plural = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
        await write(server, RBAC, plural, obj, keep_existing=False)
    await gatewayapi.bootstrap(server)
