"""Events without rows in the audit trail's hash chain: the model ledger's moves and the access events.

An event is one head of ``audit_requests`` with no rows and no chunks; its content is the head's
``columns`` text (canonical JSON), which the head's hash covers, so ``verify()`` checks events with the
scores in one chain. :func:`chain_event` writes one under the trail's write lock, :func:`event_heads`
reads them back by source.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from riskcore.serving.audit.batch import _INSERT_HEAD
from riskcore.serving.audit.hashing import _digest, _head_hash
from riskcore.serving.audit.tables import _HEAD_COLUMNS, _utc_now, audit_requests

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from riskcore.serving.audit.log import AuditLog

__all__ = ["chain_event", "event_heads"]


def chain_event(log: AuditLog, *, source: str, caller: str, model_version: str, bundle_hash: str,
                content: dict[str, Any]) -> tuple[int, str]:
    """Chain one event head onto the trail; returns its position and time.

    Raises
    ------
    riskcore.errors.AuditError
        When the store cannot be written (fail closed: nothing is recorded then).
    """
    log._ensure_table("written")
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    with log._fail_closed("written"), log._writer.begin() as conn:
        seq, prev_hash, offset = log._lock_and_tail(conn)
        ts = _utc_now()
        values = (seq + 1, ts, f"{source}-{uuid.uuid4().hex}", uuid.uuid4().hex, caller, source, model_version,
                  bundle_hash, offset, 0, 0, text, _digest([], 0), prev_hash)
        conn.execute(_INSERT_HEAD, {**dict(zip(_HEAD_COLUMNS, values, strict=True)), "row_hash": _head_hash(values)})
    return seq + 1, ts


def event_heads(log: AuditLog, source: str, *, caller: str | None = None, limit: int | None = None) -> list[Row[Any]]:
    """The heads (``seq``, ``ts``, ``columns``) of one source's events, oldest first (only the newest ``limit``)."""
    h = audit_requests.c
    query = select(h.seq, h.ts, h.columns).where(h.source == source)
    if caller is not None:
        query = query.where(h.caller == caller)
    query = query.order_by(h.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    with log._reading() as conn:
        return list(reversed(conn.execute(query).all()))
