"""The append-only audit trail: every score from the CLI, the dashboard and the API.

Design
------
A request (one API call, one CLI run, one dashboard upload) is stored in three
tables (SQLAlchemy Core; a SQLite file by default, any SQLAlchemy URL works):

``audit_requests``
    One *head* row per committed request: seq (1, 2, ...), ts, request_id,
    batch_id (internal, unique), caller, source, model_version, bundle_hash,
    row_offset (scores recorded before this request), n_rows, n_chunks,
    columns (the input names), digest, prev_hash and row_hash. Heads are
    chained: ``row_hash = sha256(prev_hash + "|" + compact JSON of every other
    column)``; the first head's ``prev_hash`` is 64 zeros.
``audit_segments``
    The scores themselves, one row per chunk of a request: an Arrow IPC
    stream (LZ4) with the columns row (1-based within the request),
    company_id, p_default, decision, grade, reasons (codes joined with
    ``"; "``), fingerprint, and one ``input:<name>`` column per model input
    (numbers, text, booleans, missing values; anything else as canonical JSON
    text). Nothing is serialised per row in Python.
``audit_ids``
    A narrow lookup index (company_id, batch_id, chunk), one row per distinct
    company of a chunk, so a company's scores are found without a scan. It is
    derived data, not evidence: :meth:`AuditLog.find` re-reads the chunk and
    keeps only the rows of that company.

The score of trail position ``seq`` is row ``seq - row_offset`` of its
request; ``recent()`` and ``find()`` report that position as ``seq``.

Hashes: each chunk has a SHA-256 over its canonical *columnar* bytes (for
each column its name, kind, validity and values; text as lengths plus bytes)
and the head's ``digest`` is a SHA-256 over the request's chunk hashes, so
``verify()`` re-hashes about 400 MB/s per core with a handful of hashlib calls
per chunk. To *name* an altered row, every row also carries a 64-bit
fingerprint of its row number and values (splitmix64 over the columns,
computed with NumPy for the whole chunk). Fingerprints only localise: detection
rests on the SHA-256 digests, so a forger who crafts a fingerprint collision
(or rewrites the fingerprints) is still caught, and the message then names the
request and its rows instead of one row.

Writing: :meth:`AuditLog.batch` returns an :class:`AuditBatch`. ``add()``
validates a chunk (vectorised) and stores the previous one in its own short
transaction, marked as *staged* (``audit_staged``); ``commit()`` takes the
chain lock, stores the last chunk, checks that every chunk is still there and
appends the head, all in one transaction. Rows without a committed head are
not part of the trail: ``recent``, ``count`` and ``find`` never see them.
``abort()`` removes them; a process killed mid-job leaves them behind, and the
next writer removes staged rows untouched for ``stale_after_minutes``.
:meth:`AuditLog.verify` reports such leftovers without failing (``ok`` stays
True), because a crash must not make the trail fail verification forever.
:meth:`AuditLog.record` is one batch with one chunk, written in one
transaction together with its head.

Writes fail closed: when anything cannot be stored, ``add()``, ``commit()``
and ``record()`` raise :class:`~riskcore.errors.AuditError` and nothing of
that request is visible; the caller must not return the scores. SQLite runs
in WAL mode with a busy timeout; writers use ``BEGIN IMMEDIATE``. Other
databases take ``LOCK TABLE audit_requests IN SHARE ROW EXCLUSIVE MODE``
before reading the chain head, so two writers never chain onto the same head.

Threat model
------------
``verify()`` detects any change to a stored input or output, a deleted,
reordered or added row, a removed chunk and a deleted, edited or re-linked
head, made by someone who does not recompute the hashes. Someone who can
write to the database and knows this format can rewrite the newest requests
consistently, and deleting the newest heads leaves a shorter, intact chain
(their scores then count as leftovers); keep :attr:`VerifyResult.last_hash`
and ``rows`` somewhere else from time to time to anchor the chain against
both. ``audit_ids`` is not covered by the hashes: deleting its rows hides a
company from ``find()`` but cannot make it return a score that is not in the
trail.
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
from datetime import UTC, datetime, timedelta
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from riskcore.errors import AuditError

__all__ = ["AuditBatch", "AuditLog", "AuditRecord", "Decision", "Source", "VerifyResult"]

Source = Literal["cli", "dashboard", "api"]
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
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="lz4")  # measured: 3× faster than zstd, 20% larger


@dataclass(frozen=True)
class AuditRecord:
    """One score to record.

    Parameters
    ----------
    company_id : the scored company's key.
    inputs : the model inputs as sent, JSON-able values (numbers, strings,
        booleans, ``None``, lists, dicts; NumPy scalars are accepted). NaN and
        infinite floats are stored as missing; lists and dicts as JSON text.
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

    ``rows`` counts the scores checked: all of them when ``ok``, else those up
    to and including the first broken one. ``first_bad_seq`` is the trail
    position of that score (for a deleted one, the missing position);
    ``request_id`` and ``row`` (1-based within the request) name it.
    ``last_hash`` is the hash of the last request head checked; store it
    elsewhere with ``rows`` to anchor the chain. ``leftovers`` counts rows of
    interrupted requests that never committed: they are not part of the trail
    and do not make ``ok`` False.
    """

    ok: bool
    rows: int
    first_bad_seq: int | None
    message: str
    last_hash: str = GENESIS_HASH
    request_id: str | None = None
    row: int | None = None
    requests: int = 0
    leftovers: int = 0


class AuditLog:
    """The audit trail in one database.

    Parameters
    ----------
    url : SQLAlchemy URL, e.g. ``sqlite:////abs/path/audit.db`` (four slashes
        for an absolute path), ``sqlite:///file:/abs/path/audit.db?mode=ro&uri=true``
        (read-only: writes refuse) or ``postgresql+psycopg://user@host/db``.
    busy_timeout_ms : how long a SQLite writer waits for another one before
        it gives up (and the write raises).
    stale_after_minutes : staged rows of a request that has neither committed
        nor stored a chunk for this long are removed by the next writer.

    Raises
    ------
    AuditError
        When an argument is invalid, the URL cannot be parsed or its database
        driver is not installed.

    Notes
    -----
    The tables are created on first use. The log is safe to share between
    threads (an :class:`AuditBatch` is not); a forked process drops the
    connections it inherited. Every method raises
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

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, stale_after_minutes: float = 30.0):
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise AuditError(f"busy_timeout_ms={busy_timeout_ms!r} must be a whole number of milliseconds >= 0, "
                             "e.g. 30000")
        if isinstance(stale_after_minutes, bool) or not isinstance(stale_after_minutes, (int, float)) \
                or not stale_after_minutes > 0:
            raise AuditError(f"stale_after_minutes={stale_after_minutes!r} must be a number of minutes > 0, e.g. 30")
        self._url = _parse_url(url)
        # shown in messages; rendering escapes characters (file: URIs), so keep the text unless it has a password
        self.url = url if self._url.password is None else self._url.render_as_string(hide_password=True)
        self.busy_timeout_ms = busy_timeout_ms
        self.stale_after = timedelta(minutes=float(stale_after_minutes))
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
    def batch(self, *, source: str, caller: str, model_version: str, bundle_hash: str,
              request_id: str | None = None) -> AuditBatch:
        """Start recording one request whose scores arrive in chunks.

        Parameters
        ----------
        source : ``"cli"``, ``"dashboard"`` or ``"api"``.
        caller : who asked (user name or API key id).
        model_version, bundle_hash : the model that scores.
        request_id : the request's id; a new ``uuid4().hex`` when ``None``.

        Returns
        -------
        AuditBatch
            Call ``add()`` per chunk, then ``commit()``; or use it in a ``with``
            block, which commits on success and aborts on an exception.

        Raises
        ------
        AuditError
            When a request field is invalid.

        Examples
        --------
        >>> log = AuditLog("sqlite://")
        >>> with log.batch(source="cli", caller="analyst", model_version="v1", bundle_hash="ab12") as batch:
        ...     batch.add(["C-1", "C-2"], pd.DataFrame({"roa": [0.1, None]}), np.array([0.02, 0.3]),
        ...               ["accept", "refer"], ["A", "C"])
        >>> log.count()
        2
        """
        request_id = uuid.uuid4().hex if request_id is None else request_id
        _check_request(source=source, caller=caller, model_version=model_version, bundle_hash=bundle_hash,
                       request_id=request_id)
        return AuditBatch(self, request_id=request_id, source=source, caller=caller, model_version=model_version,
                          bundle_hash=bundle_hash)

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
        """Record the scores of one request, all in one transaction.

        Parameters
        ----------
        records : the scores of one request; an empty sequence writes nothing.
            Records with different input keys are stored with the union of the
            keys, the absent ones as missing.
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
        batch = self.batch(source=source, caller=caller, model_version=model_version, bundle_hash=bundle_hash,
                           request_id=request_id)
        if isinstance(records, AuditRecord):
            records = [records]
        _prepare(records)
        if not records:
            return batch.request_id
        inputs = pd.DataFrame([_plain(r.inputs, "") for r in records], index=pd.RangeIndex(len(records)))
        inputs = inputs.reindex(columns=sorted(inputs.columns))
        with batch:
            batch.add([r.company_id for r in records], inputs, np.array([float(r.p_default) for r in records]),
                      [r.decision for r in records], [r.grade for r in records],
                      [REASON_SEPARATOR.join(r.reasons) for r in records])
        return batch.request_id

    def check_writable(self) -> None:
        """Check that a request could be recorded now, without leaving one behind.

        Takes the chain lock, writes a probe chunk and head and rolls back.

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
                seq, prev_hash, offset = self._lock_and_tail(conn)
                conn.execute(insert(audit_segments).values(batch_id="probe", chunk=0, first_row=1, n_rows=0,
                                                           created=_utc_now(), data=b""))
                values = (seq + 1, _utc_now(), "probe", "probe", "probe", "api", "", "", offset, 0, 0, "[]",
                          GENESIS_HASH, prev_hash)
                conn.execute(insert(audit_requests).values({**dict(zip(_HEAD_COLUMNS, values, strict=True)),
                                                           "row_hash": GENESIS_HASH}))
            finally:
                tx.rollback()

    # -- reading -----------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Check every request head, every chunk and the chain; name the first broken row.

        For each head in ``seq`` order it checks that no head is missing, that
        its hash matches its contents and links to the previous head, that its
        chunks are all there with consecutive rows, and that the SHA-256 of
        its stored scores equals its digest. On a mismatch it compares rows
        and fingerprints to name the row.

        Returns
        -------
        VerifyResult

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        self._ensure_table("read")
        expected_seq, prev_hash, total = 1, GENESIS_HASH, 0
        stmt = (select(*(audit_requests.c[name] for name in (*_HEAD_COLUMNS, "row_hash")))
                .order_by(audit_requests.c.seq))
        with self._fail_closed("read"), self._engine.connect() as conn:
            result = conn.execution_options(yield_per=_HEADS_PAGE).execute(stmt)
            for head in result:
                values = tuple(head)
                problem = _check_head(values, expected_seq, prev_hash, total)
                if problem is None:
                    problem = _check_chunks(conn, head)
                if problem is not None:
                    result.close()
                    bad_seq, row, message = problem
                    rows = bad_seq if bad_seq is not None else total
                    return VerifyResult(False, rows, bad_seq, message, prev_hash, head.request_id, row,
                                        expected_seq - 1)
                prev_hash, expected_seq, total = head.row_hash, head.seq + 1, total + head.n_rows
            batches, leftovers = _leftovers(conn)
        message = f"chain intact: {total:,} rows"
        if leftovers or batches:
            message += (f"; {leftovers:,} rows of {batches:,} interrupted request(s) were never committed and are "
                        "not part of the trail (the next writer removes them once stale)")
        return VerifyResult(True, total, None, message, prev_hash, requests=expected_seq - 1, leftovers=leftovers)

    def recent(self, limit: int = 100, *, source: str | None = None, company_id: str | None = None) -> pd.DataFrame:
        """Return the newest scores first.

        Parameters
        ----------
        limit : at most this many rows (>= 1).
        source : only scores from this source.
        company_id : only scores of this company.

        Returns
        -------
        pandas.DataFrame
            Columns seq (position in the trail), ts (datetime, UTC; when the
            request was committed), request_id, caller, source, model_version,
            bundle_hash, company_id, p_default, decision, grade, reasons (list
            of str), input_hash (SHA-256 of the inputs as canonical JSON:
            sorted keys, no spaces, missing values as null).

        Raises
        ------
        AuditError
            When an argument is invalid or the store cannot be read.
        """
        return self._read(limit, source, company_id, with_inputs=False)

    def find(self, company_id: str, *, limit: int | None = None, source: str | None = None) -> pd.DataFrame:
        """Return every recorded score of one company, newest first, with its inputs.

        Parameters
        ----------
        company_id : the company's key.
        limit : at most this many rows; ``None`` for all.
        source : only scores from this source.

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`recent` plus ``inputs``: a dict per row of
            input name to value (float, int, bool, str, or ``None`` when
            missing; lists and dicts as they were sent to :meth:`record`).

        Raises
        ------
        AuditError
            When an argument is invalid or the store cannot be read.
        """
        if not isinstance(company_id, str):
            raise AuditError(f"company_id={company_id!r} must be a string")
        return self._read(limit, source, company_id, with_inputs=True)

    def count(self) -> int:
        """Count the scores recorded (rows of committed requests).

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        self._ensure_table("read")
        with self._fail_closed("read"), self._engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(audit_requests.c.n_rows), 0))).scalar_one())

    def _read(self, limit: int | None, source: str | None, company_id: str | None, *,
              with_inputs: bool) -> pd.DataFrame:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
        if source is not None and source not in SOURCES:
            raise AuditError(f"source={source!r} is unknown; use one of {', '.join(map(repr, SOURCES))} or None")
        self._ensure_table("read")
        wanted = math.inf if limit is None else limit
        out: list[tuple[Any, ...]] = []
        with self._fail_closed("read"), self._engine.connect() as conn:
            for head, chunk in _newest_chunks(conn, source, company_id):
                if len(out) >= wanted:
                    break
                data = conn.execute(select(audit_segments.c.data).where(
                    audit_segments.c.batch_id == head.batch_id, audit_segments.c.chunk == chunk)).scalar()
                if data is None:
                    continue
                out.extend(_rows_of(head, _decode(data, head.request_id, chunk), company_id, wanted - len(out),
                                    with_inputs))
        columns = list(FIND_COLUMNS if with_inputs else RECENT_COLUMNS)
        frame = pd.DataFrame(out, columns=columns)
        frame["seq"] = frame["seq"].astype("int64")
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
        frame["p_default"] = frame["p_default"].astype(float)
        return frame

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
        """Create the tables on first use; creation is serialised like a write."""
        if self._table_ready:
            return
        names = [t.name for t in _metadata.sorted_tables]
        with self._fail_closed(action):
            with self._engine.connect() as conn:
                missing = [n for n in names if not inspect(conn).has_table(n)]
            if missing:
                try:
                    with self._writer.begin() as conn:
                        _metadata.create_all(conn, checkfirst=True)
                except SQLAlchemyError:
                    # another process may have created them between our check and our CREATE (PostgreSQL)
                    with self._engine.connect() as conn:
                        if any(not inspect(conn).has_table(n) for n in names):
                            raise
        self._table_ready = True

    def _lock_and_tail(self, conn: Connection) -> tuple[int, str, int]:
        """Serialise writers, then read the last head's seq, hash and the number of scores so far."""
        if not self._is_sqlite:  # SQLite is already serialised by BEGIN IMMEDIATE
            table = conn.dialect.identifier_preparer.format_table(audit_requests)
            conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        c = audit_requests.c
        last = conn.execute(select(c.seq, c.row_hash, c.row_offset + c.n_rows).order_by(c.seq.desc()).limit(1)).first()
        return (0, GENESIS_HASH, 0) if last is None else (int(last[0]), str(last[1]), int(last[2]))

    def _remove_batch(self, conn: Connection, batch_id: str) -> None:
        """Delete a batch's staged rows, never those of a committed request."""
        committed = conn.execute(select(audit_requests.c.seq).where(audit_requests.c.batch_id == batch_id)).first()
        if committed is None:
            for table in (audit_ids, audit_segments, audit_staged):
                conn.execute(delete(table).where(table.c.batch_id == batch_id))

    def _remove_stale(self, keep: str) -> None:
        """Remove staged rows of requests untouched for ``stale_after`` (housekeeping: errors are left for later)."""
        cutoff = (datetime.now(UTC) - self.stale_after).isoformat(timespec="microseconds")
        try:
            with self._engine.connect() as conn:
                stale = conn.execute(select(audit_staged.c.batch_id).where(
                    audit_staged.c.touched < cutoff, audit_staged.c.batch_id != keep)).scalars().all()
            if stale:
                with self._writer.begin() as conn:
                    for batch_id in stale:
                        self._remove_batch(conn, batch_id)
        except SQLAlchemyError:
            pass  # the scores of this request are recorded; the next writer tries again


