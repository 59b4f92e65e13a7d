"""The AdmissionReview v1 request a webhook is sent (upstream's CreateV1AdmissionReview),
for a request seen as one version of its resource (matchPolicy Equivalent may pick a
version other than the one the store holds; the object is converted to it and a mutated
object back)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kybernetes.api import conversion
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import uuids
from kybernetes.apiserver.admission.chain import AdmissionRequest
from kybernetes.apiserver.admission.webhooks.client import REVIEW_API_VERSION

_OPTIONS = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


@dataclass(frozen=True)
class View:
    """The request's resource as the webhook sees it."""

    info: ResourceInfo

    def out(self, request: AdmissionRequest, obj: dict[str, Any] | None
            ) -> dict[str, Any] | None:
        """A stored-version object as this version (a copy: webhooks may not change it)."""
        if obj is None:
            return None
        if self.info.version == request.info.version:
            return copy.deepcopy(obj)
        found = conversion.lookup(self.info.group, self.info.version, self.info.plural)
        if found is not None:
            return found.from_storage(obj)
        converted = copy.deepcopy(obj)
        converted["apiVersion"] = self.info.group_version
        return converted

    def back(self, request: AdmissionRequest, obj: dict[str, Any]) -> dict[str, Any]:
        """A mutated object of this version as the stored version."""
        if self.info.version == request.info.version:
            return obj
        found = conversion.lookup(self.info.group, self.info.version, self.info.plural)
        if found is not None:
            return found.to_storage(obj)
        obj["apiVersion"] = request.info.group_version
        return obj


def _gvk(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": info.kind}


def _gvr(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "resource": info.plural}


def admission_review(request: AdmissionRequest, view: View) -> dict[str, Any]:
    """A review with a fresh uid; object and oldObject as the view's version."""
    body: dict[str, Any] = {"uid": uuids.uuid4(), "kind": _gvk(view.info),
                            "resource": _gvr(view.info)}
    if request.subresource:
        body["subResource"] = request.subresource
    body["requestKind"] = _gvk(request.info)
    body["requestResource"] = _gvr(request.info)
    if request.subresource:
        body["requestSubResource"] = request.subresource
    if request.name:
        body["name"] = request.name
    if request.namespace:
        body["namespace"] = request.namespace
    body["operation"] = request.operation
    body["userInfo"] = request.user.as_user_info()
    body["object"] = view.out(request, request.obj)
    body["oldObject"] = view.out(request, request.old)
    body["dryRun"] = request.dry_run
    options: dict[str, Any] = {"kind": _OPTIONS.get(request.operation, "CreateOptions"),
                               "apiVersion": "meta.k8s.io/v1"}
    if request.dry_run:
        options["dryRun"] = ["All"]
    body["options"] = options
    return {"kind": "AdmissionReview", "apiVersion": REVIEW_API_VERSION, "request": body}
