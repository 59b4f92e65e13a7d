"""Impersonation headers, against a real API server in this process whose requesters are
static-token users (one in system:masters, one not) under the server's authorizer chain;
and the filter itself under an authorizer that allows only some parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess

from kybernetes.api import errors
from kybernetes.apiserver.authn.impersonation import impersonate
from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import NO_OPINION, Decision, PrivilegedGroups
from kybernetes.apiserver.http import Request

SELF = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
ADMIN = {"Authorization": "Bearer admin-token"}
BOB = {"Authorization": "Bearer bob-token"}


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("admin-token,root,0,system:masters\nbob-token,bob,1\n")
    async with (inprocess.apiserver(tmp_path, token_auth_file=tokens) as server,
                inprocess.http_client(server.app) as client):
        yield client


async def whoami(http: httpx.AsyncClient, headers: list[tuple[str, str]]) -> httpx.Response:
    return await http.post(SELF, json={}, headers=headers)


async def test_a_master_impersonates_a_user_with_groups_uid_and_extras(
        http: httpx.AsyncClient) -> None:
    response = await whoami(http, [*ADMIN.items(), ("Impersonate-User", "jane"),
                                   ("Impersonate-Group", "system:masters"),
                                   ("Impersonate-Group", "a,b"), ("Impersonate-Uid", "u-1"),
                                   ("Impersonate-Extra-Scopes", "view"),
                                   ("Impersonate-Extra-Scopes", "edit"),
                                   ("Impersonate-Extra-Example.org%2fteam", "x")])
    assert response.status_code == 201, response.text
    assert response.json()["status"]["userInfo"] == {
        "username": "jane", "uid": "u-1",
        "groups": ["system:masters", "a,b", "system:authenticated"],
        "extra": {"scopes": ["view", "edit"], "example.org/team": ["x"]}}


async def test_a_plain_user_may_not_impersonate(http: httpx.AsyncClient) -> None:
    response = await whoami(http, [*BOB.items(), ("Impersonate-User", "jane")])
    assert response.status_code == 403
    assert response.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'users "jane" is forbidden: User "bob" cannot impersonate resource "users" '
                   'in API group "" at the cluster scope',
        "reason": "Forbidden", "details": {"name": "jane", "kind": "users"}, "code": 403}
    as_account = await whoami(http, [*BOB.items(),
                                     ("Impersonate-User", "system:serviceaccount:ns1:robot")])
    assert as_account.status_code == 403
    assert as_account.json()["message"] == (
        'serviceaccounts "robot" is forbidden: User "bob" cannot impersonate resource '
        '"serviceaccounts" in API group "" in the namespace "ns1"')


async def test_groups_without_a_user_are_a_bad_request(http: httpx.AsyncClient) -> None:
    response = await whoami(http, [*ADMIN.items(), ("Impersonate-Group", "g"),
                                   ("Impersonate-Uid", "u")])
    assert response.status_code == 400
    assert response.json()["message"] == (
        "requested [{Group  g    } {UID  u  authentication.k8s.io/v1  }] without "
        "impersonating a user")


def request(*headers: tuple[str, str]) -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/api", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers]}
    return Request(scope, receive)


MASTER = UserInfo("root", groups=("system:masters", "system:authenticated"))


def test_service_accounts_and_anonymous_get_their_groups() -> None:
    allow = PrivilegedGroups()
    account = impersonate(request(("Impersonate-User", "system:serviceaccount:ns1:robot")),
                          MASTER, allow)
    assert account == UserInfo("system:serviceaccount:ns1:robot", groups=(
        "system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"))
    # Not a valid service account name: an ordinary user name.
    odd = impersonate(request(("Impersonate-User", "system:serviceaccount:NS:x")), MASTER, allow)
    assert odd.groups == ("system:authenticated",)
    anonymous = impersonate(request(("Impersonate-User", "system:anonymous")), MASTER, allow)
    assert anonymous.groups == ("system:unauthenticated",)
    # Groups asked for are the authority: system:unauthenticated keeps authenticated out.
    chosen = impersonate(request(("Impersonate-User", "jane"),
                                 ("Impersonate-Group", "system:unauthenticated")), MASTER, allow)
    assert chosen.groups == ("system:unauthenticated",)
    # No impersonation headers: the requester, untouched.
    assert impersonate(request(("Accept", "*/*")), MASTER, allow) is MASTER


class UsersOnly:
    """Allows impersonating users, nothing else."""

    def __init__(self) -> None:
        self.asked: list[Attributes] = []

    def authorize(self, attrs: Attributes) -> Decision:
        self.asked.append(attrs)
        return Decision("allow") if attrs.resource == "users" else NO_OPINION


def test_each_part_is_authorized_on_its_own() -> None:
    requester = UserInfo("bob", groups=("system:authenticated",))
    authorizer = UsersOnly()
    assert impersonate(request(("Impersonate-User", "jane")), requester, authorizer).name == \
        "jane"
    with pytest.raises(errors.StatusError) as refused:
        impersonate(request(("Impersonate-User", "jane"), ("Impersonate-Extra-Scopes", "view")),
                    requester, authorizer)
    assert refused.value.code == 403
    assert refused.value.message == (
        'userextras.authentication.k8s.io "view" is forbidden: User "bob" cannot impersonate '
        'resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster '
        "scope")
    extra = authorizer.asked[-1]
    assert (extra.verb, extra.api_group, extra.resource, extra.subresource, extra.name) == (
        "impersonate", "authentication.k8s.io", "userextras", "scopes", "view")
    with pytest.raises(errors.StatusError,
                       match=r'^uids\.authentication\.k8s\.io "u-1" is forbidden'):
        impersonate(request(("Impersonate-User", "jane"), ("Impersonate-Uid", "u-1")),
                    requester, authorizer)
