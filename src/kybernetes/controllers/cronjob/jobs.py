"""What the CronJob controller knows about the Jobs it makes and reads: upstream's
`pkg/controller/cronjob/utils.go` helpers (the Job made from the template, its name,
the active list); when a Job is finished is the Job controller's `job/util.py`.

A Job for the start time T is named `<cronjob>-<T in minutes since the epoch>`, so the
same start time can never make two Jobs (the name is the lock), and carries the
`batch.kubernetes.io/cronjob-scheduled-timestamp` annotation: T in RFC 3339, in the
CronJob's `timeZone` (UTC without one). Its labels, annotations and spec are the
`jobTemplate`'s; its controller reference is the CronJob.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, tzinfo
from typing import Any

from kybernetes.api.objects import meta, spec, status
from kybernetes.api.timeutil import parse_time
from kybernetes.client.rest import Obj
from kybernetes.controllers.refmanager import controller_ref, owner_reference

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


# ----------------------------------------------------------------------------- time


def go_rfc3339(when: datetime) -> str:
    """Go's `Format(time.RFC3339)`: an offset of zero is written `Z`."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    offset = when.utcoffset()
    if not offset:
        return text + "Z"
    zone = when.strftime("%z")
    return f"{text}{zone[:3]}:{zone[3:]}"


def go_rfc1123z(when: datetime) -> str:
    """Go's `Format(time.RFC1123Z)` ("Mon, 07 Dec 2026 11:08:00 +0000")."""
    return when.strftime("%a, %d %b %Y %H:%M:%S %z")


# ----------------------------------------------------------------------------- jobs


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """Upstream's getJobName: the start time in minutes since the epoch."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cj: Obj, scheduled: datetime, zone: tzinfo) -> Obj:
    """Upstream's getJobFromTemplate2; `zone` is the CronJob's timeZone (UTC without)."""
    template = spec(cj).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = go_rfc3339(scheduled.astimezone(zone))
    metadata: dict[str, Any] = {
        "name": job_name(str(meta(cj).get("name")), scheduled),
        "annotations": annotations,
        "ownerReferences": [owner_reference(cj, api_version="batch/v1", kind="CronJob")],
    }
    labels = template_meta.get("labels")
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {})}


def start_time_order(job: Obj) -> tuple[bool, datetime, str]:
    """Upstream's byJobStartTime: started Jobs first, oldest first, then by name."""
    started = parse_time(status(job).get("startTime"))
    return (started is None, started or datetime.min.replace(tzinfo=UTC),
            str(meta(job).get("name")))


def is_controlled_by(job: Obj, cj: Obj) -> bool:
    ref = controller_ref(job)
    return ref is not None and ref.get("uid") == meta(cj).get("uid")


def job_reference(job: Obj) -> dict[str, Any]:
    """The ObjectReference kept in status.active."""
    m = meta(job)
    return {"kind": "Job", "namespace": m.get("namespace"), "name": m.get("name"),
            "uid": m.get("uid"), "apiVersion": "batch/v1",
            "resourceVersion": m.get("resourceVersion")}


# ----------------------------------------------------------------------------- active list


def active(cj: Obj) -> list[dict[str, Any]]:
    return [ref for ref in status(cj).get("active") or () if isinstance(ref, dict)]


def in_active_list(cj: Obj, uid: Any) -> bool:
    return any(ref.get("uid") == uid for ref in active(cj))


def in_active_list_by_name(cj: Obj, namespace: str, name: str) -> bool:
    return any(ref.get("name") == name and ref.get("namespace") == namespace
               for ref in active(cj))


def delete_from_active_list(cj: Obj, uid: Any) -> None:
    remaining = [ref for ref in active(cj) if ref.get("uid") != uid]
    st = cj.setdefault("status", {})
    if remaining:
        st["active"] = remaining
    else:
        st.pop("active", None)


def add_to_active_list(cj: Obj, ref: dict[str, Any]) -> None:
    cj.setdefault("status", {})["active"] = [*active(cj), ref]
