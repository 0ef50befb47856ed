"""Section 11, history: the registered versions and the ledger's moves of the champion."""

from __future__ import annotations

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "history_section"]


def _registry(report: Report) -> str:
    """The registered versions, this one marked."""
    reg = report.history.registry
    if reg is None:
        return "<p>The model registry was not consulted for this report.</p>"
    rows = [[cell(r.version), cell(r.model_version or ""), cell(r.run_id or ""),
             cell(("this version" if r.model_version == report.version else "")
                  + (" · champion" if r.champion else "") + (" · previous champion" if r.previous_champion else ""))]
            for r in reg.itertuples()]
    run = report.history.run
    head = (f"<p>Trained in MLflow run <code>{esc(report.history.run_id)}</code> (status "
            f"{esc(run.get('status', ''))}).</p>" if run else "<p>This version is not in the registry.</p>")
    return head + table(["Registry version", "Model version", "Run", ""], rows)


def _moves(report: Report) -> str:
    """The ledger's moves of the champion: promotions, overrides, rollbacks, fallbacks and restores."""
    moves = report.history.moves
    if moves is None:
        return "<p>No audit trail was given: the ledger of promotions and rollbacks is not shown.</p>"
    if not moves:
        return "<p>The audit trail's ledger holds no move of the champion yet.</p>"
    rows = [[cell(m.seq, "int"), cell(m.ts), cell(m.event), cell(m.actor), cell(m.from_version or "—"),
             cell(m.to_version or "—"), cell(m.reason),
             cell("this version" if report.version in (m.from_version, m.to_version) else "")] for m in moves]
    return table(["Entry", "When (UTC)", "Event", "Who", "From", "To", "Reason", ""], rows)


def history_section(report: Report, n: Numbers) -> str:
    """Section 11: the registered versions and the ledger's moves."""
    return "\n".join(["<h3>Versions</h3>", _registry(report), "<h3>Moves of the champion</h3>", _moves(report)])


SECTION = Section("history", "11. History", history_section)
