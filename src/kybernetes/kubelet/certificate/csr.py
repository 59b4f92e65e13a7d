"""Asking the cluster for a certificate (client-go's `util/certificate/csr`): make a key and
a PKCS#10 request, create a CertificateSigningRequest for a signer, and wait until it has a
certificate, or fail when it is denied or fails.

A request may be given a name derived from what it asks for (upstream's `digestedName`:
`node-csr-<sha512/256 of key, subject and usages>`): asking again with the same key after a
restart finds the request already made instead of making another one; a different request
under that name is an error.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kybernetes.api import certificates as csrs
from kybernetes.client import (
    AlreadyExistsError,
    ApiClient,
    ApiConnectionError,
    GoneError,
    resource,
)
from kybernetes.client.rest import Obj
from kybernetes.kubelet.certificate.credential import PrivateKey

log = logging.getLogger(__name__)

CSRS = resource(csrs.GROUP, "v1", "certificatesigningrequests")
# How long one watch of a pending request lasts before it is looked at afresh.
_WATCH_SECONDS = 60
_RETRY_DELAY = 2.0


class CertificateRequestError(Exception):
    """The request was denied or failed, or a different request holds its name."""


def new_key() -> PrivateKey:
    """An ECDSA P-256 key, as upstream's kubelet makes."""
    return ec.generate_private_key(ec.SECP256R1())


def make_request(key: PrivateKey, common_name: str, organizations: Sequence[str], *,
                 dns_names: Sequence[str] = (), ips: Sequence[str] = ()) -> bytes:
    """A PEM `CERTIFICATE REQUEST` for this subject and SANs, signed with `key`."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def digested_name(key: PrivateKey, common_name: str, organizations: Sequence[str],
                  usages: Sequence[str]) -> str:
    """Upstream's `digestedName` for the bootstrap request."""
    digest = hashlib.new("sha512_256")

    def write(data: bytes) -> None:
        digest.update(_b64url(data).encode() + b"|")

    write(key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    write(common_name.encode())
    for org in organizations:
        write(org.encode())
    for usage in usages:
        write(usage.encode())
    return f"node-csr-{_b64url(digest.digest())}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def create_request(client: ApiClient, request_pem: bytes, *, signer: str,
                         usages: Sequence[str], name: str = "",
                         expiration_seconds: int | None = None) -> Obj:
    """Create the CertificateSigningRequest (named `name`, else `csr-<random>`); with a
    name already taken by the same request, that request."""
    spec: dict[str, Any] = {"request": base64.b64encode(request_pem).decode(),
                            "signerName": signer, "usages": list(usages)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    metadata = {"name": name} if name else {"generateName": "csr-"}
    body = {"apiVersion": f"{csrs.GROUP}/v1", "kind": "CertificateSigningRequest",
            "metadata": metadata, "spec": spec}
    try:
        return await client.create(CSRS, body)
    except AlreadyExistsError:
        if not name:
            raise
    existing = await client.get(CSRS, name)
    held = existing.get("spec") or {}
    if held.get("request") != spec["request"] or held.get("signerName") != signer or \
            sorted(held.get("usages") or []) != sorted(usages):
        raise CertificateRequestError(
            f"retrieved csr {name!r} is not compatible with the request made")
    return existing


def _outcome(csr: Obj) -> bytes | None:
    """The issued certificate; None while pending; raises when denied or failed."""
    for cond in csrs.conditions(csr):
        if cond.get("type") == csrs.DENIED:
            raise CertificateRequestError(
                f"certificate signing request is denied, reason: {cond.get('reason', '')}, "
                f"message: {cond.get('message', '')}")
        if cond.get("type") == csrs.FAILED:
            raise CertificateRequestError(
                f"certificate signing request failed, reason: {cond.get('reason', '')}, "
                f"message: {cond.get('message', '')}")
    if csrs.is_approved(csr):
        return csrs.issued_certificate(csr) or None
    return None


async def wait_for_certificate(client: ApiClient, name: str) -> bytes:
    """The PEM certificate of request `name` once issued (waits as long as it takes)."""
    while True:
        current = await client.get(CSRS, name)
        issued = _outcome(current)
        if issued is not None:
            return issued
        try:
            async with client.watch(
                    CSRS, field_selector=f"metadata.name={name}",
                    resource_version=current["metadata"].get("resourceVersion"),
                    timeout_seconds=_WATCH_SECONDS) as events:
                async for event in events:
                    if event.type in ("ADDED", "MODIFIED"):
                        issued = _outcome(event.object)
                        if issued is not None:
                            return issued
        except (ApiConnectionError, GoneError) as err:
            log.info("watching csr %s: %s; looking again", name, err)
            await asyncio.sleep(_RETRY_DELAY)
