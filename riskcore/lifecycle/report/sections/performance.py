"""Section 6, performance: test metrics, baseline, curves, sectors, grades, the validation battery, stability."""

from __future__ import annotations

import pandas as pd

from riskcore.evaluation.figures import CurveBand, GainsCurve, KsCurve, unstack
from riskcore.evaluation.validation import ValidationBattery
from riskcore.lifecycle import report_figures as figures
from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, figure, note, num, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "performance_section"]

_TEST_METRICS = (("AUC", "auc", "f3", "auc_ci"), ("Gini", "gini", "f3", "gini_ci"), ("KS", "ks", "f3", None),
                 ("PR-AUC", "pr_auc", "f3", "pr_auc_ci"), ("Brier score", "brier", "f4", "brier_ci"),
                 ("ECE (calibrated)", "ece_calibrated", "f4", "ece_calibrated_ci"),
                 ("ECE (raw)", "ece_raw", "f4", None),
                 ("Log loss", "log_loss", "f4", None), ("Precision at the cut-off", "precision", "f3", None),
                 ("Recall at the cut-off", "recall", "f3", None), ("Specificity", "specificity", "f3", None),
                 ("Referral rate", "referral_rate", "pct", None), ("Top-decile lift", "top_decile_lift", "f2", None))


def _test_metrics(n: Numbers) -> str:
    """The test metrics with their bootstrap intervals."""
    rows = [[cell(label), num(n, f"test.{key}", style), cell("") if ci is None else
             f'<td class="n">{n.interval(f"test.{ci}", style)}</td>'] for label, key, style, ci in _TEST_METRICS
            if n.get(f"test.{key}") is not None]
    return (f"<p>{n('test.n', 'int')} test rows, {n('test.defaults', 'int')} defaults "
            f"({n('test.default_rate', 'pct2')}); intervals are 95% bootstrap percentiles.</p>"
            + table(["Metric", "Value", "95% interval"], rows))


def _baseline(report: Report, n: Numbers) -> str:
    """The model against the logistic baseline on the same test rows, and the true PD's ceiling on synthetic data."""
    parts = []
    if n.get("model.kind") == "logistic" and n.get("baseline"):
        parts.append("<p>The chosen model is the logistic candidate: it is its own baseline.</p>")
    elif n.get("baseline"):
        ks = report.performance.baseline_ks
        rows = [[cell("AUC"), num(n, "test.auc"), f'<td class="n">{n.interval("test.auc_ci")}</td>',
                 num(n, "baseline.auc"), f'<td class="n">{n.interval("baseline.auc_ci")}</td>'],
                [cell("KS"), num(n, "test.ks"), cell(""), cell(ks, "f3"), cell("")],
                [cell("Brier score"), num(n, "test.brier", "f4"), cell(""), num(n, "baseline.brier", "f4"), cell("")],
                [cell("ECE (calibrated)"), num(n, "test.ece_calibrated", "f4"), cell(""),
                 num(n, "baseline.ece_calibrated", "f4"), cell("")]]
        parts.append(table(["Metric", "Model", "95% interval", "Logistic baseline", "95% interval"], rows))
        parts.append("<p>The baseline is the logistic candidate refitted and calibrated like the model. Its KS is "
                     "read from the bundle's scored test rows (<code>holdout.parquet</code>).</p>")
    else:
        parts.append("<p>No logistic baseline was trained with this version (logistic regression was not a "
                     "candidate).</p>")
    if n.get("oracle"):
        parts.append(f"<p>Synthetic data with a known true PD: the true PD reaches AUC {n('oracle.auc')} on the same "
                     f"rows; the model reaches {n('oracle.auc_ratio', 'pct')} of it (ECE against the true PD "
                     f"{n('oracle.ece_vs_true_pd', 'f4')}).</p>")
    return "\n".join(parts)


