"""The kubelet's TLS bootstrap and certificate rotation, against a real `kyb server`
(whose controller manager approves and signs), with no kubelet running.

Intent: a node joins with the server's token alone, trusting the CA only by the token's
hash, and ends up with `kubelet.kubeconfig` and a private key (0600) for
`system:node:<name>`; a restart reuses valid credentials without the token; a wrong secret
or hash is refused with a clear message; a certificate near its end (or naming other
addresses) is rotated at once, through the node's own credentials, and a serving
certificate is obtained for the node's name and IP; the rotation deadline falls within
70-90% of a certificate's life.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api import certificates as csrs
from kybernetes.apiserver.pki import Pki
from kybernetes.client import ApiClient, load_kubeconfig
from kybernetes.kubelet.certificate import credential
from kybernetes.kubelet.certificate.bootstrap import (
    JoinError,
    NodePaths,
    join,
    write_kubeconfig,
)
from kybernetes.kubelet.certificate.credential import Credential
from kybernetes.kubelet.certificate.csr import new_key
from kybernetes.kubelet.certificate.manager import (
    CertificateManager,
    Template,
    rotation_deadline,
)
from tests.e2e.cluster import Kubectl, Server, checked_server, find_kubectl

pytestmark = pytest.mark.e2e

# A guard against a hang, not a measure.
GUARD = 60.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with checked_server(tmp_path_factory.mktemp("kyb-bootstrap")) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(server: Server) -> Kubectl:
    return Kubectl(server.kubeconfig, find_kubectl())


def token(server: Server) -> str:
    return (server.data_dir / "token").read_text().strip()


def csr_count(kubectl: Kubectl) -> int:
    return len(kubectl.json("get", "csr")["items"])


def test_a_node_joins_with_the_token_and_reuses_its_credentials(
        server: Server, kubectl: Kubectl, tmp_path: Path) -> None:
    paths = NodePaths(tmp_path / "agent")
    config = asyncio.run(join(server.url, token(server), "n1", paths))
    assert paths.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert paths.client.stat().st_mode & 0o777 == 0o600
    assert paths.ca.read_bytes() == Pki.at(server.data_dir).ca_cert.read_bytes()
    assert not paths.pending_client_key.exists()
    assert config.cert_file == str(paths.client)
    node = Kubectl(paths.kubeconfig, find_kubectl())
    assert "system:node:n1" in node("auth", "whoami")
    made = [c for c in kubectl.json("get", "csr")["items"]
            if c["spec"]["username"].startswith("system:bootstrap:")]
    assert [c["spec"]["signerName"] for c in made] == [csrs.KUBE_APISERVER_CLIENT_KUBELET]
    assert made[0]["metadata"]["name"].startswith("node-csr-")
    # A restart: the valid credentials are used as they are, the token is not needed.
    before = csr_count(kubectl)
    again = asyncio.run(join(server.url, "not-a-token", "n1", paths))
    assert again.cert_file == str(paths.client) and csr_count(kubectl) == before


def test_a_wrong_token_is_refused(server: Server, tmp_path: Path) -> None:
    full = token(server)
    digest, _, bootstrap = full.partition("::")
    token_id, _, secret = bootstrap.partition(".")
    wrong_secret = f"{digest}::{token_id}.{'0' * 16 if secret != '0' * 16 else '1' * 16}"
    with pytest.raises(JoinError, match=r"the server refused the node token \(401"):
        asyncio.run(join(server.url, wrong_secret, "n2", NodePaths(tmp_path / "a")))
    other_ca = f"K10{'0' * 64}::{bootstrap}"
    with pytest.raises(JoinError, match="the token's CA hash does not match"):
        asyncio.run(join(server.url, other_ca, "n2", NodePaths(tmp_path / "b")))
    with pytest.raises(JoinError, match="the token has no CA hash"):
        asyncio.run(join(server.url, bootstrap, "n2", NodePaths(tmp_path / "c")))
    with pytest.raises(JoinError, match="the token is not valid"):
        asyncio.run(join(server.url, "secret", "n2", NodePaths(tmp_path / "d")))
    assert not (tmp_path / "a" / "kubelet.kubeconfig").exists()


def aging_credential(server: Server, path: Path, cn: str, orgs: list[str]) -> Credential:
    """A certificate of the cluster CA for `cn`, 55 of its 60 minutes gone."""
    ca_cert = x509.load_pem_x509_certificate(Pki.at(server.data_dir).ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(
        Pki.at(server.data_dir).ca_key.read_bytes(), password=None)
    key = new_key()
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=55))
            .not_valid_after(now + dt.timedelta(minutes=5))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    return credential.save(path, cert.public_bytes(Encoding.PEM), key)


async def rotate_once(manager: CertificateManager) -> Credential:
    rotated: asyncio.Queue[Credential] = asyncio.Queue()
    manager.on_rotated = rotated.put_nowait
    running = asyncio.create_task(manager.run())
    try:
        return await asyncio.wait_for(rotated.get(), GUARD)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def test_certificates_near_their_end_are_rotated_with_the_nodes_credentials(
        server: Server, kubectl: Kubectl, tmp_path: Path) -> None:
    paths = NodePaths(tmp_path / "agent")
    old = aging_credential(server, paths.client, "system:node:n3", ["system:nodes"])
    paths.ca.write_bytes(Pki.at(server.data_dir).ca_cert.read_bytes())
    write_kubeconfig(paths, server.url)
    client_template = Template("system:node:n3", ("system:nodes",),
                               csrs.KUBE_APISERVER_CLIENT_KUBELET)
    serving_template = Template("system:node:n3", ("system:nodes",), csrs.KUBELET_SERVING,
                                dns_names=("n3",), ips=("198.51.100.9",))

    async def run() -> tuple[Credential, Credential]:
        async with ApiClient(load_kubeconfig(paths.kubeconfig)) as client:
            rotated = await rotate_once(CertificateManager(client, paths.client,
                                                           client_template))
            serving = await rotate_once(CertificateManager(client, paths.serving,
                                                           serving_template))
            return rotated, serving

    rotated, serving = asyncio.run(run())
    assert rotated.certificate.serial_number != old.certificate.serial_number
    stored = credential.load(paths.client)
    assert stored is not None and stored.certificate == rotated.certificate and rotated.valid()
    assert rotated.not_after - rotated.not_before > dt.timedelta(days=300)
    assert client_template.matches(rotated.certificate)
    assert paths.client.stat().st_mode & 0o777 == 0o600
    # Asked as the node itself, and approved as its own renewal.
    renewal = [c for c in kubectl.json("get", "csr")["items"]
               if c["spec"]["username"] == "system:node:n3"]
    assert {c["spec"]["signerName"] for c in renewal} == {
        csrs.KUBE_APISERVER_CLIENT_KUBELET, csrs.KUBELET_SERVING}
    cert = serving.certificate
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n3"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["198.51.100.9"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.SERVER_AUTH]
    # The new client certificate authenticates the node.
    assert "system:node:n3" in Kubectl(paths.kubeconfig, find_kubectl())("auth", "whoami")


def test_the_rotation_deadline(tmp_path: Path) -> None:
    key = new_key()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=99)).sign(key, hashes.SHA256()))
    cred = credential.save(tmp_path / "c.pem", cert.public_bytes(Encoding.PEM), key)
    template = Template("system:node:n1", ("system:nodes",),
                        csrs.KUBE_APISERVER_CLIENT_KUBELET)

    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def random(self) -> float:
            return self.value

    start = now - dt.timedelta(days=1)
    assert rotation_deadline(cred, template, Fixed(0.0), now) == start + dt.timedelta(days=70)
    assert rotation_deadline(cred, template, Fixed(1.0), now) == start + dt.timedelta(days=90)
    # Another name, an expired certificate: at once.
    other = Template("system:node:n2", ("system:nodes",), csrs.KUBE_APISERVER_CLIENT_KUBELET)
    assert rotation_deadline(cred, other, Fixed(0.5), now) == now
    later = now + dt.timedelta(days=100)
    assert rotation_deadline(cred, template, Fixed(0.5), later) == later
