"""The numbers of a model's evaluation pages: decisions, calibration, performance, segments.

The dashboard's pages and the model documentation report show the same
numbers, so they are computed here once; the curves' figure data live in
:mod:`riskcore.evaluation.figures`, and the ``*_frame`` functions here are those
curves stacked in one long frame. Every function takes the scored
hold-out rows of a bundle (``ModelBundle.holdout()``: validation and test rows
with ``y``, ``p_default`` and the raw features) or a scored portfolio, and
returns plain data. The honest protocol is kept throughout: a cut-off is
chosen on the **validation** rows under the user's costs, and its consequences
are measured on the **test** rows.

This module is part of the evaluation layer: it reads data and evaluation
modules only, never a fitted model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs
from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.bootstrap import bootstrap_ci
from riskcore.evaluation.costs import BusinessImpact, CostSweep, business_impact
from riskcore.evaluation.curves import SMALL_SEGMENT_DEFAULTS, CurveKind, segment_table
from riskcore.evaluation.figures import KsCurve, curve_bands, gains_curves, reliability_curves, stack
from riskcore.evaluation.grading import PD_FLOOR
from riskcore.evaluation.metrics import gini, ks_statistic, pr_auc, roc_auc
from riskcore.evaluation.reliability import BinStrategy, brier_score, expected_calibration_error

__all__ = [
    "DecisionView",
    "calibration_columns",
    "calibration_table",
    "curves_frame",
    "decision_view",
    "esg_band_table",
    "esg_columns",
    "expected_loss_by_segment",
    "gains_frame",
    "impact_sentences",
    "ks_curve",
    "part",
    "performance_table",
    "reliability_frame",
    "score_columns",
    "sector_table",
    "small_segments_note",
]


def part(holdout: pd.DataFrame, name: str) -> pd.DataFrame:
    """The ``validation`` or ``test`` rows of a hold-out frame."""
    return holdout[holdout["part"] == name].reset_index(drop=True)


def _exposure(frame: pd.DataFrame, exposure: str | None, costs: Costs) -> np.ndarray | None:
    if costs.mode != "exposure":
        return None
    if not exposure or exposure not in frame:
        return None
    out: np.ndarray = np.nan_to_num(frame[exposure].to_numpy(dtype=float), nan=0.0)
    return out


@dataclass(frozen=True)
class DecisionView:
    """The consequences of a cut-off under a pair of costs.

    ``optimal_threshold`` minimises cost on validation; ``threshold`` is the one
    in force (the optimal one unless overridden); ``impact`` is measured on test.
    """

    costs: Costs
    threshold: float
    optimal_threshold: float
    overridden: bool
    impact: BusinessImpact
    validation_cost: float
    test_rows: int
    test_defaults: int
    portfolio_expected_loss: float | None

    @property
    def confusion(self) -> pd.DataFrame:
        """2 × 2 table: rows actual (default / no default), columns decision (refer / accept)."""
        i = self.impact
        return pd.DataFrame([[i.defaults_caught, i.defaults_missed], [i.false_alarms,
                                                                      self.test_rows - self.test_defaults
                                                                      - i.false_alarms]],
                            index=["defaulted", "repaid"], columns=["refer", "accept"])


def decision_view(
    holdout: pd.DataFrame,
    costs: Costs,
    *,
    threshold: float | None = None,
    exposure: str | None = None,
    sweep: CostSweep | None = None,
) -> DecisionView:
    """Choose the cut-off on validation (unless ``threshold`` is given) and measure it on test.

    Parameters
    ----------
    holdout : a bundle's hold-out frame (``part``, ``y``, ``p_default`` …).
    costs : the costs in force.
    threshold : a manual cut-off; ``None`` uses the cost-optimal one.
    exposure : the exposure column, used in ``exposure`` cost mode and for expected loss.
    sweep : a cached :class:`CostSweep` of the validation rows (built when omitted).
    """
    val, test = part(holdout, "validation"), part(holdout, "test")
    if sweep is None:
        sweep = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy(), _exposure(val, exposure, costs))
    best, best_cost = sweep.optimal(costs)
    chosen = best if threshold is None else float(threshold)
    val_cost = best_cost if threshold is None else sweep.at(chosen, costs).cost
    impact = business_impact(test["y"].to_numpy(), test["p_default"].to_numpy(), chosen, costs,
                             exposure=_exposure(test, exposure, costs))
    el = None
    if exposure and exposure in test:
        ead = np.nan_to_num(test[exposure].to_numpy(dtype=float), nan=0.0)
        el = float(np.sum(np.maximum(test["p_default"].to_numpy(), PD_FLOOR) * costs.lgd * ead))
    return DecisionView(costs=costs, threshold=chosen, optimal_threshold=float(best),
                        overridden=threshold is not None, impact=impact, validation_cost=float(val_cost),
                        test_rows=len(test), test_defaults=int(test["y"].sum()), portfolio_expected_loss=el)


def _money(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f} million"
    return f"{x:,.0f}"


def impact_sentences(view: DecisionView, currency: str = "EUR") -> list[str]:
    """A few plain sentences for executives: what the model saves, at what cost, how sure we are."""
    i = view.impact
    c = view.costs
    fn = "the loss given default times the exposure" if c.mode == "exposure" else f"{currency} {_money(c.fn)}"
    out = [
        f"On the {view.test_rows:,} most recent company-years the model never saw in training, "
        f"{view.test_defaults:,} companies defaulted. Without the model, every one of them would have been "
        f"financed: an expected loss of {currency} {_money(i.loss_without_model)} (each missed default costs {fn}).",
        f"Referring the {i.referred:,} companies with a PD of {view.threshold:.1%} or more for review catches "
        f"{i.defaults_caught:,} of the {view.test_defaults:,} defaults "
        f"({i.defaults_caught / max(view.test_defaults, 1):.0%}) and raises {i.false_alarms:,} false alarms "
        f"at {currency} {_money(c.fp)} each.",
        f"Net of those false alarms the loss falls to {currency} {_money(i.loss_with_model)}: a saving of "
        f"{currency} {_money(i.savings)}, or {i.savings_pct:.0%}.",
    ]
    if i.top_decile_lift == i.top_decile_lift:
        out.append(f"The riskiest tenth of the portfolio holds {i.top_decile_lift:.1f}× the average default rate, "
                   "so reviews go where the risk is.")
    if view.overridden:
        out.append(f"The cut-off was set by hand; at these costs the cost-optimal cut-off on the validation year "
                   f"would be {view.optimal_threshold:.1%}.")
    else:
        out.append("The cut-off is the one that minimises cost on the validation year at these costs; "
                   "the figures above are measured on the later test year, so they are not flattered by the choice.")
    return out


def esg_band_table(frame: pd.DataFrame, *, segment: str, esg_columns: list[str], p_col: str = "p_default",
                   y_col: str | None = "y", n_bands: int = 3) -> pd.DataFrame:
    """Mean PD (and observed default rate) by ESG band within each segment.

    The ESG score of a row is the mean of ``esg_columns``; bands are its
    quantiles within the segment (``low``, ``mid``, ``high`` for three).
    Rows without ESG form their own band ``missing``. Columns: segment, band,
    companies, mean_pd, observed_rate.
    """
    labels = {3: ["low", "mid", "high"], 2: ["low", "high"]}.get(n_bands, [f"Q{i + 1}" for i in range(n_bands)])
    cols = [c for c in esg_columns if c in frame]
    score = frame[cols].mean(axis=1) if cols else pd.Series(np.nan, index=frame.index)
    band = pd.Series("missing", index=frame.index, dtype=object)
    for idx in frame.groupby(segment).groups.values():
        s = score.loc[idx].dropna()
        if len(s) >= n_bands:
            band.loc[s.index] = pd.qcut(s.rank(method="first"), n_bands, labels=labels).astype(str)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "band": band.to_numpy(),
                       "p": frame[p_col].to_numpy()})
    agg: dict[str, Any] = {"companies": ("p", "size"), "mean_pd": ("p", "mean")}
    if y_col and y_col in frame:
        df["y"] = frame[y_col].to_numpy()
        agg["observed_rate"] = ("y", "mean")
    out = df.groupby(["segment", "band"]).agg(**agg).reset_index()
    if "observed_rate" not in out:
        out["observed_rate"] = np.nan
    order = {b: i for i, b in enumerate(labels + ["missing"])}
    ordered: pd.DataFrame = out.sort_values(["segment", "band"],
                                            key=lambda s: s.map(order) if s.name == "band" else s)
    return ordered.reset_index(drop=True)


def expected_loss_by_segment(frame: pd.DataFrame, *, segment: str, exposure: str | None, lgd: float,
                             p_col: str = "p_default") -> pd.DataFrame:
    """Companies, exposure, expected loss and mean PD per segment (largest expected loss first)."""
    p = np.maximum(frame[p_col].to_numpy(dtype=float), PD_FLOOR)
    ead = frame[exposure].to_numpy(dtype=float) if exposure and exposure in frame else np.full(len(frame), np.nan)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "p": p, "ead": ead, "el": p * lgd * ead})
    out = df.groupby("segment").agg(companies=("p", "size"), exposure=("ead", "sum"), expected_loss=("el", "sum"),
                                    mean_pd=("p", "mean")).reset_index()
    return out.sort_values("expected_loss", ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------

def calibration_columns(holdout: pd.DataFrame) -> dict[str, str]:
    """Label → column of each probability the hold-out carries: the raw model output, isotonic, Platt."""
    named = {"Raw model output": "p_uncalibrated", "Isotonic": "p_isotonic", "Platt": "p_platt"}
    return {label: col for label, col in named.items() if col in holdout}


def calibration_table(rows: pd.DataFrame, columns: dict[str, str], *, chosen: str | None = None,
                      n_resamples: int = 200, n_bins: int = 10, random_state: int = 7) -> pd.DataFrame:
    """ECE (with a bootstrap interval), Brier score and mean PD of each probability column.

    Parameters
    ----------
    rows : scored rows with ``y`` and the columns named in ``columns``.
    columns : label → probability column (see :func:`calibration_columns`).
    chosen : the column in use (e.g. ``p_isotonic``), flagged ``in_use``.
    n_resamples, n_bins, random_state : of the ECE interval (uniform bins, as in ``metrics.json``).

    Returns
    -------
    pandas.DataFrame
        Columns: calibration, column, in_use, ece, ece_lower, ece_upper, brier, mean_pd, observed_rate.
        Every interval uses the same resamples, so the columns are compared pairwise.
    """
    y = rows["y"].to_numpy(dtype=float)
    out = []
    for label, col in columns.items():
        p = rows[col].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(y, p, "ece", n_resamples, random_state=random_state, n_bins=n_bins)
        out.append({"calibration": label, "column": col, "in_use": col == chosen,
                    "ece": expected_calibration_error(y, p, n_bins=n_bins), "ece_lower": lo, "ece_upper": hi,
                    "brier": brier_score(y, p), "mean_pd": float(p.mean()), "observed_rate": float(y.mean())})
    return pd.DataFrame(out, columns=["calibration", "column", "in_use", "ece", "ece_lower", "ece_upper", "brier",
                                      "mean_pd", "observed_rate"])


def reliability_frame(rows: pd.DataFrame, columns: dict[str, str], *, n_bins: int = 10,
                      strategy: BinStrategy = "quantile") -> pd.DataFrame:
    """Reliability curves of several probability columns, stacked.

    Columns: curve (the label), bin, lower, upper, count, mean_predicted,
    observed_rate (see :class:`riskcore.evaluation.figures.ReliabilityCurve`).
    """
    curves = reliability_curves(rows, columns, n_bins=n_bins, strategy=strategy)
    cols = ["curve", "bin", "lower", "upper", "count", "mean_predicted", "observed_rate"]
    return stack(curves, "curve") if curves else pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------
# performance
# ---------------------------------------------------------------------------

def score_columns(rows: pd.DataFrame) -> dict[str, str]:
    """Label → score column to compare: the model, and the logistic baseline when it scored every row."""
    out = {"Model": "p_default"}
    if "p_baseline" in rows and len(rows) and rows["p_baseline"].notna().all():
        out["Logistic baseline"] = "p_baseline"
    return out


def curves_frame(rows: pd.DataFrame, columns: dict[str, str], kind: CurveKind, *, n_resamples: int = 200,
                 random_state: int = 7) -> pd.DataFrame:
    """ROC or precision-recall curves with bootstrap bands of several score columns, stacked.

    Columns: model, then those of :func:`riskcore.evaluation.curves.curve_with_band`
    (``fpr, tpr, tpr_lower, tpr_upper`` or ``recall, precision, precision_lower, precision_upper``);
    the stacked :func:`riskcore.evaluation.figures.curve_bands`.
    """
    return stack(curve_bands(rows, columns, kind, n_resamples=n_resamples, random_state=random_state))


def gains_frame(rows: pd.DataFrame, columns: dict[str, str], n_bins: int = 10) -> pd.DataFrame:
    """Gains tables (:func:`~riskcore.evaluation.curves.gains_table`) of several score columns, one per ``model``."""
    return stack(gains_curves(rows, columns, n_bins=n_bins))


def ks_curve(y_true: np.ndarray, y_prob: np.ndarray) -> pd.DataFrame:
    """Cumulative score distributions of defaulters and non-defaulters, and their gap.

    Row ``k`` is the cut-off at the ``k``-th distinct score (ascending): the
    share of defaulters and of non-defaulters scored below it. The largest gap is
    the KS statistic (:func:`riskcore.evaluation.metrics.ks_statistic`).

    Returns
    -------
    pandas.DataFrame
        Columns: threshold, defaults_below, non_defaults_below, gap
        (:meth:`riskcore.evaluation.figures.KsCurve.frame`).
    """
    return KsCurve.from_scores(y_true, y_prob).frame()


def performance_table(rows: pd.DataFrame, columns: dict[str, str], *, n_resamples: int = 200,
                      random_state: int = 7) -> pd.DataFrame:
    """Headline discrimination and calibration metrics of several score columns, with bootstrap intervals.

    Every interval uses the same resamples (same seed and rows), so the models
    are compared on the same draws. Columns: model, metric, value, lower, upper;
    metrics AUC, Gini, PR-AUC, KS, Brier, ECE.
    """
    y = rows["y"].to_numpy(dtype=float)
    out = []
    for label, col in columns.items():
        p = rows[col].to_numpy(dtype=float)
        for name, metric, value in (("AUC", "auc", roc_auc(y, p)), ("PR-AUC", "pr_auc", pr_auc(y, p)),
                                    ("KS", "ks", ks_statistic(y, p)), ("Brier", "brier", brier_score(y, p)),
                                    ("ECE", "ece", expected_calibration_error(y, p))):
            lo, hi = bootstrap_ci(y, p, metric, n_resamples, random_state=random_state)  # type: ignore[arg-type]
            out.append({"model": label, "metric": name, "value": value, "lower": lo, "upper": hi})
            if metric == "auc":
                out.append({"model": label, "metric": "Gini", "value": gini(value), "lower": gini(lo),
                            "upper": gini(hi)})
    return pd.DataFrame(out, columns=["model", "metric", "value", "lower", "upper"])


# ---------------------------------------------------------------------------
# sectors
# ---------------------------------------------------------------------------

def esg_columns(spec: DatasetSpec) -> list[str]:
    """The ESG pillar scores of a spec (ESG features measured as a 0-100 score)."""
    return [f.name for f in spec.features if f.family == "esg" and f.unit == "score"]


def sector_table(rows: pd.DataFrame, segment: str, *, n_resamples: int = 200,
                 min_defaults: int = SMALL_SEGMENT_DEFAULTS,
                 random_state: int = 7) -> pd.DataFrame:
    """Per-segment rows, defaults, AUC with interval, observed vs predicted rate and ECE.

    See :func:`riskcore.evaluation.curves.segment_table`; segments with fewer than
    ``min_defaults`` defaults are flagged ``small``.
    """
    return segment_table(rows["y"].to_numpy(dtype=float), rows["p_default"].to_numpy(dtype=float),
                         rows[segment].astype(object).where(rows[segment].notna(), None).to_numpy(),
                         n_resamples=n_resamples, min_defaults=min_defaults, random_state=random_state)


def small_segments_note(table: pd.DataFrame, min_defaults: int = SMALL_SEGMENT_DEFAULTS) -> str | None:
    """A warning naming the segments with too few defaults for trustworthy metrics, or ``None``."""
    small = table[table["small"]]
    if not len(small):
        return None
    names = ", ".join(f"{s} ({d})" for s, d in zip(small["segment"], small["defaults"]))
    return (f"{len(small)} of {len(table)} segment(s) have fewer than {min_defaults} defaults, so their AUC and "
            f"calibration are noisy — read the intervals, not the point values: {names}.")

