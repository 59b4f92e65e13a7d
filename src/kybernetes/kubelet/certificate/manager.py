"""Keeping a kubelet certificate current (client-go's `util/certificate/certificate_manager`).

A `CertificateManager` holds one credential file and what its certificate must say (a
`Template`: subject, SANs, signer). It asks for a new certificate, with a fresh key and
through the node's current client:

- at once when there is none, it has expired, or it no longer matches the template (the
  node's addresses changed);
- else at a deadline drawn once per certificate between 70% and 90% of its lifetime, as
  upstream's jittered deadline, so that nodes do not all rotate together.

The new credential replaces the file atomically and `on_rotated` is told (the client swaps
its TLS context, the kubelet server restarts on the new certificate). A failed attempt
(unreachable server, a request denied or unanswered for 15 minutes) is retried with
backoff while the current certificate, if any, stays in use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from kybernetes.api import certificates as csrs
from kybernetes.api import timeutil
from kybernetes.client import ApiClient, Backoff, ClientError
from kybernetes.kubelet.certificate import credential, csr
from kybernetes.kubelet.certificate.credential import Credential

log = logging.getLogger(__name__)

# Upstream's certificateWaitTimeout.
WAIT_TIMEOUT = 15 * 60.0


@dataclass(frozen=True)
class Template:
    """What the certificate must name and which signer issues it."""

    common_name: str
    organizations: tuple[str, ...]
    signer: str
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    expiration_seconds: int | None = None

    @property
    def serving(self) -> bool:
        return self.signer == csrs.KUBELET_SERVING

    def matches(self, cert: x509.Certificate) -> bool:
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        if [str(n.value) for n in names] != [self.common_name] or \
                sorted(str(o.value) for o in orgs) != sorted(self.organizations):
            return False
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = set(sans.get_values_for_type(x509.DNSName))
            ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        except x509.ExtensionNotFound:
            dns, ips = set(), set()
        return dns == set(self.dns_names) and \
            ips == {str(ipaddress.ip_address(ip)) for ip in self.ips}


def rotation_deadline(cred: Credential, template: Template, rng: random.Random,
                      now: dt.datetime) -> dt.datetime:
    """When to rotate: now if the certificate is unusable or mismatched, else at 70-90% of
    its lifetime."""
    if not cred.valid(now) or not template.matches(cred.certificate):
        return now
    lifetime = cred.not_after - cred.not_before
    return cred.not_before + lifetime * (0.7 + 0.2 * rng.random())


@dataclass
class CertificateManager:
    client: ApiClient
    path: Path
    template: Template
    on_rotated: Callable[[Credential], None] | None = None
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.current: Credential | None = credential.load(self.path)
        self.ready = asyncio.Event()
        if self.current is not None and self.current.valid():
            self.ready.set()

    async def run(self) -> None:
        """Rotate whenever due, until cancelled."""
        backoff = Backoff(2.0, 300.0, reset_after=3600.0)
        while True:
            now = timeutil.now()
            due = now if self.current is None else \
                rotation_deadline(self.current, self.template, self.rng, now)
            if due > now:
                log.info("certificate %s rotates at %s", self.path.name, due.isoformat())
                await asyncio.sleep((due - now).total_seconds())
            try:
                await self.rotate()
            except (ClientError, csr.CertificateRequestError, ValueError, TimeoutError) as err:
                delay = backoff.next()
                log.warning("rotating certificate %s failed (%s); again in %.0fs",
                            self.path.name, err or type(err).__name__, delay)
                await asyncio.sleep(delay)

    async def rotate(self) -> Credential:
        """A new key and certificate, now."""
        t = self.template
        key = csr.new_key()
        request = csr.make_request(key, t.common_name, t.organizations, dns_names=t.dns_names,
                                   ips=t.ips)
        made = await csr.create_request(
            self.client, request, signer=t.signer,
            usages=csrs.key_usages_for(key, server=t.serving),
            expiration_seconds=t.expiration_seconds)
        name = made["metadata"]["name"]
        async with asyncio.timeout(WAIT_TIMEOUT):
            cert_pem = await csr.wait_for_certificate(self.client, name)
        saved = credential.save(self.path, cert_pem, key)
        log.info("certificate %s issued (csr %s, valid until %s)", self.path.name, name,
                 saved.not_after.isoformat())
        self.current = saved
        self.ready.set()
        if self.on_rotated is not None:
            self.on_rotated(saved)
        return saved