class AuditBatch:
    """One request being recorded chunk by chunk; made by :meth:`AuditLog.batch`.

    ``add()`` checks and stores a chunk of scores, ``commit()`` makes the whole
    request visible at once, chained onto the trail, and ``abort()`` removes
    what was stored. As a context manager it commits on success and aborts on
    an exception (which it re-raises). Not thread-safe: one writer per batch.

    Attributes
    ----------
    request_id : str
        The request's id.
    n_rows : int
        Scores added so far.
    """

    def __init__(self, log: AuditLog, *, request_id: str, source: str, caller: str, model_version: str,
                 bundle_hash: str):
        self._log = log
        self.request_id = request_id
        self._meta = {"source": source, "caller": caller, "model_version": model_version, "bundle_hash": bundle_hash}
        self._batch_id = uuid.uuid4().hex
        self.n_rows = 0
        self._chunks = 0  # chunks stored or pending
        self._pending: _Chunk | None = None
        self._columns: list[str] | None = None
        self._hashes: list[bytes] = []
        self._state: Literal["open", "committed", "aborted"] = "open"
        self._staged = False

    def __repr__(self) -> str:
        return f"AuditBatch(request_id={self.request_id!r}, n_rows={self.n_rows}, state={self._state!r})"

    def __enter__(self) -> AuditBatch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add(self, company_ids: Any, inputs: Any, p_default: Any, decision: Any, grade: Any,
            reasons: Any = None) -> None:
        """Check and store one chunk of scores.

        Parameters
        ----------
        company_ids : sequence, ndarray or pyarrow array of str.
        inputs : pandas DataFrame or pyarrow Table of the model inputs of these
            rows (numbers, text, booleans, missing values); the same column
            names in every chunk of the request.
        p_default : floats in [0, 1].
        decision : ``"accept"`` or ``"refer"`` per row.
        grade : str per row.
        reasons : ``None``, or per row the reason codes joined with ``"; "``
            (``""`` or missing: none).

        Raises
        ------
        AuditError
            When a value is invalid (the message names the row and the field)
            or the store cannot be written. The request is then abandoned:
            nothing of it becomes visible, and later calls refuse.
        """
        self._check_open()
        try:
            chunk = _make_chunk(self, company_ids, inputs, p_default, decision, grade, reasons)
        except AuditError:
            self.abort()
            raise
        if chunk is None:
            return
        previous, self._pending = self._pending, chunk
        self._chunks += 1
        self.n_rows += chunk.n_rows
        self._hashes.append(chunk.digest)
        if previous is not None:
            try:
                self._log._ensure_table("written")
                with self._log._fail_closed("written"), self._log._writer.begin() as conn:
                    _store(conn, self._batch_id, previous, staged_as=self.request_id)
                self._staged = True
            except AuditError:
                self.abort()
                raise

    def commit(self) -> str:
        """Make the whole request visible at once, chained onto the trail.

        A request without rows writes nothing.

        Returns
        -------
        str
            The request id.

        Raises
        ------
        AuditError
            When the store cannot be written or a stored chunk went missing;
            nothing of the request is visible then.
        """
        self._check_open()
        log = self._log
        if self._chunks == 0:
            self._state = "committed"
            return self.request_id
        try:
            log._ensure_table("written")
            with log._fail_closed("written"), log._writer.begin() as conn:
                seq, prev_hash, offset = log._lock_and_tail(conn)
                if self._pending is not None:
                    _store(conn, self._batch_id, self._pending, staged_as=None)
                s = audit_segments.c
                stored = conn.execute(select(func.count(), func.coalesce(func.sum(s.n_rows), 0))
                                      .where(s.batch_id == self._batch_id)).one()
                if (int(stored[0]), int(stored[1])) != (self._chunks, self.n_rows):
                    raise AuditError(f"request {self.request_id}: {self._chunks - int(stored[0])} of its "
                                     f"{self._chunks} stored chunks went missing before commit (removed as stale "
                                     "after a long pause?), nothing was recorded; score the request again")
                values = (seq + 1, _utc_now(), self.request_id, self._batch_id, self._meta["caller"],
                          self._meta["source"], self._meta["model_version"], self._meta["bundle_hash"], offset,
                          self.n_rows, self._chunks, _HEAD_JSON.encode(self._columns or []),
                          _digest(self._hashes, self.n_rows), prev_hash)
                conn.execute(insert(audit_requests).values({**dict(zip(_HEAD_COLUMNS, values, strict=True)),
                                                           "row_hash": _head_hash(values)}))
                conn.execute(delete(audit_staged).where(audit_staged.c.batch_id == self._batch_id))
        except AuditError:
            self.abort()
            raise
        self._state = "committed"
        self._pending = None
        log._remove_stale(keep=self._batch_id)
        return self.request_id

    def abort(self) -> None:
        """Remove whatever was stored for this request; nothing of it becomes visible.

        Does nothing after ``commit()`` or a previous ``abort()``. When the
        store cannot be reached the staged rows stay behind, invisible, until a
        later writer removes them as stale.
        """
        if self._state != "open":
            return
        self._state = "aborted"
        self._pending = None
        if self._staged:
            try:
                with self._log._writer.begin() as conn:
                    self._log._remove_batch(conn, self._batch_id)
            except SQLAlchemyError:
                pass  # invisible without a head; removed as stale later
        self._log._remove_stale(keep=self._batch_id)

    def _check_open(self) -> None:
        if self._state != "open":
            raise AuditError(f"request {self.request_id} was already {self._state}; start a new batch with "
                             "AuditLog.batch()")


