"""The strategies of batch/v1: Jobs (whose selector is generated from the uid at create
unless `manualSelector`) and CronJobs."""

from __future__ import annotations

from kybernetes.api.defaults import batch as defaults
from kybernetes.api.printers import batch as printers
from kybernetes.api.validation import batch as validation
from kybernetes.apiserver.strategies.base import Obj, ResourceStrategy
from kybernetes.apiserver.strategies.builtin import BuiltinStrategy


class JobStrategy(BuiltinStrategy):
    def __init__(self) -> None:
        super().__init__("batch", "jobs", printer=printers.JOBS, defaults=defaults.default_job,
                         create=validation.validate_job, update=validation.validate_job_update,
                         generation=True)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        defaults.generate_job_selector(obj)


def strategies() -> list[ResourceStrategy]:
    return [
        JobStrategy(),
        BuiltinStrategy("batch", "cronjobs", printer=printers.CRON_JOBS,
                        defaults=defaults.default_cron_job, create=validation.validate_cron_job,
                        update=validation.validate_cron_job_update, generation=True),
    ]
