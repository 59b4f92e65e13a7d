"""Serving the dashboard's built files at `/dashboard/` (raw ASGI), without authentication:
they are public assets, the same for everyone; what the app then asks the API for is
authenticated and authorized as any request.

Files come from `static/` beside this module (the front-end build's output, shipped in the
package). Hashed assets are cached for good; `index.html` is revalidated so a new build is
picked up. A strict Content-Security-Policy keeps the page to its own origin.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"

_NOT_BUILT = (b"the dashboard is not built: run `npm ci && npm run build` in dashboard/ "
              b"(or install kybernetes from a built wheel)\n")

# Same origin only; xterm.js writes inline styles, hence 'unsafe-inline' for styles alone.
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
     b"form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

Send = Callable[[dict[str, Any]], Awaitable[None]]


def serves(path: str) -> bool:
    """Whether `path` is the dashboard's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class Assets:
    """The built files, read once each (they do not change while the server runs)."""

    def __init__(self, root: Path = STATIC) -> None:
        self.root = root.resolve()
        self._cache: dict[Path, bytes] = {}

    def _file(self, path: str) -> Path | None:
        relative = path.removeprefix(PREFIX).lstrip("/") or "index.html"
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _read(self, file: Path) -> bytes:
        body = self._cache.get(file)
        if body is None:
            body = self._cache[file] = file.read_bytes()
        return body

    async def __call__(self, scope: dict[str, Any], send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b"method not allowed\n", headers=[(b"allow", b"GET, HEAD")])
            return
        if path == PREFIX:
            await _respond(send, 301, b"", headers=[(b"location", b"/dashboard/")])
            return
        if not (self.root / "index.html").is_file():
            await _respond(send, 503, _NOT_BUILT)
            return
        file = self._file(path)
        if file is None:
            await _respond(send, 404, b"not found\n")
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        immutable = file.parent.name == "assets"
        cache = b"public, max-age=31536000, immutable" if immutable else b"no-cache"
        body = self._read(file)
        await _respond(send, 200, body, content_type.encode(), [(b"cache-control", cache)],
                       head=method == "HEAD")


async def _respond(send: Send, status: int, body: bytes,
                   content_type: bytes = b"text/plain; charset=utf-8",
                   headers: list[tuple[bytes, bytes]] | None = None, *, head: bool = False
                   ) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        *_SECURITY_HEADERS, *(headers or [])]})
    await send({"type": "http.response.body", "body": b"" if head else body})
