"""The model report's first sections (purpose, data, features, methodology) and the order of all of them.

Each section is a function ``(report, numbers) -> HTML``; :data:`SECTIONS` lists
them under their anchor ids, in the order of
:data:`riskcore.lifecycle.report.SECTION_IDS`. The outcome sections (soundness to
sign-off) are in :mod:`riskcore.lifecycle.report_outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from riskcore.evaluation.grading import master_scale_frame
from riskcore.lifecycle.report_html import NOT_RECORDED, Numbers, cell, esc, note, page, table
from riskcore.lifecycle.report_outcomes import (
    history_section,
    limitations_section,
    monitoring_section,
    performance_section,
    sensitivity_section,
    signoff_section,
    soundness_section,
)

if TYPE_CHECKING:
    from riskcore.data.schema import FeatureSpec, Recipe
    from riskcore.lifecycle.report import Report

__all__ = ["SECTIONS", "render_report"]

_SPLIT_WHY = {
    "out_of_time": "Whole periods are kept together: the model learns from the earliest periods, the next one "
                   "chooses the calibration and the cut-off, and the latest one, which no choice has seen, measures "
                   "it. This is how the model is used: on companies' later years.",
    "stratified": "The data have no usable time column, so the three parts are drawn at random with the same "
                  "default rate, every company's rows in one part. The test rows are therefore not later than the "
                  "training rows: the split cannot show how the model ages.",
}
_DIRECTION = {1: "higher value raises the PD", -1: "higher value lowers the PD", 0: "—"}


def _purpose(report: Report, n: Numbers) -> str:
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


def _quality_findings(report: Report, n: Numbers) -> str:
    """The data-quality findings and cleaning the training run recorded."""
    data = n.get("data") or {}
    parts = []
    cleaning = data.get("cleaning") or []
    if cleaning:
        parts.append("<p>Cleaning before training:</p><ul>" + "".join(f"<li>{esc(c)}</li>" for c in cleaning)
                     + "</ul>")
    else:
        parts.append("<p>Cleaning before training: nothing had to be removed or set to missing.</p>")
    findings = data.get("quality")
    if findings is None:
        parts.append(note("The data-quality report's findings are " + _not_recorded()))
    elif findings:
        rows = [[cell(f.get("severity", "")), cell(f.get("check", "")), cell(f.get("column") or ""),
                 cell(f.get("count"), "int"), cell(f.get("message", ""))] for f in findings]
        parts.append(table(["Severity", "Check", "Column", "Count", "Finding"], rows))
    else:
        parts.append("<p>The data-quality report found nothing to flag.</p>")
    if report.spec.notes:
        parts.append("<p>Reading the file:</p><ul>" + "".join(f"<li>{esc(x)}</li>" for x in report.spec.notes)
                     + "</ul>")
    return "\n".join(parts)


def _not_recorded() -> str:
    return NOT_RECORDED + "."


def _sectors(report: Report, n: Numbers) -> str:
    """Rows and default rate per segment in training, and rows and defaults per segment in test."""
    seg = report.spec.segment
    if not seg:
        return "<p>The data set has no segment (sector) column.</p>"
    test = {str(s.get("segment")): i for i, s in enumerate(n.get("segments") or [])}
    train = {str(r.segment): r for r in report.training_segments.itertuples()}
    rows = []
    for name in sorted(set(test) | set(train)):
        t, i = train.get(name), test.get(name)
        rows.append([cell(name), cell(None if t is None else t.rows, "int"),
                     cell(None if t is None else t.default_rate, "pct"),
                     f'<td class="n">{n(f"segments.{i}.rows", "int") if i is not None else "—"}</td>',
                     f'<td class="n">{n(f"segments.{i}.defaults", "int") if i is not None else "—"}</td>'])
    return (f"<p>{esc(report.spec.label(seg))}: training rows (from the bundle's monitoring reference) and default "
            "rate (from its training profile), test rows and defaults (from <code>metrics.json</code>).</p>"
            + table([report.spec.label(seg), "Training rows", "Training default rate", "Test rows", "Test defaults"],
                    rows))


def _data(report: Report, n: Numbers) -> str:
    """Source and hash, size, periods, the split's parts, sectors and the quality findings."""
    data = n.get("data") or {}
    source = esc(data["source"]) if data.get("source") else "not recorded (the model was trained from data in memory)"
    digest = (f"<code>{esc(data['sha256'])}</code>" if data.get("sha256")
              else "the file's SHA-256 is " + esc(_not_recorded()))
    periods = (n.get("split") or {}).get("periods")
    period_text = ("; ".join(f"{esc(k)}: {esc(', '.join(map(str, periods[k])))}"
                             for k in ("train", "validation", "test") if periods.get(k))
                   if periods else "no time column: the rows are not ordered in time")
    summary = (n.get("split") or {}).get("summary") or []
    rows = [[cell(s.get("part")), f'<td class="n">{n(f"split.summary.{i}.rows", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.companies", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.defaults", "int")}</td>',
             f'<td class="n">{n(f"split.summary.{i}.default_rate", "pct")}</td>',
             cell(s.get("first", "")), cell(s.get("last", ""))] for i, s in enumerate(summary)]
    return "\n".join([
        f"<p>Source: {source}<br>Source SHA-256: {digest}</p>",
        f"<p>{n('data.rows', 'int')} rows after cleaning, {n('data.defaults', 'int')} defaults "
        f"(default rate {n('data.default_rate', 'pct2')}). Periods: {period_text}.</p>",
        table(["Part", "Rows", "Companies", "Defaults", "Default rate", "First period", "Last period"], rows),
        "<h3>Segments</h3>", _sectors(report, n), "<h3>Quality findings</h3>", _quality_findings(report, n)])


