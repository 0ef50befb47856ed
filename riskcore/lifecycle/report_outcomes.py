"""The model report's outcome sections: soundness, performance, sensitivity, limitations, monitoring, history, sign-off.

Each is a function ``(report, numbers) -> HTML``, listed in order by
:data:`riskcore.lifecycle.report_sections.SECTIONS`. Numbers of ``metrics.json`` are
written through :class:`~riskcore.lifecycle.report_html.Numbers` (marked with their
path); the figures are drawn from the same tables by :mod:`riskcore.lifecycle.report_figures`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from riskcore.evaluation.figures import CurveBand, GainsCurve, KsCurve, unstack
from riskcore.lifecycle import report_figures as figures
from riskcore.lifecycle.report_html import NOT_RECORDED, Numbers, cell, esc, note, table

if TYPE_CHECKING:
    from riskcore.lifecycle.report import Report

__all__ = ["history_section", "limitations_section", "monitoring_section", "performance_section",
           "sensitivity_section", "signoff_section", "soundness_section"]

_STATUS = {"pass": "ok", "warn": "", "fail": "bad"}
_SIGN = {1: "↑ raises PD", -1: "↓ lowers PD", 0: "flat"}


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _num(n: Numbers, key: str, style: str = "f3") -> str:
    return f'<td class="n">{n(key, style)}</td>'


def _not_recorded(what: str) -> str:
    return note(f"{what}: {NOT_RECORDED}.")


# ---------------------------------------------------------------------------
# 5. conceptual soundness
# ---------------------------------------------------------------------------

def _leakage(n: Numbers) -> str:
    """The leakage checklist with its evidence."""
    rows = [[cell(f.get("check", "").replace("_", " ")),
             f'<td class="{_STATUS.get(f.get("status", ""), "")}">{esc(f.get("status", ""))}</td>',
             cell(f.get("detail", "")), cell(", ".join(f.get("columns") or []))] for f in n.get("leakage") or []]
    if not rows:
        return _not_recorded("The leakage checklist")
    return table(["Check", "Status", "Evidence", "Columns"], rows)


def _direction_rows(n: Numbers) -> list[list[str]]:
    """One row per declared-direction feature of the soundness block."""
    rows = []
    for i, f in enumerate(n.get("soundness.features") or []):
        key = f"soundness.features.{i}"
        verdict = '<td class="ok">agrees</td>' if f.get("agrees") else '<td class="bad">contradicts</td>'
        rows.append([cell(f.get("label") or f.get("name")), cell(f.get("family", "")),
                     cell(_SIGN.get(int(f.get("declared", 0)), "")), cell(_SIGN.get(int(f.get("measured", 0)), "")),
                     _num(n, f"{key}.spearman", "signed"), _num(n, f"{key}.pd_low", "pct2"),
                     _num(n, f"{key}.pd_high", "pct2"), _num(n, f"{key}.ice_agree_share", "pct"), verdict])
    return rows


def _directions(report: Report, n: Numbers) -> str:
    """Declared against measured directions, disagreements flagged, with the partial-dependence curves."""
    block = n.get("soundness")
    declared = [f.name for f in report.spec.all_features if f.direction]
    if not block:
        return (f"<p>The schema declares an expected direction for {len(declared)} features.</p>"
                + _not_recorded("The model's directions measured by partial dependence"))
    features = block.get("features") or []
    parts = [f"<p>Method: {esc(block.get('method', ''))}; grid of {n('soundness.grid_resolution', 'int')} values "
             f"per feature on {n('soundness.rows', 'int')} validation rows. A flat curve is not a contradiction.</p>"]
    disagreements = block.get("disagreements") or []
    if disagreements:
        parts.append(note(f"{len(disagreements)} feature(s) go against their declared direction: "
                          f"{', '.join(disagreements)}. A reviewer should see why before the model is used.", "warn"))
    else:
        parts.append(note(f"All {len(features)} measured features agree with their declared direction or are flat."))
    parts.append(table(["Feature", "Family", "Declared", "Measured", "Spearman", "PD at lowest", "PD at highest",
                        "ICE curves agreeing", ""], _direction_rows(n)))
    skipped = block.get("skipped") or []
    if skipped:
        parts.append("<p>Not measured: " + "; ".join(f"{esc(s.get('name'))} ({esc(s.get('reason', ''))})"
                                                    for s in skipped) + ".</p>")
    if features:
        parts.append(_figure(figures.soundness_svg(features),
                             "Average PD (partial dependence) over each feature's grid; ↑/↓ the declared direction, "
                             "red with ✗ where the model contradicts it."))
    return "\n".join(parts)


def soundness_section(report: Report, n: Numbers) -> str:
    """Section 5: the leakage checklist with evidence and the declared directions checked."""
    return "\n".join(["<h3>Leakage checklist</h3>", _leakage(n), "<h3>Expected directions</h3>",
                      _directions(report, n)])


# ---------------------------------------------------------------------------
# 6. performance
# ---------------------------------------------------------------------------

_TEST_METRICS = (("AUC", "auc", "f3", "auc_ci"), ("Gini", "gini", "f3", "gini_ci"), ("KS", "ks", "f3", None),
                 ("PR-AUC", "pr_auc", "f3", "pr_auc_ci"), ("Brier score", "brier", "f4", "brier_ci"),
                 ("ECE (calibrated)", "ece_calibrated", "f4", "ece_calibrated_ci"),
                 ("ECE (raw)", "ece_raw", "f4", None),
                 ("Log loss", "log_loss", "f4", None), ("Precision at the cut-off", "precision", "f3", None),
                 ("Recall at the cut-off", "recall", "f3", None), ("Specificity", "specificity", "f3", None),
                 ("Referral rate", "referral_rate", "pct", None), ("Top-decile lift", "top_decile_lift", "f2", None))


def _test_metrics(n: Numbers) -> str:
    """The test metrics with their bootstrap intervals."""
    rows = [[cell(label), _num(n, f"test.{key}", style), cell("") if ci is None else
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
        rows = [[cell("AUC"), _num(n, "test.auc"), f'<td class="n">{n.interval("test.auc_ci")}</td>',
                 _num(n, "baseline.auc"), f'<td class="n">{n.interval("baseline.auc_ci")}</td>'],
                [cell("KS"), _num(n, "test.ks"), cell(""), cell(ks, "f3"), cell("")],
                [cell("Brier score"), _num(n, "test.brier", "f4"), cell(""), _num(n, "baseline.brier", "f4"), cell("")],
                [cell("ECE (calibrated)"), _num(n, "test.ece_calibrated", "f4"), cell(""),
                 _num(n, "baseline.ece_calibrated", "f4"), cell("")]]
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
        _figure(figures.roc_svg(unstack(perf.roc, CurveBand.from_frame)),
                "ROC curves with 95% bootstrap bands on the test rows."),
        _figure(figures.cap_svg(unstack(perf.gains, GainsCurve.from_frame)),
                "Cumulative accuracy profile: the share of defaults among the riskiest companies."),
        _figure(figures.lift_svg(unstack(perf.gains, GainsCurve.from_frame)),
                "Default rate of each risk decile over the test default rate."),
        _figure(figures.ks_svg([KsCurve.from_frame(c, m) for m, c in perf.ks.items()], ks),
                "Share of defaulters and of repaid companies scored below each "
                "cut-off; the black line is the largest gap (KS).")])


def _sectors(n: Numbers) -> str:
    """Per-sector test metrics, small segments flagged."""
    segments = n.get("segments") or []
    if not segments:
        return "<p>No segment column: no per-sector table.</p>"
    rows = []
    for i, s in enumerate(segments):
        k = f"segments.{i}"
        small = '<td class="bad">fewer than 30 defaults</td>' if s.get("small") else cell("")
        rows.append([cell(s.get("segment")), _num(n, f"{k}.rows", "int"), _num(n, f"{k}.defaults", "int"),
                     _num(n, f"{k}.observed_rate", "pct"), _num(n, f"{k}.mean_pd", "pct"), _num(n, f"{k}.auc"),
                     f'<td class="n">[{n(f"{k}.auc_lower")}, {n(f"{k}.auc_upper")}]</td>', _num(n, f"{k}.ece", "f4"),
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
            + (_figure(figures.grades_svg(bt), "Observed default rate (dot, coloured by its light) and mean PD "
                                               "(black bar) per grade.") if len(bt) else ""))


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
            + _figure(figures.stability_svg(periods, perf.period_label), f"AUC by {perf.period_label.lower()}."))


def performance_section(report: Report, n: Numbers) -> str:
    """Section 6: test metrics, the baseline, curves, sectors, grades and stability."""
    return "\n".join(["<h3>Test metrics</h3>", _test_metrics(n), "<h3>Against the logistic baseline</h3>",
                      _baseline(report, n), _curves(report, n), "<h3>By sector</h3>", _sectors(n),
                      "<h3>Calibration by grade</h3>", _grades(report), "<h3>Stability</h3>", _stability(report, n)])


# ---------------------------------------------------------------------------
# 7. sensitivity
# ---------------------------------------------------------------------------

def _stress(n: Numbers) -> str:
    """The macro-stress what-if."""
    stress = n.get("sensitivity.macro_stress")
    if not stress:
        return "<p>No macro stress: the data set has no macro features with a declared direction.</p>"
    scenario = "".join(f"<li><code>{esc(k)}</code> {v:+g}</li>" for k, v in sorted((stress.get("scenario") or
                                                                                     {}).items()))
    rows = [[cell(g.get("grade")), _num(n, f"sensitivity.macro_stress.by_grade.{i}.rows", "int"),
             _num(n, f"sensitivity.macro_stress.by_grade.{i}.mean_pd_base", "pct2"),
             _num(n, f"sensitivity.macro_stress.by_grade.{i}.mean_pd_stressed", "pct2")]
            for i, g in enumerate(stress.get("by_grade") or [])]
    out = [f"<p>Scenario: {esc(stress.get('description', ''))}.</p><ul>{scenario}</ul>",
           f"<p>On {n('sensitivity.macro_stress.rows', 'int')} rows the mean PD moves from "
           f"{n('sensitivity.macro_stress.mean_pd_base', 'pct2')} to "
           f"{n('sensitivity.macro_stress.mean_pd_stressed', 'pct2')} "
           f"({n('sensitivity.macro_stress.relative_shift', 'pct')} relative).</p>",
           table(["Grade", "Rows", "Mean PD as scored", "Mean PD stressed"], rows)]
    if rows:
        out.append(_figure(figures.stress_svg(pd.DataFrame(stress["by_grade"])), "Mean PD per grade, as scored "
                                                                                   "and under the stress."))
    return "\n".join(out)


def _families(n: Numbers) -> str:
    """The effect of setting each feature family's inputs to missing."""
    families = n.get("sensitivity.families") or []
    rows = [[cell(f.get("family")), cell(", ".join(f.get("features") or [])),
             _num(n, f"sensitivity.families.{i}.auc_with", "f4"),
             _num(n, f"sensitivity.families.{i}.auc_without", "f4"),
             _num(n, f"sensitivity.families.{i}.auc_change", "signed"),
             _num(n, f"sensitivity.families.{i}.mean_pd_change", "pct2")] for i, f in enumerate(families)]
    out = [f"<p>Method: {esc(n.get('sensitivity.family_method') or '')}.</p>",
           table(["Family", "Inputs", "Test AUC", "AUC without", "Change", "Mean PD change"], rows)]
    if families:
        out.append(_figure(figures.families_svg(pd.DataFrame(families)), "Change in test AUC when a family is "
                                                                         "missing."))
    return "\n".join(out)


