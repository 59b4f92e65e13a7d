"""Upstream's `NodeRestriction` admission plugin (plugin/pkg/admission/noderestriction):
the writes a kubelet (`system:node:<name>` in `system:nodes`) makes are limited to its
own objects, where the Node authorizer cannot tell from the request alone.

- pods: create only mirror pods bound to itself, owned by its Node (and referring to no
  service account, secret, configmap, cluster trust bundle or claim: a node must not give
  itself access to anything); delete, update the status of and evict only pods bound to
  itself, never changing their labels or resource claim statuses through status;
- nodes: only its own Node, without setting labels under node-restriction.kubernetes.io/
  or unknown kubernetes.io/k8s.io labels, and without changing its taints on update;
- persistentvolumeclaims: only the status' capacity and conditions;
- serviceaccounts/token: only tokens bound to a pod on the node;
- leases (in kube-node-lease) and csinodes: only those named after the node;
- certificatesigningrequests for the kubelet signers: only with CN system:node:<name>.

Other users are not affected. It runs in the mutating phase, as upstream's `Admit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kybernetes.api import certificates, errors
from kybernetes.api.goquote import go_quote
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.authz import references
from kybernetes.apiserver.authz.node import NODE_LEASE_NAMESPACE, node_identity

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

PLUGIN_NAME = "NodeRestriction"
NODE_RESTRICTION_LABEL_NAMESPACE = "node-restriction.kubernetes.io"
# Labels a kubelet may set on its own Node (upstream's kubeletapis.IsKubeletLabel).
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
    "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch"})
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")


class _Refused(Exception):
    """Upstream's `admission.NewForbidden(a, err)`, with err's text."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _node_name(obj: Mapping[str, Any] | None) -> str:
    return str(_d(_d(obj).get("spec")).get("nodeName") or "")


