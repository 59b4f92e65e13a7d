"""The dashboard's static files as the API server serves them: without credentials, the
right types and caching, a redirect for the bare prefix, nothing outside the build, 503
when the front-end was not built. Driven through the raw ASGI interface.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kybernetes.dashboard.assets import Assets, serves


def fetch(assets: Assets, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(assets({"type": "http", "path": path, "method": method}, send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"]


def built(tmp_path: Path) -> Assets:
    (tmp_path / "assets").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<html>app</html>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("outside")
    return Assets(tmp_path)


def test_paths_it_serves() -> None:
    assert serves("/dashboard") and serves("/dashboard/") and serves("/dashboard/assets/x.js")
    assert not serves("/dashboards") and not serves("/api/v1/dashboard")


def test_index_and_assets(tmp_path: Path) -> None:
    assets = built(tmp_path / "static")
    status, headers, body = fetch(assets, "/dashboard/")
    assert (status, body) == (200, b"<html>app</html>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in headers["content-security-policy"]
    status, headers, _ = fetch(assets, "/dashboard/assets/index-abc.js")
    assert status == 200 and "javascript" in headers["content-type"]
    assert "immutable" in headers["cache-control"]
    status, headers, body = fetch(assets, "/dashboard/index.html", "HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "16")


def test_redirect_missing_and_outside(tmp_path: Path) -> None:
    assets = built(tmp_path / "static")
    status, headers, _ = fetch(assets, "/dashboard")
    assert (status, headers["location"]) == (301, "/dashboard/")
    assert fetch(assets, "/dashboard/nope.js")[0] == 404
    assert fetch(assets, "/dashboard/../secret.txt")[0] == 404
    assert fetch(assets, "/dashboard/%2e%2e/secret.txt")[0] == 404
    assert fetch(assets, "/dashboard/", "POST")[0] == 405


def test_not_built(tmp_path: Path) -> None:
    status, _, body = fetch(Assets(tmp_path), "/dashboard/")
    assert status == 503 and b"npm run build" in body
