"""Resource quota accounting shared by the ResourceQuota admission plugin (API server) and
the resource quota controller (a client): resource-list arithmetic, per-resource usage
evaluators and the usage of a namespace's objects, as upstream's `k8s.io/apiserver/pkg/
quota/v1` and `pkg/quota/v1/evaluator/core`. Pure functions over plain objects; it reads
nothing itself, so either side feeds it from its own caches."""
