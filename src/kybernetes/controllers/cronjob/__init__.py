"""The CronJob controller (upstream's `pkg/controller/cronjob`), split by concern:

- `schedule`: cron expressions and the start times they fall due (robfig/cron's
  semantics over croniter; upstream's `mostRecentScheduleTime`);
- `jobs`: the Jobs a CronJob makes (name, annotation, owner) and reads (finished or not,
  the active list);
- `controller`: the informers, the queue and `syncCronJob`.
"""

from kybernetes.controllers.cronjob.controller import DEFAULT_WORKERS, CronJobController

__all__ = ["DEFAULT_WORKERS", "CronJobController"]
