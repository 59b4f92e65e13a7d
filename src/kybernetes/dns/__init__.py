"""Cluster DNS: the Kubernetes DNS specification served from informer caches, other names
forwarded to the node's resolvers (CoreDNS's `kubernetes`, `forward` and `cache` plugins
as k3s configures them).

- `records`: the cluster zone's records from the Service, EndpointSlice and Namespace
  caches (A/AAAA, SRV, PTR, CNAME, pod names, SOA/NS, NXDOMAIN vs NODATA).
- `forward`: the upstream resolvers of a resolv.conf, with a cache.
- `server`: UDP and TCP listeners, EDNS0 and truncation, reuse of rendered answers.
- `acl`: only the cluster's pods and nodes (and loopback) may ask.
- `metrics`: CoreDNS's metric names on the kube-dns Service's metrics port (9153).
- `publish`: the `kube-dns` Service and the EndpointSlice pointing it at this server.
- `app`: all of it wired as one component (`kyb dns`, and inside `kyb server`).
"""

from kybernetes.dns.app import DnsOptions, serve
from kybernetes.dns.forward import Forwarder
from kybernetes.dns.records import Answer, ClusterRecords
from kybernetes.dns.server import DnsServer

__all__ = ["Answer", "ClusterRecords", "DnsOptions", "DnsServer", "Forwarder", "serve"]
