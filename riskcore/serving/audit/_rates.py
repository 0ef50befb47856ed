"""Per-key token buckets in the audit trail's database: one request rate limit for every worker and every host.

A bucket holds up to ``limit`` tokens and gains ``limit / window`` tokens per second; a request takes one,
or is refused with the seconds until one is there. The buckets live in a table of the audit trail's
database (``api_rate_buckets``, made on first use), so every worker process of a server (SQLite on one
host) and every API host (PostgreSQL) draws from the same bucket. Times are the hosts' clocks (UTC seconds):
hosts sharing a PostgreSQL store must keep their clocks in step (NTP), as for the trail's own times.

Several keys' requests are counted in one transaction (:meth:`RateBuckets.take`), and a worker may take
several tokens at once (:meth:`RateBuckets.lease`) to answer that many requests without a write.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Column, Float, MetaData, String, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from riskcore.errors import AuditError
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["RateBuckets"]

# apart from the trail's own tables: a store opened read-only (verify) never needs it
_metadata = MetaData()
rate_buckets = Table(
    "api_rate_buckets",
    _metadata,
    Column("key", String(MAX_TEXT), primary_key=True),
    Column("tokens", Float(), nullable=False),
    Column("updated", Float(), nullable=False),
)
_UPDATE = update(rate_buckets).where(rate_buckets.c.key == bindparam("k")).values(
    tokens=bindparam("t"), updated=bindparam("u"))


class RateBuckets:
    """Token buckets of request rates, shared through an audit store (see the module docstring).

    Parameters
    ----------
    store : the audit trail's store (``AuditLog.store``).
    limit : requests allowed per ``window`` (the bucket's size), >= 1.
    window : seconds.
    clock : UTC seconds (tests pass their own).
    """

    def __init__(self, store: AuditStore, limit: int, window: float = 60.0, clock: Callable[[], float] = time.time):
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.store = store
        self.limit = limit
        self.window = window
        self.rate = limit / window  # tokens per second
        self._clock = clock

    def take(self, keys: Sequence[str]) -> list[int]:
        """Count one request per entry of ``keys`` (a key may repeat), in order, in one transaction.

        Returns
        -------
        list[int]
            Per entry, 0 when the request is allowed (its token taken), else the whole seconds until the
            key's next token (for ``Retry-After``; at least 1).

        Raises
        ------
        riskcore.errors.AuditError
            When the store cannot be written.
        """
        return [wait for _, wait in self.lease(keys, 1)]

    def lease(self, keys: Sequence[str], size: int) -> list[tuple[int, int]]:
        """Take up to ``size`` tokens per entry of ``keys`` (a key may repeat), in order, in one transaction.

        A worker that leases several tokens at once answers that many requests without a write. The tokens
        are taken from the shared bucket when leased, so every worker together never lets a key through more
        often than its limit; tokens a worker leases and does not use are lost.

        Returns
        -------
        list[tuple[int, int]]
            Per entry ``(granted, wait)``: the tokens taken (0 to ``size``, as many whole tokens as the bucket
            holds), and when none could be, the whole seconds until the key's next token (at least 1).

        Raises
        ------
        riskcore.errors.AuditError
            When the store cannot be written.
        """
        if not keys:
            return []
        self.store.ensure_side_table(rate_buckets)
        now = self._clock()
        unique = sorted(set(keys))
        with self.store.writing() as conn:
            self._insert_missing(conn, unique, now)
            query = select(rate_buckets.c.key, rate_buckets.c.tokens, rate_buckets.c.updated).where(
                rate_buckets.c.key.in_(unique))
            if not self.store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already holds the write lock
                query = query.with_for_update()
            state = {k: (float(t), float(u)) for k, t, u in conn.execute(query).all()}
            out = []
            for key in keys:
                tokens, updated = state[key]
                tokens = min(float(self.limit), tokens + max(0.0, now - updated) * self.rate)
                granted = min(size, int(tokens)) if tokens >= 1.0 else 0
                tokens -= granted
                out.append((granted, 0 if granted else max(1, math.ceil((1.0 - tokens) / self.rate))))
                state[key] = (tokens, max(now, updated))
            conn.execute(_UPDATE, [{"k": k, "t": state[k][0], "u": state[k][1]} for k in unique])
        return out

    def _insert_missing(self, conn: Connection, keys: list[str], now: float) -> None:
        """A full bucket for each key seen for the first time (two writers may race: the second does nothing)."""
        rows = [{"key": k, "tokens": float(self.limit), "updated": now} for k in keys]
        if conn.dialect.name == "postgresql":
            conn.execute(postgresql.insert(rate_buckets).on_conflict_do_nothing(), rows)
        elif conn.dialect.name == "sqlite":
            conn.execute(sqlite.insert(rate_buckets).on_conflict_do_nothing(), rows)
        else:  # pragma: no cover - the audit trail runs on SQLite and PostgreSQL
            raise AuditError(f"rate limits in the audit store need SQLite or PostgreSQL, not {conn.dialect.name}")
