"""Pieces of the API servers the kubelet's tests fake as ASGI apps (reached through httpx's
ASGI transport): a clock the test moves, a request's JSON body, a JSON answer."""

from __future__ import annotations

from typing import Any

import orjson


class Clock:
    """A clock that stands still until the test moves `now`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def read_json(receive: Any) -> Any:
    """The JSON body of the request, read to its end."""
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return orjson.loads(body)


async def send_json(send: Any, code: int, answer: Any) -> None:
    """Answer `code` with `answer` as JSON."""
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps(answer)})
