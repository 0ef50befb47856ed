"""Section 12, sign-off: blocks for the developer, the validator and the approver, with the signatures on record."""

from __future__ import annotations

from typing import Any

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, esc
from riskcore.lifecycle.report.section import Section
from riskcore.lifecycle.signoff import signatures

__all__ = ["SECTION", "signoff_section"]


def signoff_section(report: Report, n: Numbers) -> str:
    """Section 12: blocks for the developer, the validator and the approver, with the signatures on record.

    A signature recorded in the model ledger (:mod:`riskcore.lifecycle.signoff`) fills its role's block with
    the signer, the time, the decision and the SHA-256 of the report they signed; an unsigned block keeps
    lines to sign on paper.
    """
    signed: dict[str, list[Any]] = {}
    for role, move in signatures(report.history.moves, report.version):
        signed.setdefault(role, []).append(move)
    trained_by = (report.metrics.get("model") or {}).get("trained_by")
    blocks = []
    for role, key, duty in (("Developer", "developer", "built and documented the model"),
                            ("Validator", "validator", "independently reviewed the model and this report"),
                            ("Approver", "approver", "approves the model for the use described in section 1")):
        head = (f'<div class="sign"><h3>{role}</h3><p>{esc(duty.capitalize())} of version '
                f"<code>{esc(report.version)}</code>.</p>")
        if key == "developer" and trained_by:
            head += f"<p>Trained by <code>{esc(trained_by)}</code> (recorded with the model).</p>"
        for move in signed.get(key, []):
            decision = move.reason.partition(":")[2].strip()
            head += (f'<p class="signed">Signed by <code>{esc(move.actor)}</code> on {esc(move.ts)} (ledger entry '
                     f"{move.seq}): {esc(decision)}. Report SHA-256 <code>{esc(move.gate_digest)}"
                     "</code>.</p>")
        if not signed.get(key):
            head += "".join(f"<div>{label}</div><div class=\"line\"></div>" for label in
                            ("Name", "Date", "Decision and conditions", "Signature"))
        blocks.append(head + "</div>")
    return "\n".join(blocks)


SECTION = Section("signoff", "12. Sign-off", signoff_section)
