"""Writing scores: one request chunk by chunk, or the requests answered together in one transaction.

:class:`AuditBatch` stores a request's chunks in short transactions and makes it visible at once on commit;
:func:`record_parts` records the parts of a group of requests in a single transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from riskcore.data.transaction import CommitOrAbort
from riskcore.errors import AuditError
from riskcore.serving.audit._driver import driver_cursor, is_psycopg
from riskcore.serving.audit._hashing import digest
from riskcore.serving.audit._records import (
    AuditRecord,
    Chunk,
    check_records,
    check_request,
    make_chunk,
    make_small_chunk,
    record_inputs,
)
from riskcore.serving.audit._redaction import Redaction
from riskcore.serving.audit._store import AuditStore, HeadFields
from riskcore.serving.audit._tables import (
    HEAD_JSON,
    MAX_TEXT,
    REASON_SEPARATOR,
    audit_ids,
    audit_segments,
    audit_staged,
    utc_now,
)

__all__ = ["AuditBatch", "AuditPart", "record_parts"]

# built once and given the values as parameters: a statement made per call costs a cache-key walk per request
_INSERT_SEGMENT = insert(audit_segments)


class AuditBatch(CommitOrAbort):
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

    def __init__(self, store: AuditStore, *, request_id: str, source: str, caller: str, model_version: str,
                 bundle_hash: str, redaction: Redaction | None = None, key: str = "company_id"):
        self._store = store
        self._redaction, self._key = redaction, key
        self.request_id = request_id
        self._meta = {"source": source, "caller": caller, "model_version": model_version, "bundle_hash": bundle_hash}
        self._batch_id = uuid.uuid4().hex
        self.n_rows = 0
        self._chunks = 0  # chunks stored or pending
        self._pending: Chunk | None = None
        self._columns: list[str] | None = None
        self._hashes: list[bytes] = []
        self._state: Literal["open", "committed", "aborted"] = "open"
        self._staged = False

    def __repr__(self) -> str:
        return f"AuditBatch(request_id={self.request_id!r}, n_rows={self.n_rows}, state={self._state!r})"

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
            chunk = make_chunk(company_ids, inputs, p_default, decision, grade, reasons, index=self._chunks,
                               first_row=self.n_rows + 1, columns=self._columns, redaction=self._redaction,
                               key=self._key)
        except AuditError:
            self.abort()
            raise
        if chunk is None:
            return
        self._columns = chunk.columns
        previous, self._pending = self._pending, chunk
        self._chunks += 1
        self.n_rows += chunk.n_rows
        self._hashes.append(chunk.digest)
        if previous is not None:
            try:
                with self._store.writing() as conn:
                    _store_chunk(conn, self._batch_id, previous, staged_as=self.request_id)
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
        store = self._store
        if self._chunks == 0:
            self._state = "committed"
            return self.request_id
        try:
            with store.writing() as conn:
                # the last chunk goes in before the chain lock: on PostgreSQL, writers store their chunks side by
                # side and hold the lock only to chain the head (SQLite's BEGIN IMMEDIATE holds it from the start)
                if self._pending is not None:
                    _store_chunk(conn, self._batch_id, self._pending, staged_as=None)
                tail = store.lock_and_tail(conn)
                if self._staged:
                    self._check_stored(conn)
                store.append_head(conn, tail, HeadFields(
                    request_id=self.request_id, batch_id=self._batch_id, caller=self._meta["caller"],
                    source=self._meta["source"], model_version=self._meta["model_version"],
                    bundle_hash=self._meta["bundle_hash"], n_rows=self.n_rows, n_chunks=self._chunks,
                    columns=HEAD_JSON.encode(self._columns or []), digest=digest(self._hashes, self.n_rows)))
                if self._staged:
                    conn.execute(delete(audit_staged).where(audit_staged.c.batch_id == self._batch_id))
                stale = store.stale_batches(conn, keep=self._batch_id)
        except AuditError:
            self.abort()
            raise
        self._state = "committed"
        self._pending = None
        store.remove_stale(keep=self._batch_id, stale=stale)
        return self.request_id

    def _check_stored(self, conn: Connection) -> None:
        """Refuse to commit when a chunk stored in an earlier transaction went missing (removed as stale).

        Only chunks staged by ``add()`` can go missing; a request whose chunks
        are all stored in the commit's own transaction (every ``record()``)
        skips this query.
        """
        s = audit_segments.c
        stored = conn.execute(select(func.count(), func.coalesce(func.sum(s.n_rows), 0))
                              .where(s.batch_id == self._batch_id)).one()
        if (int(stored[0]), int(stored[1])) != (self._chunks, self.n_rows):
            raise AuditError(f"request {self.request_id}: {self._chunks - int(stored[0])} of its "
                             f"{self._chunks} stored chunks went missing before commit (removed as stale "
                             "after a long pause?), nothing was recorded; score the request again")

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
            self._store.discard(self._batch_id)
        self._store.remove_stale(keep=self._batch_id)

    def _check_open(self) -> None:
        if self._state != "open":
            raise AuditError(f"request {self.request_id} was already {self._state}; start a new batch with "
                             "AuditLog.batch()")


def _store_chunk(conn: Connection, batch_id: str, chunk: Chunk, *, staged_as: str | None) -> None:
    """Write one chunk and its company index in the caller's transaction."""
    now = utc_now()
    conn.execute(_INSERT_SEGMENT, {"batch_id": batch_id, "chunk": chunk.index, "first_row": chunk.first_row,
                                   "n_rows": chunk.n_rows, "created": now, "data": chunk.data})
    style = conn.dialect.paramstyle
    if is_psycopg(conn):
        # PostgreSQL's bulk path: one COPY per chunk, in the same transaction (5x an executemany of 100,000 ids)
        _copy_ids(conn, batch_id, chunk)
    elif style in ("qmark", "format", "pyformat"):
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


