"""``BodyLimit``: every request body is capped before it is read.

A pure ASGI middleware, outside everything else: a declared ``Content-Length`` over the
route's cap is answered 413 at once, without reading a byte; a body sent without one
(chunked) is counted as it streams in and answered 413 as soon as it passes the cap, so
one hostile request never holds more than the cap in memory. The cap is chosen by path
prefix (the longest that matches), the default covering every other route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB

# Twilio's own webhook bodies are a few kilobytes; a history file may be large; a form or
# a JSON body from a coordinator is small.
DEFAULT_LIMIT = 1 * MIB
WEBHOOK_LIMIT = 64 * KIB
HISTORY_LIMIT = 64 * MIB
ROUTE_LIMITS = {"/webhooks/": WEBHOOK_LIMIT, "/api/v1/history/import": HISTORY_LIMIT}


class BodyTooLarge(Exception):
    """Raised from ``receive`` once the streamed body passes the cap."""


def limit_for(
    path: str, by_prefix: Mapping[str, int] | None = None, default: int = DEFAULT_LIMIT
) -> int:
    """The cap of ``path``: the longest matching prefix's, else the default."""
    table = ROUTE_LIMITS if by_prefix is None else by_prefix
    best = max((p for p in table if path.startswith(p)), key=len, default=None)
    return default if best is None else table[best]


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int = DEFAULT_LIMIT,
        by_prefix: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default = default
        self.by_prefix = dict(ROUTE_LIMITS if by_prefix is None else by_prefix)

    def limit_for(self, path: str) -> int:
        return limit_for(path, self.by_prefix, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > limit:
            await _refuse(send, 413, f"the body is over {limit} bytes")
            return

        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # whatever the app makes of the cut body (FastAPI: a 400): ours instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:  # the app's own error, not one made of the cut body
                raise
        if over and not started:
            await _refuse(send, 413, f"the body is over {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # Digits only: int() would also take "+5" or "5_0" (and a 10,000-digit number).
            if not text.isdigit():
                return -1
            return int(text) if len(text) <= 18 else 10**18
    return None


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
