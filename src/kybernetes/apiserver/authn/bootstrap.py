"""Bootstrap tokens (upstream's `plugin/pkg/auth/authenticator/token/bootstrap` and
`k8s.io/cluster-bootstrap`): `<id>.<secret>` bearer tokens backed by kube-system Secrets
`bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`, with which a joining node
authenticates before it has a certificate.

Such a token is `system:bootstrap:<id>` in `system:bootstrappers` plus the Secret's
`auth-extra-groups` (each `system:bootstrappers:...`); a Secret being deleted, expired, not
marked `usage-bootstrap-authentication=true`, or whose id or secret differ, authenticates
nothing. `token_secret` makes such a Secret, as kubeadm does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from kybernetes.apiserver.authn.getter import ObjectGetter
from kybernetes.apiserver.authn.tokens import TokenResponse
from kybernetes.apiserver.authn.user import BOOTSTRAPPERS_GROUP, UserInfo

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
USER_PREFIX = "system:bootstrap:"
TOKEN_ID_KEY = "token-id"
TOKEN_SECRET_KEY = "token-secret"
EXPIRATION_KEY = "expiration"
DESCRIPTION_KEY = "description"
EXTRA_GROUPS_KEY = "auth-extra-groups"
USAGE_PREFIX = "usage-bootstrap-"
USAGE_AUTHENTICATION = USAGE_PREFIX + "authentication"

TOKEN_PATTERN = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
GROUP_PATTERN = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")
_RFC3339 = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


def parse_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of `<id>.<secret>`, None when the token is not of that form."""
    match = TOKEN_PATTERN.match(token)
    return None if match is None else (match[1], match[2])


def validate_group(group: str) -> None:
    if not GROUP_PATTERN.match(group):
        raise ValueError(f"bootstrap group {group!r} is invalid (must match "
                         f"{GROUP_PATTERN.pattern})")


def token_secret(token_id: str, secret: str, *, extra_groups: Sequence[str] = (),
                 usages: Sequence[str] = ("authentication", "signing"), expiration: str = "",
                 description: str = "") -> dict[str, Any]:
    """The Secret body of bootstrap token `<token_id>.<secret>` (kubeadm's
    `BootstrapTokenToSecret`); `expiration` is RFC 3339, empty for none."""
    if parse_token(f"{token_id}.{secret}") is None:
        raise ValueError("a bootstrap token is [a-z0-9]{6}.[a-z0-9]{16}")
    for group in extra_groups:
        validate_group(group)
    data = {TOKEN_ID_KEY: token_id, TOKEN_SECRET_KEY: secret}
    if description:
        data[DESCRIPTION_KEY] = description
    if expiration:
        data[EXPIRATION_KEY] = expiration
    for usage in usages:
        data[USAGE_PREFIX + usage] = "true"
    if extra_groups:
        data[EXTRA_GROUPS_KEY] = ",".join(extra_groups)
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET_PREFIX + token_id, "namespace": NAMESPACE},
            "type": SECRET_TYPE,
            "data": {k: base64.b64encode(v.encode()).decode("ascii") for k, v in data.items()}}


def _data(secret: dict[str, Any], key: str) -> str:
    """A key of the Secret's data, decoded; empty when absent or undecodable."""
    value = (secret.get("data") or {}).get(key)
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def has_expired(secret: dict[str, Any], now: float) -> bool:
    """An unparseable expiration counts as expired, as upstream's `HasExpired`."""
    expiration = _data(secret, EXPIRATION_KEY)
    if not expiration:
        return False
    if not _RFC3339.match(expiration):
        return True
    return datetime.fromisoformat(expiration).timestamp() < now


class BootstrapTokenAuthenticator:
    def __init__(self, objects: ObjectGetter, clock: Callable[[], float] = time.time) -> None:
        self.objects = objects
        self.clock = clock

    async def authenticate_token(self, token: str, audiences: Sequence[str]
                                 ) -> TokenResponse | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, secret_part = parsed
        name = SECRET_PREFIX + token_id
        secret = await self.objects.get(self.objects.secrets, NAMESPACE, name)
        if secret is None:
            log.debug("no secret of name %s to match bootstrap bearer token", name)
            return None
        refusal = self._refusal(secret, token_id, secret_part)
        if refusal:
            log.debug("bootstrap secret %s/%s matching bearer token %s", NAMESPACE, name, refusal)
            return None
        groups = {BOOTSTRAPPERS_GROUP}
        extra = _data(secret, EXTRA_GROUPS_KEY)
        groups.update(extra.split(",") if extra else ())
        return TokenResponse(UserInfo(USER_PREFIX + token_id, groups=tuple(sorted(groups))))

    def _refusal(self, secret: dict[str, Any], token_id: str, secret_part: str) -> str:
        """Why this Secret does not vouch for the token; empty when it does."""
        if secret["metadata"].get("deletionTimestamp"):
            return "is deleted and awaiting removal"
        if secret.get("type") != SECRET_TYPE or not secret.get("data"):
            return f"has invalid type, expected {SECRET_TYPE}."
        if not hmac.compare_digest(_data(secret, TOKEN_SECRET_KEY).encode(),
                                   secret_part.encode()):
            return f"has invalid value for key {TOKEN_SECRET_KEY}."
        if _data(secret, TOKEN_ID_KEY) != token_id:
            return f"has invalid value for key {TOKEN_ID_KEY}."
        if has_expired(secret, self.clock()):
            return "has expired."
        if _data(secret, USAGE_AUTHENTICATION) != "true":
            return f"not marked {USAGE_AUTHENTICATION}=true."
        extra = _data(secret, EXTRA_GROUPS_KEY)
        if extra and not all(GROUP_PATTERN.match(g) for g in extra.split(",")):
            return f"has invalid value for key {EXTRA_GROUPS_KEY}."
        return ""