# -- chunks ------------------------------------------------------------------
@dataclass
class _Chunk:
    """One validated chunk: its segment bytes, its hash and its distinct company ids."""

    index: int
    first_row: int
    n_rows: int
    data: bytes
    digest: bytes
    company_ids: list[str]


def _make_chunk(batch: AuditBatch, company_ids: Any, inputs: Any, p_default: Any, decision: Any, grade: Any,
                reasons: Any) -> _Chunk | None:
    """Validate one chunk (vectorised), encode it and hash it; None for an empty chunk."""
    ids = _strings(company_ids, "company_ids")
    n = len(ids)
    first = batch.n_rows + 1
    where = _Where(ids, first)
    sizes = {"company_ids": n}
    p = _floats(p_default, "p_default")
    dec = _strings(decision, "decision")
    grades = _strings(grade, "grade")
    why = pa.repeat(pa.scalar("", pa.string()), n) if reasons is None else _strings(reasons, "reasons")
    table = _input_columns(inputs)
    sizes.update(p_default=len(p), decision=len(dec), grade=len(grades), reasons=len(why),
                 inputs=len(inputs) if isinstance(inputs, pd.DataFrame) else getattr(inputs, "num_rows", 0))
    if len(set(sizes.values())) > 1:
        raise AuditError("cannot record the scores, nothing was written: the arguments have different lengths ("
                         + ", ".join(f"{k}={v}" for k, v in sizes.items()) + "); pass one entry per scored row")
    if n == 0:
        return None
    names = sorted(table)
    if batch._columns is None:
        batch._columns = names
    elif names != batch._columns:
        raise AuditError(f"cannot record the scores, nothing was written: this chunk's inputs have the columns "
                         f"{names!r} but the request's first chunk had {batch._columns!r}; pass the same "
                         "columns in every chunk")
    problems: list[str] = []
    for name, arr in (("company_id", ids), ("grade", grades)):
        bad = np.flatnonzero(pc.fill_null(pc.or_(pc.is_null(arr), pc.greater(pc.utf8_length(arr), _MAX_TEXT)),
                                          True).to_numpy(zero_copy_only=False))
        problems += [f"{where(i)}: {name}={arr[i].as_py()!r} must be a string of at most {_MAX_TEXT} characters"
                     for i in bad[:5]]
    bad = np.flatnonzero(~((p >= 0.0) & (p <= 1.0)))  # also true for NaN
    problems += [f"{where(i)}: p_default={float(p[i])!r} must be a number in [0, 1]" for i in bad[:5]]
    bad = np.flatnonzero(~pc.fill_null(pc.is_in(dec, pa.array(DECISIONS)), False).to_numpy(zero_copy_only=False))
    problems += [f"{where(i)}: decision={dec[i].as_py()!r} is unknown; use one of {', '.join(map(repr, DECISIONS))}"
                 for i in bad[:5]]
    columns: list[tuple[str, str, pa.Array]] = []
    for name in names:
        try:
            kind, arr = _input_column(table[name])
        except _BadValue as err:
            problems.append(f"{where(err.row)}: input {name!r}: {err}")
            continue
        columns.append((_INPUT_PREFIX + name, kind, arr))
    if problems:
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AuditError(f"cannot record the scores, nothing was written: {head}{more}")
    rows = pa.array(np.arange(first, first + n, dtype=np.int64))
    outputs = [("row", "int", rows), ("company_id", "text", ids), ("p_default", "float", pa.array(p)),
               ("decision", "text", dec), ("grade", "text", grades), ("reasons", "text", why.fill_null(""))]
    fields = [*outputs, *columns]
    fingerprints = pa.array(_fingerprints(fields), pa.uint64())
    fields.append(("fingerprint", "uint", fingerprints))
    schema = pa.schema([pa.field(name, arr.type, metadata={b"kind": b"json"} if kind == "json" else None)
                        for name, kind, arr in fields])
    segment = pa.Table.from_arrays([a for _, _, a in fields], schema=schema)
    unique = pc.unique(ids)
    return _Chunk(index=batch._chunks, first_row=first, n_rows=n, data=_encode(segment),
                  digest=_chunk_hash(first, fields),
                  company_ids=pc.take(unique, pc.array_sort_indices(unique)).to_pylist())


