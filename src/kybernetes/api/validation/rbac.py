"""Validation of rbac.authorization.k8s.io/v1 kinds, as upstream `pkg/apis/rbac/validation`.

Roles and ClusterRoles (policy rules), RoleBindings and ClusterRoleBindings (role reference,
subjects, and `roleRef` immutability on update).
"""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.meta import (
    Errors,
    as_dict,
    as_list,
    as_str,
    child,
    index,
    is_path_segment_name,
    name_is_dns_subdomain,
    semantic_equal,
    validate_label_selector,
    validate_object_meta,
    validate_object_meta_update,
)

GROUP = "rbac.authorization.k8s.io"


def _validate_rule(rule: dict[str, Any], namespaced: bool, path: str) -> Errors:
    errs: Errors = []
    if not as_list(rule.get("verbs")):
        errs.append(FieldError.required(child(path, "verbs"),
                                        "verbs must contain at least one value"))
    urls = as_list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            errs.append(FieldError.invalid(child(path, "nonResourceURLs"), urls,
                                           "namespaced rules cannot apply to non-resource URLs"))
        if as_list(rule.get("apiGroups")) or as_list(rule.get("resources")) or \
                as_list(rule.get("resourceNames")):
            errs.append(FieldError.invalid(child(path, "nonResourceURLs"), urls,
                                           "rules cannot apply to both regular resources and "
                                           "non-resource URLs"))
        return errs
    if not as_list(rule.get("apiGroups")):
        errs.append(FieldError.required(child(path, "apiGroups"),
                                        "resource rules must supply at least one api group"))
    if not as_list(rule.get("resources")):
        errs.append(FieldError.required(child(path, "resources"),
                                        "resource rules must supply at least one resource"))
    return errs


def validate_role(obj: dict[str, Any], namespaced: bool = True) -> Errors:
    errs = validate_object_meta(obj, namespaced, is_path_segment_name, kube_finalizers=False)
    for i, rule in enumerate(as_list(obj.get("rules"))):
        errs.extend(_validate_rule(as_dict(rule), namespaced, index("rules", i)))
    if not namespaced and obj.get("aggregationRule") is not None:
        selectors = as_list(as_dict(obj.get("aggregationRule")).get("clusterRoleSelectors"))
        if not selectors:
            errs.append(FieldError.required("aggregationRule.clusterRoleSelectors",
                                            "at least one clusterRoleSelector required if "
                                            "aggregationRule is non-nil"))
        for i, sel in enumerate(selectors):
            errs.extend(validate_label_selector(sel, index("aggregationRule.clusterRoleSelectors",
                                                           i)))
    return errs


def validate_role_update(new: dict[str, Any], old: dict[str, Any],
                         namespaced: bool = True) -> Errors:
    return validate_role(new, namespaced) + validate_object_meta_update(new, old,
                                                                        kube_finalizers=False)


def _validate_subject(subject: dict[str, Any], namespaced: bool, path: str) -> Errors:
    errs: Errors = []
    name = as_str(subject.get("name"))
    if not name:
        errs.append(FieldError.required(child(path, "name")))
    kind = as_str(subject.get("kind"))
    group = as_str(subject.get("apiGroup"))
    if kind == "ServiceAccount":
        if name:
            errs.extend(FieldError.invalid(child(path, "name"), name, m)
                        for m in name_is_dns_subdomain(name, False))
        if group:
            errs.append(FieldError.not_supported(child(path, "apiGroup"), group, [""]))
        if not namespaced and not as_str(subject.get("namespace")):
            errs.append(FieldError.required(child(path, "namespace")))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(FieldError.not_supported(child(path, "apiGroup"), group, [GROUP]))
    else:
        errs.append(FieldError.not_supported(child(path, "kind"), kind,
                                             ["ServiceAccount", "User", "Group"]))
    return errs


def validate_role_binding(obj: dict[str, Any], namespaced: bool = True) -> Errors:
    errs = validate_object_meta(obj, namespaced, is_path_segment_name, kube_finalizers=False)
    ref = as_dict(obj.get("roleRef"))
    if ref.get("apiGroup") != GROUP:
        errs.append(FieldError.not_supported("roleRef.apiGroup", as_str(ref.get("apiGroup")),
                                             [GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind") not in kinds:
        errs.append(FieldError.not_supported("roleRef.kind", as_str(ref.get("kind")), kinds))
    name = as_str(ref.get("name"))
    if not name:
        errs.append(FieldError.required("roleRef.name"))
    else:
        errs.extend(FieldError.invalid("roleRef.name", name, m)
                    for m in is_path_segment_name(name, False))
    for i, subject in enumerate(as_list(obj.get("subjects"))):
        errs.extend(_validate_subject(as_dict(subject), namespaced, index("subjects", i)))
    return errs


def validate_role_binding_update(new: dict[str, Any], old: dict[str, Any],
                                 namespaced: bool = True) -> Errors:
    errs = validate_role_binding(new, namespaced)
    errs.extend(validate_object_meta_update(new, old, kube_finalizers=False))
    if not semantic_equal(new.get("roleRef"), old.get("roleRef")):
        errs.append(FieldError.invalid("roleRef", new.get("roleRef"), "cannot change roleRef"))
    return errs
