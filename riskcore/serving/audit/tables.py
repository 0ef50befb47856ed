"""The audit trail's tables, constants and database engine setup (see :mod:`riskcore.serving.audit`)."""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from riskcore.config import database_url
from riskcore.errors import AuditError

__all__ = ["DECISIONS", "FIND_COLUMNS", "GENESIS_HASH", "REASON_SEPARATOR", "RECENT_COLUMNS", "SOURCES", "Decision",
           "Source", "audit_ids", "audit_requests", "audit_segments", "audit_staged"]

Source = Literal["cli", "dashboard", "api", "shadow"]
Decision = Literal["accept", "refer"]
SOURCES: Final[tuple[str, ...]] = get_args(Source)
DECISIONS: Final[tuple[str, ...]] = get_args(Decision)

GENESIS_HASH: Final = "0" * 64
RECENT_COLUMNS: Final = (
    "seq", "ts", "request_id", "caller", "source", "model_version", "bundle_hash", "company_id",
    "p_default", "decision", "grade", "reasons", "input_hash",
)
FIND_COLUMNS: Final = (*RECENT_COLUMNS, "inputs")
REASON_SEPARATOR: Final = "; "
_MAX_TEXT = 255  # the width of the short text columns, checked up front so every backend behaves alike
_WRITE_OPTION = "riskcore_audit_write"
_INPUT_PREFIX = "input:"
_HEADS_PAGE = 256
_FORMAT = "riskcore-audit-v2"

_metadata = MetaData()
audit_requests = Table(
    "audit_requests",
    _metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("request_id", String(_MAX_TEXT), nullable=False, index=True),
    Column("batch_id", String(32), nullable=False, unique=True),
    Column("caller", String(_MAX_TEXT), nullable=False),
    Column("source", String(16), nullable=False),
    Column("model_version", String(_MAX_TEXT), nullable=False),
    Column("bundle_hash", String(_MAX_TEXT), nullable=False),
    Column("row_offset", BigInteger(), nullable=False),
    Column("n_rows", BigInteger(), nullable=False),
    Column("n_chunks", Integer(), nullable=False),
    Column("columns", Text(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)
audit_segments = Table(
    "audit_segments",
    _metadata,
    Column("batch_id", String(32), primary_key=True),
    Column("chunk", Integer(), primary_key=True, autoincrement=False),
    Column("first_row", BigInteger(), nullable=False),
    Column("n_rows", BigInteger(), nullable=False),
    Column("created", String(40), nullable=False),
    Column("data", LargeBinary(), nullable=False),
)
# The chunks are already compressed (LZ4): PostgreSQL's TOAST would try to compress each one again with
# pglz and fail, at a cost of half the write time. EXTERNAL stores them out of line without that attempt.
event.listen(audit_segments, "after_create",
             DDL("ALTER TABLE %(fullname)s ALTER COLUMN data SET STORAGE EXTERNAL").execute_if(dialect="postgresql"))
audit_ids = Table(
    "audit_ids",
    _metadata,
    Column("company_id", String(_MAX_TEXT), primary_key=True),
    Column("batch_id", String(32), primary_key=True),
    Column("chunk", Integer(), primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
audit_staged = Table(
    "audit_staged",
    _metadata,
    Column("batch_id", String(32), primary_key=True),
    Column("request_id", String(_MAX_TEXT), nullable=False),
    Column("touched", String(40), nullable=False),
)
_HEAD_COLUMNS: Final = tuple(c.name for c in audit_requests.columns if c.name != "row_hash")
if _HEAD_COLUMNS[-1] != "prev_hash":  # _head_hash relies on it
    raise RuntimeError("audit_requests must list prev_hash just before row_hash")

_INPUTS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_HEAD_JSON = json.JSONEncoder(separators=(",", ":"), default=repr)  # default=repr: verify() must survive odd types


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _forget_connections(engine_ref: weakref.ref[Engine]) -> None:
    engine = engine_ref()
    if engine is not None:
        engine.dispose(close=False)


def _parse_url(url: str) -> URL:
    if not isinstance(url, str) or not url:
        raise AuditError(f"audit url {url!r} must be a database URL such as 'sqlite:////abs/path/audit.db'")
    try:
        return make_url(database_url(url))
    except ArgumentError:
        raise AuditError(f"audit url {url!r} is not a database URL; use e.g. 'sqlite:////abs/path/audit.db' "
                         "or 'postgresql+psycopg://user@host/dbname'") from None


def _sqlite_file(url: URL) -> Path | None:
    """Return the file of a plain SQLite URL; None for memory, URI filenames and other backends."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("uri") in ("true", "1") or url.database.startswith("file:"):
        return None
    return Path(url.database)


def _is_psycopg(conn: Connection) -> bool:
    """Whether ``conn`` reaches PostgreSQL through psycopg 3 (whose COPY and binary results riskcore uses)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


@contextmanager
def _driver_cursor(conn: Connection, statement: str, **options: Any) -> Iterator[Any]:
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


def _fetch_binary(conn: Connection, query: Any) -> list[Any]:
    """The rows of a select through psycopg in binary, as named tuples (else bytea comes as hex text: 4x the time)."""
    from psycopg.rows import namedtuple_row

    compiled = query.compile(dialect=conn.dialect)
    with _driver_cursor(conn, str(compiled), binary=True, row_factory=namedtuple_row) as cursor:
        return list(cursor.execute(str(compiled), compiled.params).fetchall())


def _serialise_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")
