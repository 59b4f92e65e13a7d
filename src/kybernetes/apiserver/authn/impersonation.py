"""Impersonation (upstream's `filters/impersonation.go`): a request with `Impersonate-User`
(and optionally `Impersonate-Group`, `Impersonate-Uid`, `Impersonate-Extra-<key>`) runs as
that identity, if its sender may `impersonate` each part of it.

Each part is authorized separately: `users`, `groups` and `serviceaccounts` (namespaced) in
the core group, `uids` and `userextras/<key>` in `authentication.k8s.io`, the name being the
value asked for. A refusal is upstream's 403 for that check. Groups, uid or extras without a
user are a 400. An impersonated user that is not anonymous gets `system:authenticated`
unless the groups asked for say otherwise; a service account without groups asked for gets
its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kybernetes.api import errors
from kybernetes.apiserver.authn.user import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    SERVICE_ACCOUNT_PREFIX,
    SERVICE_ACCOUNTS_GROUP,
    UserInfo,
    split_service_account,
)
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import Authorizer, forbidden_error
from kybernetes.apiserver.http import Request

USER_HEADER = b"impersonate-user"
GROUP_HEADER = b"impersonate-group"
UID_HEADER = b"impersonate-uid"
EXTRA_PREFIX = b"impersonate-extra-"
AUTHENTICATION_GROUP = "authentication.k8s.io"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class _Ask:
    """One thing to impersonate (upstream builds an ObjectReference per part)."""

    kind: str
    name: str
    namespace: str = ""
    api_version: str = ""
    field_path: str = ""

    def go_string(self) -> str:
        """Go's `%v` of the ObjectReference: its seven fields, space-separated."""
        return "{" + " ".join((self.kind, self.namespace, self.name, "", self.api_version, "",
                               self.field_path)) + "}"

    def attributes(self, requester: UserInfo) -> Attributes:
        if self.kind == "ServiceAccount":
            return Attributes(requester, "impersonate", True, resource="serviceaccounts",
                              namespace=self.namespace, name=self.name)
        if self.kind in ("User", "Group"):
            return Attributes(requester, "impersonate", True, resource=f"{self.kind.lower()}s",
                              name=self.name)
        if self.kind == "UID":
            return Attributes(requester, "impersonate", True, api_group=AUTHENTICATION_GROUP,
                              api_version="v1", resource="uids", name=self.name)
        return Attributes(requester, "impersonate", True, api_group=AUTHENTICATION_GROUP,
                          api_version="v1", resource="userextras", subresource=self.field_path,
                          name=self.name)


def wants_impersonation(request: Request) -> bool:
    return any(name.startswith("impersonate-") for name in request.headers)


def _unescape(key: str) -> str:
    """Go's `url.PathUnescape`, the key unchanged when it is malformed."""
    if "%" in key and len(_PERCENT.findall(key)) != key.count("%"):
        return key
    return re.sub(_PERCENT, lambda m: chr(int(m[0][1:], 16)), key).encode("latin-1") \
        .decode("utf-8", "replace")


def _asks(headers: Sequence[tuple[bytes, bytes]]) -> list[_Ask]:
    """Upstream's `buildImpersonationRequests`: the user, each group, each extra value, the
    uid; 400 for groups, extras or a uid without a user."""
    user = uid = ""
    groups: list[str] = []
    extras: list[tuple[str, str]] = []
    for raw_name, raw_value in headers:
        name, value = raw_name.lower(), raw_value.decode("latin-1")
        if name == USER_HEADER and not user:
            user = value
        elif name == UID_HEADER and not uid:
            uid = value
        elif name == GROUP_HEADER:
            groups.append(value)
        elif name.startswith(EXTRA_PREFIX):
            extras.append((_unescape(name[len(EXTRA_PREFIX):].decode("latin-1")), value))
    asks: list[_Ask] = []
    if user:
        account = split_service_account(user)
        asks.append(_Ask("ServiceAccount", account[1], account[0]) if account
                    else _Ask("User", user))
    asks += [_Ask("Group", group) for group in groups]
    asks += [_Ask("UserExtra", value, api_version=f"{AUTHENTICATION_GROUP}/v1", field_path=key)
             for key, value in extras]
    if uid:
        asks.append(_Ask("UID", uid, api_version=f"{AUTHENTICATION_GROUP}/v1"))
    if (groups or extras or uid) and not user:
        listed = " ".join(a.go_string() for a in asks)
        raise errors.bad_request(f"requested [{listed}] without impersonating a user")
    return asks


def impersonate(request: Request, requester: UserInfo, authorizer: Authorizer) -> UserInfo:
    """The identity the request runs as: `requester`, or whom it may impersonate."""
    if not wants_impersonation(request):
        return requester
    asks = _asks(request.scope.get("headers", []))
    if not asks:
        return requester
    groups_given = any(a.kind == "Group" for a in asks)
    username = uid = ""
    groups: list[str] = []
    extra: dict[str, tuple[str, ...]] = {}
    for ask in asks:
        attrs = ask.attributes(requester)
        decision = authorizer.authorize(attrs)
        if not decision.allowed:
            raise forbidden_error(attrs, decision.reason)
        if ask.kind == "ServiceAccount":
            username = f"{SERVICE_ACCOUNT_PREFIX}{ask.namespace}:{ask.name}"
            if not groups_given:
                groups = [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{ask.namespace}"]
        elif ask.kind == "User":
            username = ask.name
        elif ask.kind == "Group":
            groups.append(ask.name)
        elif ask.kind == "UID":
            uid = ask.name
        else:
            extra[ask.field_path] = (*extra.get(ask.field_path, ()), ask.name)
    if username != ANONYMOUS:
        if ALL_AUTHENTICATED not in groups and ALL_UNAUTHENTICATED not in groups:
            groups.append(ALL_AUTHENTICATED)
    elif ALL_UNAUTHENTICATED not in groups:
        groups.append(ALL_UNAUTHENTICATED)
    return UserInfo(username, uid, tuple(groups), extra)
