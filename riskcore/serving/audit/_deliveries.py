"""The record of alerts delivered to people, in the audit trail's database: what was sent where, and how it went.

A delivery is a row of ``alert_deliveries``: one event (a monitoring alert, a job that failed, a retraining
decision, a fallback to an earlier champion) for one target (a webhook, a group of e-mail recipients), its
state, the attempts made and, when it failed, why. The rows are the monitoring history's record of its
deliveries and what keeps a repeated alert from being sent on every run, across processes and hosts.

States: ``pending`` (planned, being tried) → ``sent`` | ``failed``; or ``repeat`` at once: the same event (its
``key``) was sent to the same target within the repeat time, so it is not sent again. :meth:`DeliveryLog.plan`
decides that for every target of an event in one transaction (SQLite's write lock; a transaction-scoped
advisory lock on PostgreSQL), so two processes that raise the same alert at once send it once.

A pending delivery is claimed until a time (``claimed_until``) that covers every attempt; when the process
trying it ended before it was through, :meth:`DeliveryLog.claim_stale` hands it to another (a worker) to try.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, select, text, update

from riskcore.errors import AuditError
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["Delivery", "DeliveryLog", "DeliveryState"]

DeliveryState = Literal["pending", "sent", "failed", "repeat"]
_STATES: Final = get_args(DeliveryState)
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
_MAX_ERROR: Final = 2_000

# apart from the trail's own tables: a store opened read-only (verify) never needs it
_metadata = MetaData()
deliveries = Table(
    "alert_deliveries",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("created", Float(), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("key", String(MAX_TEXT), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("target", String(MAX_TEXT), nullable=False),
    Column("ref", String(MAX_TEXT), nullable=False, index=True),
    Column("model_version", String(MAX_TEXT), nullable=False),
    Column("notice", Text(), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer(), nullable=False),
    Column("error", Text(), nullable=False),
    Column("tries", Text(), nullable=False),
    Column("claimed_until", Float(), nullable=False),
    Column("finished", Float(), nullable=False),
)


@dataclass(frozen=True)
class Delivery:
    """One event delivered (or not) to one target. Times are UTC seconds (``0.0``: not yet).

    Attributes
    ----------
    id : 32 hexadecimal characters.
    kind, severity, key : the event's kind, its severity, and what a repeat of it has in common with it.
    channel : ``webhook`` or ``email``; ``target_id`` tells the targets apart, ``target`` names one for people.
    ref : what the event is about (a monitoring run's id, a job's id); ``model_version`` the model's.
    notice : the event's fields, as sent (a worker sends a stale pending delivery from them).
    state : ``pending``, ``sent``, ``failed`` or ``repeat``; ``attempts`` made; ``error`` why it failed or
        was not sent.
    tries : each attempt's time (ISO 8601) and what went wrong (``error``, empty for the one that was sent).
    """

    id: str
    created: float
    kind: str
    severity: str
    key: str
    channel: str
    target_id: str
    target: str
    ref: str
    model_version: str
    notice: dict[str, Any]
    state: str
    attempts: int
    error: str
    claimed_until: float
    finished: float
    tries: tuple[dict[str, str], ...] = ()

    @property
    def done(self) -> bool:
        """Whether it has ended (sent, failed, or not sent as a repeat)."""
        return self.state != "pending"

    def as_dict(self) -> dict[str, Any]:
        """What a face shows: the event, the target, the outcome (ISO times); not the fields sent."""
        return {"id": self.id, "created": _iso(self.created), "kind": self.kind, "severity": self.severity,
                "rule": self.notice.get("rule", ""), "channel": self.channel, "target": self.target,
                "ref": self.ref, "model_version": self.model_version, "state": self.state,
                "attempts": self.attempts, "error": self.error, "tries": [dict(t) for t in self.tries],
                "finished": _iso(self.finished) if self.finished else None}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DeliveryLog:
    """The deliveries of one audit store (see the module docstring).

    Parameters
    ----------
    store : the audit trail's store (``AuditLog.store``).
    clock : UTC seconds (tests pass their own).
    """

    def __init__(self, store: AuditStore, *, clock: Callable[[], float] = time.time):
        self.store = store
        self._clock = clock

    def plan(self, notice: Mapping[str, Any], targets: Sequence[tuple[str, str, str]], *, repeat_s: float,
             lease_s: float) -> list[Delivery]:
        """Record one event's deliveries: ``pending`` for each target, or ``repeat`` where it was sent lately.

        Parameters
        ----------
        notice : the event's fields; ``kind``, ``severity``, ``key``, ``ref`` and ``model_version`` are read.
        targets : ``(channel, target_id, target)`` of each target that receives its severity.
        repeat_s : a delivery of the same ``key`` to the same target sent (or being tried) this many seconds ago
            or less makes this one a ``repeat``.
        lease_s : how long the caller holds each pending delivery it tries.

        Raises
        ------
        riskcore.errors.AuditError
            When the store cannot be written or a field cannot be stored.
        """
        if not targets:
            return []
        try:
            encoded = _JSON.encode(dict(notice))
        except (TypeError, ValueError) as err:
            raise AuditError(f"cannot record the alert's delivery: its fields are not JSON ({err})") from None
        fields = {k: str(notice.get(k) or "") for k in ("kind", "severity", "key", "ref", "model_version")}
        if any(len(v) > MAX_TEXT for v in fields.values()) or len(fields["kind"]) > 32 or len(fields["severity"]) > 8:
            raise AuditError(f"cannot record the alert's delivery: a field is longer than {MAX_TEXT} characters")
        self.store.ensure_side_table(deliveries)
        now = self._clock()
        c = deliveries.c
        rows = []
        with self.store.writing() as conn:
            if not self.store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already holds the write lock
                key = int.from_bytes(hashlib.sha256(b"alert_deliveries").digest()[:8], "big", signed=True)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            for channel, target_id, target in targets:
                earlier = conn.execute(
                    select(c.created, c.state).where(c.key == fields["key"], c.target_id == target_id,
                                                     c.state.in_(("sent", "pending")), c.created >= now - repeat_s)
                    .order_by(c.created.desc()).limit(1)).first() if repeat_s > 0 else None
                row = {"id": uuid.uuid4().hex, "created": now, **fields, "channel": channel, "target_id": target_id,
                       "target": target[:MAX_TEXT], "notice": encoded, "attempts": 0, "tries": "[]",
                       "finished": 0.0}
                if earlier is not None:
                    what = "sent" if earlier[1] == "sent" else "being sent"
                    row |= {"state": "repeat", "claimed_until": 0.0, "finished": now,
                            "error": f"not sent again: the same alert was {what} to this target at "
                                     f"{_iso(float(earlier[0]))}, within the repeat time of "
                                     f"{repeat_s / 3600:g} hour(s)"}
                else:
                    row |= {"state": "pending", "claimed_until": now + lease_s, "error": ""}
                rows.append(row)
            conn.execute(deliveries.insert(), rows)
        return [_delivery(r) for r in rows]

    def finish(self, delivery_id: str, *, sent: bool, attempts: int, error: str = "",
               tries: Sequence[Mapping[str, str]] = ()) -> None:
        """Record how a pending delivery ended: sent, or failed with ``error``, after ``attempts`` tries.

        ``tries``: each attempt's ``at`` (ISO 8601) and ``error`` (empty for the one that was sent).
        """
        kept = [{"at": str(t.get("at", "")), "error": str(t.get("error", ""))[:_MAX_ERROR]} for t in tries][-20:]
        with self.store.writing() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.state == "pending")
                         .values(state="sent" if sent else "failed", attempts=attempts, error=error[:_MAX_ERROR],
                                 tries=_JSON.encode(kept), claimed_until=0.0, finished=self._clock()))

    def claim_stale(self, *, lease_s: float, max_age_s: float, limit: int = 50) -> list[Delivery]:
        """Take over pending deliveries whose claim ran out (the process trying them ended), oldest first.

        Those planned more than ``max_age_s`` ago are failed instead (an alert that late would mislead), with
        the reason.
        """
        self.store.ensure_side_table(deliveries)
        now = self._clock()
        c = deliveries.c
        with self.store.writing() as conn:
            conn.execute(update(deliveries).where(c.state == "pending", c.claimed_until < now,
                                                  c.created < now - max_age_s).values(
                state="failed", claimed_until=0.0, finished=now,
                error=f"not delivered: the process that planned it ended before it was through, and it is older "
                      f"than {max_age_s / 3600:g} hour(s)"))
            query = select(deliveries).where(c.state == "pending", c.claimed_until < now).order_by(
                c.created, c.id).limit(limit)
            if not self.store.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            found = [dict(r) for r in conn.execute(query).mappings().all()]
            if found:
                conn.execute(update(deliveries).where(c.id.in_([r["id"] for r in found])).values(
                    claimed_until=now + lease_s))
        return [_delivery({**r, "claimed_until": now + lease_s}) for r in found]

    def list(self, *, ref: str | None = None, ids: Sequence[str] | None = None, kind: str | None = None,
             limit: int = 100) -> list[Delivery]:
        """The newest deliveries first: about one ``ref`` (a monitoring run, a job), with these ``ids``, of a kind."""
        self.store.ensure_side_table(deliveries)
        c = deliveries.c
        query = select(deliveries).order_by(c.created.desc(), c.id).limit(limit)
        if ref is not None:
            query = query.where(c.ref == ref)
        if ids is not None:
            query = query.where(c.id.in_(list(ids)))
        if kind is not None:
            query = query.where(c.kind == kind)
        with self.store.reading() as conn:
            return [_delivery(dict(r)) for r in conn.execute(query).mappings().all()]


def _delivery(row: Mapping[str, Any]) -> Delivery:
    state = str(row["state"])
    if state not in _STATES:  # pragma: no cover - only this module writes the table
        raise AuditError(f"delivery {row['id']} has an unknown state {state!r}")
    notice = row["notice"]
    return Delivery(id=str(row["id"]), created=float(row["created"]), kind=str(row["kind"]),
                    severity=str(row["severity"]), key=str(row["key"]), channel=str(row["channel"]),
                    target_id=str(row["target_id"]), target=str(row["target"]), ref=str(row["ref"]),
                    model_version=str(row["model_version"]),
                    notice=json.loads(notice) if isinstance(notice, str) else dict(notice), state=state,
                    attempts=int(row["attempts"]), error=str(row["error"]),
                    claimed_until=float(row["claimed_until"]), finished=float(row["finished"]),
                    tries=tuple(json.loads(row["tries"]) if isinstance(row["tries"], str) else row["tries"]))
