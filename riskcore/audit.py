"""The append-only audit trail: every score from the CLI, the dashboard and the API.

Each score becomes one row of the ``audit_events`` table (SQLAlchemy Core; a
SQLite file by default, any SQLAlchemy URL such as PostgreSQL works). Rows are
chained: each row stores the previous row's hash and its own hash,

    row_hash = sha256(prev_hash + "|" + canonical_string(row))

where ``canonical_string`` is the compact JSON array of every column except
``row_hash`` in table order (``seq`` included, ``p_default`` as ``repr(float)``
so it round-trips) and the first row's ``prev_hash`` is 64 zeros.
:meth:`AuditLog.verify` walks the chain and names the first row that was
altered, deleted or re-linked.

Writes fail closed: when a row cannot be written, :meth:`AuditLog.record`
raises :class:`~riskcore.errors.AuditError` and the caller must not return the
score. Reading the last hash and inserting a batch happen in one serialised
transaction, across processes too: SQLite runs in WAL mode with a busy timeout
and ``BEGIN IMMEDIATE``; other databases take
``LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE`` first.

The chain detects edits made without recomputing the hashes. Someone who can
write to the database and knows this format can rewrite the tail of the chain
consistently, and deleting the newest rows leaves a shorter, intact chain;
keep :attr:`VerifyResult.last_hash` and ``rows`` somewhere else from time to
time to anchor the chain against both.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from riskcore.errors import AuditError

__all__ = ["AuditLog", "AuditRecord", "Decision", "Source", "VerifyResult"]

Source = Literal["cli", "dashboard", "api"]
Decision = Literal["accept", "refer"]
SOURCES: Final[tuple[str, ...]] = get_args(Source)
DECISIONS: Final[tuple[str, ...]] = get_args(Decision)

GENESIS_HASH: Final = "0" * 64
RECENT_COLUMNS: Final = (
    "seq", "ts", "request_id", "caller", "source", "model_version", "bundle_hash", "company_id",
    "p_default", "decision", "grade", "reasons", "input_hash",
)
_MAX_TEXT = 255  # the width of the short text columns, checked up front so every backend behaves alike
_VERIFY_CHUNK = 10_000
_WRITE_OPTION = "riskcore_audit_write"

_metadata = MetaData()
audit_events = Table(
    "audit_events",
    _metadata,
    # SQLite's AUTOINCREMENT needs exactly "INTEGER PRIMARY KEY"; elsewhere 64 bits
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", String(40), nullable=False),
    Column("request_id", String(_MAX_TEXT), nullable=False, index=True),
    Column("caller", String(_MAX_TEXT), nullable=False),
    Column("source", String(16), nullable=False),
    Column("model_version", String(_MAX_TEXT), nullable=False),
    Column("bundle_hash", String(_MAX_TEXT), nullable=False),
    Column("company_id", String(_MAX_TEXT), nullable=False, index=True),
    Column("input_hash", String(64), nullable=False),
    Column("inputs", Text(), nullable=False),
    Column("p_default", Double(), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("grade", String(_MAX_TEXT), nullable=False),
    Column("reasons", Text(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    sqlite_autoincrement=True,
)
_HASHED_COLUMNS: Final = tuple(c.name for c in audit_events.columns if c.name != "row_hash")
_P_INDEX: Final = _HASHED_COLUMNS.index("p_default")
if _HASHED_COLUMNS[-1] != "prev_hash":  # _row_hash relies on it
    raise RuntimeError("audit_events must list prev_hash just before row_hash")

# Built once: json.dumps with non-default arguments builds a new encoder on every call.
_INPUTS_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_ROW_JSON = json.JSONEncoder(separators=(",", ":"), default=repr)  # default=repr: verify() must survive odd types
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True)
class AuditRecord:
    """One score to record.

    Parameters
    ----------
    company_id : the scored company's key.
    inputs : the model inputs as sent, JSON-able values (numbers, strings,
        booleans, ``None``, lists, dicts; NumPy scalars are accepted). NaN and
        infinite floats are stored as ``null``; keys are stored sorted.
    p_default : the probability of default, a finite number in [0, 1].
    decision : ``"accept"`` or ``"refer"``.
    grade : the risk grade shown to the user.
    reasons : reason codes, most important first.
    """

    company_id: str
    inputs: dict[str, Any]
    p_default: float
    decision: str
    grade: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :meth:`AuditLog.verify`.

    ``rows`` counts the rows checked: all of them when ``ok``, else those read
    up to and including the first broken one. ``first_bad_seq`` is the
    sequence number of that row (for a deleted row, the missing number).
    ``last_hash`` is the hash of the last row checked; store it elsewhere with
    ``rows`` to anchor the chain.
    """

    ok: bool
    rows: int
    first_bad_seq: int | None
    message: str
    last_hash: str = GENESIS_HASH


