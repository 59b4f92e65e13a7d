"""Client-certificate authentication (upstream's x509 request authenticator): a
certificate the TLS handshake verified against the cluster CA names the user by its CN and
the groups by its O values.
"""

from __future__ import annotations

import functools

from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.http import Request
from kybernetes.apiserver.pki import client_identity
from kybernetes.apiserver.tlspeer import client_certificate


@functools.lru_cache(maxsize=4096)
def _identity(der: bytes) -> UserInfo | None:
    found = client_identity(der)
    if found is None:
        return None
    name, groups = found
    return UserInfo(name, groups=tuple(groups))


class X509Authenticator:
    def authenticate(self, request: Request) -> UserInfo | None:
        """The certificate's identity; None without a usable client certificate."""
        der = client_certificate(request.scope)
        return None if der is None else _identity(der)
