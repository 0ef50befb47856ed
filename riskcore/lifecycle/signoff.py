"""Signing a version's model report: who, in which role, when, with which decision, on record.

A signature is an entry of the model ledger (a :class:`riskcore.serving.audit.ModelMove` with event
``sign``, chained like every event without rows) in the audit trail's hash chain: the signer, the
version, the role they sign in (``validator``: reviewed the model and its report; ``approver``:
approves it for use) with their decision and conditions, and the SHA-256 of the report's text as
signed (its generation line left out, so the same version's report signs the same). The report's
sign-off section shows the signatures of its version.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from riskcore.errors import ConfigError
from riskcore.serving.audit import AuditLog, ModelMove

__all__ = ["SIGNING_ROLES", "SigningRole", "report_digest", "sign_report", "signatures"]

SigningRole = Literal["validator", "approver"]
SIGNING_ROLES: tuple[str, ...] = ("validator", "approver")


def report_digest(html: str) -> str:
    """SHA-256 of a report's text without its one generation-time line (``Generated …``)."""
    kept = [line for line in html.splitlines() if "Generated " not in line or "<" not in line]
    return hashlib.sha256("\n".join(kept).encode("utf-8")).hexdigest()


def sign_report(audit: AuditLog, *, version: str, bundle_hash: str, html: str, actor: str, role: str,
                decision: str) -> ModelMove:
    """Record a signature of ``version``'s model report.

    Raises
    ------
    riskcore.errors.ConfigError
        When the role is not one that signs or the decision is empty.
    riskcore.errors.AuditError
        When the ledger cannot be written (nothing is signed then).
    """
    if role not in SIGNING_ROLES:
        raise ConfigError(f"a report is signed as {' or '.join(SIGNING_ROLES)}, not {role!r}")
    if not decision.strip():
        raise ConfigError("a signature needs the decision and its conditions, e.g. 'approved for use in the SME "
                          "book; review again after the next annual recalibration'")
    move = ModelMove("sign", actor, "", version, f"{role}: {decision.strip()}", gate_digest=report_digest(html),
                     to_bundle_hash=bundle_hash)
    return audit.record_event(move)


def signatures(moves: tuple[ModelMove, ...] | list[ModelMove] | None, version: str) -> list[tuple[str, ModelMove]]:
    """The signatures of one version, oldest first, each with its role."""
    found = []
    for move in moves or ():
        if move.event == "sign" and move.to_version == version:
            role, _, _ = move.reason.partition(":")
            found.append((role.strip(), move))
    return found