def _recipe(recipe: Recipe | None) -> str:
    """An engineered feature's recipe in words."""
    if recipe is None:
        return ""
    inputs = ", ".join(recipe.inputs)
    if recipe.op == "product":
        return f"product of {inputs}" + (f" × {recipe.scale:g}" if recipe.scale != 1 else "")
    if recipe.op == "composite":
        weights = ", ".join(f"{w:+g} × {i}" for w, i in zip(recipe.weights, recipe.inputs))
        logs = f"; log of {', '.join(recipe.log_inputs)} first" if recipe.log_inputs else ""
        return f"sum of robustly standardised inputs (centre and spread from the training rows): {weights}{logs}"
    if recipe.op == "delta":
        return f"change of {inputs} since the company's previous period"
    return f"standard deviation of {inputs} over the company's last {recipe.window} periods"


def _feature_row(f: FeatureSpec, shares: dict[str, float]) -> list[str]:
    """One feature's row: name, label, unit, kind, declared direction, importance, description or recipe."""
    what = f.description or ""
    if f.recipe is not None:
        what = (what + " " if what else "") + f"Recipe: {_recipe(f.recipe)}."
    return [cell(f.name), cell(f.display_label), cell(f.unit), cell(f.kind), cell(_DIRECTION.get(f.direction, "—")),
            cell(shares.get(f.name), "pct"), cell(what)]


def _features(report: Report, n: Numbers) -> str:
    """The model's inputs by family, with labels, units, declared directions, importances and recipes."""
    used = set((n.get("data") or {}).get("features") or report.spec.model_inputs)
    used |= {f.name for f in report.spec.row_features}
    imp = report.importances
    shares = ({str(k): float(v) for k, v in zip(imp["feature"], imp["share"])}
              if {"feature", "share"} <= set(imp.columns) else {})
    families: dict[str, list[FeatureSpec]] = {}
    for f in report.spec.all_features:
        if f.name in used:
            families.setdefault(f.family, []).append(f)
    parts = [f"<p>{len(used)} inputs in {len(families)} families. Importance: {esc(n.get('importance.method') or '')}"
             f"; the share of the total. The most important input is "
             f"<code>{esc(n.get('importance.top_feature') or '')}</code> ({n('importance.top_share', 'pct')}).</p>"]
    headers = ["Name", "Label", "Unit", "Kind", "Declared direction", "Importance", "Definition"]
    for family in sorted(families):
        parts.append(f"<h3>{esc(family.capitalize())}</h3>")
        parts.append(table(headers, [_feature_row(f, shares) for f in families[family]]))
    unused = [f.name for f in report.spec.all_features if f.name not in used]
    if unused:
        parts.append(f"<p>Declared but not used by this model: {esc(', '.join(unused))}.</p>")
    return "\n".join(parts)


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


def _methodology(report: Report, n: Numbers) -> str:
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
        "simpler model (logistic regression before boosted trees, boosted trees before the random forest and "
        "the ensemble). The chosen candidate is then refitted on the whole training part.</p>",
        _candidates(n), _run_params(report), "<h3>Calibration</h3>", _calibration(n),
        "<h3>Cost model and cut-off</h3>", _cutoff(n), "<h3>Monotone constraints</h3>", _monotone(n)])


SECTIONS: tuple[tuple[str, str, Callable[[Report, Numbers], str]], ...] = (
    ("purpose", "1. Purpose and use", _purpose),
    ("data", "2. Data", _data),
    ("features", "3. Features", _features),
    ("methodology", "4. Methodology", _methodology),
    ("soundness", "5. Conceptual soundness", soundness_section),
    ("performance", "6. Performance (outcomes analysis)", performance_section),
    ("sensitivity", "7. Sensitivity", sensitivity_section),
    ("limitations", "8. Limitations", limitations_section),
    ("monitoring_plan", "9. Monitoring plan", monitoring_section),
    ("history", "10. History", history_section),
    ("signoff", "11. Sign-off", signoff_section),
)


def render_report(report: Report) -> str:
    """The report as one self-contained HTML document, its sections in :data:`SECTIONS` order."""
    return page(report, [(sid, title, build(report, Numbers(report.metrics))) for sid, title, build in SECTIONS])

