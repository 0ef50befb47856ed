"""Events without rows in the audit trail's hash chain: one shape for the model ledger, signatures and access events.

An event is one head of ``audit_requests`` with no rows and no chunks. Its kind is the head's ``source``
(``ledger`` for the champion's moves and the report signatures, ``access`` for sign-ins), its actor the
head's ``caller``, and its content the head's ``columns`` text (canonical JSON of every field but ``ts`` and
``seq``), which the head's hash covers, so ``verify()`` checks events with the scores in one chain and an
edited or deleted event is caught like an edited score. Readers of scores never see these heads: they hold
no rows.

A kind of event is a frozen dataclass deriving from :class:`ChainedEvent`: it names its ``source`` and how
messages call one (``label``), checks itself (``check``) and says what goes into the head's columns
(``head``). :func:`chain_event` writes any of them under the trail's write lock, :func:`read_events` reads
one kind back, oldest first.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar, cast

from sqlalchemy import select

from riskcore.errors import AuditError
from riskcore.serving.audit._hashing import digest
from riskcore.serving.audit._store import AuditStore, HeadFields
from riskcore.serving.audit._tables import audit_requests

__all__ = ["ChainedEvent", "EventHead", "chain_event", "event_head", "read_events"]

E = TypeVar("E", bound="ChainedEvent")


@dataclass(frozen=True)
class EventHead:
    """The head columns an event fills besides its content: who, and the model it concerns (if any)."""

    caller: str
    model_version: str = ""
    bundle_hash: str = ""


class ChainedEvent(ABC):
    """An event chained into the audit trail as a head without rows.

    Subclasses are frozen dataclasses whose fields are the event's content, then ``ts`` and ``seq`` (set
    when it is recorded). They set the class variables ``source`` (the heads' source column) and ``label``
    (what a message calls one) and define :meth:`check` and :meth:`head`.
    """

    source: ClassVar[str]
    label: ClassVar[str]
    ts: str
    seq: int

    @abstractmethod
    def check(self) -> None:
        """Refuse an event the trail cannot hold faithfully (raise :class:`~riskcore.errors.AuditError`)."""

    @abstractmethod
    def head(self) -> EventHead:
        """The head columns this event fills besides its content."""

    def content(self) -> dict[str, Any]:
        """What the head's ``columns`` text holds: every field but ``ts`` and ``seq``."""
        return {k: v for k, v in vars(self).items() if k not in ("ts", "seq")}

    @classmethod
    def from_content(cls, content: Mapping[str, Any], *, ts: str, seq: int) -> Self:
        """The event of a stored content, with its time and position (TypeError when the content does not fit)."""
        made: Self = cast(Any, cls)(**content, ts=ts, seq=seq)  # a subclass is a dataclass of these fields
        return made


def chain_event(store: AuditStore, event: E) -> E:
    """Chain one event onto the trail; returns it with its time and position.

    Raises
    ------
    riskcore.errors.AuditError
        When the event is incomplete or the store cannot be written (fail closed: nothing is recorded then).
    """
    fields = event_head(event)
    with store.writing() as conn:
        tail = store.lock_and_tail(conn)
        seq, ts, _ = store.append_head(conn, tail, fields)
    return type(event).from_content(event.content(), ts=ts, seq=seq)


def event_head(event: ChainedEvent) -> HeadFields:
    """The head an event is chained as, once it checked itself (for a writer that appends it in its own transaction).

    Raises
    ------
    riskcore.errors.AuditError
        When the event is incomplete.
    """
    event.check()
    head = event.head()
    text = json.dumps(event.content(), sort_keys=True, separators=(",", ":"))
    return HeadFields(request_id=f"{event.source}-{uuid.uuid4().hex}", batch_id=uuid.uuid4().hex, caller=head.caller,
                      source=event.source, model_version=head.model_version, bundle_hash=head.bundle_hash, n_rows=0,
                      n_chunks=0, columns=text, digest=digest([], 0))


def read_events(store: AuditStore, kind: type[E], *, caller: str | None = None, limit: int | None = None) -> list[E]:
    """The events of one kind, oldest first; of one caller only, or only the newest ``limit``.

    Raises
    ------
    riskcore.errors.AuditError
        When ``limit`` is not a whole number >= 1, the store cannot be read or an entry cannot be read
        (run ``verify()``).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
    h = audit_requests.c
    query = select(h.seq, h.ts, h.columns).where(h.source == kind.source)
    if caller is not None:
        query = query.where(h.caller == caller)
    query = query.order_by(h.seq.desc())
    if limit is not None:
        query = query.limit(limit)
    with store.reading() as conn:
        heads = list(reversed(conn.execute(query).all()))
    events = []
    for head in heads:
        try:
            events.append(kind.from_content(json.loads(head.columns), ts=str(head.ts), seq=int(head.seq)))
        except (ValueError, TypeError) as err:
            raise AuditError(f"{kind.label} {head.seq} cannot be read ({err}); run python -m riskcore audit verify") \
                from None
    return events
