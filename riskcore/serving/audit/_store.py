"""The audit trail's database behind one small interface, which batches, events, readers and verification use.

As SQLAlchemy splits the ``Engine`` (a database and its pool) from the ``Connection`` (one unit of work),
:class:`AuditStore` owns the engines and lends a connection for one read or one write; the modules above it
never set up an engine, a pool or a database's locking. What it offers:

``reading(snapshot=False)``
    A connection for one read; tables made on first use, a database error turned into an ``AuditError``.
``writing()``
    A connection in one write transaction (SQLite: ``BEGIN IMMEDIATE``), failing closed the same way.
``lock_and_tail(conn)`` and ``append_head(conn, tail, head)``
    Inside a write: take the chain lock and read the chain's tail (:class:`ChainTail`), then chain one head
    (:class:`HeadFields`) onto it, its hash computed here. Every head of the trail is appended this way.
``fail_closed(action)``, ``ensure_tables(action)``
    The two halves of ``reading`` and ``writing``, for callers that need them apart.
``stale_batches(conn, keep)``, ``remove_stale(keep, stale)``, ``discard(batch_id)``
    The clean-up of requests that were staged and never committed.
``check_writable()``, ``close()``, and the ``engine`` (readers) and ``writer`` (writers) themselves.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Table, bindparam, create_engine, delete, insert, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from riskcore.errors import AuditError, driver_message
from riskcore.serving.audit._anchor import latest_anchor
from riskcore.serving.audit._driver import WRITE_OPTION, forget_connections, parse_url, serialise_sqlite, sqlite_file
from riskcore.serving.audit._hashing import head_hash
from riskcore.serving.audit._tables import (
    GENESIS_HASH,
    HEAD_COLUMNS,
    audit_ids,
    audit_requests,
    audit_segments,
    audit_staged,
    metadata,
    utc_now,
)

__all__ = ["Appended", "AuditStore", "ChainTail", "HeadFields"]

# built once: a statement made per call costs a cache-key walk per request
_TAIL = select(audit_requests.c.seq, audit_requests.c.row_hash,
               audit_requests.c.row_offset + audit_requests.c.n_rows).order_by(audit_requests.c.seq.desc()).limit(1)
_STALE = select(audit_staged.c.batch_id).where(audit_staged.c.touched < bindparam("cutoff"),
                                               audit_staged.c.batch_id != bindparam("keep"))
_INSERT_HEAD = insert(audit_requests)


class ChainTail(NamedTuple):
    """The end of the chain, read under the chain lock: the next head links to it."""

    seq: int  # the last head's position (0 before the first head)
    row_hash: str  # the last head's hash (``GENESIS_HASH`` before the first head)
    rows: int  # the scores recorded so far: the next request's row offset


class Appended(NamedTuple):
    """A head just chained: its position and time, and the tail the next head of the transaction links to."""

    seq: int
    ts: str
    tail: ChainTail


@dataclass(frozen=True)
class HeadFields:
    """What a writer says of the head it appends; the store adds its position, time, offset and links."""

    request_id: str
    batch_id: str
    caller: str
    source: str
    model_version: str
    bundle_hash: str
    n_rows: int
    n_chunks: int
    columns: str  # the input names as JSON, or an event's content
    digest: str


class AuditStore:
    """The database of one audit trail, lent out one read or one write at a time.

    Parameters
    ----------
    url : SQLAlchemy URL of the store (see :class:`~riskcore.serving.audit.AuditLog`).
    busy_timeout_ms : how long a SQLite writer waits for another one before it gives up.
    stale_after_minutes : staged rows of a request untouched this long are removed by the next writer.

    Raises
    ------
    AuditError
        When an argument is invalid, the URL cannot be parsed or its database driver is not installed.

    Notes
    -----
    Safe to share between threads; a forked process drops the connections it inherited.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, stale_after_minutes: float = 30.0):
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise AuditError(f"busy_timeout_ms={busy_timeout_ms!r} must be a whole number of milliseconds >= 0, "
                             "e.g. 30000")
        if isinstance(stale_after_minutes, bool) or not isinstance(stale_after_minutes, (int, float)) \
                or not stale_after_minutes > 0:
            raise AuditError(f"stale_after_minutes={stale_after_minutes!r} must be a number of minutes > 0, e.g. 30")
        parsed = parse_url(url)
        # shown in messages; rendering escapes characters (file: URIs), so keep the text unless it has a password
        self.url = url if parsed.password is None else parsed.render_as_string(hide_password=True)
        self.busy_timeout_ms = busy_timeout_ms
        self.stale_after = timedelta(minutes=float(stale_after_minutes))
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        try:
            self.engine: Engine = create_engine(parsed, pool_pre_ping=not self.is_sqlite)
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise AuditError(f"cannot use the audit store {self.url!r}: {err}; fix the URL or install the "
                             "database driver it names") from None
        if self.is_sqlite:
            serialise_sqlite(self.engine, busy_timeout_ms)
        self.writer: Engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._tables_ready = False
        self._housekept = float("-inf")  # when housekeeping_due() last said yes
        self._side_tables: set[str] = set()  # the tables ensure_side_table() made or found
        # a forked child (e.g. gunicorn --preload) must not reuse the parent's open connections
        engine_ref = weakref.ref(self.engine)
        os.register_at_fork(after_in_child=lambda: forget_connections(engine_ref))

    @staticmethod
    def make_folder(url: str) -> None:
        """Create the folder of a SQLite file URL when it is missing (other URLs: nothing to do).

        Raises
        ------
        AuditError
            When the URL is unusable or the folder cannot be created.
        """
        path = sqlite_file(parse_url(url))
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise AuditError(f"cannot create the folder {str(path.parent)!r} for the audit database: "
                                 f"{err.strerror or err}; set RISKCORE_HOME or audit_url to a writable place") from None

    def __repr__(self) -> str:
        return f"AuditStore({self.url!r})"

    def close(self) -> None:
        """Close the pooled connections (the store opens new ones if used again)."""
        self.engine.dispose()

    @contextmanager
    def fail_closed(self, action: str) -> Iterator[None]:
        """Turn any database error into an AuditError that says what could not be done and what to do.

        ``action`` is ``"read"`` or ``"written"``; a failed write adds that no score may be returned.
        """
        try:
            yield
        except SQLAlchemyError as err:
            detail = driver_message(err)
            if action == "read":
                hint = "check that the audit database is reachable (setting audit_url or RISKCORE_AUDIT_URL)"
            else:
                hint = ("no score may be returned. Check that the audit database is reachable and writable "
                        "(setting audit_url or RISKCORE_AUDIT_URL)")
            raise AuditError(f"the audit trail could not be {action} at {self.url!r} ({detail}); {hint}") from err

    @contextmanager
    def reading(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """Open a connection for one read: tables made on first use, a database error turned into an AuditError.

        ``snapshot``: every statement of the read sees the same committed state, however many requests
        commit meanwhile. SQLite's deferred transaction already does (WAL); PostgreSQL's default (read
        committed) takes a new snapshot per statement, so a verify that pages through heads and chunks
        asks for repeatable read there.
        """
        self.ensure_tables("read")
        with self.fail_closed("read"), self.engine.connect() as conn:
            if snapshot and not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """Open one write transaction (committed when the block ends, rolled back on an exception), failing closed."""
        self.ensure_tables("written")
        with self.fail_closed("written"), self.writer.begin() as conn:
            yield conn

    def ensure_tables(self, action: str) -> None:
        """Create the tables on first use; creation is serialised like a write."""
        if self._tables_ready:
            return
        names = [t.name for t in metadata.sorted_tables]
        with self.fail_closed(action):
            with self.engine.connect() as conn:
                missing = [n for n in names if not inspect(conn).has_table(n)]
            if missing:
                try:
                    with self.writer.begin() as conn:
                        metadata.create_all(conn, checkfirst=True)
                except SQLAlchemyError:
                    # another process may have created them between our check and our CREATE (PostgreSQL)
                    with self.engine.connect() as conn:
                        if any(not inspect(conn).has_table(n) for n in names):
                            raise
        self._tables_ready = True

    def ensure_side_table(self, table: Table) -> None:
        """Create a table kept beside the trail's own (the API's rate buckets, the jobs) on first use, once per store.

        It is not part of the trail's tables, so a store opened read-only to be verified never needs it.
        """
        if table.name in self._side_tables:
            return
        try:
            with self.fail_closed("written"), self.writer.begin() as conn:
                table.create(conn, checkfirst=True)
        except AuditError:
            # another worker may have made it between our check and our CREATE (PostgreSQL)
            with self.reading() as conn:
                if not inspect(conn).has_table(table.name):
                    raise
        self._side_tables.add(table.name)

    def lock_and_tail(self, conn: Connection) -> ChainTail:
        """Serialise writers, then read the last head's seq, hash and the number of scores so far (or the anchor's)."""
        if not self.is_sqlite:  # SQLite is already serialised by BEGIN IMMEDIATE
            table = conn.dialect.identifier_preparer.format_table(audit_requests)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        last = conn.execute(_TAIL).first()
        if last is not None:
            return ChainTail(int(last[0]), str(last[1]), int(last[2]))
        anchor = latest_anchor(conn)  # every head archived: the chain goes on from the last archived one
        return ChainTail(0, GENESIS_HASH, 0) if anchor is None else ChainTail(anchor.seq, anchor.row_hash, anchor.rows)

    def append_head(self, conn: Connection, tail: ChainTail, head: HeadFields) -> Appended:
        """Chain one head onto ``tail`` in the caller's write transaction; returns its position, time and the new tail.

        The head's hash is ``sha256(prev_hash + "|" + compact JSON of every other column)``. Several heads
        are chained in one transaction by passing each the tail the previous one returned.
        """
        ts = utc_now()
        values = (tail.seq + 1, ts, head.request_id, head.batch_id, head.caller, head.source, head.model_version,
                  head.bundle_hash, tail.rows, head.n_rows, head.n_chunks, head.columns, head.digest, tail.row_hash)
        row_hash = head_hash(values)
        conn.execute(_INSERT_HEAD, {**dict(zip(HEAD_COLUMNS, values, strict=True)), "row_hash": row_hash})
        return Appended(tail.seq + 1, ts, ChainTail(tail.seq + 1, row_hash, tail.rows + head.n_rows))

    def check_writable(self) -> None:
        """Check that a request could be recorded now: take the chain lock, write a probe chunk and head, roll back.

        Raises
        ------
        AuditError
            When the store cannot be reached or written (read-only, locked for longer than the busy
            timeout, disk full, ...).
        """
        self.ensure_tables("written")
        with self.fail_closed("written"), self.writer.connect() as conn:
            tx = conn.begin()
            try:
                tail = self.lock_and_tail(conn)
                conn.execute(insert(audit_segments).values(batch_id="probe", chunk=0, first_row=1, n_rows=0,
                                                           created=utc_now(), data=b""))
                values = (tail.seq + 1, utc_now(), "probe", "probe", "probe", "api", "", "", tail.rows, 0, 0, "[]",
                          GENESIS_HASH, tail.row_hash)
                conn.execute(insert(audit_requests).values({**dict(zip(HEAD_COLUMNS, values, strict=True)),
                                                           "row_hash": GENESIS_HASH}))
            finally:
                tx.rollback()

    # -- requests staged and never committed ---------------------------------------------------
    def stale_batches(self, conn: Connection, keep: str) -> list[str]:
        """Ids of the staged requests other than ``keep`` untouched for ``stale_after``."""
        cutoff = (datetime.now(UTC) - self.stale_after).isoformat(timespec="microseconds")
        return list(conn.execute(_STALE, {"cutoff": cutoff, "keep": keep}).scalars().all())

    def housekeeping_due(self, every_s: float = 60.0) -> bool:
        """Whether a frequent writer should look for stale requests now (True at most once per ``every_s``)."""
        now = time.monotonic()
        if now - self._housekept < every_s:
            return False
        self._housekept = now
        return True

    def remove_stale(self, keep: str, stale: list[str] | None = None) -> None:
        """Remove staged rows of requests untouched for ``stale_after`` (housekeeping: errors are left for later).

        ``stale`` is the list :meth:`stale_batches` already found in the caller's transaction (a commit
        looks there, so a request costs no extra connection); ``None`` looks them up here.
        """
        try:
            if stale is None:
                with self.engine.connect() as conn:
                    stale = self.stale_batches(conn, keep)
            if stale:
                with self.writer.begin() as conn:
                    for batch_id in stale:
                        self.remove_batch(conn, batch_id)
        except SQLAlchemyError:
            pass  # the scores of this request are recorded; the next writer tries again

    def discard(self, batch_id: str) -> None:
        """Remove one request's staged rows now; when the store cannot be reached they stay, removed as stale later."""
        try:
            with self.writer.begin() as conn:
                self.remove_batch(conn, batch_id)
        except SQLAlchemyError:
            pass  # invisible without a head; removed as stale later

    @staticmethod
    def remove_batch(conn: Connection, batch_id: str) -> None:
        """Delete a batch's staged rows in the caller's transaction, never those of a committed request."""
        committed = conn.execute(select(audit_requests.c.seq).where(audit_requests.c.batch_id == batch_id)).first()
        if committed is None:
            for table in (audit_ids, audit_segments, audit_staged):
                conn.execute(delete(table).where(table.c.batch_id == batch_id))
