"""The model ledger: every move of the champion, chained into the audit trail next to the scores.

A promotion, a promotion that overrode a failed gate, or a rollback is one head
of the audit trail's hash chain (``audit_requests``) with source ``ledger``, no
rows and no chunks: the event itself (who, from which version to which, why, the
gate report's digest) is its ``columns`` text, which the head's hash covers. So
``verify()`` checks the ledger with the scores, in one chain, and an edited or
deleted move is caught like an edited score. Readers of scores never see these
heads: they hold no rows.

The servers write two more events: ``fallback`` when a server stops serving the
champion because its bundle fails verification or cannot be loaded (``from_version``
the champion, ``to_version`` the version served instead, or empty when none could
be), and ``restore`` when it serves the champion again. A ``sign`` entry is a signature of a
version's model report (:mod:`riskcore.lifecycle.signoff`): ``to_version`` the version, ``reason``
the signer's role and decision, ``gate_digest`` the SHA-256 of the report signed. A ``retrain`` entry is one
run of the retraining loop (``riskcore.workbench.retraining``): ``actor`` the loop's identity, ``from_version``
the champion, ``to_version`` the challenger it trained (empty when it stopped before), ``reason`` what
triggered it and what it decided, ``gate_digest`` the comparison's digest when there was one.

Each is a :class:`~riskcore.serving.audit.ChainedEvent`: written and read like every event without rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, get_args

from riskcore.errors import AuditError
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["MOVES", "ModelEvent", "ModelMove"]

ModelEvent = Literal["promote", "override", "rollback", "fallback", "restore", "sign", "retrain"]
_EVENTS: tuple[str, ...] = get_args(ModelEvent)
MOVES: tuple[str, ...] = ("promote", "override", "rollback")


@dataclass(frozen=True)
class ModelMove(ChainedEvent):
    """One move of the champion, as the ledger holds it.

    Attributes
    ----------
    event : {"promote", "override", "rollback", "fallback", "restore", "sign", "retrain"}
        ``override``: a promotion whose gate failed, made anyway with a reason; ``fallback`` and
        ``restore``: a server stopped or started again serving the champion (see the module docstring).
    actor : str
        Who moved it (``cli:<login>``, a dashboard user, …).
    from_version, to_version : str
        The champion before and after (``from_version`` empty for the first champion).
    reason : str
        Why, in the actor's words.
    gate_digest : str
        SHA-256 of the gate report the move was decided on (empty when there was none).
    to_bundle_hash : str
        The manifest hash of the new champion's bundle.
    ts : str
        When (UTC, ISO 8601); set when it is recorded.
    seq : int
        Its position in the audit trail's chain; set when it is recorded.
    overrode : str
        What an ``override`` overruled: ``gate`` (a failed promotion gate), ``duties`` (the person who trained
        the version promoted it), or both, comma-separated; empty for other events (and read as ``gate`` in
        overrides recorded before this field existed).
    """

    source: ClassVar[str] = "ledger"
    label: ClassVar[str] = "ledger entry"

    event: ModelEvent
    actor: str
    from_version: str
    to_version: str
    reason: str
    gate_digest: str = ""
    to_bundle_hash: str = ""
    ts: str = ""
    seq: int = 0
    overrode: str = ""

    def check(self) -> None:
        """Refuse a move the ledger cannot hold faithfully."""
        if self.event not in _EVENTS:
            raise AuditError(f"event={self.event!r} is unknown; use one of {', '.join(_EVENTS)}")
        if not self.reason.strip():
            raise AuditError("a move of the champion needs a reason")
        if self.event == "override" and "duties" not in self.overrode and not self.gate_digest:
            raise AuditError("an override names the gate report it overrode")
        for name in ("actor", "from_version", "to_version"):
            if len(getattr(self, name)) > MAX_TEXT:
                raise AuditError(f"{name} is longer than {MAX_TEXT} characters")

    def head(self) -> EventHead:
        """The actor is the head's caller; the new champion its model."""
        return EventHead(caller=self.actor, model_version=self.to_version, bundle_hash=self.to_bundle_hash)
