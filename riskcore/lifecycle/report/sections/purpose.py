"""Section 1, purpose and use: what the model estimates, the decisions it drives, its users, the master scale."""

from __future__ import annotations

from riskcore.evaluation.grading import master_scale_frame
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "purpose_section"]


def purpose_section(report: Report, n: Numbers) -> str:
    """Use, users and the decisions the model drives, from the bundle's spec, costs and cut-off."""
    spec = report.spec
    positive = f" (the value {spec.positive!r} means default)" if spec.positive else ""
    costs = n.get("costs") or {}
    missed = ("the loss given default times the exposure" if costs.get("mode") == "exposure"
              else n("costs.fn", "money"))
    scale = master_scale_frame()
    grades = table(["Grade", "PD from", "PD to", "Risk level"],
                   [[cell(g.grade), cell(g.pd_from, "pct2"), cell(g.pd_to, "pct2"), cell(g.risk_level)]
                    for g in scale.itertuples()])
    return "\n".join([
        f"<p>The model estimates each company's <b>probability of default (PD)</b>: the chance that the outcome "
        f"column <code>{esc(spec.target)}</code>{esc(positive)} is a default, for the population of the data "
        f"set <code>{esc(spec.name)}</code> described under <a href=\"#data\">Data</a>. Its PDs are calibrated, "
        "so they can be read as default rates and graded on the master scale below.</p>",
        "<h3>Decisions it drives</h3>",
        f"<p>A company whose calibrated PD is at or above the cut-off {n('threshold', 'pct2')} is "
        "<b>referred</b> for a credit analyst's review; below it the application is <b>accepted</b> on the model's "
        f"word. The cut-off minimises the expected cost on the validation rows when a missed default costs "
        f"{missed} and a false alarm {n('costs.fp', 'money')} (see <a href=\"#methodology\">Methodology</a>).</p>",
        "<h3>Users</h3>",
        "<ul><li>Credit analysts: a company's PD, grade and the reasons behind it, in the dashboard and the "
        "API.</li><li>Portfolio and risk managers: the portfolio's PDs, grades and expected loss, and the "
        "monitoring of later portfolios against this version's training reference.</li><li>Model-risk "
        "validators and approvers: this report, and the audit trail of every score and every move of the "
        "champion.</li></ul>",
        "<h3>Master scale</h3>", grades])


SECTION = Section("purpose", "1. Purpose and use", purpose_section, bundle_only=True)
