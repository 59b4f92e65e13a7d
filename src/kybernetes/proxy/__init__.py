"""kube-proxy: Services and EndpointSlices turned into packet-rewriting rules on a node.

As upstream's pkg/proxy: `changes` keeps what the informers saw (services by port,
endpoints from EndpointSlices) and which services changed since the last sync;
`topology` picks the endpoints each traffic policy uses; `nftables` and `iptables` are the
two backends, each writing one atomic transaction per sync (only the changed services'
chains after the first); `conntrack` clears stale UDP flows; `runner` bounds how often a
sync runs; `health` serves `/healthz` and `/metrics`; `proxier` ties them to the API.
"""
