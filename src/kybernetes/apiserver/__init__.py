"""The kube-apiserver: REST over the registry, watch cache, discovery, OpenAPI, TLS."""
