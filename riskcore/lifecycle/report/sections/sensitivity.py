"""Section 7, sensitivity: the macro stress, the effect of dropping each feature family, through-the-cycle grades."""

from __future__ import annotations

import pandas as pd

from riskcore.lifecycle import report_figures as figures
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, figure, missing_note, num, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "sensitivity_section"]


def _stress(n: Numbers) -> str:
    """The macro-stress what-if."""
    stress = n.get("sensitivity.macro_stress")
    if not stress:
        return "<p>No macro stress: the data set has no macro features with a declared direction.</p>"
    scenario = "".join(f"<li><code>{esc(k)}</code> {v:+g}</li>" for k, v in sorted((stress.get("scenario") or
                                                                                     {}).items()))
    rows = [[cell(g.get("grade")), num(n, f"sensitivity.macro_stress.by_grade.{i}.rows", "int"),
             num(n, f"sensitivity.macro_stress.by_grade.{i}.mean_pd_base", "pct2"),
             num(n, f"sensitivity.macro_stress.by_grade.{i}.mean_pd_stressed", "pct2")]
            for i, g in enumerate(stress.get("by_grade") or [])]
    out = [f"<p>Scenario: {esc(stress.get('description', ''))}.</p><ul>{scenario}</ul>",
           f"<p>On {n('sensitivity.macro_stress.rows', 'int')} rows the mean PD moves from "
           f"{n('sensitivity.macro_stress.mean_pd_base', 'pct2')} to "
           f"{n('sensitivity.macro_stress.mean_pd_stressed', 'pct2')} "
           f"({n('sensitivity.macro_stress.relative_shift', 'pct')} relative).</p>",
           table(["Grade", "Rows", "Mean PD as scored", "Mean PD stressed"], rows)]
    if rows:
        out.append(figure(figures.stress_svg(pd.DataFrame(stress["by_grade"])), "Mean PD per grade, as scored "
                                                                                   "and under the stress."))
    return "\n".join(out)


def _families(n: Numbers) -> str:
    """The effect of setting each feature family's inputs to missing."""
    families = n.get("sensitivity.families") or []
    rows = [[cell(f.get("family")), cell(", ".join(f.get("features") or [])),
             num(n, f"sensitivity.families.{i}.auc_with", "f4"),
             num(n, f"sensitivity.families.{i}.auc_without", "f4"),
             num(n, f"sensitivity.families.{i}.auc_change", "signed"),
             num(n, f"sensitivity.families.{i}.mean_pd_change", "pct2")] for i, f in enumerate(families)]
    out = [f"<p>Method: {esc(n.get('sensitivity.family_method') or '')}.</p>",
           table(["Family", "Inputs", "Test AUC", "AUC without", "Change", "Mean PD change"], rows)]
    if families:
        out.append(figure(figures.families_svg(pd.DataFrame(families)), "Change in test AUC when a family is "
                                                                         "missing."))
    return "\n".join(out)


def _cycle(n: Numbers) -> str:
    """Grade moves between the stress period and the one before it, under point-in-time and through-the-cycle grades."""
    if not n.get("cycle"):
        return missing_note("The through-the-cycle grades")
    basis = "through-the-cycle" if n.get("cycle.basis") == "ttc" else "point-in-time"
    source = ("the average of the yearly default rates over the training periods"
              if n.get("cycle.long_run_source") == "training" else "set in [grading] long_run_default_rate")
    macro = ", ".join(f"<code>{esc(m)}</code>" for m in n.get("cycle.macro") or []) or "none"
    out = [f"<p>This model grades on the <strong>{basis}</strong> PD; decisions use the point-in-time PD. The "
           "through-the-cycle PD shifts each point-in-time PD in log-odds from the cycle's central tendency (the "
           f"mean log-odds of {n('cycle.reference_rows', 'int')} training rows re-scored with the company's macro "
           f"values: {macro}) to the long-run default rate of {n('cycle.long_run_default_rate', 'pct2')} "
           f"({source}). Over the training periods the mean point-in-time PD is "
           f"{n('cycle.training.mean_pd_pit', 'pct2')} and the mean through-the-cycle PD "
           f"{n('cycle.training.mean_pd_ttc', 'pct2')}.</p>"]
    if not n.get("cycle.stress"):
        out.append("<p>No stress period: the data has no time column, no id, or a single period.</p>")
        return "\n".join(out)
    rows = [[cell(name), num(n, "cycle.stress.companies", "int"), num(n, f"cycle.stress.moved_{k}", "int"),
             num(n, f"cycle.stress.share_{k}", "pct"), num(n, f"cycle.stress.downgraded_{k}", "int"),
             num(n, f"cycle.stress.upgraded_{k}", "int"), num(n, f"cycle.stress.net_downgraded_{k}", "int"),
             num(n, f"cycle.stress.mean_pd_{k}_before", "pct2"),
             num(n, f"cycle.stress.mean_pd_{k}", "pct2")]
            for name, k in (("Point-in-time", "pit"), ("Through-the-cycle", "ttc"))]
    out.append(f"<p>Companies scored in both the stress period {esc(n.get('cycle.stress.period'))} (the highest "
               f"observed default rate, {n('cycle.stress.default_rate', 'pct2')}) and the period before it, "
               f"{esc(n.get('cycle.stress.before'))} ({n('cycle.stress.default_rate_before', 'pct2')}), and how "
               "many changed grade between them under each basis.</p>")
    out.append(table(["Grades on", "Companies", "Changed grade", "Share", "Downgraded", "Upgraded",
                      "Net downgrades", "Mean PD before", "Mean PD in the stress"], rows))
    if n.get("cycle.cycle_only"):
        out.append(f"<p><strong>The cycle alone.</strong> The same {n('cycle.cycle_only.companies', 'int')} companies "
                   f"with their financials of {esc(n.get('cycle.cycle_only.period'))}, graded once with that period's "
                   f"macro values and once with those of {esc(n.get('cycle.cycle_only.macro_of'))}: "
                   f"{n('cycle.cycle_only.moved_pit', 'int')} change grade on point-in-time grades, "
                   f"{n('cycle.cycle_only.moved_ttc', 'int')} on through-the-cycle grades. The observed moves above "
                   "add the companies' own changes between the two years, which no cycle adjustment removes.</p>")
    if n.get("cycle.normal"):
        out.append(f"<p>Between two ordinary periods, {esc(n.get('cycle.normal.before'))} and "
                   f"{esc(n.get('cycle.normal.period'))}, {n('cycle.normal.moved_pit', 'int')} of "
                   f"{n('cycle.normal.companies', 'int')} companies changed grade on point-in-time grades and "
                   f"{n('cycle.normal.moved_ttc', 'int')} on through-the-cycle grades: the companies' own changes, "
                   "which through-the-cycle grades keep.</p>")
    return "\n".join(out)


def sensitivity_section(report: Report, n: Numbers) -> str:
    """Section 7: the macro stress, the effect of dropping each feature family, through-the-cycle grades."""
    if not n.get("sensitivity"):
        return missing_note("The macro-stress what-if and the feature families' effect")
    return "\n".join(["<h3>Macro stress</h3>", _stress(n), "<h3>Feature families</h3>", _families(n),
                      "<h3>Through-the-cycle grades</h3>", _cycle(n)])


SECTION = Section("sensitivity", "7. Sensitivity", sensitivity_section, bundle_only=True)
