"""Authorization: may this identity do this (upstream's `k8s.io/apiserver/pkg/authorization`)."""
