"""The Job controller (upstream's `pkg/controller/job`), split by concern:

- `controller`: the informers, queues and `syncJob` / `manageJob`;
- `tracking`: counting finished pods exactly once (finalizers, uncounted pods);
- `backoff`: the pod-failure backoff (10 s doubling to 6 minutes);
- `indexed`: completion indexes and `completedIndexes` intervals;
- `podfailurepolicy`, `successpolicy`: the two policies of the Job spec;
- `util`: conditions and pod predicates they share.
"""

from kybernetes.controllers.job.controller import DEFAULT_WORKERS, JobController

__all__ = ["DEFAULT_WORKERS", "JobController"]
