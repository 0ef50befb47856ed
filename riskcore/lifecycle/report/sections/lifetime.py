"""Section 8, lifetime PD: the term structures by grade (hazard and migration) and their back-test by cohort.

Everything here is read from ``metrics["lifetime"]``, measured when the model was trained
(:mod:`riskcore.modelling.lifetime_backtest`); a bundle trained before that block existed says so. A model
trained on the demo portfolio also holds both term structures against the generator's known truth (its
``truth`` block): a table by grade and year ahead and a figure; for any other data there is no truth and
the section says nothing of it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from riskcore.lifecycle import report_figures as figures
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, figure, missing_note, note, num, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "lifetime_section"]

_METHODS = (("hazard", "Hazard"), ("migration", "Migration"))


def _horizons(years: int) -> list[int]:
    """The years ahead the back-test tables show: the first, the third and the last."""
    return sorted({1, min(3, years), years})


def _structures(n: Numbers, block: dict[str, Any]) -> str:
    """Each grade's cumulative PD by year ahead, one table per method."""
    rows = block.get("term_structures") or []
    years = int(block.get("years") or 0)
    at = {(r.get("grade"), r.get("year")): i for i, r in enumerate(rows)}
    grades = list(dict.fromkeys(r.get("grade") for r in rows))
    parts = []
    for method, title in _METHODS:
        body = [[cell(g), num(n, f"lifetime.term_structures.{at[(g, 1)]}.mean_pd", "pct2"),
                 *[num(n, f"lifetime.term_structures.{at[(g, k)]}.{method}_pd", "pct2") if (g, k) in at
                   else cell("") for k in range(1, years + 1)]] for g in grades]
        parts.append(table(["Grade", "Mean 12-month PD", *[f"{k} y" for k in range(1, years + 1)]], body,
                           caption=f"{title} method: cumulative PD by year ahead"))
    return "\n".join(parts)


def _backtest(n: Numbers, block: dict[str, Any], key: str, label: str) -> str:
    """Realised against estimated cumulative default rates, one row per cohort (or grade)."""
    rows = block.get(key) or []
    horizons = _horizons(int(block.get("years") or 1))
    at = {(r.get(label), r.get("year")): i for i, r in enumerate(rows)}
    headers = ["Cohort" if label == "cohort" else "Grade", "Companies"]
    if label == "cohort":
        headers.append("Sample")
    for k in horizons:
        headers += [f"Realised {k} y", f"Hazard {k} y", f"Migration {k} y"]
    body = []
    for who in dict.fromkeys(r.get(label) for r in rows):
        first = at[(who, 1)]
        line = [cell(who), num(n, f"lifetime.{key}.{first}.companies", "int")]
        if label == "cohort":
            line.append(cell("in-sample" if rows[first].get("in_sample") else "out-of-sample"))
        for k in horizons:
            i = at.get((who, k))
            line += ([num(n, f"lifetime.{key}.{i}.{field}", "pct2") for field in ("realised", "hazard", "migration")]
                     if i is not None else [cell("")] * 3)
        body.append(line)
    return table(headers, body)


