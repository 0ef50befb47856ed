"""The audit trail in one database: :class:`AuditLog` writes requests, reads and verifies them."""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import (
    bindparam,
    create_engine,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from riskcore.errors import AuditError, driver_message
from riskcore.evaluation.docs import shared_docs
from riskcore.serving.audit.access import AccessTrail
from riskcore.serving.audit.batch import AuditBatch, _remove_batch
from riskcore.serving.audit.reading import read_rows, read_scored
from riskcore.serving.audit.records import AuditRecord, _check_request, _prepare, _record_inputs
from riskcore.serving.audit.tables import (
    _HEAD_COLUMNS,
    _WRITE_OPTION,
    GENESIS_HASH,
    REASON_SEPARATOR,
    SOURCES,
    _forget_connections,
    _metadata,
    _parse_url,
    _serialise_sqlite,
    _sqlite_file,
    _utc_now,
    audit_requests,
    audit_segments,
    audit_staged,
)
from riskcore.serving.audit.verify import VerifyResult, verify_trail

if TYPE_CHECKING:
    from riskcore.config import Settings
    from riskcore.serving.audit.ledger import ModelMove

__all__ = ["AuditLog"]

_REQUEST_FIELDS = """\
source : ``"cli"``, ``"dashboard"`` or ``"api"``.
caller : who asked (user name or API key id).
model_version, bundle_hash : the model that gives the scores.
request_id : the request's id; a new ``uuid4().hex`` when ``None``."""


# built once: a statement made per call costs a cache-key walk per request
_TAIL = select(audit_requests.c.seq, audit_requests.c.row_hash,
               audit_requests.c.row_offset + audit_requests.c.n_rows).order_by(audit_requests.c.seq.desc()).limit(1)
_STALE = select(audit_staged.c.batch_id).where(audit_staged.c.touched < bindparam("cutoff"),
                                               audit_staged.c.batch_id != bindparam("keep"))


class AuditLog(AccessTrail):
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
    def from_settings(cls, settings: Settings, *, busy_timeout_ms: int = 30_000) -> AuditLog:
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
    @shared_docs(request_fields=_REQUEST_FIELDS)
    def batch(self, *, source: str, caller: str, model_version: str, bundle_hash: str,
              request_id: str | None = None) -> AuditBatch:
        """Start recording one request whose scores arrive in chunks.

        Parameters
        ----------
        {request_fields}

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

    @shared_docs(request_fields=_REQUEST_FIELDS)
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
        {request_fields}

        Returns
        -------
        str
            The request id: ``request_id`` when given, else the new one.

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
        inputs = _record_inputs([r.inputs for r in records])
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
        with self._reading(snapshot=True) as conn:
            return verify_trail(conn)

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

    def scored(self, model_version: str, *, since: str | None = None, until: str | None = None) -> pd.DataFrame:
        """Return every score one model version gave between two times, with the inputs it scored, oldest first.

        Parameters
        ----------
        model_version : the model whose scores are read.
        since, until : ISO 8601 dates or times (UTC) bounding when the requests were recorded,
            ``since <= time < until``; ``None`` leaves that side open.

        Returns
        -------
        pandas.DataFrame
            ``seq``, ``ts``, ``_company_id``, ``_p_default``, ``_grade`` (the recorded key and score) and one
            column per recorded input, under its own name.

        Raises
        ------
        AuditError
            When a bound is not an ISO 8601 date or time, or the store cannot be read.
        """
        bounds: list[str | None] = []
        for name, value in (("since", since), ("until", until)):
            if value is None:
                bounds.append(None)
                continue
            try:
                stamp = pd.Timestamp(value)
            except ValueError:
                raise AuditError(f"{name}={value!r} is not a date or time; write it as 2026-01-31 or "
                                 "2026-01-31T12:00") from None
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            bounds.append(stamp.isoformat(timespec="microseconds"))
        with self._reading() as conn:
            return read_scored(conn, model_version, bounds[0], bounds[1])

    def record_move(self, move: ModelMove) -> ModelMove:
        """Chain one move of the champion onto the trail (see :mod:`riskcore.serving.audit.ledger`).

        Raises
        ------
        AuditError
            When the move has no reason (or an override no gate digest), or the store cannot be written.
        """
        from riskcore.serving.audit.ledger import append_move

        return append_move(self, move)

    def moves(self) -> list[ModelMove]:
        """Every move of the champion recorded in the trail, oldest first.

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        from riskcore.serving.audit.ledger import read_moves

        return read_moves(self)

    def count(self) -> int:
        """Count the scores recorded (rows of committed requests).

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        with self._reading() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(audit_requests.c.n_rows), 0))).scalar_one())

    def _read(self, limit: int | None, source: str | None, company_id: str | None, *,
              with_inputs: bool) -> pd.DataFrame:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
        if source is not None and source not in SOURCES:
            raise AuditError(f"source={source!r} is unknown; use one of {', '.join(map(repr, SOURCES))} or None")
        with self._reading() as conn:
            return read_rows(conn, limit, source, company_id, with_inputs=with_inputs)

    # -- plumbing ----------------------------------------------------------
    @contextmanager
    def _fail_closed(self, action: str) -> Iterator[None]:
        """Turn any database error into an AuditError that says what happened and what to do."""
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
    def _reading(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """Open a connection for one read: tables made on first use, a database error turned into an AuditError.

        ``snapshot``: every statement of the read sees the same committed state, however many requests
        commit meanwhile. SQLite's deferred transaction already does (WAL); PostgreSQL's default (read
        committed) takes a new snapshot per statement, so a verify that pages through heads and chunks
        asks for repeatable read there.
        """
        self._ensure_table("read")
        with self._fail_closed("read"), self._engine.connect() as conn:
            if snapshot and not self._is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            yield conn

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
        last = conn.execute(_TAIL).first()
        return (0, GENESIS_HASH, 0) if last is None else (int(last[0]), str(last[1]), int(last[2]))

    def _stale_batches(self, conn: Connection, keep: str) -> list[str]:
        """Ids of the staged requests other than ``keep`` untouched for ``stale_after``."""
        cutoff = (datetime.now(UTC) - self.stale_after).isoformat(timespec="microseconds")
        return list(conn.execute(_STALE, {"cutoff": cutoff, "keep": keep}).scalars().all())

    def _remove_stale(self, keep: str, stale: list[str] | None = None) -> None:
        """Remove staged rows of requests untouched for ``stale_after`` (housekeeping: errors are left for later).

        ``stale`` is the list :meth:`_stale_batches` already found in the
        caller's transaction (a commit looks there, so a request costs no extra
        connection); ``None`` looks them up here.
        """
        try:
            if stale is None:
                with self._engine.connect() as conn:
                    stale = self._stale_batches(conn, keep)
            if stale:
                with self._writer.begin() as conn:
                    for batch_id in stale:
                        _remove_batch(conn, batch_id)
        except SQLAlchemyError:
            pass  # the scores of this request are recorded; the next writer tries again
