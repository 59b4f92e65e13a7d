"""Joining a cluster with a node token (upstream's kubelet TLS bootstrap with kubeadm's
token discovery; k3s' agent join), without ever holding the CA's key.

1. **Trust**: read `kube-public/cluster-info` anonymously over a connection that cannot
   yet be verified, and accept the CA it carries only if its sha256 is the hash in the
   token (`K10<hash>::...`); a bare `<id>.<secret>` token needs `--certificate-authority`.
2. **First certificate**: as the bootstrap token's user, create a
   `kubernetes.io/kube-apiserver-client-kubelet` request for `system:node:<name>` in
   `system:nodes` with a key made here (kept in `kubelet-client.key.tmp` until the
   certificate arrives, so a restart resumes the same request), and wait for the
   certificate the approver and signer give it.
3. **Write** `<data-dir>/agent/pki/kubelet-client-current.pem` (certificate and key,
   0600), the CA, and `<data-dir>/agent/kubelet.kubeconfig` (0600) pointing at them.

At a restart a kubeconfig whose certificate is still valid is used as it is (the token is
not needed then); rotation keeps it valid (`manager`).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.x509.oid import NameOID

from kybernetes.api import certificates as csrs
from kybernetes.api import jointoken
from kybernetes.api.keyfiles import key_pem
from kybernetes.client import (
    ApiClient,
    ApiError,
    ClientConfig,
    ClientError,
    ConfigError,
    load_kubeconfig,
    resource,
)
from kybernetes.kubelet.certificate import credential, csr

log = logging.getLogger(__name__)

CONFIG_MAPS = resource("", "v1", "configmaps")
NODES_GROUP = "system:nodes"


class JoinError(Exception):
    """Joining is impossible as asked (a wrong token, an unreachable or refusing server);
    the message says why."""


@dataclass(frozen=True)
class NodePaths:
    """Where a node keeps its credentials, under `<data-dir>/agent`."""

    root: Path

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def client(self) -> Path:
        return self.pki / "kubelet-client-current.pem"

    @property
    def pending_client_key(self) -> Path:
        return self.pki / "kubelet-client.key.tmp"

    @property
    def serving(self) -> Path:
        return self.pki / "kubelet-server-current.pem"


def node_user(node_name: str) -> str:
    return f"{csrs.NODE_USER_PREFIX}{node_name}"


async def discover_ca(server: str, token: jointoken.JoinToken,
                      ca_file: Path | None = None) -> bytes:
    """The cluster CA: the one in cluster-info, checked against the token's hash; or the
    `--certificate-authority` file for a token without one."""
    if not token.ca_hash:
        if ca_file is None:
            raise JoinError("the token has no CA hash: use the full token (K10<hash>::<id>."
                            "<secret>, in <data-dir>/token on the server) or pass "
                            "--certificate-authority")
        given = _read(ca_file)
        if not given:
            raise JoinError(f"cannot read --certificate-authority {ca_file}")
        return given
    insecure = ClientConfig(server=server, insecure_skip_tls_verify=True, qps=0)
    try:
        async with ApiClient(insecure) as client:
            info = await client.get(CONFIG_MAPS, "cluster-info", "kube-public")
    except ClientError as err:
        raise JoinError(f"cannot read kube-public/cluster-info from {server}: {err}") from err
    ca_pem = _cluster_ca(info)
    found = jointoken.ca_hash(ca_pem)
    if found != token.ca_hash:
        raise JoinError(f"the token's CA hash does not match the cluster CA certificate's: "
                        f"{token.ca_hash} != {found}")
    return ca_pem


def _cluster_ca(info: dict[str, object]) -> bytes:
    data = info.get("data")
    text = data.get("kubeconfig") if isinstance(data, dict) else None
    try:
        config = yaml.safe_load(str(text or ""))
        clusters = config["clusters"]
        return base64.b64decode(clusters[0]["cluster"]["certificate-authority-data"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as err:
        raise JoinError(f"kube-public/cluster-info holds no usable kubeconfig: {err}") from None


def write_kubeconfig(paths: NodePaths, server: str) -> None:
    """The node's kubeconfig: the server, its CA, and the current client credential."""
    ca_data = base64.b64encode(paths.ca.read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "default", "preferences": {},
        "clusters": [{"name": "default", "cluster": {
            "server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": "default",
                      "context": {"cluster": "default", "user": "default"}}],
        "users": [{"name": "default", "user": {
            "client-certificate": str(paths.client), "client-key": str(paths.client)}}],
    }
    credential.write_private(paths.kubeconfig, yaml.safe_dump(
        config, default_flow_style=False, sort_keys=False).encode())


def existing_config(paths: NodePaths, node_name: str) -> ClientConfig | None:
    """The node's kubeconfig when it exists and its certificate is still valid and names
    this node."""
    found = credential.load(paths.client)
    if found is None or not found.valid() or not paths.kubeconfig.exists():
        return None
    names = found.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [node_user(node_name)]:
        log.warning("%s is for %s, not %s: joining again", paths.client,
                    ", ".join(str(n.value) for n in names), node_user(node_name))
        return None
    try:
        return load_kubeconfig(paths.kubeconfig)
    except ConfigError as err:
        log.warning("ignoring %s: %s", paths.kubeconfig, err)
        return None


async def request_client_certificate(server: str, ca_pem: bytes, token: jointoken.JoinToken,
                                     node_name: str, paths: NodePaths) -> None:
    """Steps 2 and 3 above, as the bootstrap token's user."""
    key = credential.load_key(_read(paths.pending_client_key))
    if key is None:
        key = csr.new_key()
        credential.write_private(paths.pending_client_key, key_pem(key))
    user = node_user(node_name)
    usages = csrs.key_usages_for(key, server=False)
    request = csr.make_request(key, user, [NODES_GROUP])
    config = ClientConfig(server=server, ca_data=ca_pem, token=token.bootstrap_token, qps=0)
    try:
        async with ApiClient(config) as client:
            made = await csr.create_request(
                client, request, signer=csrs.KUBE_APISERVER_CLIENT_KUBELET, usages=usages,
                name=csr.digested_name(key, user, [NODES_GROUP], usages))
            name = made["metadata"]["name"]
            log.info("waiting for the client certificate of csr %s", name)
            cert_pem = await csr.wait_for_certificate(client, name)
    except ApiError as err:
        if err.code == 401:
            raise JoinError(f"the server refused the node token ({err.code} "
                            f"{err.reason}): check --token") from None
        raise JoinError(f"cannot request the node's client certificate: {err}") from None
    except csr.CertificateRequestError as err:
        raise JoinError(str(err)) from None
    except ClientError as err:
        raise JoinError(f"cannot reach {server}: {err}") from None
    paths.pki.mkdir(mode=0o700, parents=True, exist_ok=True)
    credential.write_private(paths.ca, ca_pem)
    paths.ca.chmod(0o644)
    credential.save(paths.client, cert_pem, key)
    paths.pending_client_key.unlink(missing_ok=True)
    write_kubeconfig(paths, server)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def join(server: str, token_text: str, node_name: str, paths: NodePaths, *,
               ca_file: Path | None = None) -> ClientConfig:
    """The node's client config: the existing kubeconfig when still valid, else a new
    one obtained with the token."""
    found = existing_config(paths, node_name)
    if found is not None:
        log.info("using the node credentials in %s", paths.kubeconfig)
        return found
    try:
        token = jointoken.parse(token_text)
    except jointoken.TokenError as err:
        raise JoinError(str(err)) from None
    ca_pem = await discover_ca(server, token, ca_file)
    await request_client_certificate(server, ca_pem, token, node_name, paths)
    log.info("joined %s as %s", server, node_user(node_name))
    return load_kubeconfig(paths.kubeconfig)
