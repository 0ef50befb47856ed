"""Section 4, methodology: the split, the candidates and their search, calibration, the cost model and cut-off.

For a points scorecard it adds the points table (characteristic, bin, count, event rate, WoE, points), and
whenever the scorecard was a candidate, the test AUC it gives up against the chosen model.
"""

from __future__ import annotations

from typing import Any

from riskcore.lifecycle.report.facts import Report
from riskcore.lifecycle.report.markup import Numbers, cell, esc, note, table
from riskcore.lifecycle.report.section import Section

__all__ = ["SECTION", "methodology_section"]

_SPLIT_WHY = {
    "out_of_time": "Whole periods are kept together: the model learns from the earliest periods, the next one "
                   "chooses the calibration and the cut-off, and the latest one, which no choice has seen, measures "
                   "it. This is how the model is used: on companies' later years.",
    "stratified": "The data have no usable time column, so the three parts are drawn at random with the same "
                  "default rate, every company's rows in one part. The test rows are therefore not later than the "
                  "training rows: the split cannot show how the model ages.",
}


def _candidates(n: Numbers) -> str:
    """The candidates' search budget, cross-validated AUC, time and chosen parameters."""
    rows = []
    for i, c in enumerate(n.get("candidates") or []):
        params = ", ".join(f"{k}={v}" for k, v in sorted((c.get("params") or {}).items()))
        rows.append([cell(c.get("kind")), f'<td class="n">{n(f"candidates.{i}.configs_tried", "int")}</td>',
                     f'<td class="n">{n(f"candidates.{i}.cv_auc_mean", "f4")} ± '
                     f'{n(f"candidates.{i}.cv_auc_std", "f4")}</td>',
                     f'<td class="n">{n(f"candidates.{i}.seconds", "f1")}</td>', cell(params),
                     cell("chosen" if c.get("chosen") else "")])
    return table(["Candidate", "Configurations tried", "CV AUC (mean ± sd)", "Seconds", "Parameters", ""], rows)


def _run_params(report: Report) -> str:
    """The MLflow run's settings of the search, when the registry was consulted."""
    run = report.history.run
    if run is None:
        return "<p>The MLflow run was not consulted for this report (no registry given, or the version is not " \
               "registered).</p>"
    params = run.get("params") or {}
    keys = [k for k in ("profile", "cv_folds", "n_iter", "seed", "smote", "split_mode", "calibration", "rows",
                        "defaults") if k in params]
    rows = [[cell(k), cell(params[k])] for k in keys]
    return (f"<p>Settings of the run as MLflow recorded them (run <code>{esc(report.history.run_id)}</code>):</p>"
            + table(["Parameter", "Value"], rows))


def _calibration(n: Numbers) -> str:
    """How the calibrator was fitted and how both calibrators did."""
    fitted = ("the chosen candidate's out-of-fold training scores and the validation rows"
              if n.get("calibration.fitted_on") == "pooled" else "the validation rows")
    rows = [[cell(m.capitalize()), f'<td class="n">{n(f"calibration.{m}.ece_validation", "f4")}</td>',
             f'<td class="n">{n(f"calibration.{m}.ece_test", "f4")}</td>',
             cell("in use" if n.get("calibration.method") == m else "")] for m in ("isotonic", "platt")
            if n.get(f"calibration.{m}") is not None]
    return (f"<p>Calibration: {esc(n.get('calibration.method') or '')}, fitted on {fitted} "
            f"({n('calibration.rows', 'int')} rows, {n('calibration.defaults', 'int')} defaults); "
            "both calibrators' expected calibration error (ECE):</p>"
            + table(["Calibrator", "ECE validation", "ECE test", ""], rows))


def _cutoff(n: Numbers) -> str:
    """The cost model, the chosen cut-off and what it does on the test rows."""
    exposure = n.get("costs.mode") == "exposure"
    missed = f"LGD {n('costs.lgd', 'f2')} × exposure" if exposure else n("costs.fn", "money")
    return (f"<p>Cost model: a missed default costs {missed}, a false alarm {n('costs.fp', 'money')}. The cut-off "
            f"{n('threshold', 'pct2')} minimises the total cost on the validation rows. On the test rows it refers "
            f"{n('business.referred', 'int')} companies ({n('business.referral_rate', 'pct')}), catches "
            f"{n('business.defaults_caught', 'int')} defaults and misses {n('business.defaults_missed', 'int')}; "
            f"the loss falls from {n('business.loss_without_model', 'money')} without the model to "
            f"{n('business.loss_with_model', 'money')} (savings {n('business.savings', 'money')}, "
            f"{n('business.savings_pct', 'pct')}).</p>")


