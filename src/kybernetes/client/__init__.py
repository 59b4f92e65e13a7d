"""The async Kubernetes client, informers, work queues and leader election."""