class AuditLog:
    """The audit trail in one database.

    Parameters
    ----------
    url : SQLAlchemy URL, e.g. ``sqlite:////abs/path/audit.db`` (four slashes
        for an absolute path), ``sqlite:///file:/abs/path/audit.db?mode=ro&uri=true``
        (read-only: :meth:`record` refuses) or
        ``postgresql+psycopg://user@host/db``.
    busy_timeout_ms : how long a SQLite writer waits for another one before
        it gives up (and :meth:`record` raises).

    Raises
    ------
    AuditError
        When the URL cannot be parsed or its database driver is not installed.

    Notes
    -----
    The table is created on first use. The log is safe to share between
    threads; a forked process drops the connections it inherited. Every method raises
    :class:`~riskcore.errors.AuditError` and nothing else for a store that
    cannot be reached, read or written.

    Examples
    --------
    >>> log = AuditLog("sqlite://")
    >>> rid = log.record([AuditRecord("C-1", {"income": 1.0}, 0.02, "accept", "A")], source="cli",
    ...                  caller="analyst", model_version="v1", bundle_hash="ab12")
    >>> log.verify().message
    'chain intact: 1 rows'
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000):
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise AuditError(f"busy_timeout_ms={busy_timeout_ms!r} must be a whole number of milliseconds >= 0, "
                             "e.g. 30000")
        self._url = _parse_url(url)
        # shown in messages; rendering escapes characters (file: URIs), so keep the text unless it has a password
        self.url = url if self._url.password is None else self._url.render_as_string(hide_password=True)
        self.busy_timeout_ms = busy_timeout_ms
        try:
            self._engine = create_engine(self._url, pool_pre_ping=not self._is_sqlite)
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise AuditError(f"cannot use the audit store {self.url!r}: {err}; fix the URL or install the "
                             "database driver it names") from None
        if self._is_sqlite:
            _serialise_sqlite(self._engine, busy_timeout_ms)
        self._writer = self._engine.execution_options(**{_WRITE_OPTION: True})
        self._table_ready = False
        # a forked child (e.g. gunicorn --preload) must not reuse the parent's open connections
        engine_ref = weakref.ref(self._engine)
        os.register_at_fork(after_in_child=lambda: _forget_connections(engine_ref))

    @classmethod
    def from_settings(cls, settings: Any, *, busy_timeout_ms: int = 30_000) -> AuditLog:
        """Open the audit log at ``settings.resolved_audit_url``.

        For a SQLite file, its folder is created when missing.

        Parameters
        ----------
        settings : a :class:`riskcore.config.Settings`.
        busy_timeout_ms : see :class:`AuditLog`.

        Returns
        -------
        AuditLog

        Raises
        ------
        AuditError
            When the folder cannot be created or the URL is unusable.
        """
        url = settings.resolved_audit_url
        path = _sqlite_file(_parse_url(url))
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise AuditError(f"cannot create the folder {str(path.parent)!r} for the audit database: "
                                 f"{err.strerror or err}; set RISKCORE_HOME or audit_url to a writable place") from None
        return cls(url, busy_timeout_ms=busy_timeout_ms)

    def __repr__(self) -> str:
        return f"AuditLog({self.url!r})"

    @property
    def _is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    def close(self) -> None:
        """Close the pooled connections (the log opens new ones if used again)."""
        self._engine.dispose()

    # -- writing -----------------------------------------------------------
    def record(
        self,
        records: Sequence[AuditRecord],
        *,
        source: str,
        caller: str,
        model_version: str,
        bundle_hash: str,
        request_id: str | None = None,
    ) -> str:
        """Append one row per record, all in one transaction.

        Parameters
        ----------
        records : the scores of one request; an empty sequence writes nothing.
        source : ``"cli"``, ``"dashboard"`` or ``"api"``.
        caller : who asked (user name or API key id).
        model_version, bundle_hash : the model that scored.
        request_id : the request's id; a new ``uuid4().hex`` when ``None``.

        Returns
        -------
        str
            The request id.

        Raises
        ------
        AuditError
            When a value cannot be stored (nothing is written) or the store
            cannot be written. The caller must then not return the scores.
        """
        request_id = uuid.uuid4().hex if request_id is None else request_id
        _check_request(source=source, caller=caller, model_version=model_version, bundle_hash=bundle_hash,
                       request_id=request_id)
        prepared = _prepare(records)
        if not prepared:
            return request_id
        self._ensure_table("written")
        with self._fail_closed("written"), self._writer.begin() as conn:
            prev_seq, prev_hash = self._lock_and_tail(conn)
            ts = _utc_now()
            rows = []
            seq = prev_seq
            for company_id, input_hash, inputs, p_default, decision, grade, reasons in prepared:
                seq += 1
                values = (seq, ts, request_id, caller, source, model_version, bundle_hash, company_id,
                          input_hash, inputs, p_default, decision, grade, reasons, prev_hash)
                row_hash = _row_hash(values)
                rows.append(dict(zip(_HASHED_COLUMNS, values, strict=True), row_hash=row_hash))
                prev_hash = row_hash
            conn.execute(insert(audit_events), rows)
        return request_id

    def check_writable(self) -> None:
        """Check that a row could be written now, without leaving one behind.

        Takes the writer's lock, inserts a probe row and rolls it back.

        Raises
        ------
        AuditError
            When the store cannot be reached or written (read-only, locked
            for longer than the busy timeout, disk full, ...).
        """
        self._ensure_table("written")
        with self._fail_closed("written"), self._writer.connect() as conn:
            tx = conn.begin()
            try:
                seq, prev_hash = self._lock_and_tail(conn)
                values = (seq + 1, _utc_now(), "probe", "probe", "probe", "", "", "", GENESIS_HASH, "{}", 0.0,
                          "refer", "", "[]", prev_hash)
                conn.execute(insert(audit_events), [dict(zip(_HASHED_COLUMNS, values, strict=True),
                                                         row_hash=GENESIS_HASH)])
            finally:
                tx.rollback()

    # -- reading -----------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Walk the chain in ``seq`` order and report the first broken row.

        Rows are streamed in chunks. For each row it checks that ``seq``
        follows the previous one (no deleted row), that ``row_hash`` matches
        the row's contents, and that ``prev_hash`` is the previous row's hash.

        Returns
        -------
        VerifyResult

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        self._ensure_table("read")
        expected_seq = 1
        prev_hash = GENESIS_HASH
        rows = 0
        stmt = select(*(audit_events.c[name] for name in (*_HASHED_COLUMNS, "row_hash"))).order_by(audit_events.c.seq)
        with self._fail_closed("read"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=_VERIFY_CHUNK).execute(stmt)
            for chunk in result.partitions():
                for values in chunk:
                    seq = values[0]
                    rows += 1
                    problem = _check_row(tuple(values), expected_seq, prev_hash)
                    if problem is not None:
                        bad_seq, message = problem
                        return VerifyResult(False, rows, bad_seq, message, prev_hash)
                    prev_hash = values[-1]
                    expected_seq = seq + 1
        return VerifyResult(True, rows, None, f"chain intact: {rows:,} rows", prev_hash)

    def recent(self, limit: int = 100, *, source: str | None = None, company_id: str | None = None) -> pd.DataFrame:
        """Return the newest rows first.

        Parameters
        ----------
        limit : at most this many rows (>= 1).
        source : only rows from this source.
        company_id : only rows of this company.

        Returns
        -------
        pandas.DataFrame
            Columns seq, ts (datetime, UTC), request_id, caller, source,
            model_version, bundle_hash, company_id, p_default, decision, grade,
            reasons (list of str), input_hash.

        Raises
        ------
        AuditError
            When an argument is invalid or the store cannot be read.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
        if source is not None and source not in SOURCES:
            raise AuditError(f"source={source!r} is unknown; use one of {', '.join(map(repr, SOURCES))} or None")
        stmt = select(*(audit_events.c[name] for name in RECENT_COLUMNS)).order_by(audit_events.c.seq.desc())
        if source is not None:
            stmt = stmt.where(audit_events.c.source == source)
        if company_id is not None:
            stmt = stmt.where(audit_events.c.company_id == company_id)
        self._ensure_table("read")
        with self._fail_closed("read"), self._engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(RECENT_COLUMNS))
        frame["reasons"] = [_load_reasons(seq, text) for seq, text in zip(frame["seq"], frame["reasons"], strict=True)]
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
        frame["p_default"] = frame["p_default"].astype(float)
        return frame

    def count(self) -> int:
        """Count the rows.

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        self._ensure_table("read")
        with self._fail_closed("read"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())

    # -- plumbing ----------------------------------------------------------
    @contextmanager
    def _fail_closed(self, action: str) -> Iterator[None]:
        """Turn any database error into an AuditError that says what happened and what to do."""
        try:
            yield
        except SQLAlchemyError as err:
            detail = getattr(err, "orig", None) or err
            if action == "read":
                hint = "check that the audit database is reachable (setting audit_url or RISKCORE_AUDIT_URL)"
            else:
                hint = ("no score may be returned. Check that the audit database is reachable and writable "
                        "(setting audit_url or RISKCORE_AUDIT_URL)")
            raise AuditError(f"the audit trail could not be {action} at {self.url!r} ({detail}); {hint}") from err

    def _ensure_table(self, action: str) -> None:
        """Create the table on first use; creation is serialised like a write."""
        if self._table_ready:
            return
        with self._fail_closed(action):
            with self._engine.connect() as conn:
                exists = inspect(conn).has_table(audit_events.name)
            if not exists:
                try:
                    with self._writer.begin() as conn:
                        _metadata.create_all(conn, checkfirst=True)
                except SQLAlchemyError:
                    # another process may have created it between our check and our CREATE (PostgreSQL)
                    with self._engine.connect() as conn:
                        if not inspect(conn).has_table(audit_events.name):
                            raise
        self._table_ready = True

    def _lock_and_tail(self, conn: Connection) -> tuple[int, str]:
        """Serialise writers, then read the last row's seq and hash."""
        if not self._is_sqlite:  # SQLite is already serialised by BEGIN IMMEDIATE
            table = conn.dialect.identifier_preparer.format_table(audit_events)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        last = conn.execute(select(audit_events.c.seq, audit_events.c.row_hash)
                            .order_by(audit_events.c.seq.desc()).limit(1)).first()
        return (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))