def _monotone(n: Numbers) -> str:
    """Whether monotone constraints were enforced, and what they cost in test AUC."""
    block = n.get("monotone")
    if not block or not block.get("enforced"):
        return ("<p>Monotone constraints: not enforced for this version (the declared directions are checked in "
                "<a href=\"#soundness\">Conceptual soundness</a>; <code>train --monotone</code> enforces them).</p>")
    text = (f"<p>Monotone constraints: asked for (<code>train --monotone</code>) and enforced on "
            f"{len(block.get('features') or [])} inputs with a declared direction"
            + (f": {esc(', '.join(block['features']))}" if block.get("features") else "") + ".")
    if block.get("auc_cost") is not None:
        text += (f" Test AUC {n('monotone.auc_test_constrained', 'f4')} constrained against "
                 f"{n('monotone.auc_test_unconstrained', 'f4')} without the constraints: a cost of "
                 f"{n('monotone.auc_cost', 'f4')} AUC" + (f" ({esc(block['basis'])})" if block.get("basis") else "")
                 + ".")
    if block.get("free"):
        text += f" Not constrained: {esc(', '.join(map(str, block['free'])))}."
    return text + "</p>" + (note(f"Monotone constraints: {block['note']}") if block.get("note") else "")


def _scorecard(report: Report, n: Numbers) -> str:
    """The scorecard's test AUC against the chosen model's, and a scorecard model's points table."""
    block = n.get("scorecard")
    parts = []
    if block and block.get("chosen") != "scorecard":
        parts.append(f"<p>The points scorecard, refitted on the same training rows, reaches a test AUC of "
                     f"{n('scorecard.scorecard_auc', 'f4')} against the chosen {esc(block.get('chosen'))} model's "
                     f"{n('scorecard.model_auc', 'f4')} on the same {n('scorecard.rows', 'int')} test rows: "
                     + (f"{n('scorecard.auc_given_up', 'f4')} AUC given up for a model read by adding points.</p>"
                        if block.get("auc_given_up", 0) >= 0 else
                        f"the scorecard does better on these rows (AUC given up {n('scorecard.auc_given_up', 'f4')})."
                        "</p>"))
    points = report.points
    if points is not None and len(points):
        info = block or {}
        scaling = (f" {info['pdo']:g} points double the odds, and {info['base_points']:g} points stand for odds "
                   f"of {info['base_odds']:g} to 1 against default." if info.get("pdo") else "")
        parts.append("<p>The model is a points scorecard: each characteristic is binned optimally (the default "
                     "rate rising or falling across the bins as the data contract declares), each bin's weight of "
                     "evidence enters a logistic regression, and its coefficients are scaled to whole points. A "
                     "company's score is the sum of the points of its bins; more points mean lower risk." + scaling
                     + "</p>")
        rows = [[cell(r["label"]), cell(r["bin"]), f'<td class="n">{int(r["count"]):,}</td>',
                 f'<td class="n">{r["event_rate"]:.2%}</td>', f'<td class="n">{r["woe"]:.3f}</td>',
                 f'<td class="n">{r["points"]:.0f}</td>'] for r in points.to_dict(orient="records")]
        parts.append(table(["Characteristic", "Bin", "Count", "Event rate", "WoE", "Points"], rows))
    return "\n".join(parts)


def methodology_section(report: Report, n: Numbers) -> str:
    """Split and why, folds, candidates and their search, the selection rule, calibration, costs and cut-off."""
    mode = n.get("split.mode") or ""
    chosen: dict[str, Any] = next((c for c in n.get("candidates") or [] if c.get("chosen")), {})
    folds = len(chosen.get("fold_aucs") or [])
    note_text = n.get("split.note")
    return "\n".join([
        "<h3>Split</h3>", f"<p>{esc(mode.replace('_', '-'))}: {esc(_SPLIT_WHY.get(mode, ''))}</p>",
        note(f"Split note: {note_text}", "warn") if note_text else "",
        f"<p>Train {n('split.train_rows', 'int')}, validation {n('split.validation_rows', 'int')}, test "
        f"{n('split.test_rows', 'int')} rows.</p>",
        "<h3>Candidates and selection</h3>",
        f"<p>Every candidate is cross-validated on the training part with {folds} folds that keep each company's "
        "rows in one fold (so no company is scored by a model that saw it), with a randomized search over its "
        "parameters. The candidate with the highest mean cross-validated AUC is chosen; a near-tie goes to the "
        "simpler model (logistic regression and the points scorecard before boosted trees, boosted trees before "
        "the random forest and the ensemble). The chosen candidate is then refitted on the whole training part.</p>",
        _candidates(n), _run_params(report), "<h3>Calibration</h3>", _calibration(n),
        "<h3>Cost model and cut-off</h3>", _cutoff(n), "<h3>Monotone constraints</h3>", _monotone(n),
        *(["<h3>Points scorecard</h3>", card] if (card := _scorecard(report, n)) else [])])


SECTION = Section("methodology", "4. Methodology", methodology_section)
