"""Bootstrap data: what a server joining the cluster needs from it, as k3s' "bootstrap
data", guarded by the server token.

A server needs the cluster's keys, not just its CA certificate: the CA key (it issues its
own serving, client and etcd certificates), and the service-account signing key (tokens
issued by one server must verify on the others). Each server publishes them, with the
client URLs of the etcd members, in the Secret `kube-system/kybernetes-server-bootstrap`,
sealed with the token (AES-256-GCM under a PBKDF2-SHA256 key of `<id>.<secret>`, as k3s
stores its bootstrap data encrypted with the token): a backup or a reader of the Secret
without the token learns nothing. The Role and RoleBinding `kybernetes:server-bootstrap`
let the token's own group (`system:bootstrappers:kybernetes:default-node-token`) get that
one Secret, so the joining server reads it through the API as the token's user, after
checking the CA it talks to against the token's hash as an agent does (kubelet's
certificate bootstrap).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from kybernetes.api import jointoken
from kybernetes.api.keyfiles import write_atomic
from kybernetes.apiserver.nodetoken import EXTRA_GROUP
from kybernetes.client import ApiClient, ClientConfig, NotFoundError, resource

NAMESPACE = "kube-system"
SECRET_NAME = "kybernetes-server-bootstrap"
ROLE_NAME = "kybernetes:server-bootstrap"
# The files under <data-dir>/tls/ every server of a cluster shares.
SHARED_FILES = ("ca.crt", "ca.key", "service-account.key")
_DATA_KEY = "bootstrap"
_ITERATIONS = 100_000
_SECRETS = resource("", "v1", "secrets")
_ROLES = resource("rbac.authorization.k8s.io", "v1", "roles")
_ROLE_BINDINGS = resource("rbac.authorization.k8s.io", "v1", "rolebindings")


class BootstrapError(Exception):
    """The bootstrap data cannot be had or does not fit this data dir."""


@dataclass(frozen=True)
class BootstrapData:
    files: dict[str, bytes]
    etcd_endpoints: tuple[str, ...]

    def encode(self) -> bytes:
        return json.dumps({
            "files": {n: base64.b64encode(c).decode() for n, c in sorted(self.files.items())},
            "etcdEndpoints": list(self.etcd_endpoints)}, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> BootstrapData:
        try:
            doc = json.loads(data)
            return cls({n: base64.b64decode(c) for n, c in doc["files"].items()},
                       tuple(doc["etcdEndpoints"]))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BootstrapError(f"malformed bootstrap data: {err}") from None


def _key(token: jointoken.JoinToken, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=_ITERATIONS)
    return kdf.derive(token.bootstrap_token.encode())


def seal(token: jointoken.JoinToken, plaintext: bytes) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    return salt + nonce + AESGCM(_key(token, salt)).encrypt(nonce, plaintext, None)


def unseal(token: jointoken.JoinToken, sealed: bytes) -> bytes:
    salt, nonce, body = sealed[:16], sealed[16:28], sealed[28:]
    try:
        return AESGCM(_key(token, salt)).decrypt(nonce, body, None)
    except (InvalidTag, ValueError):
        raise BootstrapError("the bootstrap data is not sealed with this token") from None


def read_local(data_dir: Path, etcd_endpoints: list[str]) -> BootstrapData:
    tls = data_dir / "tls"
    return BootstrapData({name: (tls / name).read_bytes() for name in SHARED_FILES},
                         tuple(etcd_endpoints))


def _rbac() -> list[tuple[Any, dict[str, Any]]]:
    meta = {"name": ROLE_NAME, "namespace": NAMESPACE}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": ["secrets"],
                       "resourceNames": [SECRET_NAME], "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": meta,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": ROLE_NAME},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                             "name": EXTRA_GROUP}]}
    return [(_ROLES, role), (_ROLE_BINDINGS, binding)]


async def _apply(client: ApiClient, res: Any, obj: dict[str, Any],
                 same: Any = None) -> None:
    """Create `obj`, or update the existing one unless `same(existing)` says it holds it."""
    name = obj["metadata"]["name"]
    try:
        existing = await client.get(res, name, NAMESPACE)
    except NotFoundError:
        await client.create(res, obj, NAMESPACE)
        return
    if same is not None and same(existing):
        return
    obj["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
    await client.update(res, obj, NAMESPACE)


async def publish(client: ApiClient, token: jointoken.JoinToken, data: BootstrapData) -> None:
    """Write the sealed bootstrap data (unless the Secret holds it already) and its RBAC."""
    for res, obj in _rbac():
        await _apply(client, res, obj, lambda e, o=obj: all(
            e.get(k) == o[k] for k in ("rules", "roleRef", "subjects") if k in o))

    def same(existing: dict[str, Any]) -> bool:
        try:
            sealed = base64.b64decode((existing.get("data") or {}).get(_DATA_KEY, ""))
            return BootstrapData.decode(unseal(token, sealed)) == data
        except (BootstrapError, ValueError):
            return False

    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": SECRET_NAME, "namespace": NAMESPACE},
              "data": {_DATA_KEY: base64.b64encode(seal(token, data.encode())).decode()}}
    await _apply(client, _SECRETS, secret, same)


async def fetch(server: str, token: jointoken.JoinToken) -> BootstrapData:
    """The bootstrap data of the cluster whose API server is `server`, read as the token's
    user from a server whose CA is the token's."""
    from kybernetes.client import ClientError
    from kybernetes.kubelet.certificate.bootstrap import JoinError, discover_ca

    try:
        ca_pem = await discover_ca(server, token)
        config = ClientConfig(server=server, ca_data=ca_pem, token=token.bootstrap_token,
                              qps=0)
        async with ApiClient(config) as client:
            secret = await client.get(_SECRETS, SECRET_NAME, NAMESPACE)
    except (JoinError, ClientError) as err:
        raise BootstrapError(f"cannot read the bootstrap data from {server}: {err}") from None
    sealed = base64.b64decode((secret.get("data") or {}).get(_DATA_KEY, ""))
    data = BootstrapData.decode(unseal(token, sealed))
    if data.files.get("ca.crt") != ca_pem:
        raise BootstrapError("the bootstrap data's CA is not the server's")
    return data


def install(data_dir: Path, data: BootstrapData) -> None:
    """Write the shared files into `<data-dir>/tls/`; a file there already must be the
    same (a data dir of another cluster is not taken over)."""
    tls = data_dir / "tls"
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in SHARED_FILES:
        content = data.files.get(name)
        if content is None:
            raise BootstrapError(f"the bootstrap data has no {name}")
        path = tls / name
        if path.exists():
            if path.read_bytes() != content:
                raise BootstrapError(f"{path} belongs to another cluster: use a new data dir")
            continue
        write_atomic(path, content, 0o644 if name.endswith(".crt") else 0o600)
