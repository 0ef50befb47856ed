"""Verifying the audit trail: every head, every chunk and the chain, naming the first broken row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

import riskcore.serving.audit._tables as tables  # HEADS_PAGE read at call time
from riskcore.serving.audit._anchor import latest_anchor
from riskcore.serving.audit._driver import fetch_binary, is_psycopg
from riskcore.serving.audit._hashing import (
    Unreadable,
    chunk_hash,
    decode,
    digest,
    fields_of,
    fingerprints,
    head_hash,
)
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import GENESIS_HASH, HEAD_COLUMNS, audit_requests, audit_segments

__all__ = ["VerifyResult", "verify_trail"]


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
    and do not make ``ok`` False. ``anchor_seq`` is the last archived head
    (0 when nothing was archived): the live chain was checked from there on,
    and ``rows`` and ``requests`` count the archived ones too.
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
    anchor_seq: int = 0


def _check_head(values: tuple[Any, ...], expected_seq: int, prev_hash: str,
                total: int) -> tuple[int, None, str] | None:
    """The first problem of one head as (trail position, None, message), or None."""
    seq, request_id, stored_prev, stored_hash = values[0], values[2], values[-2], values[-1]
    offset = values[HEAD_COLUMNS.index("row_offset")]
    if seq != expected_seq:
        if expected_seq == 1:
            return total + 1, None, (f"head 1 is missing: the trail starts at head {seq}, so requests were deleted "
                                     "from its start")
        return total + 1, None, (f"head {expected_seq} is missing: head {expected_seq - 1} is followed by head "
                                 f"{seq}, so a request was deleted")
    if head_hash(values[:-1]) != stored_hash:
        return total + 1, None, f"request {request_id} (head {seq}) was altered: its hash does not match its contents"
    if stored_prev != prev_hash:
        return total + 1, None, (f"request {request_id} (head {seq}) is not linked to head {seq - 1}: its prev_hash "
                                 f"is not head {seq - 1}'s hash, so head {seq - 1} or head {seq} was rewritten")
    if offset != total:
        return total + 1, None, (f"request {request_id} (head {seq}) starts after trail row {offset} but the "
                                 f"requests before it hold {total} rows, so rows were deleted or added")
    return None


def _segments(conn: Connection, batch_id: str) -> Iterator[Any]:
    """A request's stored chunks in order (``chunk``, ``first_row``, ``n_rows``, ``data``)."""
    s = audit_segments.c
    query = select(s.chunk, s.first_row, s.n_rows, s.data).where(s.batch_id == batch_id).order_by(s.chunk)
    return iter(fetch_binary(conn, query) if is_psycopg(conn) else conn.execute(query))


def _check_chunks(conn: Connection, head: Any) -> tuple[int, int | None, str] | None:
    """Re-hash a request's chunks; on a mismatch, name the row. Returns (trail position, row, message) or None."""
    hashes: list[bytes] = []
    next_row = 1
    for k, seg in enumerate(_segments(conn, head.batch_id)):
        try:
            table = decode(seg.data, head.request_id, k)
        except Unreadable as err:
            return head.row_offset + next_row, next_row, str(err)
        if seg.chunk != k or seg.first_row != next_row or table.num_rows != seg.n_rows:
            return _locate(conn, head)
        hashes.append(chunk_hash(seg.first_row, fields_of(table)))
        next_row += table.num_rows
    if len(hashes) == head.n_chunks and next_row - 1 == head.n_rows and digest(hashes, head.n_rows) == head.digest:
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
            fields = fields_of(decode(seg.data, rid, k))
        except Unreadable as err:
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
            recomputed = fingerprints([f for f in fields if f[0] != "fingerprint"])
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


def verify_trail(store: AuditStore) -> VerifyResult:
    """Check every head in ``seq`` order, its chunks and the chain, in one snapshot (see :meth:`AuditLog.verify`)."""
    with store.reading(snapshot=True) as conn:
        return _verify(conn)


def _verify(conn: Connection) -> VerifyResult:
    """:func:`verify_trail` on one connection."""
    anchor = latest_anchor(conn)
    expected_seq, prev_hash, total = (1, GENESIS_HASH, 0) if anchor is None else \
        (anchor.seq + 1, anchor.row_hash, anchor.rows)
    stmt = (select(*(audit_requests.c[name] for name in (*HEAD_COLUMNS, "row_hash")))
            .where(audit_requests.c.seq >= expected_seq).order_by(audit_requests.c.seq))
    result = conn.execution_options(yield_per=tables.HEADS_PAGE).execute(stmt)
    for head in result:
        values = tuple(head)
        problem: tuple[int, int | None, str] | None = _check_head(values, expected_seq, prev_hash, total)
        if problem is None:
            problem = _check_chunks(conn, head)
        if problem is not None:
            result.close()
            bad_seq, row, message = problem
            rows = bad_seq if bad_seq is not None else total
            return VerifyResult(False, rows, bad_seq, message, prev_hash, head.request_id, row, expected_seq - 1,
                                anchor_seq=anchor.seq if anchor else 0)
        prev_hash, expected_seq, total = head.row_hash, head.seq + 1, total + head.n_rows
    batches, leftovers = _leftovers(conn)
    message = f"chain intact: {total:,} rows"
    if anchor is not None:
        message += (f" ({total - anchor.rows:,} live, from the anchor at head {anchor.seq:,}; the {anchor.rows:,} "
                    f"before it are archived, the newest in {anchor.archive})")
    if leftovers or batches:
        message += (f"; {leftovers:,} rows of {batches:,} interrupted request(s) were never committed and are "
                    "not part of the trail (the next writer removes them once stale)")
    return VerifyResult(True, total, None, message, prev_hash, requests=expected_seq - 1, leftovers=leftovers,
                        anchor_seq=anchor.seq if anchor else 0)
