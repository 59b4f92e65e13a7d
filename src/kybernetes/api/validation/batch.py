"""Validation of batch/v1 Jobs and CronJobs, ported from upstream `pkg/apis/batch/validation`.

Job creation expects the strategy's generated selector (`batch.kubernetes.io/controller-uid`)
to be in place, as upstream's `PrepareForCreate` does before validating; see
`kybernetes.api.defaults.batch.generate_job_selector`. Cron schedules are parsed as
robfig/cron's `ParseStandard`, with its error messages.
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
    as_list,
    as_str,
    child,
    get,
    index,
    is_dns1123_label,
    is_domain_prefixed_path,
    key,
    name_is_dns_subdomain,
    selector_matches,
    semantic_equal,
    too_long,
    too_many,
    validate_immutable,
    validate_label_selector,
    validate_nonnegative,
    validate_object_meta,
    validate_object_meta_update,
    validate_qualified_name,
)

MAX_PARALLELISM_INDEXED = 100_000
MAX_FAILED_INDEXES = 100_000
COMPLETIONS_SOFT_LIMIT = 100_000
PARALLELISM_LIMIT_HIGH = 10_000
MAX_FAILED_INDEXES_HIGH = 10_000

_POD_FAILURE_ACTIONS = ["Count", "FailIndex", "FailJob", "Ignore"]


def _has_label(template: dict[str, Any], label: str, expected: str, path: str) -> Errors:
    labels = as_dict(get(template, "metadata", "labels"))
    if label not in labels:
        return [FieldError.required(key(child(path, "labels"), label), f"must be '{expected}'")]
    if labels[label] != expected:
        return [FieldError.invalid(key(child(path, "labels"), label), labels,
                                   f"must be '{expected}'")]
    return []


def _validate_generated_selector(job: dict[str, Any]) -> Errors:
    spec = as_dict(job.get("spec"))
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    errs: Errors = []
    uid = as_str(get(job, "metadata", "uid"))
    name = as_str(get(job, "metadata", "name"))
    if not uid:
        errs.append(FieldError.required("metadata.uid"))
    template = as_dict(spec.get("template"))
    tp = "spec.template.metadata"
    errs.extend(_has_label(template, "controller-uid", uid, tp))
    errs.extend(_has_label(template, "job-name", name, tp))
    errs.extend(_has_label(template, "batch.kubernetes.io/controller-uid", uid, tp))
    errs.extend(_has_label(template, "batch.kubernetes.io/job-name", name, tp))
    expected = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                "controller-uid": uid, "job-name": name}
    try:
        if not selector_matches(spec.get("selector"), expected):
            errs.append(FieldError.invalid("spec.selector", spec.get("selector"),
                                           "`selector` not auto-generated"))
    except SelectorError:
        pass
    return errs


def _parse_interval(text: str, completions: int) -> tuple[int, int]:
    limits = text.split("-")
    if len(limits) > 2:
        raise ValueError(f'the fragment "{text}" violates the requirement that an index '
                         "interval can have at most two parts separated by '-'")
    try:
        x = int(limits[0])
    except ValueError:
        raise ValueError(f'cannot convert string to integer for index: "{limits[0]}"') from None
    if x >= completions:
        raise ValueError(f'too large index: "{limits[0]}"')
    if len(limits) > 1:
        try:
            y = int(limits[1])
        except ValueError:
            raise ValueError(f'cannot convert string to integer for index: "{limits[1]}"') \
                from None
        if y >= completions:
            raise ValueError(f'too large index: "{limits[1]}"')
        if x >= y:
            raise ValueError(f"non-increasing order, previous: {x}, current: {y}")
        return x, y
    return x, x


def _indexes_total(text: str, completions: int) -> int:
    if not text:
        return 0
    total = 0
    last: int | None = None
    for part in text.split(","):
        x, y = _parse_interval(part, completions)
        if last is not None and last >= x:
            raise ValueError(f"non-increasing order, previous: {last}, current: {x}")
        total += y - x + 1
        last = y
    return total


def _validate_pod_failure_policy(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    policy = as_dict(spec.get("podFailurePolicy"))
    rules = as_list(policy.get("rules"))
    rp = child(path, "rules")
    if len(rules) > 20:
        errs.append(too_many(rp, len(rules), 20))
    names = {as_str(as_dict(c).get("name")) for kind in ("containers", "initContainers")
             for c in as_list(get(spec, "template", "spec", kind))}
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        p = index(rp, i)
        action = as_str(rule.get("action"))
        if not action:
            quoted = " ".join(f'"{a}"' for a in _POD_FAILURE_ACTIONS)
            errs.append(FieldError.required(child(p, "action"), f"valid values: [{quoted}]"))
        elif action == "FailIndex":
            if spec.get("backoffLimitPerIndex") is None:
                errs.append(FieldError.invalid(child(p, "action"), action,
                                               "requires the backoffLimitPerIndex to be set"))
        elif action not in _POD_FAILURE_ACTIONS:
            errs.append(FieldError.not_supported(child(p, "action"), action, _POD_FAILURE_ACTIONS))
        on_exit = rule.get("onExitCodes")
        on_conditions = as_list(rule.get("onPodConditions"))
        if on_exit is not None:
            errs.extend(_validate_on_exit_codes(as_dict(on_exit), child(p, "onExitCodes"), names))
        for j, pattern in enumerate(on_conditions):
            pattern = as_dict(pattern)
            pp = index(child(p, "onPodConditions"), j)
            errs.extend(validate_qualified_name(as_str(pattern.get("type")), child(pp, "type")))
            status = as_str(pattern.get("status"))
            statuses = ["False", "True", "Unknown"]
            if not status:
                errs.append(FieldError.required(child(pp, "status"),
                                                'valid values: ["False" "True" "Unknown"]'))
            elif status not in statuses:
                errs.append(FieldError.not_supported(child(pp, "status"), status, statuses))
        if on_exit is not None and on_conditions:
            errs.append(FieldError.invalid(p, "<value omitted>", "specifying both OnExitCodes "
                                           "and OnPodConditions is not supported"))
        if on_exit is None and not on_conditions:
            errs.append(FieldError.invalid(p, "<value omitted>", "specifying one of OnExitCodes "
                                           "and OnPodConditions is required"))
    return errs


def _validate_on_exit_codes(req: dict[str, Any], path: str, names: set[str]) -> Errors:
    errs: Errors = []
    op = as_str(req.get("operator"))
    if not op:
        errs.append(FieldError.required(child(path, "operator"), 'valid values: ["In" "NotIn"]'))
    elif op not in ("In", "NotIn"):
        errs.append(FieldError.not_supported(child(path, "operator"), op, ["In", "NotIn"]))
    cname = req.get("containerName")
    if cname is not None and cname not in names:
        errs.append(FieldError.invalid(child(path, "containerName"), cname,
                                       "must be one of the container or initContainer names in "
                                       "the pod template"))
    values = as_list(req.get("values"))
    vp = child(path, "values")
    if not values:
        errs.append(FieldError.invalid(vp, values, "at least one value is required"))
    elif len(values) > 255:
        errs.append(too_many(vp, len(values), 255))
    seen: set[int] = set()
    ordered = True
    for j, value in enumerate(values):
        v = as_int(value)
        if op == "In" and v == 0:
            errs.append(FieldError.invalid(index(vp, j), v, "must not be 0 for the In operator"))
        if v in seen:
            errs.append(FieldError.duplicate(index(vp, j), v))
        seen.add(v)
        if j > 0 and as_int(values[j - 1]) > v:
            ordered = False
    if not ordered:
        errs.append(FieldError.invalid(vp, values, "must be ordered"))
    return errs


def _validate_job_spec_common(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    for name in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                 "ttlSecondsAfterFinished", "backoffLimitPerIndex"):
        if spec.get(name) is not None:
            errs.extend(validate_nonnegative(as_int(spec.get(name)), child(path, name)))
    if spec.get("maxFailedIndexes") is not None:
        errs.extend(validate_nonnegative(as_int(spec.get("maxFailedIndexes")),
                                         child(path, "maxFailedIndexes")))
        if spec.get("backoffLimitPerIndex") is None:
            errs.append(FieldError.required(child(path, "backoffLimitPerIndex"),
                                            "when maxFailedIndexes is specified"))
    if spec.get("managedBy") is not None:
        managed = as_str(spec.get("managedBy"))
        errs.extend(is_domain_prefixed_path(child(path, "managedBy"), managed))
        if len(managed) > 63:
            errs.append(too_long(child(path, "managedBy"), 63))
    mode = spec.get("completionMode")
    completions = spec.get("completions")
    parallelism = spec.get("parallelism")
    max_failed = spec.get("maxFailedIndexes")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(FieldError.not_supported(child(path, "completionMode"), mode,
                                                 ["NonIndexed", "Indexed"]))
        if mode == "Indexed":
            if completions is None:
                errs.append(FieldError.required(child(path, "completions"),
                                                "when completion mode is Indexed"))
            if parallelism is not None and as_int(parallelism) > MAX_PARALLELISM_INDEXED:
                errs.append(FieldError.invalid(child(path, "parallelism"), parallelism,
                                               f"must be less than or equal to "
                                               f"{MAX_PARALLELISM_INDEXED} when completion mode "
                                               "is Indexed"))
            if completions is not None and max_failed is not None and \
                    as_int(max_failed) > as_int(completions):
                errs.append(FieldError.invalid(child(path, "maxFailedIndexes"), max_failed,
                                               "must be less than or equal to completions"))
            if max_failed is not None and as_int(max_failed) > MAX_FAILED_INDEXES:
                errs.append(FieldError.invalid(child(path, "maxFailedIndexes"), max_failed,
                                               f"must be less than or equal to "
                                               f"{MAX_FAILED_INDEXES}"))
            if completions is not None and as_int(completions) > COMPLETIONS_SOFT_LIMIT and \
                    spec.get("backoffLimitPerIndex") is not None:
                if max_failed is None:
                    errs.append(FieldError.required(child(path, "maxFailedIndexes"),
                                                    "must be specified when completions is above "
                                                    f"{COMPLETIONS_SOFT_LIMIT}"))
                if parallelism is not None and as_int(parallelism) > PARALLELISM_LIMIT_HIGH:
                    errs.append(FieldError.invalid(
                        child(path, "parallelism"), parallelism,
                        f"must be less than or equal to {PARALLELISM_LIMIT_HIGH} when completions "
                        f"are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per "
                        "index"))
                if max_failed is not None and as_int(max_failed) > MAX_FAILED_INDEXES_HIGH:
                    errs.append(FieldError.invalid(
                        child(path, "maxFailedIndexes"), max_failed,
                        f"must be less than or equal to {MAX_FAILED_INDEXES_HIGH} when completions "
                        f"are above {COMPLETIONS_SOFT_LIMIT} and used with backoff limit per "
                        "index"))
    if mode in (None, "NonIndexed"):
        if spec.get("backoffLimitPerIndex") is not None:
            errs.append(FieldError.invalid(child(path, "backoffLimitPerIndex"),
                                           spec.get("backoffLimitPerIndex"),
                                           "requires indexed completion mode"))
        if max_failed is not None:
            errs.append(FieldError.invalid(child(path, "maxFailedIndexes"), max_failed,
                                           "requires indexed completion mode"))
    if spec.get("podFailurePolicy") is not None:
        errs.extend(_validate_pod_failure_policy(spec, child(path, "podFailurePolicy")))
    if spec.get("successPolicy") is not None:
        if mode != "Indexed":
            errs.append(FieldError.invalid(child(path, "successPolicy"), spec.get("successPolicy"),
                                           "requires indexed completion mode"))
        else:
            errs.extend(_validate_success_policy(spec, child(path, "successPolicy")))
    rpp = spec.get("podReplacementPolicy")
    if rpp is not None:
        if spec.get("podFailurePolicy") is not None:
            if rpp != "Failed":
                errs.append(FieldError.not_supported(child(path, "podReplacementPolicy"), rpp,
                                                     ["Failed"]))
        elif rpp not in ("Failed", "TerminatingOrFailed"):
            errs.append(FieldError.not_supported(child(path, "podReplacementPolicy"), rpp,
                                                 ["Failed", "TerminatingOrFailed"]))
    template = as_dict(spec.get("template"))
    errs.extend(validate_pod_template_spec(template, child(path, "template"), PodOpts()))
    restart = as_str(get(template, "spec", "restartPolicy"))
    rp = child(path, "template", "spec", "restartPolicy")
    if restart in ("Always", ""):
        errs.append(FieldError.required(rp, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(FieldError.not_supported(rp, restart, ["OnFailure", "Never"]))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        errs.append(FieldError.invalid(rp, restart, 'only "Never" is supported when '
                                       "podFailurePolicy is specified"))
    return errs


def _validate_success_policy(spec: dict[str, Any], path: str) -> Errors:
    errs: Errors = []
    rules = as_list(as_dict(spec.get("successPolicy")).get("rules"))
    rp = child(path, "rules")
    if not rules:
        errs.append(FieldError.required(rp, "at least one rules must be specified when the "
                                        "successPolicy is specified"))
    if len(rules) > 20:
        errs.append(too_many(rp, len(rules), 20))
    completions = as_int(spec.get("completions"))
    for i, rule in enumerate(rules):
        rule = as_dict(rule)
        p = index(rp, i)
        count, indexes = rule.get("succeededCount"), rule.get("succeededIndexes")
        if count is None and indexes is None:
            errs.append(FieldError.required(p, "at least one of succeededCount or "
                                            "succeededIndexes must be specified"))
        total = 0
        if indexes is not None:
            ip = child(p, "succeededIndexes")
            if len(as_str(indexes)) > 64 * 1024:
                errs.append(too_long(ip, 64 * 1024))
            try:
                total = _indexes_total(as_str(indexes), completions)
            except ValueError as e:
                errs.append(FieldError.invalid(ip, indexes, f"error parsing succeededIndexes: {e}"))
        if count is not None:
            cp = child(p, "succeededCount")
            errs.extend(validate_nonnegative(as_int(count), cp))
            if as_int(count) > completions:
                errs.append(FieldError.invalid(cp, count, f"must be less than or equal to "
                                               f"{completions} (the number of specified "
                                               "completions)"))
            if indexes is not None and as_int(count) > total:
                errs.append(FieldError.invalid(cp, count, f"must be less than or equal to {total} "
                                               "(the number of indexes in the specified "
                                               "succeededIndexes field)"))
    return errs


def _validate_job_spec(spec: dict[str, Any], path: str) -> Errors:
    errs = _validate_job_spec_common(spec, path)
    selector = spec.get("selector")
    if selector is None:
        errs.append(FieldError.required(child(path, "selector")))
    else:
        errs.extend(validate_label_selector(selector, child(path, "selector")))
    try:
        labels = get(spec, "template", "metadata", "labels")
        if not selector_matches(selector, labels):
            errs.append(FieldError.invalid(child(path, "template", "metadata", "labels"),
                                           as_dict(labels),
                                           "`selector` does not match template `labels`"))
    except SelectorError:
        pass
    return errs


def validate_job(job: dict[str, Any]) -> Errors:
    errs = validate_object_meta(job, True, name_is_dns_subdomain)
    errs.extend(_validate_generated_selector(job))
    spec = as_dict(job.get("spec"))
    errs.extend(_validate_job_spec(spec, "spec"))
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and completions is not None and \
            as_int(completions) > 0:
        name = as_str(get(job, "metadata", "name"))
        hostname = f"{name}-{as_int(completions) - 1}"
        if is_dns1123_label(hostname):
            errs.append(FieldError.invalid("metadata.name", name, "will not able to create pod "
                                           f"with invalid DNS label: {hostname}"))
    return errs


def validate_job_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    ns, os_ = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs.extend(_validate_job_spec(ns, "spec"))
    if ns.get("completionMode") == "Indexed" and not semantic_equal(
            ns.get("completions"), os_.get("completions")):
        if ns.get("completions") is not None and \
                as_int(ns.get("completions")) != as_int(ns.get("parallelism")):
            errs.append(FieldError.invalid("spec.completions", ns.get("completions"),
                                           "can only be modified in tandem with spec.parallelism"))
    else:
        errs.extend(validate_immutable(ns.get("completions"), os_.get("completions"),
                                       "spec.completions"))
    errs.extend(validate_immutable(ns.get("selector"), os_.get("selector"), "spec.selector"))
    template, old_template = as_dict(ns.get("template")), dict(as_dict(os_.get("template")))
    if _is_suspended_not_started(old):
        # Mutable scheduling directives while a suspended job has never started.
        old_spec = dict(as_dict(old_template.get("spec")))
        new_spec = as_dict(template.get("spec"))
        for name in ("nodeSelector", "tolerations", "schedulingGates"):
            old_spec.pop(name, None)
            if name in new_spec:
                old_spec[name] = new_spec[name]
        old_aff = dict(as_dict(old_spec.get("affinity")))
        old_aff.pop("nodeAffinity", None)
        if as_dict(new_spec.get("affinity")).get("nodeAffinity") is not None:
            old_aff["nodeAffinity"] = as_dict(new_spec.get("affinity"))["nodeAffinity"]
        old_spec["affinity"] = old_aff
        old_template["spec"] = old_spec
        old_meta = dict(as_dict(old_template.get("metadata")))
        for name in ("labels", "annotations"):
            old_meta[name] = get(template, "metadata", name)
        old_template["metadata"] = old_meta
    errs.extend(validate_immutable(template, old_template, "spec.template"))
    for name in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy",
                 "successPolicy"):
        errs.extend(validate_immutable(ns.get(name), os_.get(name), f"spec.{name}"))
    return errs


def _is_suspended_not_started(job: dict[str, Any]) -> bool:
    return get(job, "spec", "suspend") is True and get(job, "status", "startTime") is None


# ---------------------------------------------------------------- cron jobs

_CronField = tuple[str, int, int, dict[str, int]]
_CRON_FIELDS: tuple[_CronField, ...] = (
                ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("dom", 1, 31, {}),
                ("month", 1, 12, {m: i + 1 for i, m in enumerate(
                    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                     "dec"])}),
                ("dow", 0, 6, {d: i for i, d in enumerate(
                    ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}))
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_DURATION = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
                       r"((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*$")


def parse_cron(schedule: str) -> None:
    """robfig/cron `ParseStandard`; raises ValueError with its error text."""
    spec = schedule
    if not spec:
        raise ValueError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        i = spec.find(" ")
        eq = spec.find("=")
        if i < 0:
            raise ValueError(f"provided bad location {spec[eq + 1:]}: unknown time zone "
                             f"{spec[eq + 1:]}")
        if not _loads_location(spec[eq + 1:i]):
            raise ValueError(f"provided bad location {spec[eq + 1:i]}: unknown time zone "
                             f"{spec[eq + 1:i]}")
        spec = spec[i:].strip()
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return
        if spec.startswith("@every "):
            duration = spec[len("@every "):]
            if not _DURATION.match(duration) and duration != "0":
                raise ValueError(f"failed to parse duration {spec}: time: invalid duration "
                                 f'"{duration}"')
            return
        raise ValueError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise ValueError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, (_, lo, hi, names) in zip(fields, _CRON_FIELDS, strict=True):
        for expr in text.split(","):
            _cron_range(expr, lo, hi, names)


def _loads_location(name: str) -> bool:
    """Whether Go's `time.LoadLocation(name)` succeeds ("" is UTC)."""
    if not name or name in ("UTC", "Local"):
        return True
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return False
    return True


