"""The authenticator interface the app's filter chain calls on every request.

`authenticate` returns who sent the request: the identity its credential proves, with
`system:authenticated` added, or `system:anonymous` when it carries no credential at all.
A credential that is present but not valid (unknown or expired token, tampered JWT) is a
401 `Status` (`errors.unauthorized()`), never a fall-back to anonymous, as upstream's
union authenticator does.
"""

from __future__ import annotations

from typing import Protocol

from kybernetes.apiserver.authn.user import UserInfo
from kybernetes.apiserver.http import Request


class Authenticator(Protocol):
    async def authenticate(self, request: Request) -> UserInfo: ...
