"""Upstream's `DefaultIngressClass` admission plugin (`plugin/pkg/admission/network/
defaultingressclass`): an Ingress created without a class (neither
`spec.ingressClassName` nor the deprecated `kubernetes.io/ingress.class` annotation) gets
the default one, the IngressClass annotated
`ingressclass.kubernetes.io/is-default-class: "true"`; when several are, the newest wins,
then the first by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kybernetes.apiserver.admission import lookup
from kybernetes.apiserver.admission.chain import AdmissionRequest, Phase, Target
from kybernetes.apiserver.admission.defaultstorageclass import default_class

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
GROUP = "networking.k8s.io"


class DefaultIngressClass:
    name = "DefaultIngressClass"

    def __init__(self, server: ApiServer) -> None:
        self.store = server.store
        info = server.registry.get(GROUP, "v1", "ingressclasses")
        assert info is not None
        self.classes = info

    @staticmethod
    def handles(target: Target) -> Phase:
        return Phase.ADMIT if target == (GROUP, "ingresses", "", "CREATE") else Phase.NONE

    async def admit(self, request: AdmissionRequest) -> None:
        if request.operation != "CREATE" or request.subresource or request.group != GROUP \
                or request.resource != "ingresses" or request.obj is None:
            return
        annotations = (request.obj.get("metadata") or {}).get("annotations") or {}
        spec = request.obj.get("spec") or {}
        if spec.get("ingressClassName") is not None or CLASS_ANNOTATION in annotations:
            return
        chosen = default_class(lookup.cached_list(self.store, self.classes, ""),
                               (DEFAULT_CLASS_ANNOTATION,))
        if chosen is not None:
            request.obj.setdefault("spec", {})["ingressClassName"] = \
                chosen["metadata"]["name"]

    async def validate(self, request: AdmissionRequest) -> None:
        return None