def _cron_int(expr: str, names: dict[str, int]) -> int:
    if expr.lower() in names:
        return names[expr.lower()]
    try:
        num = int(expr, 10)
    except ValueError:
        raise ValueError(f"failed to parse int from {expr}: strconv.Atoi: parsing "
                         f'"{expr}": invalid syntax') from None
    if num < 0:
        raise ValueError(f"negative number ({num}) not allowed: {expr}")
    return num


def _cron_range(expr: str, lo: int, hi: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single_digit = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _cron_int(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _cron_int(low_and_high[1], names)
        else:
            raise ValueError(f"too many hyphens: {expr}")
    if len(range_and_step) == 2:
        step = _cron_int(range_and_step[1], names)
        if single_digit:
            end = hi
        if step == 0:
            raise ValueError(f"step of range should be a positive number: {expr}")
    elif len(range_and_step) > 2:
        raise ValueError(f"too many slashes: {expr}")
    if start < lo:
        raise ValueError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ValueError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ValueError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")


_TZ_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


def _validate_time_zone(tz: Any, path: str) -> Errors:
    if tz is None:
        return []
    zone = as_str(tz)
    if not zone:
        return [FieldError.invalid(path, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART.match(part):
            return [FieldError.invalid(path, zone, f"unknown time zone {zone}")]
    if zone.lower() == "local":
        return [FieldError.invalid(path, zone, "timeZone must be an explicit time zone as defined "
                                   "in https://www.iana.org/time-zones")]
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except (KeyError, ValueError, OSError):
        return [FieldError.invalid(path, zone, f"unknown time zone {zone}")]
    return []


def _validate_cron_job_spec(spec: dict[str, Any], old_spec: dict[str, Any] | None,
                            path: str) -> Errors:
    errs: Errors = []
    schedule = as_str(spec.get("schedule"))
    sp = child(path, "schedule")
    if not schedule:
        errs.append(FieldError.required(sp))
    else:
        try:
            parse_cron(schedule)
        except ValueError as e:
            errs.append(FieldError.invalid(sp, schedule, str(e)))
        allow_tz = old_spec is not None and "TZ" in as_str(old_spec.get("schedule"))
        if allow_tz and "TZ" in schedule and spec.get("timeZone") is not None:
            errs.append(FieldError.invalid(sp, schedule, "cannot use both timeZone field and TZ "
                                           "or CRON_TZ in schedule"))
        elif not allow_tz and "TZ" in schedule:
            errs.append(FieldError.invalid(sp, schedule, "cannot use TZ or CRON_TZ in schedule, "
                                           "use timeZone field instead"))
    if spec.get("startingDeadlineSeconds") is not None:
        errs.extend(validate_nonnegative(as_int(spec.get("startingDeadlineSeconds")),
                                         child(path, "startingDeadlineSeconds")))
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errs.extend(_validate_time_zone(spec.get("timeZone"), child(path, "timeZone")))
    policy = as_str(spec.get("concurrencyPolicy"))
    cp = child(path, "concurrencyPolicy")
    if not policy:
        errs.append(FieldError.required(cp))
    elif policy not in ("Allow", "Forbid", "Replace"):
        errs.append(FieldError.not_supported(cp, policy, ["Allow", "Forbid", "Replace"]))
    jt = as_dict(spec.get("jobTemplate"))
    jp = child(path, "jobTemplate")
    jspec = as_dict(jt.get("spec"))
    errs.extend(_validate_job_spec_common(jspec, child(jp, "spec")))
    if jspec.get("selector") is not None:
        errs.append(FieldError.invalid(child(jp, "spec", "selector"), jspec.get("selector"),
                                       "`selector` will be auto-generated"))
    if jspec.get("manualSelector") is True:
        errs.append(FieldError.not_supported(child(jp, "spec", "manualSelector"), True,
                                             ["nil", "false"]))
    for name in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if spec.get(name) is not None:
            errs.extend(validate_nonnegative(as_int(spec.get(name)), child(path, name)))
    return errs


def validate_cron_job(cj: dict[str, Any]) -> Errors:
    errs = validate_object_meta(cj, True, name_is_dns_subdomain)
    errs.extend(_validate_cron_job_spec(as_dict(cj.get("spec")), None, "spec"))
    name = as_str(get(cj, "metadata", "name"))
    if len(name) > 52:
        errs.append(FieldError.invalid("metadata.name", name, "must be no more than 52 characters"))
    return errs


def validate_cron_job_update(new: dict[str, Any], old: dict[str, Any]) -> Errors:
    errs = validate_object_meta_update(new, old)
    errs.extend(_validate_cron_job_spec(as_dict(new.get("spec")), as_dict(old.get("spec")),
                                        "spec"))
    return errs
