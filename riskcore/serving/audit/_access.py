"""Who signed in, out, timed out or was refused: access events chained into the audit trail next to the scores.

An access event is a :class:`~riskcore.serving.audit.ChainedEvent` with source ``access``, like a move of
the model ledger: one head of the audit trail's hash chain with no rows and no chunks, the event itself
(what happened, to whom, the detail) its ``columns`` text and the user its ``caller``, both covered by the
head's hash. So ``verify()`` checks them with the scores in one chain, and an edited or deleted sign-in is
caught like an edited score. Readers of scores never see these heads: they hold no rows.

Events: ``sign_in``; ``sign_out``; ``timeout`` (a session ended after the idle time of the settings);
``denied`` (a failed sign-in, or a page or action the user's role does not allow, named in the detail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from riskcore.errors import AuditError
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["AccessEvent", "AccessEventKind"]

AccessEventKind = Literal["sign_in", "sign_out", "denied", "timeout"]
_EVENTS: tuple[str, ...] = get_args(AccessEventKind)
_MAX_DETAIL = 2000


@dataclass(frozen=True)
class AccessEvent(ChainedEvent):
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

    source: ClassVar[str] = "access"
    label: ClassVar[str] = "access event"

    event: AccessEventKind
    user: str
    detail: str = ""
    ts: str = ""
    seq: int = 0

    def check(self) -> None:
        """Refuse an event the trail cannot hold faithfully."""
        if self.event not in _EVENTS:
            raise AuditError(f"event={self.event!r} is unknown; use one of {', '.join(_EVENTS)}")
        if not self.user or len(self.user) > MAX_TEXT:
            raise AuditError(f"an access event names its user in 1 to {MAX_TEXT} characters, not {self.user!r}")
        if len(self.detail) > _MAX_DETAIL:
            raise AuditError(f"the detail of an access event is longer than {_MAX_DETAIL} characters")

    def head(self) -> EventHead:
        """The user is the head's caller; an access event concerns no model."""
        return EventHead(caller=self.user)
