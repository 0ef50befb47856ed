"""Request limits: a per-key rate limit and a cap on the request body size.

Both live in the process's memory. With ``--workers N`` every worker keeps its
own counts, so a key may make up to N times the configured rate.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

__all__ = ["BodySizeLimit", "RateLimiter"]


class RateLimiter:
    """A sliding-window limit: at most ``limit`` requests per key in any ``window`` seconds.

    Parameters
    ----------
    limit : requests allowed per window (>= 1).
    window : the window in seconds.
    clock : a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window <= 0:
            raise ValueError("the rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Count one request of ``key``.

        Returns
        -------
        int
            0 when the request is allowed (and counted), else the whole number of
            seconds after which the next request will be allowed (for ``Retry-After``).
        """
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return 0


class BodySizeLimit:
    """ASGI middleware: answer 413 for a request body above ``max_bytes``.

    A declared ``Content-Length`` above the cap is refused before the body is
    read; a body sent without one (chunked) is counted as it arrives and
    refused as soon as it passes the cap.
    """

    def __init__(self, app: Any, max_bytes: int, request_id: Callable[[dict[str, Any]], str] = lambda scope: ""):
        self.app = app
        self.max_bytes = max_bytes
        self._request_id = request_id

    def _message(self) -> str:
        return (f"the request body is larger than the limit of {self.max_bytes:,} bytes; "
                "send fewer companies per request")

    async def _reject(self, scope: dict[str, Any], send: Callable[..., Any], status: int, detail: str) -> None:
        body = json.dumps({"detail": detail, "request_id": self._request_id(scope)}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """Refuse an oversized body; pass everything else on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope.get("headers", []) if k == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                length = -1
            if length < 0:
                await self._reject(scope, send, 400, "the Content-Length header is not a whole number of bytes")
                return
            if length > self.max_bytes:
                await self._reject(scope, send, 413, self._message())
                return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self._message())
            return dict(message)

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyTooLarge:
            if started:  # pragma: no cover - our routes read the whole body before they answer
                raise
            await self._reject(scope, send, 413, self._message())


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the cap.

    An HTTPException, so FastAPI passes it on while it reads the body (any other
    error there becomes a 400) and the app's handler answers 413 in the usual shape.
    """

    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)