# -- engine setup ------------------------------------------------------------
def _forget_connections(engine_ref: weakref.ref[Engine]) -> None:
    engine = engine_ref()
    if engine is not None:
        engine.dispose(close=False)


def _parse_url(url: str) -> URL:
    if not isinstance(url, str) or not url:
        raise AuditError(f"audit url {url!r} must be a database URL such as 'sqlite:////abs/path/audit.db'")
    try:
        return make_url(url)
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
        # writers take the write lock before they read the last hash, so two cannot chain onto the same row;
        # readers use a deferred BEGIN so verify() never blocks writers
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN")


# -- rows and hashes ---------------------------------------------------------
def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _row_hash(values: tuple[Any, ...]) -> str:
    """sha256(prev_hash + "|" + canonical JSON of every column but row_hash, p_default as repr(float))."""
    canon = list(values)
    canon[_P_INDEX] = _format_p(values[_P_INDEX])
    return hashlib.sha256(f"{values[-1]}|{_ROW_JSON.encode(canon)}".encode()).hexdigest()


def _format_p(value: Any) -> str:
    # repr(float) round-trips exactly; any other type (a tampered cell) must not collide with a float's text
    return repr(value) if type(value) is float else f"{type(value).__name__}:{value!r}"


def _check_row(values: tuple[Any, ...], expected_seq: int, prev_hash: str) -> tuple[int, str] | None:
    """Return the first problem of one row as (seq, message), or None."""
    seq, stored_prev, stored_hash = values[0], values[-2], values[-1]
    if seq != expected_seq:
        if expected_seq == 1:
            return 1, f"row 1 is missing: the trail starts at row {seq}, so rows were deleted from its start"
        return expected_seq, (f"row {expected_seq} is missing: row {expected_seq - 1} is followed by row {seq}, "
                              "so a row was deleted")
    if _row_hash(values[:-1]) != stored_hash:
        return seq, f"row {seq} was altered: its hash does not match its contents"
    if stored_prev != prev_hash:
        return seq, (f"row {seq} is not linked to row {seq - 1}: its prev_hash is not row {seq - 1}'s hash, "
                     f"so row {seq - 1} or row {seq} was rewritten with a new hash")
    return None


