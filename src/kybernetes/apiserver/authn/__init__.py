"""Authentication: who sent a request (upstream's `k8s.io/apiserver/pkg/authentication`)."""
