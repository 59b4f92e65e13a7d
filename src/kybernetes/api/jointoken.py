"""The node join token, shared by `kyb server` (which writes it) and `kyb agent` (which joins
with it): k3s' secure format `K10<sha256 hex of the cluster CA certificate>::<credential>`,
where the credential is a bootstrap token `<id>.<secret>` (`[a-z0-9]{6}.[a-z0-9]{16}`, as
kubeadm's). The hash lets an agent trust the CA it downloads over an unverified
connection; the bootstrap token authenticates it as `system:bootstrap:<id>`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass

PREFIX = "K10"
_BOOTSTRAP = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_FULL = re.compile(r"^K10([0-9a-f]{64})::(.*)$")
_ALPHABET = string.ascii_lowercase + string.digits

FORMAT_HELP = ("expected <id>.<secret> (6 and 16 characters of [a-z0-9]) or "
               "K10<sha256 of the CA certificate>::<id>.<secret>")


class TokenError(ValueError):
    """A token that is not in a format kybernetes accepts."""


def ca_hash(ca_pem: bytes) -> str:
    """The sha256 (hex) of the CA certificate file's bytes, as k3s hashes `cacerts`."""
    return hashlib.sha256(ca_pem).hexdigest()


@dataclass(frozen=True)
class JoinToken:
    token_id: str
    secret: str
    # The CA's hash; empty for a bare bootstrap token.
    ca_hash: str = ""

    @property
    def bootstrap_token(self) -> str:
        """The bearer token: `<id>.<secret>`."""
        return f"{self.token_id}.{self.secret}"

    def full(self, ca_sha256: str) -> str:
        return f"{PREFIX}{ca_sha256}::{self.bootstrap_token}"


def parse(text: str) -> JoinToken:
    """A `K10...::<id>.<secret>` or bare `<id>.<secret>` token."""
    text = text.strip()
    digest = ""
    full = _FULL.match(text)
    if full is not None:
        digest, text = full[1], full[2]
    found = _BOOTSTRAP.match(text)
    if found is None:
        raise TokenError(f"the token is not valid: {FORMAT_HELP}")
    return JoinToken(found[1], found[2], digest)


def generate() -> JoinToken:
    def random(length: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(length))

    return JoinToken(random(6), random(16))