def _check_request(**fields: Any) -> None:
    problems = []
    if fields["source"] not in SOURCES:
        problems.append(f"source={fields['source']!r} is unknown; use one of {', '.join(map(repr, SOURCES))}")
    for name in ("caller", "model_version", "bundle_hash", "request_id"):
        value = fields[name]
        if not isinstance(value, str):
            problems.append(f"{name}={value!r} must be a string")
        elif len(value) > _MAX_TEXT:
            problems.append(f"{name} has {len(value)} characters; at most {_MAX_TEXT} are stored")
    if isinstance(fields["request_id"], str) and not fields["request_id"]:
        problems.append("request_id must not be empty; pass None to get a new one")
    if problems:
        raise AuditError("cannot record the scores, nothing was written: " + "; ".join(problems))


def _prepare(records: Sequence[AuditRecord]) -> list[tuple[str, str, str, float, str, str, str]]:
    """Check every record and serialise it; raise one AuditError naming every bad record."""
    if isinstance(records, AuditRecord):
        records = [records]
    prepared = []
    problems: list[str] = []
    stopped = False
    for i, rec in enumerate(records):
        if len(problems) >= 20:
            stopped = True  # enough to act on; checking 100,000 bad rows would only delay the message
            break
        if not isinstance(rec, AuditRecord):
            problems.append(f"record {i}: {type(rec).__name__} is not an AuditRecord")
            continue
        where = f"record {i} (company {rec.company_id!r})"
        try:
            p_default = math.nan if isinstance(rec.p_default, (str, bytes, bool)) else float(rec.p_default)
        except (TypeError, ValueError):
            p_default = math.nan
        if not 0.0 <= p_default <= 1.0:  # also false for NaN
            problems.append(f"{where}: p_default={rec.p_default!r} must be a number in [0, 1]")
        if rec.decision not in DECISIONS:
            problems.append(f"{where}: decision={rec.decision!r} is unknown; use one of "
                            f"{', '.join(map(repr, DECISIONS))}")
        for name in ("company_id", "grade"):
            value = getattr(rec, name)
            if not isinstance(value, str) or len(value) > _MAX_TEXT:
                problems.append(f"{where}: {name}={value!r} must be a string of at most {_MAX_TEXT} characters")
        if isinstance(rec.reasons, str) or not all(isinstance(r, str) for r in rec.reasons):
            problems.append(f"{where}: reasons={rec.reasons!r} must be a tuple of strings")
        try:
            inputs = _inputs_json(rec.inputs)
        except (TypeError, ValueError) as err:
            problems.append(f"{where}: {err}")
            continue
        if not problems:
            prepared.append((rec.company_id, hashlib.sha256(inputs.encode()).hexdigest(), inputs, p_default,
                             rec.decision, rec.grade, _COMPACT_JSON.encode(list(rec.reasons))))
    if problems:
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more{', checking stopped' if stopped else ''})" if len(problems) > 5 else ""
        raise AuditError(f"cannot record the scores, nothing was written: {head}{more}")
    return prepared


def _inputs_json(inputs: Any) -> str:
    """Canonical JSON of the inputs: sorted keys, no spaces, NaN and infinity as null."""
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict of input names to values, not {type(inputs).__name__}")
    try:
        return _INPUTS_JSON.encode(inputs)
    except (TypeError, ValueError):  # NaN, NumPy scalars, a non-dict mapping: take the slow, exact path
        return _INPUTS_JSON.encode(_plain(inputs, ""))


def _plain(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _plain(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"input {where!r}: {value!r} of type {type(value).__name__} cannot be stored as JSON; "
                    "pass numbers, strings, booleans, None, lists or dicts")


def _load_reasons(seq: Any, text: Any) -> list[str]:
    try:
        reasons = json.loads(text)
    except (TypeError, ValueError):
        reasons = None
    if not isinstance(reasons, list):
        raise AuditError(f"row {seq} has unreadable reason codes {text!r}; run verify() to check the audit trail")
    return reasons
