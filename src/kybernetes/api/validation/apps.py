"""Validation of apps/v1 kinds, ported from upstream `pkg/apis/apps/validation/validation.go`.

Deployments, ReplicaSets, StatefulSets, DaemonSets and ControllerRevisions, plus the
selector immutability that upstream's apps strategies add on update for apps/v1.
"""

from __future__ import annotations

import re
from typing import Any

from kybernetes.api.errors import FieldError
from kybernetes.api.validation.core import PodOpts, validate_pod_template_spec
from kybernetes.api.validation.meta import (
    Errors,
    SelectorError,
    as_dict,
    as_int,
    as_str,
    child,
    get,
    is_valid_percent,
    name_is_dns_label,
    name_is_dns_subdomain,
    selector_is_empty,
    selector_matches,
    semantic_equal,
    validate_annotations,
    validate_immutable,
    validate_label_selector,
    validate_labels,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
)

_PERCENT = re.compile(r"^[0-9]+%$")


# ---------------------------------------------------------------- int-or-percent helpers

def _validate_positive_int_or_percent(value: Any, path: str) -> Errors:
    if isinstance(value, str):
        return [FieldError.invalid(path, value, m) for m in is_valid_percent(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        return validate_nonnegative(value, path)
    return [FieldError.invalid(path, value, "must be an integer or percentage (e.g '5%%')")]


def _percent_value(value: Any) -> int | None:
    if isinstance(value, str) and _PERCENT.match(value) and "\n" not in value:
        return int(value[:-1])
    return None


def _int_or_percent_value(value: Any) -> int:
    pct = _percent_value(value)
    if pct is not None:
        return pct
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def _not_more_than_100_percent(value: Any, path: str) -> Errors:
    pct = _percent_value(value)
    if pct is None or pct <= 100:
        return []
    return [FieldError.invalid(path, value, "must not be greater than 100%")]


# ---------------------------------------------------------------- templates

def _validate_template_for_replica_set(template: dict[str, Any], selector: Any, path: str,
                                       kind: str) -> Errors:
    errs: Errors = []
    labels = get(template, "metadata", "labels")
    if not selector_is_empty(selector) and not selector_matches(selector, labels):
        errs.append(FieldError.invalid(child(path, "metadata", "labels"), as_dict(labels),
                                       "`selector` does not match template `labels`"))
    errs.extend(validate_pod_template_spec(template, path, PodOpts()))
    tspec = as_dict(template.get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(FieldError.not_supported(child(path, "spec", "restartPolicy"),
                                             as_str(tspec.get("restartPolicy")), ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(FieldError.forbidden(child(path, "spec", "activeDeadlineSeconds"),
                                         f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _validate_selector(spec: dict[str, Any], path: str, empty_msg: str) -> tuple[Errors, bool]:
    errs: Errors = []
    selector = spec.get("selector")
    if selector is None:
        errs.append(FieldError.required(child(path, "selector")))
    else:
        errs.extend(validate_label_selector(selector, child(path, "selector")))
        if selector_is_empty(selector):
            errs.append(FieldError.invalid(child(path, "selector"), as_dict(selector), empty_msg))
    try:
        selector_matches(selector, {})
    except SelectorError:
        return errs, False
    return errs, True


# ---------------------------------------------------------------- deployments

def _validate_deployment_strategy(strategy: dict[str, Any], path: str) -> Errors:
    typ = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if typ == "Recreate":
        if rolling is not None:
            return [FieldError.forbidden(child(path, "rollingUpdate"),
                                         "may not be specified when strategy `type` is "
                                         "'Recreate'")]
        return []
    if typ == "RollingUpdate":
        if rolling is None:
            return [FieldError.required(child(path, "rollingUpdate"),
                                        "this should be defaulted and never be nil")]
        ru = as_dict(rolling)
        rp = child(path, "rollingUpdate")
        max_unavailable, max_surge = ru.get("maxUnavailable"), ru.get("maxSurge")
        errs = _validate_positive_int_or_percent(max_unavailable, child(rp, "maxUnavailable"))
        errs.extend(_validate_positive_int_or_percent(max_surge, child(rp, "maxSurge")))
        if _int_or_percent_value(max_unavailable) == 0 and _int_or_percent_value(max_surge) == 0:
            errs.append(FieldError.invalid(child(rp, "maxUnavailable"), max_unavailable,
                                           "may not be 0 when `maxSurge` is 0"))
        errs.extend(_not_more_than_100_percent(max_unavailable, child(rp, "maxUnavailable")))
        return errs
    return [FieldError.not_supported(path, strategy, ["Recreate", "RollingUpdate"])]


def _validate_deployment_spec(spec: dict[str, Any], path: str) -> Errors:
    errs = validate_nonnegative(as_int(spec.get("replicas")), child(path, "replicas"))
    sel_errs, ok = _validate_selector(spec, path, "empty selector is invalid for deployment")
    errs.extend(sel_errs)
    if not ok:
        errs.append(FieldError.invalid(child(path, "selector"), spec.get("selector"),
                                       "invalid label selector"))
    else:
        errs.extend(_validate_template_for_replica_set(as_dict(spec.get("template")),
                                                       spec.get("selector"),
                                                       child(path, "template"), "ReplicaSet"))
    errs.extend(_validate_deployment_strategy(as_dict(spec.get("strategy")),
                                              child(path, "strategy")))
    min_ready = as_int(spec.get("minReadySeconds"))
    errs.extend(validate_nonnegative(min_ready, child(path, "minReadySeconds")))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(validate_nonnegative(as_int(spec.get("revisionHistoryLimit")),
                                         child(path, "revisionHistoryLimit")))
    if spec.get("rollbackTo") is not None:
        errs.extend(validate_nonnegative(as_int(get(spec, "rollbackTo", "revision")),
                                         child(path, "rollback", "version")))
    pds = spec.get("progressDeadlineSeconds")
    if pds is not None:
        errs.extend(validate_nonnegative(as_int(pds), child(path, "progressDeadlineSeconds")))
        if as_int(pds) <= min_ready:
            errs.append(FieldError.invalid(child(path, "progressDeadlineSeconds"), pds,
                                           "must be greater than minReadySeconds"))
    return errs


def validate_deployment(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(_validate_deployment_spec(as_dict(obj.get("spec")), "spec"))
    return errs


def _selector_immutable(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    return validate_immutable(get(new, "spec", "selector"), get(old, "spec", "selector"),
                              "spec.selector")


def validate_deployment_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_deployment_spec(as_dict(new.get("spec")), "spec"))
    errs.extend(_selector_immutable(new, old))
    return errs


# ---------------------------------------------------------------- replica sets

def _validate_replica_set_spec(spec: dict[str, Any], path: str) -> Errors:
    errs = validate_nonnegative(as_int(spec.get("replicas")), child(path, "replicas"))
    errs.extend(validate_nonnegative(as_int(spec.get("minReadySeconds")),
                                     child(path, "minReadySeconds")))
    sel_errs, ok = _validate_selector(spec, path, "empty selector is invalid for deployment")
    errs.extend(sel_errs)
    if not ok:
        errs.append(FieldError.invalid(child(path, "selector"), spec.get("selector"),
                                       "invalid label selector"))
    else:
        errs.extend(_validate_template_for_replica_set(as_dict(spec.get("template")),
                                                       spec.get("selector"),
                                                       child(path, "template"), "ReplicaSet"))
    return errs


def validate_replica_set(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(_validate_replica_set_spec(as_dict(obj.get("spec")), "spec"))
    return errs


def validate_replica_set_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_replica_set_spec(as_dict(new.get("spec")), "spec"))
    errs.extend(_selector_immutable(new, old))
    return errs


# ---------------------------------------------------------------- stateful sets

def _validate_stateful_set_spec(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    policy = as_str(spec.get("podManagementPolicy"))
    if not policy:
        errs.append(FieldError.required(child(path, "podManagementPolicy")))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(FieldError.invalid(child(path, "podManagementPolicy"), policy,
                                       "must be 'OrderedReady' or 'Parallel'"))
    strategy = as_dict(spec.get("updateStrategy"))
    typ = as_str(strategy.get("type"))
    rolling = strategy.get("rollingUpdate")
    sp = child(path, "updateStrategy")
    if not typ:
        errs.append(FieldError.required(sp))
    elif typ == "OnDelete":
        if rolling is not None:
            errs.append(FieldError.invalid(child(sp, "rollingUpdate"), rolling,
                                           "only allowed for updateStrategy 'RollingUpdate'"))
    elif typ == "RollingUpdate":
        if rolling is not None:
            ru = as_dict(rolling)
            rp = child(sp, "rollingUpdate")
            errs.extend(validate_nonnegative(as_int(ru.get("partition")), child(rp, "partition")))
            mu = ru.get("maxUnavailable")
            if mu is not None:
                mp = child(rp, "maxUnavailable")
                errs.extend(_validate_positive_int_or_percent(mu, mp))
                if _int_or_percent_value(mu) == 0:
                    errs.append(FieldError.invalid(mp, mu, "cannot be 0"))
                errs.extend(_not_more_than_100_percent(mu, mp))
    else:
        errs.append(FieldError.invalid(sp, strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for name in ("whenDeleted", "whenScaled"):
            value = as_str(as_dict(retention).get(name))
            if value not in ("Retain", "Delete"):
                errs.append(FieldError.not_supported(
                    child(path, "persistentVolumeClaimRetentionPolicy", name), value,
                    ["Retain", "Delete"]))
    errs.extend(validate_nonnegative(as_int(spec.get("replicas")), child(path, "replicas")))
    errs.extend(validate_nonnegative(as_int(spec.get("minReadySeconds")),
                                     child(path, "minReadySeconds")))
    if spec.get("ordinals") is not None:
        errs.extend(validate_nonnegative(as_int(get(spec, "ordinals", "start")),
                                         child(path, "ordinals.start")))
    sel_errs, ok = _validate_selector(spec, path, "empty selector is invalid for statefulset")
    errs.extend(sel_errs)
    template = as_dict(spec.get("template"))
    if not ok:
        errs.append(FieldError.invalid(child(path, "selector"), spec.get("selector"), ""))
    else:
        tp = child(path, "template")
        selector = spec.get("selector")
        labels = get(template, "metadata", "labels")
        if not selector_is_empty(selector) and not selector_matches(selector, labels):
            errs.append(FieldError.invalid(child(tp, "metadata", "labels"), as_dict(labels),
                                           "`selector` does not match template `labels`"))
        errs.extend(validate_labels(labels, child(tp, "labels")))
        errs.extend(validate_annotations(get(template, "metadata", "annotations"),
                                         child(tp, "annotations")))
    tspec = as_dict(template.get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(FieldError.not_supported(child(path, "template", "spec", "restartPolicy"),
                                             as_str(tspec.get("restartPolicy")), ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(FieldError.forbidden(child(path, "template", "spec", "activeDeadlineSeconds"),
                                         "activeDeadlineSeconds in StatefulSet is not Supported"))
    return errs


def validate_stateful_set(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_label)
    errs.extend(_validate_stateful_set_spec(as_dict(obj.get("spec")), "spec"))
    return errs


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def validate_stateful_set_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs.extend(_validate_stateful_set_spec(ns, "spec"))
    rest_new = {k: v for k, v in ns.items() if k not in _STS_MUTABLE}
    rest_old = {k: v for k, v in os_.items() if k not in _STS_MUTABLE}
    if not semantic_equal(rest_new, rest_old):
        errs.append(FieldError.forbidden("spec", "updates to statefulset spec for fields other "
                                         "than 'replicas', 'ordinals', 'template', "
                                         "'updateStrategy', 'revisionHistoryLimit', "
                                         "'persistentVolumeClaimRetentionPolicy' and "
                                         "'minReadySeconds' are forbidden"))
    return errs


# ---------------------------------------------------------------- daemon sets

def _validate_daemon_set_spec(spec: dict[str, Any], path: str) -> Errors:
    errs = validate_label_selector(spec.get("selector"), child(path, "selector"))
    selector = spec.get("selector")
    template = as_dict(spec.get("template"))
    labels = get(template, "metadata", "labels")
    try:
        if not selector_is_empty(selector) and not selector_matches(selector, labels):
            errs.append(FieldError.invalid(child(path, "template", "metadata", "labels"),
                                           as_dict(labels),
                                           "`selector` does not match template `labels`"))
    except SelectorError:
        pass
    if selector is not None and selector_is_empty(selector):
        errs.append(FieldError.invalid(child(path, "selector"), as_dict(selector),
                                       "empty selector is invalid for daemonset"))
    errs.extend(validate_pod_template_spec(template, child(path, "template"), PodOpts()))
    tspec = as_dict(template.get("spec"))
    if tspec.get("restartPolicy") != "Always":
        errs.append(FieldError.not_supported(child(path, "template", "spec", "restartPolicy"),
                                             as_str(tspec.get("restartPolicy")), ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        errs.append(FieldError.forbidden(child(path, "template", "spec", "activeDeadlineSeconds"),
                                         "activeDeadlineSeconds in DaemonSet is not Supported"))
    errs.extend(validate_nonnegative(as_int(spec.get("minReadySeconds")),
                                     child(path, "minReadySeconds")))
    errs.extend(_validate_daemon_set_strategy(as_dict(spec.get("updateStrategy")),
                                              child(path, "updateStrategy")))
    if spec.get("revisionHistoryLimit") is not None:
        errs.extend(validate_nonnegative(as_int(spec.get("revisionHistoryLimit")),
                                         child(path, "revisionHistoryLimit")))
    return errs


def _validate_daemon_set_strategy(strategy: dict[str, Any], path: str) -> Errors:
    typ = strategy.get("type")
    if typ == "OnDelete":
        return []
    if typ != "RollingUpdate":
        return [FieldError.not_supported(path, strategy, ["RollingUpdate", "OnDelete"])]
    rolling = strategy.get("rollingUpdate")
    if rolling is None:
        return [FieldError.required(child(path, "rollingUpdate"))]
    ru = as_dict(rolling)
    rp = child(path, "rollingUpdate")
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = _validate_positive_int_or_percent(mu, child(rp, "maxUnavailable"))
    errs.extend(_validate_positive_int_or_percent(ms, child(rp, "maxSurge")))
    errs.extend(_not_more_than_100_percent(mu, child(rp, "maxUnavailable")))
    errs.extend(_not_more_than_100_percent(ms, child(rp, "maxSurge")))
    has_unavailable = _int_or_percent_value(mu) != 0
    has_surge = _int_or_percent_value(ms) != 0
    if has_unavailable and has_surge:
        errs.append(FieldError.invalid(child(rp, "maxSurge"), ms,
                                       "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(FieldError.required(child(rp, "maxUnavailable"),
                                        "cannot be 0 when maxSurge is 0"))
    return errs


def validate_daemon_set(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    errs.extend(_validate_daemon_set_spec(as_dict(obj.get("spec")), "spec"))
    return errs


def validate_daemon_set_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    ns = as_dict(new.get("spec"))
    # apps/v1 has no templateGeneration; the strategy derives it, so nothing to check here.
    errs.extend(_validate_daemon_set_spec(ns, "spec"))
    errs.extend(_selector_immutable(new, old))
    return errs


# ---------------------------------------------------------------- controller revisions

def validate_controller_revision(obj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(obj, True, name_is_dns_subdomain)
    if obj.get("data") is None:
        errs.append(FieldError.required("data", "data is mandatory"))
    errs.extend(validate_nonnegative(as_int(obj.get("revision")), "revision"))
    return errs


def validate_controller_revision_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(validate_controller_revision(new))
    errs.extend(validate_immutable(new.get("data"), old.get("data"), "data"))
    return errs

