"""The delegating filters of a server of non-resource paths (the controller manager's and
the scheduler's secure ports) against an API server that answers reviews as the real one
would: who is anonymous, who is unauthorized, who is forbidden, what is never asked, what is
cached and for how long."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from kybernetes.client import ApiClient, ClientConfig
from kybernetes.client.delegatedauth import (
    Attributes,
    DelegatingAuth,
    Refusal,
    User,
    client_ca,
    path_allowed,
    review_spec,
)
from tests.client.fakereviews import ReviewingApi
from tests.kubelet.fakeapi import Clock

PROMETHEUS = "system:serviceaccount:monitoring:prometheus"
BEARER = [(b"authorization", b"Bearer prom-token")]


@dataclass
class Setup:
    auth: DelegatingAuth
    api: ReviewingApi
    clock: Clock
    client: ApiClient


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    api, clock = ReviewingApi(), Clock(1000.0)
    api.tokens["prom-token"] = {"authenticated": True, "user": {
        "username": PROMETHEUS, "uid": "u-1", "groups": ["system:serviceaccounts"]}}
    config = ClientConfig(server="http://api.test", qps=0)
    async with ApiClient(config, transport=httpx.ASGITransport(app=api)) as client:
        yield Setup(DelegatingAuth.through(client, clock=clock), api, clock, client)


def status(refusal: Refusal | None) -> tuple[int, str, dict[str, object]]:
    assert refusal is not None
    return refusal.status, refusal.content_type, orjson.loads(refusal.message)


async def test_no_credential_is_anonymous_and_forbidden(setup: Setup) -> None:
    refusal = await setup.auth.refusal(None, [], "GET", "/metrics")
    assert status(refusal) == (403, "application/json", {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'forbidden: User "system:anonymous" cannot get path "/metrics"',
        "reason": "Forbidden", "code": 403})
    assert setup.api.reviews == [("SubjectAccessReview", {
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
        "user": "system:anonymous", "groups": ["system:unauthenticated"]})]


async def test_a_refused_token_is_unauthorized(setup: Setup) -> None:
    headers = [(b"authorization", b"Bearer stolen")]
    refusal = await setup.auth.refusal(None, headers, "GET", "/metrics")
    assert status(refusal) == (401, "application/json", {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    # Not even /healthz: a credential nobody accepts is no one, not the anonymous user.
    assert (await setup.auth.refusal(None, headers, "GET", "/healthz")) is not None


async def test_probes_are_always_allowed_without_a_review(setup: Setup) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        assert await setup.auth.refusal(None, [], "GET", path) is None
    assert (await setup.auth.refusal(None, [], "GET", "/healthz/etcd")) is not None
    assert setup.api.count("SubjectAccessReview") == 1  # /healthz/etcd's


async def test_a_granted_token_passes_and_answers_are_cached_10_seconds(setup: Setup) -> None:
    setup.api.grants.add(("system:serviceaccounts", "get", "/metrics"))
    assert await setup.auth.refusal(None, BEARER, "GET", "/metrics") is None
    assert await setup.auth.refusal(None, BEARER, "GET", "/metrics") is None
    assert setup.api.reviews[1] == ("SubjectAccessReview", {
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"}, "user": PROMETHEUS,
        "groups": ["system:serviceaccounts", "system:authenticated"], "uid": "u-1"})
    assert (setup.api.count("TokenReview"), setup.api.count("SubjectAccessReview")) == (1, 1)
    setup.clock.now += 10
    assert await setup.auth.refusal(None, BEARER, "GET", "/metrics") is None
    assert (setup.api.count("TokenReview"), setup.api.count("SubjectAccessReview")) == (2, 2)


async def test_a_post_is_asked_as_its_method(setup: Setup) -> None:
    setup.api.grants.add((PROMETHEUS, "get", "/metrics"))
    refusal = await setup.auth.refusal(None, BEARER, "POST", "/metrics")
    assert status(refusal)[2]["message"] == \
        f'forbidden: User "{PROMETHEUS}" cannot post path "/metrics"'


async def test_system_masters_is_never_asked(setup: Setup) -> None:
    setup.api.tokens["admin"] = {"authenticated": True, "user": {
        "username": "admin", "groups": ["system:masters"]}}
    headers = [(b"authorization", b"Bearer admin")]
    assert await setup.auth.refusal(None, headers, "GET", "/metrics") is None
    assert setup.api.count("SubjectAccessReview") == 0


async def test_a_failed_review_is_an_internal_error(setup: Setup) -> None:
    setup.api.failing = True
    refusal = await setup.auth.refusal(None, BEARER, "GET", "/metrics")
    assert refusal is not None
    assert (refusal.status, refusal.content_type) == (500, "text/plain; charset=utf-8")
    assert refusal.message.startswith('Internal Server Error: "/metrics": subject access '
                                      "review failed")


async def test_the_client_ca_is_read_from_the_config_map(setup: Setup) -> None:
    assert await client_ca(setup.client) is None
    setup.api.client_ca = "-----BEGIN CERTIFICATE-----\n..."
    assert await client_ca(setup.client) == "-----BEGIN CERTIFICATE-----\n..."


@pytest.mark.parametrize(("path", "allowed"), [
    ("/healthz", True), ("/healthz/", False), ("/livez/ping", True), ("/livez", True),
    ("/metrics", False), ("/readyz", False)])
def test_always_allowed_paths_are_exact_or_prefixes(path: str, allowed: bool) -> None:
    assert path_allowed(path, ("/healthz", "/livez*")) is allowed


def test_a_resource_request_is_asked_by_its_resource_attributes() -> None:
    attrs = Attributes(User("jane", groups=("devs",)), "get", "/stats/summary", resource="nodes",
                  subresource="stats", name="n1", version="v1")
    assert review_spec(attrs) == {
        "resourceAttributes": {"verb": "get", "version": "v1", "resource": "nodes",
                               "subresource": "stats", "name": "n1"},
        "user": "jane", "groups": ["devs"]}
