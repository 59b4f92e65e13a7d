"""The identity a request runs as, and the well-known users and groups.

`UserInfo` is upstream's `user.Info`: a name, a uid, groups and extra attributes. Every
request carries one after authentication (`requestcontext.current_user`), anonymous ones
included (`system:anonymous` in `system:unauthenticated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kybernetes.api.validation.meta import name_is_dns_label, name_is_dns_subdomain

ANONYMOUS = "system:anonymous"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"
SYSTEM_MASTERS = "system:masters"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
KUBE_SCHEDULER = "system:kube-scheduler"
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
APISERVER_USER = "system:apiserver"


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_user_info(self) -> dict[str, object]:
        """The `UserInfo` of TokenReview/SelfSubjectReview status."""
        body: dict[str, object] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            body["uid"] = self.uid
        if self.extra:
            body["extra"] = {k: list(v) for k, v in self.extra.items()}
        return body

    def fields(self) -> dict[str, object]:
        """The user as an audit event's `user` and a CertificateSigningRequest's spec write
        it: `username`, then `uid`, `groups` and `extra` where set."""
        body: dict[str, object] = {"username": self.name}
        if self.uid:
            body["uid"] = self.uid
        if self.groups:
            body["groups"] = list(self.groups)
        if self.extra:
            body["extra"] = {k: list(v) for k, v in self.extra.items()}
        return body


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(ALL_UNAUTHENTICATED,))
# What the API server's own writes (bootstrap objects, internal clean-up) run as.
APISERVER = UserInfo(APISERVER_USER, groups=(SYSTEM_MASTERS,))


def with_authenticated(user: UserInfo) -> UserInfo:
    """An authenticated user gets `system:authenticated`, as upstream's group adder does."""
    if ALL_AUTHENTICATED in user.groups or user.name == ANONYMOUS:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, ALL_AUTHENTICATED), user.extra)


def service_account_user(namespace: str, name: str, uid: str = "",
                         extra: Mapping[str, tuple[str, ...]] | None = None) -> UserInfo:
    return UserInfo(f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}", uid,
                    (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}",
                     ALL_AUTHENTICATED), extra or {})


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of `system:serviceaccount:<ns>:<name>` with a valid namespace and
    name (upstream's `SplitUsername`), else None."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    parts = username.removeprefix(SERVICE_ACCOUNT_PREFIX).split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if name_is_dns_label(namespace, False) or name_is_dns_subdomain(name, False):
        return None
    return namespace, name


def node_name_of(user: UserInfo) -> str | None:
    """The node a kubelet identity speaks for (`system:node:<name>` in `system:nodes`)."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_USER_PREFIX):
        return None
    return user.name.removeprefix(NODE_USER_PREFIX) or None
