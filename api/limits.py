"""Request limits: a per-key rate limit and a cap on the request body size.

The rate limit is kept in the audit trail's database (:class:`SharedRateLimiter` over
:class:`riskcore.serving.audit.RateBuckets`), so every worker of ``--workers N`` and every API
host on one PostgreSQL store count against one limit per key. Only while that database cannot be
written does a worker count on its own (:class:`RateLimiter`, in the process's memory), and says so
in its log.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException

from api.grouping import Grouper
from riskcore.errors import AuditError
from riskcore.workbench import RateBuckets

__all__ = ["BodySizeLimit", "RateLimiter", "SharedRateLimiter"]

log = logging.getLogger("api")

LEASE_SHARE = 0.01
"""The share of a key's limit a worker takes from the shared bucket at a time (at least one request's worth)."""


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


    async def check(self, key: str) -> int:
        """:meth:`hit`, for the API's request handlers."""
        return self.hit(key)


class SharedRateLimiter:
    """One token bucket per key in the audit trail's database, shared by every worker and host.

    Each worker takes a key's tokens from the shared bucket a few at a time (:data:`LEASE_SHARE` of the
    limit, at least one) and answers that many of the key's requests without a write; the requests that
    need tokens while a lease is being written get theirs in the next write (one transaction for all).
    Tokens are taken before they are used, so all workers together never let a key through more often
    than the limit; a worker's unused tokens are lost, so with W workers a key may get up to W × 1 % less.
    When the database cannot be written, the process's own ``fallback`` counts instead and the error is
    logged (the scores themselves are refused then anyway).

    Parameters
    ----------
    buckets : the shared token buckets.
    fallback : the process's own limiter, with the same limit.
    """

    def __init__(self, buckets: RateBuckets, fallback: RateLimiter):
        self.limit = buckets.limit
        self.lease_size = max(1, int(buckets.limit * LEASE_SHARE))
        self._buckets = buckets
        self._fallback = fallback
        self._held: dict[str, int] = {}  # tokens this worker leased and has not used yet, per key
        self._grouper: Grouper[str, tuple[int, int]] = Grouper(self._lease, wait_s=0.0, max_items=1024,
                                                               name="rate-limit")

    async def check(self, key: str) -> int:
        """Count one request of ``key``: 0 when allowed, else the seconds until it will be (``Retry-After``)."""
        if self._held.get(key, 0) > 0:
            self._held[key] -= 1
            return 0
        granted, wait = await self._grouper.submit(key)
        if granted:
            self._held[key] = self._held.get(key, 0) + granted - 1
        return wait

    def _lease(self, keys: list[str]) -> list[tuple[int, int]]:
        try:
            return self._buckets.lease(keys, self.lease_size)
        except AuditError as err:
            log.error("the shared rate limit cannot be counted, this worker counts on its own: %s", err)
            return [(int(wait == 0), wait) for wait in (self._fallback.hit(k) for k in keys)]


class BodySizeLimit:
    """ASGI middleware: answer 413 for a request body above ``max_bytes``.

    A declared ``Content-Length`` above the cap is refused before the body is
    read; a body sent without one (chunked) is counted as it arrives and
    refused as soon as it passes the cap. ``paths`` gives some paths a cap of their own and the message of its
    413 (an upload's, whose cap holds the form around the file and whose message names the file's own limit).
    """

    def __init__(self, app: Any, max_bytes: int, request_id: Callable[[dict[str, Any]], str] = lambda scope: "",
                 paths: dict[str, tuple[int, str]] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self._request_id = request_id
        self.paths = dict(paths or {})
        self._default = (max_bytes, f"the request body is larger than the limit of {max_bytes:,} bytes; "
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
        limit, too_large = self.paths.get(scope.get("path", ""), self._default)
        declared = [v for k, v in scope.get("headers", []) if k == b"content-length"]
        if declared:
            try:
                length = int(declared[0])
            except ValueError:
                length = -1
            if length < 0:
                await self._reject(scope, send, 400, "the Content-Length header is not a whole number of bytes")
                return
            if length > limit:
                await self._reject(scope, send, 413, too_large)
                return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(too_large)
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
            await self._reject(scope, send, 413, too_large)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the cap.

    An HTTPException, so FastAPI passes it on while it reads the body (any other
    error there becomes a 400) and the app's handler answers 413 in the usual shape.
    """

    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)
