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
the signer's role and decision, ``gate_digest`` the SHA-256 of the report signed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, get_args

from riskcore.errors import AuditError
from riskcore.serving.audit.events import chain_event, event_heads
from riskcore.serving.audit.tables import _MAX_TEXT

if TYPE_CHECKING:
    from riskcore.serving.audit.log import AuditLog

__all__ = ["LEDGER_SOURCE", "MOVES", "ModelEvent", "ModelMove", "append_move", "read_moves"]

LEDGER_SOURCE = "ledger"
ModelEvent = Literal["promote", "override", "rollback", "fallback", "restore", "sign"]
_EVENTS: tuple[str, ...] = get_args(ModelEvent)
MOVES: tuple[str, ...] = ("promote", "override", "rollback")


@dataclass(frozen=True)
class ModelMove:
    """One move of the champion, as the ledger holds it.

    Attributes
    ----------
    event : {"promote", "override", "rollback", "fallback", "restore", "sign"}
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


def _check(move: ModelMove) -> None:
    """Refuse a move the ledger cannot hold faithfully."""
    if move.event not in _EVENTS:
        raise AuditError(f"event={move.event!r} is unknown; use one of {', '.join(_EVENTS)}")
    if not move.reason.strip():
        raise AuditError("a move of the champion needs a reason")
    if move.event == "override" and "duties" not in move.overrode and not move.gate_digest:
        raise AuditError("an override names the gate report it overrode")
    for name in ("actor", "from_version", "to_version"):
        if len(getattr(move, name)) > _MAX_TEXT:
            raise AuditError(f"{name} is longer than {_MAX_TEXT} characters")


def append_move(log: AuditLog, move: ModelMove) -> ModelMove:
    """Chain one move onto the audit trail; returns it with its time and position.

    Raises
    ------
    AuditError
        When the move is incomplete or the store cannot be written; nothing is recorded then.
    """
    _check(move)
    content = {k: v for k, v in asdict(move).items() if k not in ("ts", "seq")}
    seq, ts = chain_event(log, source=LEDGER_SOURCE, caller=move.actor, model_version=move.to_version,
                          bundle_hash=move.to_bundle_hash, content=content)
    return ModelMove(**{**asdict(move), "ts": ts, "seq": seq})


def read_moves(log: AuditLog) -> list[ModelMove]:
    """Every move of the champion, oldest first.

    Raises
    ------
    AuditError
        When the store cannot be read or a ledger entry cannot be read (run ``verify()``).
    """
    moves = []
    for head in event_heads(log, LEDGER_SOURCE):
        try:
            data = json.loads(head.columns)
            moves.append(ModelMove(**data, ts=str(head.ts), seq=int(head.seq)))
        except (ValueError, TypeError) as err:
            raise AuditError(f"ledger entry {head.seq} cannot be read ({err}); run python -m riskcore audit verify") \
                from None
    return moves
