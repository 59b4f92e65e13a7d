"""Auditing in the API server: the policy and the log together, the per-request trail in a
context variable, and the observers that tell the trail who authenticated and what the
authorizer decided.

`install` gives None unless both `--audit-policy-file` and `--audit-log-path` are set: then
the app does nothing for audit at all. Otherwise the app `begin`s a trail for each request;
the authenticator and authorizer handed to the app are wrapped (`observe_authentication`,
`observe_authorization`) so that the outcome of the request's own authentication and
authorization lands in its trail, as upstream's filters record them, while the
authenticator and authorizer themselves stay unaware of auditing. Admission plugins add
their annotations with `annotate`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from kybernetes.api import errors
from kybernetes.apiserver.audit.event import Trail
from kybernetes.apiserver.audit.policy import Policy, load_policy
from kybernetes.apiserver.audit.writer import AuditLog
from kybernetes.apiserver.authn.interface import Authenticator
from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.authz.attributes import Attributes
from kybernetes.apiserver.authz.authorizer import Authorizer, Decision
from kybernetes.apiserver.http import Request

if TYPE_CHECKING:
    from kybernetes.apiserver.server import ApiServerConfig

_trail: ContextVar[Trail | None] = ContextVar("audit_trail", default=None)


class Auditor:
    def __init__(self, policy: Policy, log: AuditLog) -> None:
        self.policy = policy
        self.log = log

    def begin(self, request: Request, audit_id: str, *, websocket: bool = False) -> Trail:
        """The trail of a request now arriving (the current one from here on)."""
        trail = Trail(self.policy, self.log.write, request, audit_id, websocket=websocket)
        _trail.set(trail)
        return trail

    async def close(self) -> None:
        await self.log.close()


def install(config: ApiServerConfig) -> Auditor | None:
    """The auditor of the server's flags; None when auditing is off. Raises PolicyError
    for a policy that cannot be used, OSError for a log that cannot be opened."""
    if config.audit_policy_file is None or not config.audit_log_path:
        return None
    policy = load_policy(config.audit_policy_file)
    return Auditor(policy, AuditLog(config.audit_log_path, max_size=config.audit_log_maxsize,
                                    max_backups=config.audit_log_maxbackup,
                                    max_age=config.audit_log_maxage))


def annotate(key: str, value: str) -> None:
    """An annotation on the current request's audit event (an admission plugin's verdict,
    say); nothing when the request is not audited."""
    trail = _trail.get()
    if trail is not None and trail.active:
        trail.annotate(key, value)


class _ObservedAuthenticator:
    def __init__(self, inner: Authenticator) -> None:
        self.inner = inner

    async def authenticate(self, request: Request) -> UserInfo:
        trail = _trail.get()
        if trail is None or trail.phase != "authenticating":
            return await self.inner.authenticate(request)
        try:
            user = await self.inner.authenticate(request)
        except errors.StatusError as err:
            if err.code == 401:
                trail.refused_credentials()
            raise
        trail.authenticated(user, request)
        return user


class _ObservedAuthorizer:
    def __init__(self, inner: Authorizer) -> None:
        self.inner = inner

    def authorize(self, attrs: Attributes) -> Decision:
        decision = self.inner.authorize(attrs)
        trail = _trail.get()
        # The last decision while the request is admitted is the request's own (checks of
        # impersonation come before it).
        if trail is not None and trail.phase == "authorizing" and trail.active:
            trail.decided(decision)
        return decision


def observe_authentication(auditor: Auditor | None, inner: Authenticator) -> Authenticator:
    return inner if auditor is None else _ObservedAuthenticator(inner)


def observe_authorization(auditor: Auditor | None, inner: Authorizer) -> Authorizer:
    return inner if auditor is None else _ObservedAuthorizer(inner)
