"""What differs between the audit trail's databases: URLs, SQLite's locking, psycopg's COPY and binary reads.

Everything here works on a SQLAlchemy engine or connection given to it; :class:`~riskcore.serving.audit.AuditStore`
opens them. The tables and the hashes do not depend on the database.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from riskcore.config import database_url
from riskcore.errors import AuditError

__all__ = ["WRITE_OPTION", "driver_cursor", "fetch_binary", "forget_connections", "is_psycopg", "parse_url",
           "serialise_sqlite", "sqlite_file"]

WRITE_OPTION: Final = "riskcore_audit_write"  # the execution option of the store's writing engine


def forget_connections(engine_ref: weakref.ref[Engine]) -> None:
    """Drop the pooled connections a forked child inherited, without closing the parent's."""
    engine = engine_ref()
    if engine is not None:
        engine.dispose(close=False)


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of an audit store's URL text.

    Raises
    ------
    AuditError
        When ``url`` is not a database URL.
    """
    if not isinstance(url, str) or not url:
        raise AuditError(f"audit url {url!r} must be a database URL such as 'sqlite:////abs/path/audit.db'")
    try:
        return make_url(database_url(url))
    except ArgumentError:
        raise AuditError(f"audit url {url!r} is not a database URL; use e.g. 'sqlite:////abs/path/audit.db' "
                         "or 'postgresql+psycopg://user@host/dbname'") from None


def sqlite_file(url: URL) -> Path | None:
    """Return the file of a plain SQLite URL; None for memory, URI filenames and other backends."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("uri") in ("true", "1") or url.database.startswith("file:"):
        return None
    return Path(url.database)


def is_psycopg(conn: Connection) -> bool:
    """Whether ``conn`` reaches PostgreSQL through psycopg 3 (whose COPY and binary results riskcore uses)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


@contextmanager
def driver_cursor(conn: Connection, statement: str, **options: Any) -> Iterator[Any]:
    """A cursor of the driver itself, in ``conn``'s transaction, for what SQLAlchemy does not offer.

    Its errors become SQLAlchemy's, as for any statement (so they fail closed like the others), and a
    connection the server dropped is invalidated, so the pool never hands it out again.
    """
    dbapi = conn.dialect.loaded_dbapi
    raw = conn.connection
    cursor = raw.cursor(**options)
    try:
        yield cursor
    except dbapi.Error as err:
        lost = conn.dialect.is_disconnect(err, raw.dbapi_connection, cursor)
        if lost:
            conn.invalidate(err)
        raise DBAPIError.instance(statement, None, err, dbapi.Error, connection_invalidated=lost,
                                  dialect=conn.dialect) from err
    finally:
        try:
            cursor.close()
        except dbapi.Error:
            pass  # a lost connection: its error is the one raised above


def fetch_binary(conn: Connection, query: Any) -> list[Any]:
    """The rows of a select through psycopg in binary, as named tuples (else bytea comes as hex text: 4x the time)."""
    from psycopg.rows import namedtuple_row

    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})  # IN (...) lists
    with driver_cursor(conn, str(compiled), binary=True, row_factory=namedtuple_row) as cursor:
        return list(cursor.execute(str(compiled), compiled.params).fetchall())


def serialise_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """SQLAlchemy's pysqlite recipe: WAL, a busy timeout, and BEGIN IMMEDIATE for writers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN lazily (deferred) before DML only
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA cache_size = -32768")  # 32 MB: the company index of a large batch stays cached
            mode = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode is not None and str(mode[0]).lower() not in ("wal", "memory"):
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                except dbapi_connection.OperationalError:
                    # A read-only store cannot switch; it can still be read and verified, and
                    # writes fail on their own. BEGIN IMMEDIATE keeps writers serialised without WAL.
                    pass
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # writers take the write lock before they read the chain head, so two cannot chain onto the same head;
        # readers use a deferred BEGIN so verify() never blocks writers
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")
