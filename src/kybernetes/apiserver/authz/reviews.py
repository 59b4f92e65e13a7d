"""The authorization API: SubjectAccessReview, LocalSubjectAccessReview,
SelfSubjectAccessReview and SelfSubjectRulesReview (upstream's
pkg/registry/authorization and the validation of pkg/apis/authorization/validation).

Each is created and answered, never stored: the access reviews ask the server's whole
authorizer chain whether the subject may do what the spec describes (`kubectl auth can-i`),
the rules review lists what the requester may do in a namespace from the chain's rule
resolvers (`kubectl auth can-i --list`). A SubjectAccessReview names its subject (user,
groups, uid, extra) as given, without the groups authentication would add; the self
reviews are about the requester.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kybernetes.api import errors
from kybernetes.api.errors import FieldError
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver import requestcontext
from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import Authorizer
from kybernetes.apiserver.authz.policyrule import PolicyRule
from kybernetes.apiserver.authz.ruleresolver import RuleResolver
from kybernetes.apiserver.http import Request
from kybernetes.apiserver.resources import ResourceHandlers

GROUP = "authorization.k8s.io"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _meta_is_empty(meta: Mapping[str, Any], *, except_namespace: bool = False) -> bool:
    """ObjectMeta equal to the zero value (managedFields aside, and the namespace for a
    local review); a null creationTimestamp, as old clients send, is zero too."""
    ignored = {"managedFields", "namespace"} if except_namespace else {"managedFields"}
    return not any(value not in (None, "", {}, [], 0) for key, value in meta.items()
                   if key not in ignored)


def _validate_spec_attributes(spec: Mapping[str, Any]) -> list[FieldError]:
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        return [FieldError.invalid("spec.nonResourceAttributes", non_resource,
                                   "cannot be specified in combination with "
                                   "resourceAttributes")]
    if resource is None and non_resource is None:
        # Upstream shows the nil nonResourceAttributes as "null".
        return [FieldError.invalid("spec.resourceAttributes", "null",
                                   "exactly one of nonResourceAttributes or "
                                   "resourceAttributes must be specified")]
    return []


def _validate_subject_spec(spec: Mapping[str, Any]) -> list[FieldError]:
    errs = _validate_spec_attributes(spec)
    if not _str(spec.get("user")) and not _strings(spec.get("groups")):
        errs.append(FieldError.invalid("spec.user", _str(spec.get("user")),
                                       "at least one of user or group must be specified"))
    return errs


def attributes_from(user: UserInfo, spec: Mapping[str, Any]) -> Attributes:
    """The request a review's spec describes (upstream's ResourceAttributesFrom and
    NonResourceAttributesFrom; an empty version means any)."""
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(user, _str(resource.get("verb")), True,
                          api_group=_str(resource.get("group")),
                          api_version=_str(resource.get("version")) or "*",
                          namespace=_str(resource.get("namespace")),
                          resource=_str(resource.get("resource")),
                          subresource=_str(resource.get("subresource")),
                          name=_str(resource.get("name")))
    non_resource = _dict(spec.get("nonResourceAttributes"))
    return Attributes(user, _str(non_resource.get("verb")), False,
                      path=_str(non_resource.get("path")))


def _subject(spec: Mapping[str, Any]) -> UserInfo:
    extra = {key: _strings(values) for key, values in _dict(spec.get("extra")).items()}
    return UserInfo(_str(spec.get("user")), _str(spec.get("uid")),
                    _strings(spec.get("groups")), extra)


def _cluster_review_spec(info: ResourceInfo, review: Mapping[str, Any],
                         validate: Callable[[Mapping[str, Any]], list[FieldError]]
                         ) -> dict[str, Any]:
    """The spec of a SubjectAccessReview or SelfSubjectAccessReview, checked by `validate`
    and with the review's metadata empty; upstream's 422 otherwise."""
    spec = _dict(review.get("spec"))
    errs = validate(spec)
    meta = _dict(review.get("metadata"))
    if not _meta_is_empty(meta):
        errs.append(FieldError.invalid("metadata", meta, "must be empty"))
    if errs:
        raise errors.invalid(GROUP, info.kind, "", errs)
    return spec


def _resource_rule(rule: PolicyRule) -> dict[str, list[str]]:
    body = {"verbs": list(rule.verbs)}
    for key, values in (("apiGroups", rule.api_groups), ("resources", rule.resources),
                        ("resourceNames", rule.resource_names)):
        if values:
            body[key] = list(values)
    return body


def _non_resource_rule(rule: PolicyRule) -> dict[str, list[str]]:
    return {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}


class AccessReviews:
    """The four review endpoints, answered by `authorizer` and `rules`."""

    def __init__(self, authorizer: Authorizer, rules: RuleResolver) -> None:
        self.authorizer = authorizer
        self.rules = rules

    def register(self, handlers: ResourceHandlers) -> None:
        handlers.virtual[(GROUP, "subjectaccessreviews")] = self.subject_access_review
        handlers.virtual[(GROUP, "localsubjectaccessreviews")] = \
            self.local_subject_access_review
        handlers.virtual[(GROUP, "selfsubjectaccessreviews")] = self.self_subject_access_review
        handlers.virtual[(GROUP, "selfsubjectrulesreviews")] = self.self_subject_rules_review

    def _answer(self, review: dict[str, Any], attrs: Attributes) -> dict[str, Any]:
        decision = self.authorizer.authorize(attrs)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.verdict == "deny":
            status["denied"] = True
        if decision.reason:
            status["reason"] = decision.reason
        review["status"] = status
        return review

    async def subject_access_review(self, request: Request, info: ResourceInfo,
                                    namespace: str, review: dict[str, Any]) -> dict[str, Any]:
        spec = _cluster_review_spec(info, review, _validate_subject_spec)
        return self._answer(review, attributes_from(_subject(spec), spec))

    async def local_subject_access_review(self, request: Request, info: ResourceInfo,
                                          namespace: str, review: dict[str, Any]
                                          ) -> dict[str, Any]:
        if not namespace:
            raise errors.bad_request(f"namespace is required on this type: {namespace}")
        meta = review.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        meta["namespace"] = namespace
        spec = _dict(review.get("spec"))
        errs = _validate_subject_spec(spec)
        if not _meta_is_empty(meta, except_namespace=True):
            errs.append(FieldError.invalid("metadata", meta,
                                           "must be empty except for namespace"))
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict) and _str(resource.get("namespace")) != namespace:
            errs.append(FieldError.invalid("spec.resourceAttributes.namespace",
                                           _str(resource.get("namespace")),
                                           "must match metadata.namespace"))
        if spec.get("nonResourceAttributes") is not None:
            errs.append(FieldError.invalid("spec.nonResourceAttributes",
                                           spec["nonResourceAttributes"],
                                           "disallowed on this kind of request"))
        if errs:
            raise errors.invalid(GROUP, info.kind, "", errs)
        return self._answer(review, attributes_from(_subject(spec), spec))

    async def self_subject_access_review(self, request: Request, info: ResourceInfo,
                                         namespace: str, review: dict[str, Any]
                                         ) -> dict[str, Any]:
        spec = _cluster_review_spec(info, review, _validate_spec_attributes)
        return self._answer(review, attributes_from(requestcontext.current_user(), spec))

    async def self_subject_rules_review(self, request: Request, info: ResourceInfo,
                                        namespace: str, review: dict[str, Any]
                                        ) -> dict[str, Any]:
        wanted = _str(_dict(review.get("spec")).get("namespace"))
        if not wanted:
            raise errors.bad_request("no namespace on request")
        found = self.rules.rules_for(requestcontext.current_user(), wanted)
        status: dict[str, Any] = {
            "resourceRules": [_resource_rule(rule) for rule in found.resource_rules],
            "nonResourceRules": [_non_resource_rule(rule) for rule in found.non_resource_rules],
            "incomplete": found.incomplete,
        }
        if found.errors:
            status["evaluationError"] = found.evaluation_error
        # Upstream answers with the status alone.
        return {"apiVersion": info.group_version, "kind": info.kind, "metadata": {},
                "spec": {}, "status": status}
