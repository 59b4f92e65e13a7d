"""kube-scheduler: assigns each pending pod a node, as upstream's scheduler framework does.

An API client like every component: informers feed a cache of nodes and placed pods and a
scheduling queue of pending pods; for each pod the profile's plugins filter the nodes, score
those that fit, and the best one is bound through `pods/binding`.

Layout (mirroring `pkg/scheduler`):

- `status`: `Code`, `Status` (None is Success), `FitError` with upstream's message.
- `podinfo`, `nodeinfo`: pods and nodes parsed once (requests, ports, taints, terms).
- `nodetable`: the nodes as numpy columns plus per-selector pod counters, for filtering
  and scoring all nodes at once.
- `cache`: nodes and assigned pods, assumed pods, the snapshot plugins read.
- `interface`: one protocol per extension point, `CycleState`, cluster events, `Handle`.
- `framework`: a profile's plugins and the code running each extension point.
- `config`: KubeSchedulerConfiguration (profiles, plugin sets and args, defaults).
- `queue`: activeQ / backoffQ / unschedulable pods, queueing hints, the nominator.
- `schedule_one`: filter (adaptive percentage of nodes), score, select.
- `scheduler`: informer handlers, the scheduling loop, binding cycles, failure handling,
  events and pod conditions; `run_scheduler` adds leader election.
- `plugins/`: one module per in-tree plugin and the name -> factory `REGISTRY`.
"""

from kybernetes.scheduler.cache import Cache, Snapshot
from kybernetes.scheduler.config import (
    ConfigError,
    Profile,
    SchedulerConfiguration,
    load_config,
    parse_config,
)
from kybernetes.scheduler.framework import Framework
from kybernetes.scheduler.plugins import REGISTRY
from kybernetes.scheduler.podinfo import PodInfo
from kybernetes.scheduler.scheduler import Scheduler, SchedulerStats, run_scheduler
from kybernetes.scheduler.status import Code, FitError, Status

__all__ = [
    "REGISTRY",
    "Cache",
    "Code",
    "ConfigError",
    "FitError",
    "Framework",
    "PodInfo",
    "Profile",
    "Scheduler",
    "SchedulerConfiguration",
    "SchedulerStats",
    "Snapshot",
    "Status",
    "load_config",
    "parse_config",
    "run_scheduler",
]
