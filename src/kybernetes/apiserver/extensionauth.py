"""The `extension-apiserver-authentication` ConfigMap in kube-system: how extension API
servers learn to trust this API server as their front proxy (upstream's
ClusterAuthenticationTrustController, pkg/controlplane/controller/clusterauthenticationtrust).

`client-ca-file` is the cluster CA (client certificates of users); the front-proxy keys
name the CA that signs the aggregator's `system:auth-proxy` client certificate (the same
CA here), the names allowed to act as the proxy and the X-Remote-* headers it sets
(aggregator.py). Upstream's role `extension-apiserver-authentication-reader` lets
extension servers read it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from kybernetes.apiserver.aggregator import PROXY_USER
from kybernetes.apiserver.ensure import ensure
from kybernetes.apiserver.pki import Pki

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServer

NAME = "extension-apiserver-authentication"
NAMESPACE = "kube-system"


def config_map(ca_pem: str) -> dict[str, object]:
    def listed(*values: str) -> str:
        return json.dumps(list(values))

    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": {"client-ca-file": ca_pem,
                     "requestheader-client-ca-file": ca_pem,
                     "requestheader-allowed-names": listed(PROXY_USER),
                     "requestheader-username-headers": listed("X-Remote-User"),
                     "requestheader-group-headers": listed("X-Remote-Group"),
                     "requestheader-extra-headers-prefix": listed("X-Remote-Extra-")}}


async def bootstrap(server: ApiServer) -> None:
    info = server.registry.get("", "v1", "configmaps")
    assert info is not None
    ca_pem = Pki.at(server.config.data_dir).ca_cert.read_text()
    await ensure(server, info, config_map(ca_pem))