def _copy_ids(conn: Connection, batch_id: str, chunk: Chunk) -> None:
    """COPY a chunk's company index through the driver (PostgreSQL's bulk path)."""
    table = conn.dialect.identifier_preparer.format_table(audit_ids)
    statement = f"COPY {table} (company_id, batch_id, chunk) FROM STDIN"
    with driver_cursor(conn, statement) as cursor, cursor.copy(statement) as copy:
        for company_id in chunk.company_ids:
            copy.write_row((company_id, batch_id, chunk.index))



@dataclass(frozen=True)
class AuditPart:
    """The scores one model gave, from one source, to requests answered together: one head of the trail.

    Parameters
    ----------
    records : the scores, in any order.
    request_ids, callers : per record, the request it answers and who sent it. When every record has the same
        request and caller the head carries them, as :meth:`AuditLog.record` writes it; otherwise the head gets a
        request id of its own and each row keeps its request id and caller in the chunk (readers show those).
    source, model_version, bundle_hash : as for :meth:`AuditLog.record`.
    key : the name of the column the company ids come from (its redaction decides whether they are hashed).
    """

    records: Sequence[AuditRecord]
    request_ids: Sequence[str]
    callers: Sequence[str]
    source: str
    model_version: str
    bundle_hash: str
    key: str = "company_id"


def record_parts(store: AuditStore, parts: Sequence[AuditPart], redaction: Redaction | None = None) -> list[str]:
    """Record several parts in ONE transaction: every score is visible, or none is.

    ``redaction``: the inputs it covers are stored as salted hashes (see :func:`make_chunk`).

    Returns
    -------
    list[str]
        The request id of each part's head (in ``parts`` order; empty parts write nothing and get ``""``).

    Raises
    ------
    riskcore.errors.AuditError
        When a value cannot be stored or the store cannot be written: nothing is recorded then.
    """
    staged: list[tuple[int, HeadFields, Chunk]] = []
    heads = [""] * len(parts)
    for k, part in enumerate(parts):
        if not (len(part.records) == len(part.request_ids) == len(part.callers)):
            raise AuditError("cannot record the scores, nothing was written: a part needs one request id and one "
                             "caller per record")
        if not part.records:
            continue
        check_records(part.records)
        one = len(set(part.request_ids)) == 1 and len(set(part.callers)) == 1
        request_id = part.request_ids[0] if one else uuid.uuid4().hex
        caller = part.callers[0] if one else ",".join(sorted(set(map(str, part.callers))))[:MAX_TEXT]
        check_request(source=part.source, caller=caller, model_version=part.model_version,
                      bundle_hash=part.bundle_hash, request_id=request_id)
        records = part.records
        ids, inputs = [r.company_id for r in records], [r.inputs for r in records]
        p, decisions, grades = [float(r.p_default) for r in records], [r.decision for r in records], \
            [r.grade for r in records]
        reasons = [REASON_SEPARATOR.join(r.reasons) for r in records]
        requests = None if one else (list(part.request_ids), list(part.callers))
        chunk = make_small_chunk(ids, inputs, p, decisions, grades, reasons, requests=requests, redaction=redaction,
                                 key=part.key) or \
            make_chunk(ids, record_inputs(inputs), np.array(p), decisions, grades, reasons, index=0, first_row=1,
                       columns=None, requests=requests, redaction=redaction, key=part.key)
        assert chunk is not None  # the part has records
        heads[k] = request_id
        staged.append((k, HeadFields(request_id=request_id, batch_id=uuid.uuid4().hex, caller=caller,
                                     source=part.source, model_version=part.model_version,
                                     bundle_hash=part.bundle_hash, n_rows=chunk.n_rows, n_chunks=1,
                                     columns=HEAD_JSON.encode(chunk.columns), digest=digest([chunk.digest],
                                                                                            chunk.n_rows)), chunk))
    if not staged:
        return heads
    keep = staged[0][1].batch_id
    with store.writing() as conn:
        for _, head, chunk in staged:
            _store_chunk(conn, head.batch_id, chunk, staged_as=None)
        tail = store.lock_and_tail(conn)
        for _, head, _ in staged:
            tail = store.append_head(conn, tail, head).tail
        # the API records a group every few milliseconds: it looks for abandoned requests once a minute
        stale = store.stale_batches(conn, keep=keep) if store.housekeeping_due() else []
    store.remove_stale(keep=keep, stale=stale)
    return heads