def _truth(n: Numbers, truth: dict[str, Any]) -> str:
    """Both term structures against the demo's known truth: the text, the summary, the figure and the table."""
    rows = truth.get("by_grade") or []
    summary = truth.get("summary") or {}
    key = "lifetime.truth"
    held_out = ("none of them training rows, so their PDs are the model's out-of-sample scores"
                if not truth.get("training_rows") else f"{n(key + '.training_rows', 'int')} of them training rows")
    parts = ["<h3>Against the known truth</h3>",
             f"<p>The model was trained on the demo portfolio, whose generator knows each company's true process. "
             f"Its truth starts where that process stood at the end of {n(key + '.year', 'f0')}, the panel's last "
             f"year, so it is held against the {n(key + '.companies', 'int')} companies of that year ({held_out}): "
             f"each is simulated forward {n(key + '.paths', 'int')} times from its true condition, with the economy "
             "held at that year's and nobody leaving except by default. The estimates carry each company's PD "
             "forward with the two methods above, estimated on the training years "
             f"({n('lifetime.training_periods.0', 'f0')}–{n('lifetime.training_periods.1', 'f0')}); the Provisions "
             "page holds the same truth (with more paths) against methods estimated on every year before its as-of "
             "year, so its figures differ. Grades are those of the model's PD; true and estimated are the mean "
             "cumulative PDs of the grade's companies, so year 1 compares the model's 12-month PD with the true "
             "one and the later years how each method carries it forward; error: the estimate relative to the "
             "truth (estimate ÷ truth − 1).</p>"]
    better = {"hazard": "the <b>hazard</b> method", "migration": "the <b>migration</b> method"}.get(
        str(summary.get("better")))
    if summary.get("grades"):
        verdict = (f"the better of the two methods is {better}" if better else "neither method is the closer")
        parts.append(f"<p>At {n(key + '.summary.year', 'int')} years, over the {n(key + '.summary.grades', 'int')} "
                     "grades with at least 100 companies, the mean absolute relative error against the truth is "
                     f"{n(key + '.summary.hazard_error', 'pct')} for the hazard method and "
                     f"{n(key + '.summary.migration_error', 'pct')} for the migration method: {verdict}.</p>")
    else:
        parts.append("<p>No grade holds 100 companies of that year, so neither method is judged against the "
                     "truth.</p>")
    if rows:
        parts.append(figure(figures.lifetime_truth_svg(pd.DataFrame(rows)),
                            "True cumulative PD by year ahead (black) against the hazard (dashed) and migration "
                            "(dotted) estimates, one panel per grade (its companies in brackets)."))
    body, seen = [], set()
    for i, r in enumerate(rows):
        first = r.get("grade") not in seen
        seen.add(r.get("grade"))
        body.append([cell(r.get("grade") if first else ""),
                     num(n, f"{key}.by_grade.{i}.companies", "int") if first else cell(""),
                     num(n, f"{key}.by_grade.{i}.year", "int"), num(n, f"{key}.by_grade.{i}.true_pd", "pct2"),
                     *[num(n, f"{key}.by_grade.{i}.{m}{field}", style) for m, _ in _METHODS
                       for field, style in (("_pd", "pct2"), ("_error", "pct"))]])
    parts.append(table(["Grade", "Companies", "Years ahead", "True", "Hazard", "Hazard error", "Migration",
                        "Migration error"], body, caption="Cumulative PD by grade and year ahead: the truth and "
                                                          "both estimates"))
    return "\n".join(parts)


def lifetime_section(report: Report, n: Numbers) -> str:
    """Section 8: the term structures by grade and their back-test against realised cumulative default rates."""
    block = n.get("lifetime")
    if not block:
        return missing_note("The lifetime PD term structures and their back-test")
    if block.get("note"):
        return note(f"No lifetime PD term structures: {block['note']}.", "warn")
    summary = block.get("summary") or {}
    parts = [f"<p>The model's 12-month PD carried over {n('lifetime.years', 'int')} years, two ways "
             "(the provisions' lifetime PDs): the <b>hazard</b> method (each grade's observed default hazard in each "
             "year after it, scaled by the company's PD against the grade's mean) and the <b>migration</b> method "
             "(a one-year grade migration matrix, default absorbing, in matrix powers). Both were estimated on the "
             f"{n('lifetime.training_rows', 'int')} training company-years "
             f"({n('lifetime.training_periods.0', 'f0')}–{n('lifetime.training_periods.1', 'f0')}) when the model "
             "was trained. Realised rates: of the companies in a cohort (a starting year, or a grade), the share "
             "that defaulted within <i>k</i> years, companies that left the panel leaving the risk set "
             "(Kaplan–Meier); estimated: the mean of the same companies' own curves.</p>"]
    if summary.get("grades"):
        parts.append(f"<p>At {n('lifetime.summary.year', 'int')} years, over the "
                     f"{n('lifetime.summary.grades', 'int')} grades with at least 100 company-years, the mean "
                     f"relative error against the realised rate is {n('lifetime.summary.hazard_error', 'pct')} for "
                     f"the hazard method and {n('lifetime.summary.migration_error', 'pct')} for the migration "
                     "method.</p>")
    parts += ["<h3>Term structures by grade</h3>", _structures(n, block),
              "<h3>Back-test by starting year</h3>",
              f"<p>{esc('In-sample: the cohort’s years are all training years; its outcomes shaped the estimate.')}"
              "</p>", _backtest(n, block, "by_cohort", "cohort"),
              "<h3>Back-test by grade</h3>", _backtest(n, block, "by_grade", "grade")]
    if block.get("truth"):
        parts.append(_truth(n, block["truth"]))
    return "\n".join(parts)


SECTION = Section("lifetime", "8. Lifetime PD", lifetime_section, bundle_only=True)
