"""The metrics server: `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics, as upstream's
metrics-server (kubernetes-sigs/metrics-server) computes them from the kubelets'
`/metrics/resource`. An API client like the other components; it stores nothing.

- `scrape`: one node's `/metrics/resource`, fetched and parsed into points;
- `storage`: the last two points per node and container, and the rates between them;
- `api`: the HTTPS API the API server proxies `/apis/metrics.k8s.io/` to;
- `server`: the component: its informers, the scrape loop, the API.
"""
