"""The HorizontalPodAutoscaler controller (upstream's `pkg/controller/podautoscaler`).

- `metrics`: pod usage from the resource metrics API (`metrics.k8s.io/v1beta1`).
- `replicas`: the replica calculator (tolerance, missing and not-yet-ready pods).
- `behavior`: stabilisation windows, scaling policies, min/max.
- `controller`: `HorizontalController`, the reconcile loop over autoscaling/v2 HPAs.
"""

from kybernetes.controllers.podautoscaler.controller import (
    DEFAULT_SYNC_PERIOD,
    DEFAULT_WORKERS,
    HorizontalController,
)

__all__ = ["DEFAULT_SYNC_PERIOD", "DEFAULT_WORKERS", "HorizontalController"]
