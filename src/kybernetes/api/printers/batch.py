"""Printers for batch/v1: jobs and cron jobs."""

from __future__ import annotations

from typing import Any

from kybernetes.api.printers._common import (
    Cells,
    Context,
    Obj,
    Printer,
    age,
    age_col,
    bool_ptr,
    col,
    containers_cols,
    dct,
    duration_between,
    format_label_selector,
    get,
    i,
    is_deleting,
    layout_containers,
    lst,
    name,
    name_col,
    parse_time,
    s,
    since,
)


def _job_condition(conditions: list[Any], type_: str) -> bool:
    """`hasJobCondition`: the first condition of that type decides."""
    for cond in conditions:
        if s(cond, "type") == type_:
            return s(cond, "status") == "True"
    return False


def _job_status(job: Obj) -> str:
    conditions = lst(job, "status", "conditions")
    if _job_condition(conditions, "Complete"):
        return "Complete"
    if _job_condition(conditions, "Failed"):
        return "Failed"
    if is_deleting(job):
        return "Terminating"
    if _job_condition(conditions, "Suspended"):
        return "Suspended"
    if _job_condition(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_cells(job: Obj, ctx: Context) -> Cells:
    spec, status = dct(job, "spec"), dct(job, "status")
    succeeded = i(status, "succeeded")
    if get(spec, "completions") is not None:
        completions = f"{succeeded}/{i(spec, 'completions')}"
    elif i(spec, "parallelism") > 1:
        completions = f"{succeeded}/1 of {i(spec, 'parallelism')}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(get(status, "startTime")), parse_time(get(status, "completionTime"))
    if get(status, "startTime") is None:
        duration = ""
    elif get(status, "completionTime") is None:
        duration = since(start, ctx)
    else:
        duration = duration_between(start, end) if start and end else since(start, ctx)
    names, images = layout_containers(lst(spec, "template", "spec", "containers"))
    return [name(job), _job_status(job), completions, duration, age(job, ctx), names, images,
            format_label_selector(spec.get("selector"))]


JOBS = Printer((
    name_col(),
    col("Status", "string", text="Status of the job."),
    col("Completions", "string", "batch.JobStatus.succeeded"),
    col("Duration", "string", text="Time required to complete the job."),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "batch.JobSpec.selector", priority=1),
), _job_cells)


def _cron_job_cells(cron: Obj, ctx: Context) -> Cells:
    spec = dct(cron, "spec")
    last = get(cron, "status", "lastScheduleTime")
    job_spec = dct(spec, "jobTemplate", "spec")
    names, images = layout_containers(lst(job_spec, "template", "spec", "containers"))
    return [name(cron), s(spec, "schedule"), s(spec, "timeZone") or "<none>",
            bool_ptr(spec.get("suspend", False)), len(lst(cron, "status", "active")),
            "<none>" if last is None else since(last, ctx), age(cron, ctx), names, images,
            format_label_selector(job_spec.get("selector"))]


CRON_JOBS = Printer((
    name_col(),
    col("Schedule", "string", "batchb.CronJobSpec.schedule"),
    col("Timezone", "string", "batchb.CronJobSpec.timeZone"),
    col("Suspend", "boolean", "batchb.CronJobSpec.suspend"),
    col("Active", "integer", "batchb.CronJobStatus.active"),
    col("Last Schedule", "string", "batchb.CronJobStatus.lastScheduleTime"),
    age_col(),
    *containers_cols(),
    col("Selector", "string", "batch.JobSpec.selector", priority=1),
), _cron_job_cells)

PRINTERS: dict[str, Printer] = {"jobs": JOBS, "cronjobs": CRON_JOBS}