class _Where:
    """Name a row of a chunk in messages: its row in the chunk, in the request and its company."""

    def __init__(self, ids: pa.Array, first: int):
        self.ids, self.first = ids, first

    def __call__(self, i: int) -> str:
        company = self.ids[int(i)].as_py() if int(i) < len(self.ids) else None
        return f"row {int(i)} of the chunk (request row {self.first + int(i)}, company {company!r})"


class _BadValue(ValueError):
    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.row = row


def _strings(values: Any, name: str) -> pa.Array:
    """A 1-d pyarrow string array, or an AuditError naming the first value that is not text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or pa.types.is_null(values.type):
            return values.cast(pa.string())
        values = values.to_pylist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise AuditError(f"cannot record the scores, nothing was written: {name} must be a sequence with one "
                         f"string per row, not {type(values).__name__}")
    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        items = list(values)
        i = next(i for i, v in enumerate(items) if not isinstance(v, str) and v is not None)
        raise AuditError(f"cannot record the scores, nothing was written: {name}[{i}]={items[i]!r} must be a "
                         "string") from None


def _floats(values: Any, name: str) -> np.ndarray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_numpy(zero_copy_only=False)
    try:
        arr = np.asarray(values)
        if arr.dtype.kind not in "fiu":
            raise TypeError
        return arr.astype(np.float64, copy=False).reshape(-1)
    except (TypeError, ValueError):
        items = list(values) if hasattr(values, "__iter__") else [values]
        i = next((i for i, v in enumerate(items) if not isinstance(v, (int, float, np.number))
                  or isinstance(v, bool)), 0)
        shown = items[i] if items else values
        raise AuditError(f"cannot record the scores, nothing was written: {name}[{i}]={shown!r} must be a number "
                         "in [0, 1]") from None


def _input_columns(inputs: Any) -> dict[str, Any]:
    """Name to pyarrow array (or a list of Python values when Arrow cannot hold them) per input column."""
    if isinstance(inputs, pa.Table):
        return {name: inputs.column(name) for name in inputs.column_names} if len(
            set(inputs.column_names)) == inputs.num_columns else _refuse_names(list(inputs.column_names))
    if not isinstance(inputs, pd.DataFrame):
        raise AuditError(f"cannot record the scores, nothing was written: inputs must be a pandas DataFrame or a "
                         f"pyarrow Table, not {type(inputs).__name__}")
    if inputs.columns.duplicated().any() or not all(isinstance(c, str) for c in inputs.columns):
        _refuse_names(list(inputs.columns))
    out: dict[str, Any] = {}
    for name in inputs.columns:
        series = inputs[name]
        try:
            out[name] = pa.array(series, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
            out[name] = series.tolist()  # mixed types: stored as JSON text, cell by cell
    return out


def _refuse_names(names: list[Any]) -> dict[str, Any]:
    bad = next(n for i, n in enumerate(names) if not isinstance(n, str) or n in names[:i])
    raise AuditError(f"cannot record the scores, nothing was written: input names must be distinct strings; "
                     f"{bad!r} is not; rename the column")


def _json_cell(value: Any, row: int) -> str | None:
    try:
        plain = _plain(value, "")
    except TypeError as err:
        raise _BadValue(row, str(err).replace("input '': ", "")) from None
    return None if plain is None else _INPUTS_JSON.encode(plain)


def _input_column(column: pa.ChunkedArray | pa.Array | list[Any]) -> tuple[str, pa.Array]:
    """One input column in canonical form: (kind, array); floats that are not finite become missing."""
    if isinstance(column, list):
        return "json", pa.array([_json_cell(v, i) for i, v in enumerate(column)], pa.string())
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_null(t):
        return "float", pa.nulls(len(arr), pa.float64())
    if pa.types.is_floating(t):
        values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        missing = ~np.isfinite(values)
        return "float", pa.array(values, pa.float64(), mask=missing) if missing.any() else arr.cast(pa.float64())
    if pa.types.is_integer(t):
        try:
            return "int", arr.cast(pa.int64())
        except pa.ArrowInvalid:
            big = np.flatnonzero(pc.fill_null(pc.greater(arr, np.iinfo(np.int64).max), False)
                                 .to_numpy(zero_copy_only=False))
            raise _BadValue(int(big[0]) if len(big) else 0, "a whole number larger than 2**63 - 1 cannot be "
                            "stored; pass it as text") from None
    if pa.types.is_boolean(t):
        return "bool", arr
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text", arr.cast(pa.string())
    values = arr.to_pylist()
    return "json", pa.array([_json_cell(v, i) for i, v in enumerate(values)], pa.string())


def _kind_of(field: pa.Field) -> str:
    """The canonical kind of a stored segment column."""
    t = field.type
    if field.name.startswith(_INPUT_PREFIX) and field.metadata and field.metadata.get(b"kind") == b"json":
        return "json"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_unsigned_integer(t):
        return "uint"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_boolean(t):
        return "bool"
    return "text"


def _encode(segment: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, segment.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(segment)
    return sink.getvalue().to_pybytes()


def _decode(data: bytes, request_id: str, chunk: int) -> pa.Table:
    try:
        return ipc.open_stream(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, OSError, ValueError) as err:
        raise _Unreadable(f"request {request_id} chunk {chunk} cannot be read ({err}); "
                          "run verify() to check the audit trail") from None


class _Unreadable(AuditError):
    pass


def _fields_of(segment: pa.Table) -> list[tuple[str, str, pa.Array]]:
    """The stored columns as (name, kind, array), in stored order."""
    out = []
    for field, column in zip(segment.schema, segment.columns, strict=True):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        out.append((field.name, _kind_of(field), arr))
    return out


def _store(conn: Connection, batch_id: str, chunk: _Chunk, *, staged_as: str | None) -> None:
    """Write one chunk and its company index in the caller's transaction."""
    now = _utc_now()
    conn.execute(insert(audit_segments).values(batch_id=batch_id, chunk=chunk.index, first_row=chunk.first_row,
                                               n_rows=chunk.n_rows, created=now, data=chunk.data))
    style = conn.dialect.paramstyle
    if style in ("qmark", "format", "pyformat"):
        mark = "?" if style == "qmark" else "%s"
        table = conn.dialect.identifier_preparer.format_table(audit_ids)
        conn.exec_driver_sql(f"INSERT INTO {table} (company_id, batch_id, chunk) VALUES ({mark}, {mark}, {mark})",
                             list(zip(chunk.company_ids, repeat(batch_id), repeat(chunk.index))))
    else:
        conn.execute(insert(audit_ids), [{"company_id": c, "batch_id": batch_id, "chunk": chunk.index}
                                         for c in chunk.company_ids])
    if staged_as is not None:
        touched = conn.execute(update(audit_staged).where(audit_staged.c.batch_id == batch_id).values(touched=now))
        if touched.rowcount == 0:
            conn.execute(insert(audit_staged).values(batch_id=batch_id, request_id=staged_as, touched=now))


