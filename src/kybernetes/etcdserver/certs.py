"""The embedded etcd's certificates, issued by the cluster CA (as k3s' `tls/etcd/`):

- `server`: what the member serves clients with (serverAuth; localhost, 127.0.0.1 and the
  advertise address);
- `peer`: what members present to each other, both as server and as client, since peer
  connections are mutually authenticated (`--peer-client-cert-auth`);
- `client`: what the API server and `kyb etcd-snapshot` present (`--client-cert-auth`).

They are issued afresh at each start (a few milliseconds), so they always carry the
current address and never expire on a running cluster that restarts now and then.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kybernetes.api.keyfiles import key_pem, write_atomic
from kybernetes.apiserver.pki import LEAF_VALIDITY, Pki
from kybernetes.etcdserver.config import EtcdConfig

_USAGES = {
    "server": [ExtendedKeyUsageOID.SERVER_AUTH],
    "peer": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
}


def _sans(config: EtcdConfig) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.DNSName(socket.gethostname())]
    for address in dict.fromkeys(["127.0.0.1", "::1", config.advertise_address]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(address))
    return names


def issue(config: EtcdConfig) -> None:
    """Write the member's server, peer and client certificates and keys."""
    pki = Pki.at(config.data_dir)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{pki.ca_key}: the CA key must be EC or RSA")
    config.tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    for kind, usages in _USAGES.items():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"etcd-{kind}")])
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if kind != "client":
            builder = builder.add_extension(x509.SubjectAlternativeName(_sans(config)),
                                            critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path, key_path = config.cert(kind)
        write_atomic(key_path, key_pem(key))
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