def sensitivity_section(report: Report, n: Numbers) -> str:
    """Section 7: the macro stress and the effect of dropping each feature family."""
    if not n.get("sensitivity"):
        return _not_recorded("The macro-stress what-if and the feature families' effect")
    return "\n".join(["<h3>Macro stress</h3>", _stress(n), "<h3>Feature families</h3>", _families(n)])


# ---------------------------------------------------------------------------
# 8-11
# ---------------------------------------------------------------------------

def limitations_section(report: Report, n: Numbers) -> str:
    """Section 8: one item per finding of the checks, the metrics and the data."""
    if not report.limitations:
        return "<p>The recorded checks found no limitation beyond those of any statistical model.</p>"
    return ("<p>Written from this version's findings:</p><ol>"
            + "".join(f"<li>{esc(x)}</li>" for x in report.limitations) + "</ol>")


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


def monitoring_section(report: Report, n: Numbers) -> str:
    """Section 9: the alert thresholds in force, the promotion gate and what monitoring compares with."""
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


def _ref(ref: dict[str, Any] | None, key: str, style: str = "f3") -> str:
    return Numbers(ref or {}, css="r", prefix="reference.test.")(key, style)


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
    """Section 10: the registered versions and the ledger's moves."""
    return "\n".join(["<h3>Versions</h3>", _registry(report), "<h3>Moves of the champion</h3>", _moves(report)])


def signoff_section(report: Report, n: Numbers) -> str:
    """Section 11: blocks for the developer, the validator and the approver, with the signatures on record.

    A signature recorded in the model ledger (:mod:`riskcore.lifecycle.signoff`) fills its role's block with
    the signer, the time, the decision and the SHA-256 of the report they signed; an unsigned block keeps
    lines to sign on paper.
    """
    from riskcore.lifecycle.signoff import signatures

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