# -- hashes and fingerprints ------------------------------------------------------
def _chunk_hash(first_row: int, fields: Sequence[tuple[str, str, pa.Array]]) -> bytes:
    """SHA-256 of a chunk's canonical columnar bytes: a JSON header, then per column validity and values."""
    n = len(fields[0][2]) if fields else 0
    h = hashlib.sha256(f"{_FORMAT}|chunk|".encode())
    h.update(_HEAD_JSON.encode([first_row, n, [[name, kind] for name, kind, _ in fields]]).encode())
    for _, kind, arr in fields:
        if arr.null_count:
            h.update(b"\x01")
            h.update(pc.is_valid(arr).to_numpy(zero_copy_only=False).view(np.uint8).tobytes())
            arr = arr.fill_null("" if kind in ("text", "json") else False if kind == "bool" else 0)
        else:
            h.update(b"\x00")
        if kind in ("text", "json"):
            lengths, data = _text_buffers(arr)
            h.update(lengths.astype("<i8").tobytes())
            h.update(data)
        elif kind == "bool":
            h.update(arr.to_numpy(zero_copy_only=False).view(np.uint8).tobytes())
        else:
            h.update(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False)).astype(
                "<f8" if kind == "float" else "<u8" if kind == "uint" else "<i8", copy=False).tobytes())
    return h.digest()