def _curves(report: Report, n: Numbers) -> str:
    """ROC, CAP, lift and KS figures of the model and the baseline."""
    perf = report.performance
    ks = {"Model": float(n.get("test.ks") or float("nan"))}
    if perf.baseline_ks is not None:
        ks["Logistic baseline"] = perf.baseline_ks
    return "\n".join([
        figure(figures.roc_svg(unstack(perf.roc, CurveBand.from_frame)),
               "ROC curves with 95% bootstrap bands on the test rows."),
        figure(figures.cap_svg(unstack(perf.gains, GainsCurve.from_frame)),
               "Cumulative accuracy profile: the share of defaults among the riskiest companies."),
        figure(figures.lift_svg(unstack(perf.gains, GainsCurve.from_frame)),
               "Default rate of each risk decile over the test default rate."),
        figure(figures.ks_svg([KsCurve.from_frame(c, m) for m, c in perf.ks.items()], ks),
               "Share of defaulters and of repaid companies scored below each "
               "cut-off; the black line is the largest gap (KS).")])


def _by_sector(n: Numbers) -> str:
    """Per-sector test metrics, small segments flagged."""
    segments = n.get("segments") or []
    if not segments:
        return "<p>No segment column: no per-sector table.</p>"
    rows = []
    for i, s in enumerate(segments):
        k = f"segments.{i}"
        small = '<td class="bad">fewer than 30 defaults</td>' if s.get("small") else cell("")
        rows.append([cell(s.get("segment")), num(n, f"{k}.rows", "int"), num(n, f"{k}.defaults", "int"),
                     num(n, f"{k}.observed_rate", "pct"), num(n, f"{k}.mean_pd", "pct"), num(n, f"{k}.auc"),
                     f'<td class="n">[{n(f"{k}.auc_lower")}, {n(f"{k}.auc_upper")}]</td>', num(n, f"{k}.ece", "f4"),
                     small])
    n_small = sum(bool(s.get("small")) for s in segments)
    warn = note(f"{n_small} of {len(segments)} segments have fewer than 30 test defaults: their AUC and "
                "calibration are noisy; read the intervals.", "warn") if n_small else ""
    return warn + table(["Segment", "Rows", "Defaults", "Observed rate", "Mean PD", "AUC", "95% interval", "ECE",
                         "Sample"], rows)


def _light(colour: str) -> str:
    return f'<td><span class="light {esc(colour)}"></span>{esc(colour)}</td>'


def _grades(report: Report) -> str:
    """The per-grade back-test with its traffic lights."""
    bt = report.performance.backtest
    rows = [[cell(r["grade"]), cell(r["n"], "int"), cell(r["defaults"], "int"), cell(r["predicted_pd"], "pct2"),
             cell(r["observed_rate"], "pct2"),
             f'<td class="n">[{r["jeffreys_low"]:.2%}, {r["jeffreys_high"]:.2%}]</td>',
             cell(r["p_value"], "f4"), _light(str(r["traffic_light"]))] for r in bt.to_dict(orient="records")]
    return ("<p>Each grade's mean PD against its observed default rate on the test rows (Jeffreys 95% interval); "
            "the light is the one-sided binomial test of too many defaults: amber below 0.05, red below 0.001.</p>"
            + table(["Grade", "Rows", "Defaults", "Mean PD", "Observed rate", "Jeffreys interval", "p-value", "Light"],
                    rows)
            + (figure(figures.grades_svg(bt), "Observed default rate (dot, coloured by its light) and mean PD "
                                               "(black bar) per grade.") if len(bt) else ""))


_BATTERY_TESTS = (("hosmer_lemeshow_grades", "Hosmer–Lemeshow (grades)"),
                  ("hosmer_lemeshow_deciles", "Hosmer–Lemeshow (deciles)"), ("spiegelhalter", "Spiegelhalter's z"),
                  ("herfindahl", "Herfindahl index of the grades"), ("auc", "AUC against the validation rows"),
                  ("migration", "Grade migration beyond one grade"), ("grade_psi", "Grade PSI"))


def _light_or_dash(colour: str | None) -> str:
    return cell("—") if colour is None else _light(colour)


