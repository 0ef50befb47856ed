"""Who signed in, out, timed out or was refused: access events chained into the audit trail next to the scores.

An access event is one head of the audit trail's hash chain (``audit_requests``) with source ``access``, no
rows and no chunks, like a move of the model ledger (:mod:`riskcore.serving.audit.ledger`): the event itself
(what happened, to whom, the detail) is its ``columns`` text and the user its ``caller``, both covered by the
head's hash. So ``verify()`` checks them with the scores in one chain, and an edited or deleted sign-in is
caught like an edited score. Readers of scores never see these heads: they hold no rows.

Events: ``sign_in``; ``sign_out``; ``timeout`` (a session ended after the idle time of the settings);
``denied`` (a failed sign-in, or a page or action the user's role does not allow, named in the detail).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, cast, get_args

from riskcore.errors import AuditError
from riskcore.serving.audit.events import chain_event, event_heads
from riskcore.serving.audit.tables import _MAX_TEXT

if TYPE_CHECKING:
    from riskcore.serving.audit.log import AuditLog

__all__ = ["ACCESS_SOURCE", "AccessEvent", "AccessEventKind", "AccessTrail", "append_access", "read_access"]

ACCESS_SOURCE = "access"
AccessEventKind = Literal["sign_in", "sign_out", "denied", "timeout"]
_EVENTS: tuple[str, ...] = get_args(AccessEventKind)
_MAX_DETAIL = 2000


@dataclass(frozen=True)
class AccessEvent:
    """One access event, as the trail holds it.

    Attributes
    ----------
    event : {"sign_in", "sign_out", "denied", "timeout"}
        What happened (see the module docstring).
    user : str
        Who: the signed-in user, or the name typed into a failed sign-in.
    detail : str
        The page or action refused, the idle time, the face (``dashboard``), in words.
    ts : str
        When (UTC, ISO 8601); set when it is recorded.
    seq : int
        Its position in the audit trail's chain; set when it is recorded.
    """

    event: AccessEventKind
    user: str
    detail: str = ""
    ts: str = ""
    seq: int = 0


def _check(event: AccessEvent) -> None:
    """Refuse an event the trail cannot hold faithfully."""
    if event.event not in _EVENTS:
        raise AuditError(f"event={event.event!r} is unknown; use one of {', '.join(_EVENTS)}")
    if not event.user or len(event.user) > _MAX_TEXT:
        raise AuditError(f"an access event names its user in 1 to {_MAX_TEXT} characters, not {event.user!r}")
    if len(event.detail) > _MAX_DETAIL:
        raise AuditError(f"the detail of an access event is longer than {_MAX_DETAIL} characters")


def append_access(log: AuditLog, event: AccessEvent) -> AccessEvent:
    """Chain one access event onto the audit trail; returns it with its time and position.

    Raises
    ------
    AuditError
        When the event is incomplete or the store cannot be written; nothing is recorded then.
    """
    _check(event)
    seq, ts = chain_event(log, source=ACCESS_SOURCE, caller=event.user, model_version="", bundle_hash="",
                          content={"event": event.event, "user": event.user, "detail": event.detail})
    return AccessEvent(**{**asdict(event), "ts": ts, "seq": seq})


def read_access(log: AuditLog, *, user: str | None = None, limit: int | None = None) -> list[AccessEvent]:
    """The access events, oldest first; of one user only, or only the newest ``limit``.

    Raises
    ------
    AuditError
        When the store cannot be read or an entry cannot be read (run ``verify()``).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
    events = []
    for head in event_heads(log, ACCESS_SOURCE, caller=user, limit=limit):
        try:
            data = json.loads(head.columns)
            events.append(AccessEvent(**data, ts=str(head.ts), seq=int(head.seq)))
        except (ValueError, TypeError) as err:
            raise AuditError(f"access event {head.seq} cannot be read ({err}); run python -m riskcore audit verify") \
                from None
    return events


class AccessTrail:
    """The access-event methods of :class:`~riskcore.serving.audit.log.AuditLog` (it derives from this class)."""

    def record_access(self, event: AccessEvent) -> AccessEvent:
        """Chain one sign-in, sign-out, timeout or refusal onto the trail (see :mod:`riskcore.serving.audit.access`).

        Raises
        ------
        AuditError
            When the event is incomplete or the store cannot be written.
        """
        return append_access(cast("AuditLog", self), event)

    def access_events(self, *, user: str | None = None, limit: int | None = None) -> list[AccessEvent]:
        """The access events recorded in the trail, oldest first (see :func:`read_access`).

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        return read_access(cast("AuditLog", self), user=user, limit=limit)