def _digest(chunk_hashes: Sequence[bytes], n_rows: int) -> str:
    h = hashlib.sha256(f"{_FORMAT}|request|{n_rows}|{len(chunk_hashes)}|".encode())
    for digest in chunk_hashes:
        h.update(digest)
    return h.hexdigest()


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Lengths (int64) and the contiguous UTF-8 bytes of a string array without nulls."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = arr.buffers()[2]
    raw = memoryview(data)[int(offsets[0]):int(offsets[-1])] if data is not None else memoryview(b"")
    return np.diff(offsets).astype(np.int64), raw


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_NULL_WORD = np.uint64(0x9E3779B97F4A7C15)
_POW_BASE = np.uint64(0x100000001B3)
_powers = np.ones(1, dtype=np.uint64)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place."""
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _words(kind: str, arr: pa.Array) -> np.ndarray:
    """One 64-bit word per row that changes when the row's value changes (missing values get their own word)."""
    global _powers
    n = len(arr)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False) if arr.null_count else None
    if kind in ("text", "json"):
        filled = arr.fill_null("") if arr.null_count else arr
        lengths, data = _text_buffers(filled)
        if len(_powers) < int(lengths.max(initial=0)) + 1:
            size = int(lengths.max()) + 1
            _powers = np.cumprod(np.concatenate([[np.uint64(1)], np.full(size - 1, _POW_BASE)]), dtype=np.uint64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        weighted = np.frombuffer(data, dtype=np.uint8).astype(np.uint64) * _powers[pos]
        sums = np.concatenate([[np.uint64(0)], np.cumsum(weighted, dtype=np.uint64)])
        words = sums[starts + lengths] - sums[starts]
        words += lengths.astype(np.uint64) * _M1
    elif kind == "bool":
        words = arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint64)
    else:
        values = (arr.fill_null(0) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        words = np.ascontiguousarray(values).astype(
            np.float64 if kind == "float" else np.uint64 if kind == "uint" else np.int64, copy=False).view(np.uint64)
        if valid is not None:
            words = words.copy()
    if valid is not None:
        words[~valid] = _NULL_WORD
    return words[:n]


def _fingerprints(fields: Sequence[tuple[str, str, pa.Array]]) -> np.ndarray:
    """A 64-bit fingerprint per row over all the given columns (order matters), computed for the whole chunk."""
    with np.errstate(over="ignore"):
        acc = np.full(len(fields[0][2]), _NULL_WORD, dtype=np.uint64)
        for j, (_, kind, arr) in enumerate(fields):
            acc ^= _words(kind, arr)
            acc += np.uint64(j + 1) * _M2
            _mix(acc)
    return acc


def _head_hash(values: tuple[Any, ...]) -> str:
    """sha256(prev_hash + "|" + compact JSON of every head column but row_hash)."""
    return hashlib.sha256(f"{values[-1]}|{_HEAD_JSON.encode(list(values))}".encode()).hexdigest()


# -- verifying ----------------------------------------------------------------------
def _check_head(values: tuple[Any, ...], expected_seq: int, prev_hash: str,
                total: int) -> tuple[int, None, str] | None:
    """The first problem of one head as (trail position, None, message), or None."""
    seq, request_id, stored_prev, stored_hash = values[0], values[2], values[-2], values[-1]
    offset = values[_HEAD_COLUMNS.index("row_offset")]
    if seq != expected_seq:
        if expected_seq == 1:
            return total + 1, None, (f"head 1 is missing: the trail starts at head {seq}, so requests were deleted "
                                     "from its start")
        return total + 1, None, (f"head {expected_seq} is missing: head {expected_seq - 1} is followed by head "
                                 f"{seq}, so a request was deleted")
    if _head_hash(values[:-1]) != stored_hash:
        return total + 1, None, f"request {request_id} (head {seq}) was altered: its hash does not match its contents"
    if stored_prev != prev_hash:
        return total + 1, None, (f"request {request_id} (head {seq}) is not linked to head {seq - 1}: its prev_hash "
                                 f"is not head {seq - 1}'s hash, so head {seq - 1} or head {seq} was rewritten")
    if offset != total:
        return total + 1, None, (f"request {request_id} (head {seq}) starts after trail row {offset} but the "
                                 f"requests before it hold {total} rows, so rows were deleted or added")
    return None


def _segments(conn: Connection, batch_id: str) -> Iterator[Any]:
    s = audit_segments.c
    return iter(conn.execute(select(s.chunk, s.first_row, s.n_rows, s.data)
                             .where(s.batch_id == batch_id).order_by(s.chunk)))


def _check_chunks(conn: Connection, head: Any) -> tuple[int, int | None, str] | None:
    """Re-hash a request's chunks; on a mismatch, name the row. Returns (trail position, row, message) or None."""
    hashes: list[bytes] = []
    next_row = 1
    for k, seg in enumerate(_segments(conn, head.batch_id)):
        try:
            table = _decode(seg.data, head.request_id, k)
        except _Unreadable as err:
            return head.row_offset + next_row, next_row, str(err)
        if seg.chunk != k or seg.first_row != next_row or table.num_rows != seg.n_rows:
            return _locate(conn, head)
        hashes.append(_chunk_hash(seg.first_row, _fields_of(table)))
        next_row += table.num_rows
    if len(hashes) == head.n_chunks and next_row - 1 == head.n_rows and _digest(hashes, head.n_rows) == head.digest:
        return None
    return _locate(conn, head)


def _missing(rid: str, offset: int, row: int, why: str) -> tuple[int, int, str]:
    return offset + row, row, f"request {rid} row {row} is missing: {why}, so scores were deleted"


def _locate(conn: Connection, head: Any) -> tuple[int, int | None, str]:
    """Name the first altered, moved or deleted row of a request whose stored scores do not match its digest."""
    rid, offset = head.request_id, head.row_offset
    next_row = 1
    for k, seg in enumerate(_segments(conn, head.batch_id)):
        if seg.chunk != k:
            return _missing(rid, offset, next_row, f"chunk {k} (from row {next_row}) is not stored")
        try:
            fields = _fields_of(_decode(seg.data, rid, k))
        except _Unreadable as err:
            return offset + next_row, next_row, str(err)
        by_name = {name: arr for name, _, arr in fields}
        if "row" not in by_name or "company_id" not in by_name:
            return offset + next_row, next_row, (f"request {rid} chunk {k} was altered: it lacks the row or "
                                                 "company_id column")
        rows = by_name["row"].to_numpy(zero_copy_only=False)
        ids = by_name["company_id"]
        expected = next_row + np.arange(len(rows))
        off = np.flatnonzero(rows != expected)
        if len(off):
            i = int(off[0])
            want = int(expected[i])
            if np.isin(want, rows):
                return offset + want, want, (f"request {rid} row {want} was moved: row {int(rows[i])} (company "
                                             f"{ids[i].as_py()!r}) is stored in its place, so rows were reordered")
            return _missing(rid, offset, want, f"row {want - 1} is followed by row {int(rows[i])}")
        stored = by_name.get("fingerprint")
        if stored is not None:
            recomputed = _fingerprints([f for f in fields if f[0] != "fingerprint"])
            bad = np.flatnonzero(stored.to_numpy(zero_copy_only=False) != recomputed)
            if len(bad):
                row = int(rows[bad[0]])
                return offset + row, row, (f"request {rid} row {row} (company {ids[int(bad[0])].as_py()!r}) was "
                                           "altered: its stored values do not match its fingerprint")
        next_row += len(rows)
    if next_row - 1 < head.n_rows:
        return _missing(rid, offset, next_row, f"the request has {head.n_rows} rows but only {next_row - 1} are "
                                               "stored")
    return offset + 1, None, (f"request {rid} (head {head.seq}) was altered: its stored scores (trail rows "
                              f"{offset + 1}–{offset + head.n_rows}) do not match the digest in its head, and no "
                              "single row could be named (its fingerprints were rewritten too, or rows were added)")


def _leftovers(conn: Connection) -> tuple[int, int]:
    s = audit_segments.c
    orphan = ~select(audit_requests.c.seq).where(audit_requests.c.batch_id == s.batch_id).exists()
    found = conn.execute(select(func.count(func.distinct(s.batch_id)), func.coalesce(func.sum(s.n_rows), 0))
                         .where(orphan)).one()
    return int(found[0]), int(found[1])


# -- reading rows -------------------------------------------------------------------
def _newest_chunks(conn: Connection, source: str | None, company_id: str | None) -> Iterator[tuple[Any, int]]:
    """(head, chunk) pairs of committed requests, newest first."""
    h = audit_requests.c
    meta = (h.seq, h.ts, h.request_id, h.batch_id, h.caller, h.source, h.model_version, h.bundle_hash,
            h.row_offset, h.n_chunks)
    if company_id is not None:
        i = audit_ids.c
        stmt = (select(*meta, i.chunk).join_from(audit_ids, audit_requests, i.batch_id == h.batch_id)
                .where(i.company_id == company_id).order_by(h.seq.desc(), i.chunk.desc()))
        if source is not None:
            stmt = stmt.where(h.source == source)
        for found in conn.execute(stmt).all():
            yield found, found.chunk
        return
    before: int | None = None
    while True:
        stmt = select(*meta).order_by(h.seq.desc()).limit(_HEADS_PAGE)
        if source is not None:
            stmt = stmt.where(h.source == source)
        if before is not None:
            stmt = stmt.where(h.seq < before)
        heads = conn.execute(stmt).all()
        if not heads:
            return
        for head in heads:
            for chunk in range(head.n_chunks - 1, -1, -1):
                yield head, chunk
        before = heads[-1].seq


def _rows_of(head: Any, segment: pa.Table, company_id: str | None, limit: float,
             with_inputs: bool) -> list[tuple[Any, ...]]:
    """The rows of one chunk, newest first, as tuples of FIND_COLUMNS (or RECENT_COLUMNS)."""
    ids = segment.column("company_id")
    positions = np.arange(segment.num_rows)[::-1]
    if company_id is not None:
        positions = positions[pc.equal(ids, company_id).to_numpy(zero_copy_only=False)[::-1]]
    if limit != math.inf:
        positions = positions[: int(limit)]
    picked = segment.take(pa.array(positions, pa.int64()))
    json_inputs = {f.name for f in segment.schema if _kind_of(f) == "json"}
    out = []
    for row in picked.to_pylist():
        inputs = {}
        for name, value in row.items():
            if name.startswith(_INPUT_PREFIX):
                inputs[name[len(_INPUT_PREFIX):]] = json.loads(value) if name in json_inputs and value else value
        reasons = row["reasons"] or ""
        item = (head.row_offset + row["row"], head.ts, head.request_id, head.caller, head.source, head.model_version,
                head.bundle_hash, row["company_id"], row["p_default"], row["decision"], row["grade"],
                reasons.split(REASON_SEPARATOR) if reasons else [],
                hashlib.sha256(_INPUTS_JSON.encode(inputs).encode()).hexdigest())
        out.append((*item, inputs) if with_inputs else item)
    return out


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


# -- request fields and records ----------------------------------------------------
def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


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


def _prepare(records: Sequence[AuditRecord]) -> None:
    """Check every record; raise one AuditError naming every bad record."""
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
        elif any(REASON_SEPARATOR in r or not r for r in rec.reasons):
            problems.append(f"{where}: reasons={rec.reasons!r}: a reason code must be non-empty and must not "
                            f"contain {REASON_SEPARATOR!r}, which separates codes in the trail")
        if not isinstance(rec.inputs, Mapping):
            problems.append(f"{where}: inputs must be a dict of input names to values, not "
                            f"{type(rec.inputs).__name__}")
            continue
        try:
            _plain(rec.inputs, "")
        except TypeError as err:
            problems.append(f"{where}: {err}")
    if problems:
        head = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more{', checking stopped' if stopped else ''})" if len(problems) > 5 else ""
        raise AuditError(f"cannot record the scores, nothing was written: {head}{more}")


def _plain(value: Any, where: str) -> Any:
    """JSON-able Python values: NumPy scalars unwrapped, NaN, infinity and pandas' missing markers as None."""
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
    raise TypeError(f"input {where!r}: {value!r} of type {type(value).__name__} cannot be stored; "
                    "pass numbers, strings, booleans, None, lists or dicts")
