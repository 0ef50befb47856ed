"""The trail's own custody: every export and every archive, chained into the trail as an event without rows.

A :class:`CustodyEvent` says who wrote which heads of the trail into which folder, and the digest of that
folder's manifest. Chained into the live trail, it is the record an examiner compares an export's manifest
with (the trail is then the independent copy of the digest), and the record of an archive once its heads
left the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, get_args

from riskcore.errors import AuditError
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["CUSTODY_EVENTS", "CustodyEvent", "CustodyEventKind"]

CustodyEventKind = Literal["exported", "archived"]
CUSTODY_EVENTS: Final[tuple[str, ...]] = get_args(CustodyEventKind)
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CustodyEvent(ChainedEvent):
    """One export or archive of the trail, as the trail holds it.

    Attributes
    ----------
    event : {"exported", "archived"}
    actor : who wrote it (``cli:<login>``, a dashboard user).
    first_seq, last_seq : the heads it holds.
    rows : the scores it holds.
    last_hash : the hash of its last head.
    digest : the digest of its manifest.
    folder : the folder's name.
    window : the period asked for, in words (``2026-01-01 to 2027-01-01``, ``before 2019-01-01``).
    ts, seq : set when it is recorded.
    """

    source: ClassVar[str] = "custody"
    label: ClassVar[str] = "custody record"

    event: CustodyEventKind
    actor: str
    first_seq: int
    last_seq: int
    rows: int
    last_hash: str
    digest: str
    folder: str
    window: str = ""
    ts: str = ""
    seq: int = 0

    def check(self) -> None:
        """Refuse an event the trail cannot hold faithfully."""
        if self.event not in CUSTODY_EVENTS:
            raise AuditError(f"event={self.event!r} is unknown; use one of {', '.join(CUSTODY_EVENTS)}")
        if not self.actor or len(self.actor) > MAX_TEXT:
            raise AuditError(f"a custody record names its actor in 1 to {MAX_TEXT} characters, not {self.actor!r}")
        if not 1 <= self.first_seq <= self.last_seq or self.rows < 0:
            raise AuditError(f"a custody record holds heads {self.first_seq}–{self.last_seq} and {self.rows} rows: "
                             "it needs at least one head")
        if not (_HEX64.fullmatch(self.last_hash) and _HEX64.fullmatch(self.digest)):
            raise AuditError("a custody record carries its last head's hash and its manifest's digest (64 hex digits)")
        if not self.folder or len(self.folder) > MAX_TEXT or len(self.window) > MAX_TEXT:
            raise AuditError(f"a custody record names its folder and window in at most {MAX_TEXT} characters")

    def head(self) -> EventHead:
        """The actor is the head's caller; the record concerns no model."""
        return EventHead(caller=self.actor)