def _battery(n: Numbers) -> str:
    """The validation battery on the test rows, recorded at training; a bundle from before it says so."""
    data = n.get("validation_battery")
    if not data:
        return ("<p>This version was trained before riskcore ran the validation battery at training: retrain it "
                "for these tests. Monitoring runs with outcomes run them for any version.</p>")
    battery = ValidationBattery.from_json(data)
    details = dict(zip(battery.frame()["test"], battery.frame()["detail"], strict=True))
    labels = {"hosmer_lemeshow_grades": "Hosmer–Lemeshow (grades)", "hosmer_lemeshow_deciles":
              "Hosmer–Lemeshow (deciles)"}
    rows = []
    for key, label in _BATTERY_TESTS:
        result = getattr(battery, key)
        if result is None:
            continue
        k = f"validation_battery.{key}"
        detail = details.get(labels.get(key, type(result).TEST), "")
        rows.append([cell(label), num(n, f"{k}.statistic", "f3"),
                     num(n, f"{k}.p_value", "g") if hasattr(result, "p_value") else cell("—"), cell(detail),
                     cell(result.rule), _light_or_dash(result.light)])
    tests = table(["Test", "Statistic", "p-value", "What it found", "Rule", "Light"], rows)
    grade_rows = []
    for i, g in enumerate(battery.grades):
        k = f"validation_battery.grades.{i}"
        grade_rows.append([cell(g.grade), num(n, f"{k}.n", "int"), num(n, f"{k}.defaults", "int"),
                           num(n, f"{k}.predicted_pd", "pct2"), num(n, f"{k}.binomial_p", "g"),
                           _light_or_dash(g.binomial_light), num(n, f"{k}.correlation", "f3"),
                           num(n, f"{k}.vasicek_p", "g"), _light_or_dash(g.vasicek_light),
                           num(n, f"{k}.jeffreys_p", "g"), _light_or_dash(g.jeffreys_light)])
    rho = ("the Basel formula for corporate exposures at each grade's PD" if battery.asset_correlation == "basel"
           else f"an asset correlation of {battery.asset_correlation}")
    notes = "".join(f"<p>{esc(text)}</p>" for text in battery.notes)
    return (f"<p>The supervisors' tests on the {n('validation_battery.n', 'int')} test rows "
            f"({n('validation_battery.defaults', 'int')} defaults), judged by the thresholds of "
            "<code>[validation]</code> in force at training. The AUC test, the grade PSI and the migration compare "
            "the test rows with the validation rows before them; monitoring compares later portfolios with the test "
            f"rows. The correlation-adjusted binomial test uses {esc(rho)} (Vasicek one-factor).</p>"
            + tests + table(["Grade", "Rows", "Defaults", "Mean PD", "Binomial p", "Light", "Correlation",
                             "Adjusted p", "Light", "Jeffreys p", "Light"], grade_rows) + notes)


def _stability(report: Report, n: Numbers) -> str:
    """AUC per hold-out period, or per cross-validation fold without periods."""
    perf = report.performance
    periods = perf.periods
    if not len(periods):
        return "<p>Neither periods nor cross-validation folds were recorded.</p>"
    rows = [[cell(r["segment"]), cell(r.get("rows"), "int"), cell(r.get("defaults"), "int"),
             cell(r.get("observed_rate"), "pct"), cell(r.get("mean_pd"), "pct"), cell(r["auc"], "f3"),
             f'<td class="n">[{r["auc_lower"]:.3f}, {r["auc_upper"]:.3f}]</td>' if pd.notna(r["auc_lower"])
             else cell("")] for r in periods.to_dict(orient="records")]
    head = (f"<p>Validation AUC {n('validation.auc')} against test AUC {n('test.auc')}. "
            + ("By period of the held-out rows:" if perf.period_label != "Cross-validation fold"
               else "The data have no periods; the chosen candidate's AUC on each cross-validation fold:") + "</p>")
    return (head + table([perf.period_label, "Rows", "Defaults", "Observed rate", "Mean PD", "AUC", "95% interval"],
                         rows)
            + figure(figures.stability_svg(periods, perf.period_label), f"AUC by {perf.period_label.lower()}."))


def performance_section(report: Report, n: Numbers) -> str:
    """Section 6: test metrics, the baseline, curves, sectors, grades, the validation battery and stability."""
    return "\n".join(["<h3>Test metrics</h3>", _test_metrics(n), "<h3>Against the logistic baseline</h3>",
                      _baseline(report, n), _curves(report, n), "<h3>By sector</h3>", _by_sector(n),
                      "<h3>Calibration by grade</h3>", _grades(report), "<h3>Validation battery</h3>", _battery(n),
                      "<h3>Stability</h3>", _stability(report, n)])


SECTION = Section("performance", "6. Performance (outcomes analysis)", performance_section,
                  bundle_only=True)
