"""Pod networking through CNI plugins.

- `cni`: libcni's part: find and run plugins (optionally inside the node's network
  namespace), chain a conflist's plugins with `prevResult`, cache ADD results for DEL and
  CHECK, and surface a plugin's error object.
- `pod`: the node's pod network (`PodNetwork`): the k3s-like bridge conflist on the node's
  pod CIDR, sandbox setup and teardown returning pod IPs, readiness for the node's Ready
  condition, and garbage collection of IPs held for sandboxes that are gone.
- `routes`: flannel's host-gw backend: routes to the other nodes' pod CIDRs, from a Node
  watch; `vxlan`: flannel's VXLAN backend on the same loop; `masquerade`: the rules for
  pod traffic leaving the cluster CIDR.
"""

from kybernetes.kubelet.network.cni import CNIError
from kybernetes.kubelet.network.pod import (
    NetworkError,
    PodNetwork,
    PodNetworkConfig,
    RuntimeCondition,
    uses_cni,
)

__all__ = ["CNIError", "NetworkError", "PodNetwork", "PodNetworkConfig", "RuntimeCondition",
           "uses_cni"]
