"""Defaulting of batch/v1 Jobs and CronJobs, as upstream's `pkg/apis/batch/v1/defaults.go`,
plus the Job strategy's create-time selector generation (`generate_job_selector`).
"""

from __future__ import annotations

from kybernetes.api.defaults.core import Obj, _dict, _dicts, default_pod_template_spec

MAX_INT32 = 2**31 - 1


def default_job(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    template = spec.get("template")
    labels = template.get("metadata", {}).get("labels") if isinstance(template, dict) and \
        isinstance(template.get("metadata"), dict) else None
    meta = _dict(obj, "metadata")
    if isinstance(labels, dict) and not meta.get("labels"):
        meta["labels"] = dict(labels)
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in _dicts(policy.get("rules")):
            for pattern in _dicts(rule.get("onPodConditions")):
                if not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"
    default_pod_template_spec(template)


def generate_job_selector(job: Obj) -> None:
    """The Job strategy's `generateSelector` (PrepareForCreate), unless manualSelector is set.

    Needs `metadata.name` and `metadata.uid`; adds the job-name and controller-uid labels
    to the pod template and selects on `batch.kubernetes.io/controller-uid`.
    """
    spec = _dict(job, "spec")
    if spec.get("manualSelector") is True:
        return
    meta = _dict(job, "metadata")
    name, uid = str(meta.get("name") or ""), str(meta.get("uid") or "")
    template = _dict(spec, "template")
    tmeta = _dict(template, "metadata")
    labels = _dict(tmeta, "labels")
    shared = meta.get("labels") == labels
    for key in ("job-name", "batch.kubernetes.io/job-name"):
        labels.setdefault(key, name)
    for key in ("controller-uid", "batch.kubernetes.io/controller-uid"):
        labels.setdefault(key, uid)
    selector = _dict(spec, "selector")
    match = _dict(selector, "matchLabels")
    match.setdefault("batch.kubernetes.io/controller-uid", uid)
    if shared:
        # Upstream defaulting shares the template's label map with the Job's metadata.
        meta["labels"] = dict(labels)


def default_cron_job(obj: Obj) -> None:
    spec = _dict(obj, "spec")
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        job_spec = job_template.get("spec")
        if isinstance(job_spec, dict):
            default_pod_template_spec(job_spec.get("template"))