def _semantic(value: Any) -> Any:
    """`value` with zero values dropped, so that two JSON forms of one Go struct compare
    equal (upstream compares with `apiequality.Semantic.DeepEqual`)."""
    if isinstance(value, dict):
        kept = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, [], {})}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _changed(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [p for key in sorted(set(old) | set(new))
                for p in _changed(old.get(key), new.get(key), f"{path}.{key}" if path else key)]
    return [] if old == new else [path]


def _label_namespace(key: str) -> str:
    namespace, slash, _ = key.partition("/")
    return namespace if slash else ""


def _in_namespace(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith(f".{domain}")


def is_kubelet_label(key: str) -> bool:
    return key in KUBELET_LABELS or any(
        _in_namespace(_label_namespace(key), allowed) for allowed in KUBELET_LABEL_NAMESPACES)


def forbidden_labels(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """The labels added, removed or changed that a node may not set, sorted."""
    modified = {k for k in set(new) | set(old) if k not in new or k not in old or new[k] != old[k]}
    return sorted(k for k in modified if _in_namespace(_label_namespace(k),
                                                       NODE_RESTRICTION_LABEL_NAMESPACE)
                  or (_is_kubernetes_label(k) and not is_kubelet_label(k)))


def _is_kubernetes_label(key: str) -> bool:
    return any(_in_namespace(_label_namespace(key), domain)
               for domain in ("kubernetes.io", "k8s.io"))


class NodeRestriction:
    name = PLUGIN_NAME

    def __init__(self, server: ApiServer) -> None:
        self.server = server

    @staticmethod
    def handles(target: Target) -> Phase:
        # Any resource: a node user without a node name is refused on every write.
        return Phase.NONE if target.operation == "CONNECT" else Phase.ADMIT

    async def admit(self, request: AdmissionRequest) -> None:
        node, is_node = node_identity(request.user)
        if not is_node or request.operation == "CONNECT":
            return
        try:
            if not node:
                raise _Refused(f"could not determine node from user {go_quote(request.user.name)}")
            await self._admit(node, request)
        except _Refused as refused:
            raise errors.forbidden(request.group, request.resource, _subject(request),
                                   str(refused)) from None

    async def validate(self, request: AdmissionRequest) -> None:
        return None

    async def _admit(self, node: str, request: AdmissionRequest) -> None:
        match (request.group, request.resource):
            case ("", "pods"):
                await self._pod(node, request)
            case ("", "nodes"):
                _node(node, request)
            case ("", "persistentvolumeclaims"):
                if request.subresource != "status":
                    raise _Refused("may only update PVC status")
                _claim_status(node, request)
            case ("", "serviceaccounts"):
                if request.operation == "CREATE" and request.subresource == "token":
                    await self._token(node, request)
            case ("coordination.k8s.io", "leases"):
                if request.namespace != NODE_LEASE_NAMESPACE:
                    raise _Refused(f"can only access leases in the "
                                   f"{go_quote(NODE_LEASE_NAMESPACE)} system namespace")
                if request.name != node:
                    raise _Refused("can only access node lease with the same name as the "
                                   "requesting node")
            case ("storage.k8s.io", "csinodes"):
                if request.name != node:
                    raise _Refused("can only access CSINode with the same name as the "
                                   "requesting node")
            case (certificates.GROUP, "certificatesigningrequests"):
                if request.operation == "CREATE":
                    _csr(node, request.obj or {})

    # -- pods -------------------------------------------------------------------------

    async def _pod(self, node: str, request: AdmissionRequest) -> None:
        op = request.operation
        if request.subresource == "":
            if op == "CREATE":
                await self._mirror_pod(node, request.obj or {})
            elif op == "DELETE":
                if _node_name(request.old) != node:
                    raise _Refused(f"node {go_quote(node)} can only delete pods with "
                                   "spec.nodeName set to itself")
            else:
                raise _Refused(f"unexpected operation {go_quote(op)}, node {go_quote(node)} "
                               "can only create and delete mirror pods")
        elif request.subresource == "status":
            if op != "UPDATE":
                raise _Refused(f"unexpected operation {go_quote(op)}")
            _pod_status(node, request.old or {}, request.obj or {})
        elif request.subresource == "eviction":
            if op != "CREATE":
                raise _Refused(f"unexpected operation {op}")
            name = request.name or str(_d(_d(request.obj).get("metadata")).get("name") or "")
            if not name:
                raise _Refused("could not determine pod from request data")
            pod = await self._get(self._info("pods"), request.namespace, name)
            if _node_name(pod) != node:
                raise _Refused(f"node {node} can only evict pods with spec.nodeName set to "
                               "itself")
        else:
            raise _Refused(f"unexpected pod subresource {go_quote(request.subresource)}, only "
                           "'status' and 'eviction' are allowed")

    async def _mirror_pod(self, node: str, pod: dict[str, Any]) -> None:
        q = go_quote(node)
        if not references.is_mirror_pod(pod):
            raise _Refused(f"pod does not have {go_quote(references.MIRROR_POD_ANNOTATION)} "
                           f"annotation, node {q} can only create mirror pods")
        if _node_name(pod) != node:
            raise _Refused(f"node {q} can only create pods with spec.nodeName set to itself")
        owners = _d(pod.get("metadata")).get("ownerReferences") or []
        if not isinstance(owners, list) or len(owners) > 1:
            raise _Refused(f"node {q} can only create pods with a single owner reference set "
                           "to itself")
        if not owners:
            raise _Refused(f"node {q} can only create pods with an owner reference set to "
                           "itself")
        owner = _d(owners[0])
        if (owner.get("apiVersion"), owner.get("kind"), owner.get("name")) != ("v1", "Node",
                                                                                node):
            raise _Refused(f"node {q} can only create pods with an owner reference set to "
                           "itself")
        if owner.get("controller") is not True:
            raise _Refused(f"node {q} can only create pods with a controller owner reference "
                           "set to itself")
        if owner.get("blockOwnerDeletion") is True:
            raise _Refused(f"node {q} must not set blockOwnerDeletion on an owner reference")
        node_obj = await self._get(self._info("nodes"), "", node)
        node_uid = _d(node_obj.get("metadata")).get("uid", "")
        if owner.get("uid", "") != node_uid:
            raise _Refused(f"node {node} UID mismatch: expected {owner.get('uid', '')} got "
                           f"{node_uid}")
        if _d(pod.get("spec")).get("serviceAccountName"):
            raise _Refused(f"node {q} can not create pods that reference a service account")
        for kind, found in (("secrets", references.pod_secret_names(pod)),
                            ("configmaps", references.pod_configmap_names(pod)),
                            ("clustertrustbundles",
                             references.references_cluster_trust_bundles(pod))):
            if found:
                raise _Refused(f"node {q} can not create pods that reference {kind}")
        volumes = _d(pod.get("spec")).get("volumes") or []
        if any("persistentVolumeClaim" in _d(v) for v in volumes):
            raise _Refused(f"node {q} can not create pods that reference "
                           "persistentvolumeclaims")

    # -- service account tokens -------------------------------------------------------

    async def _token(self, node: str, request: AdmissionRequest) -> None:
        ref = _d(_d(request.obj).get("spec")).get("boundObjectRef")
        if not isinstance(ref, dict) or ref.get("apiVersion") != "v1" or \
                ref.get("kind") != "Pod" or not ref.get("name"):
            raise _Refused("node requested token not bound to a pod")
        if not ref.get("uid"):
            raise _Refused("node requested token with a pod binding without a uid")
        pod = await self._get(self._info("pods"), request.namespace, str(ref["name"]))
        if ref["uid"] != _d(pod.get("metadata")).get("uid"):
            raise _Refused(f"the UID in the bound object reference ({ref['uid']}) does not "
                           "match the UID in record. The object might have been deleted and "
                           "then recreated")
        if _node_name(pod) != node:
            raise _Refused("node requested token bound to a pod scheduled on a different node")

    # -- lookups ------------------------------------------------------------------------

    def _info(self, plural: str) -> ResourceInfo:
        info = self.server.registry.get("", "v1", plural)
        assert info is not None
        return info

    async def _get(self, info: ResourceInfo, namespace: str, name: str) -> dict[str, Any]:
        """The stored object (a 404 as upstream's lister answers, when it is missing)."""
        return (await self.server.store.get(info, namespace, name)).obj


def _subject(request: AdmissionRequest) -> str:
    """The name upstream's `NewForbidden` reports: the request's, else the object's name or
    generateName, else "Unknown"."""
    meta = _d(_d(request.obj).get("metadata"))
    return request.name or str(meta.get("name") or meta.get("generateName") or "Unknown")


def _pod_status(node: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    if _node_name(old) != node:
        raise _Refused(f"node {go_quote(node)} can only update pod status for pods with "
                       "spec.nodeName set to itself")
    if (_d(old.get("metadata")).get("labels") or {}) != \
            (_d(new.get("metadata")).get("labels") or {}):
        raise _Refused(f"node {go_quote(node)} cannot update labels through pod status")
    if references.resource_claim_statuses(old) != references.resource_claim_statuses(new):
        raise _Refused(f"node {go_quote(node)} cannot update resource claim statues")


def _node(node: str, request: AdmissionRequest) -> None:
    q = go_quote(node)
    if request.name != node:
        raise _Refused(f"node {q} is not allowed to modify node {go_quote(request.name)}")
    new = request.obj or {}
    spec = _d(new.get("spec"))
    labels = _d(_d(new.get("metadata")).get("labels"))
    if request.operation == "CREATE":
        if spec.get("configSource") is not None:
            raise _Refused(f"node {q} is not allowed to create pods with a non-nil "
                           "configSource")
        refused = forbidden_labels(labels, {})
        if refused:
            raise _Refused(f"node {q} is not allowed to set the following labels: "
                           f"{', '.join(refused)}")
    elif request.operation == "UPDATE":
        old = request.old or {}
        old_spec = _d(old.get("spec"))
        if spec.get("configSource") is not None and \
                _semantic(spec.get("configSource")) != _semantic(old_spec.get("configSource")):
            raise _Refused(f"node {q} is not allowed to update configSource to a new non-nil "
                           "configSource")
        if _semantic(spec.get("taints") or []) != _semantic(old_spec.get("taints") or []):
            raise _Refused(f"node {q} is not allowed to modify taints")
        refused = forbidden_labels(labels, _d(_d(old.get("metadata")).get("labels")))
        if refused:
            raise _Refused(f"is not allowed to modify labels: {', '.join(refused)}")


# What a node may change in a PVC's status (upstream: capacity, conditions, and with
# RecoverVolumeExpansionFailure, GA since 1.34, the allocated resources and statuses).
_PVC_STATUS_FIELDS = ("capacity", "conditions", "allocatedResourceStatuses",
                      "allocatedResources")


def _claim_status(node: str, request: AdmissionRequest) -> None:
    if request.operation != "UPDATE":
        raise _Refused(f"unexpected operation {go_quote(request.operation)}")

    def comparable(pvc: dict[str, Any] | None) -> Any:
        pvc = dict(pvc or {})
        pvc["metadata"] = {k: v for k, v in _d(pvc.get("metadata")).items()
                           if k not in ("resourceVersion", "managedFields")}
        pvc["status"] = {k: v for k, v in _d(pvc.get("status")).items()
                         if k not in _PVC_STATUS_FIELDS}
        return _semantic(pvc)

    changed = _changed(comparable(request.old), comparable(request.obj))
    if changed:
        raise _Refused(f"node {go_quote(node)} is not allowed to update fields other than "
                       f"status.quantity and status.conditions: changed {', '.join(changed)}")


def _csr(node: str, csr: dict[str, Any]) -> None:
    """Requests to the kubelet signers must name this node (upstream's admitCSR, as with
    AllowInsecureKubeletCertificateSigningRequests off, its default)."""
    signer = _d(csr.get("spec")).get("signerName")
    if signer not in (certificates.KUBELET_SERVING, certificates.KUBE_APISERVER_CLIENT_KUBELET):
        return
    try:
        common_name, _ = certificates.subject(certificates.parse_request(csr))
    except certificates.CsrError as err:
        raise _Refused(f"unable to parse csr: {err}") from None
    if common_name != f"system:node:{node}":
        raise _Refused(f"can only create a node CSR with CN=system:node:{node}")
