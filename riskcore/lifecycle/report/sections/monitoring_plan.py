"""Section 10, monitoring plan: the alert thresholds in force, the promotion gate and the monitoring reference."""

from __future__ import annotations

from typing import Any

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, note, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "monitoring_plan_section"]


def _rules_rows(report: Report) -> list[list[str]]:
    """The alert rules in force, with what each watches."""
    a = report.alerts
    return [
        [cell("Feature PSI (each input)"), cell(a.feature_psi_warn, "f3"), cell(a.feature_psi, "f3"),
         cell(f"not raised for the families {', '.join(a.skip_families)}" if a.skip_families else "")],
        [cell("Score PSI (calibrated PD)"), cell(a.score_psi_warn, "f3"), cell(a.score_psi, "f3"), cell("")],
        [cell("AUC drop below the test AUC"), cell(a.auc_drop_warn, "f3"), cell(a.auc_drop, "f3"),
         cell("once outcomes are known")],
        [cell("ECE"), cell(a.ece_warn, "f3"), cell(a.ece, "f3"), cell("once outcomes are known")],
        [cell("Red grades in the back-test"), cell("an amber grade"), cell(a.red_grades, "int"), cell("")],
    ]


def _ref(ref: dict[str, Any] | None, key: str, style: str = "f3") -> str:
    return Numbers(ref or {}, css="r", prefix="reference.test.")(key, style)


def monitoring_plan_section(report: Report, n: Numbers) -> str:
    """Section 10: the alert thresholds in force, the promotion gate and what monitoring compares with."""
    p, s = report.promotion, report.serving
    ref = report.reference_test
    reference = (f"<p>The bundle keeps the monitoring reference frozen at training: per input, the training bins "
                 f"(overall and per sector) and their natural variation; the PD and grade mix of the held-out rows; "
                 f"the test AUC {_ref(ref, 'auc')}, ECE {_ref(ref, 'ece', 'f4')} and default rate "
                 f"{_ref(ref, 'default_rate', 'pct2')} against which realised results are judged.</p>"
                 if ref else note("This version has no monitoring reference: retrain it to monitor its portfolio."))
    return "\n".join([
        "<p>Run <code>python -m riskcore monitor</code> on each later portfolio (or from the audit trail). The "
        "thresholds below are those of the settings in force (<code>[alerts]</code> of riskcore.toml).</p>",
        table(["Rule", "Warning from", "Alert beyond", "Note"], _rules_rows(report)), reference,
        "<h3>Replacing the model</h3>",
        f"<p>A challenger replaces this model only through the promotion gate (<code>[promotion]</code>): its extra "
        f"cost's one-sided {p.cost_confidence:.0%} bound may exceed the champion's cost by at most "
        f"{p.cost_margin:.1%}, its ECE must be at most {p.max_ece:.3f} with at most {p.max_red_grades} red grade(s), "
        f"on {p.n_resamples:,} paired resamples. Every promotion, override and rollback is recorded in the audit "
        "trail's ledger.</p>",
        f"<p>Serving (<code>[serving]</code>): shadow challenger {esc(s.challenger or 'none')}, canary share "
        f"{s.canary_share:.0%}; servers re-verify the champion's bundle every {s.check_seconds:g} s.</p>"])


SECTION = Section("monitoring_plan", "10. Monitoring plan", monitoring_plan_section)
