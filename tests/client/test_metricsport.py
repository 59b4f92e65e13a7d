"""A component's secure metrics port (cli/metricsport.py) over real TLS, its decisions asked
of an API server that answers reviews as the real one would: the client CA comes from the
`extension-apiserver-authentication` ConfigMap, certificates of that CA and reviewed tokens
get in as far as their grants go, anyone else is anonymous; probes are always answered."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter

from kybernetes.apiserver.pki import Pki, ensure_pki, issue_client_cert
from kybernetes.cli import metricsport
from kybernetes.client import ApiClient, ClientConfig
from tests.client.fakereviews import ReviewingApi

PROMETHEUS = "system:serviceaccount:monitoring:prometheus"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Port:
    api: ReviewingApi
    pki: Pki
    url: str
    tmp: Path

    def http(self, user: str | None = None, groups: tuple[str, ...] = (),
             token: str | None = None) -> httpx.AsyncClient:
        """As `user` by a certificate of the cluster CA, or by `token`, or as nobody;
        trusting any serving certificate, as a scraper without the component's CA does."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if user is not None:
            cert, key = issue_client_cert(self.pki, user, groups, self.tmp / "users")
            context.load_cert_chain(cert, key)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, verify=context, headers=headers,
                                 timeout=10)


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[Port]:
    pki = await asyncio.to_thread(ensure_pki, tmp_path / "pki", ips=["127.0.0.1"])
    api = ReviewingApi(client_ca=pki.ca_cert.read_text())
    api.tokens["prom-token"] = {"authenticated": True, "user": {"username": PROMETHEUS}}
    api.tokens["dev-token"] = {"authenticated": True, "user": {"username": "dev"}}
    registry = CollectorRegistry()
    Counter("test_scrapes", "scrapes", registry=registry).inc()
    address = f"127.0.0.1:{free_port()}"
    config = ClientConfig(server="http://api.test", qps=0)
    async with ApiClient(config, transport=httpx.ASGITransport(app=api)) as client, \
            metricsport.serving("test", address, 0, lambda: [registry], client):
        found = Port(api, pki, f"https://{address}", tmp_path)
        async with found.http() as anonymous:
            for _ in range(200):  # the certificate is made, the CA read, then it listens
                try:
                    await anonymous.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield found


async def test_probes_are_open_and_metrics_forbidden_to_anonymous(port: Port) -> None:
    async with port.http() as client:
        healthz = await client.get("/healthz")
        metrics = await client.get("/metrics")
    assert (healthz.status_code, healthz.text) == (200, "ok")
    assert metrics.status_code == 403
    assert metrics.json()["message"] == \
        'forbidden: User "system:anonymous" cannot get path "/metrics"'


async def test_a_certificate_of_the_client_ca_with_the_right_scrapes(port: Port) -> None:
    port.api.grants.add(("system:monitoring", "get", "/metrics"))
    async with port.http("prometheus", ("system:monitoring",)) as client:
        response = await client.get("/metrics")
        missing = await client.get("/nothing")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "test_scrapes_total 1.0" in response.text
    assert missing.status_code == 403  # authorized first, as upstream's filters


async def test_tokens_are_reviewed(port: Port) -> None:
    port.api.grants.add((PROMETHEUS, "get", "/metrics"))
    async with port.http(token="prom-token") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    async with port.http(token="dev-token") as client:
        forbidden = await client.get("/metrics")
    assert (forbidden.status_code, forbidden.json()["reason"]) == (403, "Forbidden")
    async with port.http(token="stolen") as client:
        refused = await client.get("/metrics")
    assert (refused.status_code, refused.json()["reason"]) == (401, "Unauthorized")


async def test_a_certificate_of_another_ca_is_refused(port: Port) -> None:
    other = await asyncio.to_thread(ensure_pki, port.tmp / "other")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(other.admin_cert, other.admin_key)
    async with httpx.AsyncClient(base_url=port.url, verify=context, timeout=10) as client:
        with pytest.raises(httpx.HTTPError):
            await client.get("/healthz")


async def test_a_taken_address_is_warned_about(port: Port,
                                               caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    config = ClientConfig(server="http://api.test", qps=0)
    with caplog.at_level(logging.WARNING, logger="kybernetes.cli.metricsport"):
        async with ApiClient(config, transport=httpx.ASGITransport(app=port.api)) as client, \
                metricsport.serving("second", port.url.removeprefix("https://"), 0,
                                    lambda: [registry], client):
            for _ in range(200):
                if "second: not serving /metrics" in caplog.text:
                    break
                await asyncio.sleep(0.05)
    assert "second: not serving /metrics" in caplog.text


def test_the_self_signed_certificate_is_upstreams() -> None:
    chain, _key = metricsport.self_signed()
    leaf, ca = x509.load_pem_x509_certificates(chain)
    assert leaf.issuer == ca.subject
    assert leaf.subject.rfc4514_string().startswith("CN=localhost@")
    assert ca.subject.rfc4514_string().startswith("CN=localhost-ca@")
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca.verify_directly_issued_by(ca)
    leaf.verify_directly_issued_by(ca)
