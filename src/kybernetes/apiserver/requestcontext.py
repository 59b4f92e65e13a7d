"""Per-request context the handlers and the store read without threading it through every
call, as upstream's `context.Context` carries it: who is asking, and the warnings to send
back (`Warning` headers, e.g. from PodSecurity) and the audit annotations to record.

The app's filter chain sets these for each request; code outside a request (bootstrap
writes) sees the API server's own privileged identity.
"""

from __future__ import annotations

from contextvars import ContextVar

from kybernetes.apiserver.authn.user import APISERVER, UserInfo

_user: ContextVar[UserInfo] = ContextVar("user", default=APISERVER)
_warnings: ContextVar[list[str] | None] = ContextVar("warnings", default=None)


def current_user() -> UserInfo:
    return _user.get()


def set_user(user: UserInfo) -> None:
    _user.set(user)


def start_warnings() -> list[str]:
    """A fresh list of warnings for the current request (returned for the response)."""
    collected: list[str] = []
    _warnings.set(collected)
    return collected


def add_warning(text: str) -> None:
    """A warning for the client (deduplicated); dropped outside a request."""
    collected = _warnings.get()
    if collected is not None and text not in collected:
        collected.append(text)


def warning_header(text: str) -> str:
    """A `Warning` header value as upstream writes it (`299 - "text"`): quotes and
    backslashes escaped, anything outside printable ASCII replaced, so user text can never
    break the header."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in text)
    escaped = safe.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'
