"""Plotly figures of the model's evidence: data quality, training runs, calibration, performance, sectors.

The curves are figure data of :mod:`riskcore.evaluation.figures`, computed by the engine (the model report draws
the same objects with matplotlib); the threshold lines and colour bands read the engine's constants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import BLUE, GREEN, GREY, LIGHT_BLUE, ORANGE, RED, styled
from riskcore.evaluation import PSI_ACT
from riskcore.evaluation.figures import CurveBand, GainsCurve, KsCurve, ReliabilityCurve
from riskcore.workbench import SIGNAL_STRONG_AUC, TOO_GOOD_AUC

_MODEL_COLOURS = {"Model": BLUE, "Logistic baseline": GREY, "Raw model output": ORANGE, "Calibrated": BLUE,
                  "Isotonic": BLUE, "Platt": GREEN}


def _colour(name: str) -> str:
    return _MODEL_COLOURS.get(name, BLUE)


# ---------------------------------------------------------------- data quality

def missing_by_column(table: pd.DataFrame) -> go.Figure:
    """Share of missing values per column (:func:`dashboard.tables.missing_table`)."""
    t = table.iloc[::-1]
    fig = go.Figure(go.Bar(x=t["pct_missing"], y=t["column"], orientation="h", marker_color=BLUE,
                           customdata=t[["n_missing", "family"]],
                           hovertemplate="%{y} (%{customdata[1]}): %{x:.1%} missing, "
                                         "%{customdata[0]:,} cells<extra></extra>"))
    return styled(fig, "Missing values by column", xaxis_tickformat=".0%", height=max(300, 22 * len(t) + 80))


def missing_heatmap(by_segment: pd.DataFrame) -> go.Figure:
    """Share of missing values, segment × column (``QualityReport.missing_by_segment``)."""
    fig = go.Figure(go.Heatmap(z=by_segment.to_numpy(), x=list(by_segment.columns), y=list(by_segment.index),
                               colorscale="Blues", zmin=0, colorbar=dict(tickformat=".0%"),
                               hovertemplate="%{y} · %{x}: %{z:.1%} missing<extra></extra>"))
    return styled(fig, "Missing values by sector", height=max(320, 26 * len(by_segment) + 120),
                  xaxis_tickangle=-40)


def periods(table: pd.DataFrame) -> go.Figure:
    """Rows per period (bars) and the default rate (line) of ``QualityReport.periods``."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = table["period"].astype(str)
    fig.add_bar(x=x, y=table["rows"], name="rows", marker_color=BLUE)
    if table["default_rate"].notna().any():
        fig.add_scatter(x=x, y=table["default_rate"], name="default rate", mode="lines+markers",
                        line=dict(color=RED), secondary_y=True)
        fig.update_yaxes(tickformat=".1%", secondary_y=True, rangemode="tozero", showgrid=False)
    return styled(fig, "Rows and default rate per year", xaxis_type="category")


def split_parts(summary: pd.DataFrame) -> go.Figure:
    """Rows and default rate of the train / validation / test parts."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=summary["part"], y=summary["rows"], name="rows", marker_color=[BLUE, ORANGE, GREEN][:len(summary)])
    fig.add_scatter(x=summary["part"], y=summary["default_rate"], name="default rate", mode="markers",
                    marker=dict(color=RED, size=12, symbol="diamond"), secondary_y=True)
    fig.update_yaxes(tickformat=".1%", secondary_y=True, rangemode="tozero", showgrid=False)
    return styled(fig, "The split", height=300)


def feature_auc(table: pd.DataFrame, top: int = 15) -> go.Figure:
    """The strongest single columns (``LeakageReport.feature_auc``): AUC alone; above ``TOO_GOOD_AUC`` is a leak.

    A column is red above the leakage check's ``TOO_GOOD_AUC`` and orange above its ``SIGNAL_STRONG_AUC``
    (:mod:`riskcore.modelling.leakage`).
    """
    t = table.sort_values("strength", ascending=False).head(top).iloc[::-1]
    alone = 0.5 + t["strength"]
    colours = [RED if a > TOO_GOOD_AUC else (ORANGE if a > SIGNAL_STRONG_AUC else BLUE) for a in alone]
    fig = go.Figure(go.Bar(x=alone, y=t["column"], orientation="h", marker_color=colours,
                           customdata=t[["auc", "auc_missing"]],
                           hovertemplate="%{y}: AUC %{customdata[0]:.3f}, of its missingness "
                                         "%{customdata[1]:.3f}<extra></extra>"))
    fig.add_vline(x=TOO_GOOD_AUC, line=dict(color=RED, dash="dash"), annotation_text="too good")
    return styled(fig, "How well each column alone separates defaults", xaxis_range=[0.5, 1.0],
                  xaxis_title="AUC of the column alone (either direction)", height=max(300, 22 * len(t) + 90))


def shift_psi(table: pd.DataFrame, top: int = 15) -> go.Figure:
    """Train-versus-test shift per feature (``LeakageReport.shift``); the line at ``PSI_ACT`` marks a shift."""
    t = table.sort_values("psi", ascending=False).head(top).iloc[::-1]
    colours = [ORANGE if s == "warn" else BLUE for s in t["status"]]
    fig = go.Figure(go.Bar(x=t["psi"], y=t["column"], orientation="h", marker_color=colours,
                           customdata=t[["ks"]], hovertemplate="%{y}: PSI %{x:.2f}, KS %{customdata[0]:.2f}"
                                                               "<extra></extra>"))
    fig.add_vline(x=PSI_ACT, line=dict(color=ORANGE, dash="dash"), annotation_text="shifted")
    return styled(fig, "Distribution shift between training and test", xaxis_title="population stability index",
                  height=max(300, 22 * len(t) + 90))


# ---------------------------------------------------------------- training runs

def candidates(table: pd.DataFrame) -> go.Figure:
    """Cross-validated AUC ± one standard deviation per candidate; the chosen one highlighted."""
    t = table.iloc[::-1]
    colours = [BLUE if c else GREY for c in t["chosen"]]
    fig = go.Figure(go.Bar(x=t["cv_auc_mean"], y=t["kind"], orientation="h", marker_color=colours,
                           error_x=dict(type="data", array=t["cv_auc_std"].fillna(0)),
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    low = float(np.nanmin(t["cv_auc_mean"] - t["cv_auc_std"].fillna(0))) if len(t) else 0.5
    return styled(fig, "Candidates: cross-validated AUC ± sd (chosen in blue)", height=max(240, 40 * len(t) + 90),
                  xaxis_range=[max(0.5, low - 0.02), 1.0], xaxis_title="AUC")


def runs_over_time(table: pd.DataFrame) -> go.Figure:
    """Test AUC of every run with its interval, the champion marked."""
    t = table.dropna(subset=["test_auc"]).sort_values("started")
    fig = go.Figure(go.Scatter(
        x=t["started"], y=t["test_auc"], mode="markers", text=t["model_version"],
        marker=dict(size=[16 if c else 10 for c in t["champion"]], color=[BLUE if c else GREY for c in t["champion"]],
                    symbol=["star" if c else "circle" for c in t["champion"]]),
        error_y=dict(type="data", symmetric=False, array=t["test_auc_upper"] - t["test_auc"],
                     arrayminus=t["test_auc"] - t["test_auc_lower"], color=GREY),
        hovertemplate="%{text}<br>test AUC %{y:.3f}<extra></extra>"))
    return styled(fig, "Test AUC of each run (★ champion)", yaxis_title="test AUC", height=300)


# ---------------------------------------------------------------- calibration

def reliability(curves: Sequence[ReliabilityCurve]) -> go.Figure:
    """Reliability diagram (observed vs predicted per bin) above the rows in each bin, one curve per calibration."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    top = max([float(np.nanmax(v)) for c in curves for v in (c.mean_predicted, c.observed_rate) if len(v)]
              + [0.01]) * 1.05
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="perfect", line=dict(color=GREY, dash="dot"),
                    row=1, col=1)
    for c in curves:
        colour = _colour(c.label)
        fig.add_scatter(x=c.mean_predicted, y=c.observed_rate, mode="lines+markers", name=c.label,
                        line=dict(color=colour), customdata=np.column_stack([c.count, c.lower, c.upper]),
                        hovertemplate="predicted %{x:.2%} · observed %{y:.2%}<br>%{customdata[0]:,} rows "
                                      "(PD %{customdata[1]:.2%}–%{customdata[2]:.2%})<extra></extra>", row=1, col=1)
        fig.add_bar(x=c.mean_predicted, y=c.count, name=f"{c.label}: rows per bin", marker_color=colour,
                    opacity=0.55, showlegend=False, hovertemplate="%{y:,} rows<extra></extra>", row=2, col=1)
    fig.update_xaxes(tickformat=".0%", range=[0, top], row=2, col=1)
    fig.update_yaxes(tickformat=".0%", range=[0, top], title_text="observed default rate", row=1, col=1)
    fig.update_yaxes(title_text="rows", row=2, col=1)
    return styled(fig, "Reliability: predicted vs observed default rate", height=520, barmode="group",
                  xaxis2_title="mean predicted PD in the bin")


def ece_comparison(table: pd.DataFrame) -> go.Figure:
    """ECE with its bootstrap interval per calibration (:func:`riskcore.evaluation.report.calibration_table`)."""
    colours = [BLUE if u else GREY for u in table["in_use"]]
    fig = go.Figure(go.Bar(x=table["calibration"], y=table["ece"], marker_color=colours,
                           error_y=dict(type="data", symmetric=False, array=table["ece_upper"] - table["ece"],
                                        arrayminus=table["ece"] - table["ece_lower"]),
                           hovertemplate="%{x}: ECE %{y:.4f}<extra></extra>"))
    return styled(fig, "ECE with 95% interval (blue: in use)", yaxis_tickformat=".1%",
                  height=320)


def pd_histogram(y: np.ndarray, p_default: np.ndarray) -> go.Figure:
    """PDs of the companies that repaid and of those that defaulted."""
    fig = go.Figure()
    for label, mask, colour in (("repaid", y == 0, BLUE), ("defaulted", y == 1, RED)):
        fig.add_histogram(x=p_default[mask], name=f"{label} ({int(mask.sum()):,})", marker_color=colour,
                          opacity=0.7, xbins=dict(start=0, end=1, size=0.02), histnorm="percent")
    return styled(fig, "Distribution of the calibrated PD", barmode="overlay", xaxis_tickformat=".0%",
                  xaxis_title="PD", yaxis_title="% of the group", height=320)


def ece_by_segment(table: pd.DataFrame) -> go.Figure:
    """ECE per segment (``riskcore.evaluation.curves.segment_table``); small segments in grey."""
    t = table.sort_values("ece")
    fig = go.Figure(go.Bar(x=t["ece"], y=t["segment"].astype(str), orientation="h",
                           marker_color=[GREY if s else BLUE for s in t["small"]], customdata=t[["rows", "defaults"]],
                           hovertemplate="%{y}: ECE %{x:.2%}<br>%{customdata[0]:,} rows, %{customdata[1]:,} "
                                         "defaults<extra></extra>"))
    return styled(fig, "Calibration error by sector (grey: too few defaults)", xaxis_tickformat=".1%",
                  height=max(300, 26 * len(t) + 90))


# ---------------------------------------------------------------- performance

def _band(fig: go.Figure, curve: CurveBand, colour: str) -> None:
    fig.add_scatter(x=np.r_[curve.x, curve.x[::-1]], y=np.r_[curve.upper, curve.lower[::-1]], fill="toself",
                    fillcolor=LIGHT_BLUE if colour == BLUE else "rgba(154, 165, 177, 0.22)", line=dict(width=0),
                    hoverinfo="skip", name=f"{curve.label} 95% band", showlegend=False)


def roc(curves: Sequence[CurveBand], point: tuple[float, float], aucs: Mapping[str, float]) -> go.Figure:
    """ROC curves with bootstrap bands (one per model); ``point`` is (FPR, TPR) of the cut-off in force."""
    fig = go.Figure()
    for c in curves:
        colour = _colour(c.label)
        _band(fig, c, colour)
        fig.add_scatter(x=c.x, y=c.y, name=f"{c.label} (AUC {aucs.get(c.label, float('nan')):.3f})",
                        line=dict(color=colour, width=2.5))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GREY, dash="dot"), name="chance")
    fig.add_scatter(x=[point[0]], y=[point[1]], mode="markers", name="cut-off in force",
                    marker=dict(color=ORANGE, size=13, symbol="x"))
    return styled(fig, "ROC curve (test year)", xaxis_title="false-alarm rate (FPR)",
                  yaxis_title="defaults caught (TPR)", height=400)


def precision_recall(curves: Sequence[CurveBand], point: tuple[float, float], base_rate: float) -> go.Figure:
    """Precision-recall curves (steps) with bands; ``point`` is (recall, precision) at the cut-off."""
    fig = go.Figure()
    for c in curves:
        colour = _colour(c.label)
        _band(fig, c, colour)
        fig.add_scatter(x=c.x, y=c.y, name=c.label, line=dict(color=colour, width=2.5), line_shape="hv")
    fig.add_hline(y=base_rate, line=dict(color=GREY, dash="dot"), annotation_text=f"default rate {base_rate:.1%}")
    fig.add_scatter(x=[point[0]], y=[point[1]], mode="markers", name="cut-off in force",
                    marker=dict(color=ORANGE, size=13, symbol="x"))
    return styled(fig, "Precision-recall (test year)", xaxis_title="recall (defaults caught)",
                  yaxis_title="precision (referred that default)", yaxis_range=[0, 1.02], height=400)


def lift(gains: Sequence[GainsCurve]) -> go.Figure:
    """Lift per risk decile of each model (:class:`riskcore.evaluation.figures.GainsCurve`)."""
    fig = go.Figure()
    for g in gains:
        fig.add_bar(x=g.decile, y=g.lift, name=g.label, marker_color=_colour(g.label),
                    hovertemplate="decile %{x}: lift %{y:.2f}×<extra></extra>")
    fig.add_hline(y=1, line=dict(color=GREY, dash="dot"))
    return styled(fig, "Lift by risk decile (1 = riskiest tenth)", xaxis_title="decile", yaxis_title="lift ×",
                  barmode="group", xaxis_dtick=1, height=360)


def cumulative_gains(gains: Sequence[GainsCurve], referral_rate: float) -> go.Figure:
    """Share of defaults captured against the share of companies reviewed, riskiest first."""
    fig = go.Figure()
    for g in gains:
        x, y = g.cap()
        fig.add_scatter(x=x, y=y, name=g.label, mode="lines+markers", line=dict(color=_colour(g.label), width=2.5))
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GREY, dash="dot"), name="random")
    fig.add_vline(x=referral_rate, line=dict(color=ORANGE, dash="dash"),
                  annotation_text=f"referred at the cut-off {referral_rate:.1%}")
    return styled(fig, "Cumulative gains", xaxis_title="share of companies reviewed", xaxis_tickformat=".0%",
                  yaxis_title="share of defaults caught", yaxis_tickformat=".0%", height=360)


def ks(curve: KsCurve, threshold: float) -> go.Figure:
    """Score distributions of defaulters and non-defaulters and the KS gap at the curve's peak."""
    i = curve.peak
    at = float(curve.threshold[i])
    fig = go.Figure()
    fig.add_scatter(x=curve.threshold, y=curve.non_defaults_below, name="repaid", line=dict(color=BLUE),
                    line_shape="hv")
    fig.add_scatter(x=curve.threshold, y=curve.defaults_below, name="defaulted", line=dict(color=RED),
                    line_shape="hv")
    fig.add_scatter(x=[at, at], y=[curve.defaults_below[i], curve.non_defaults_below[i]],
                    mode="lines+markers", line=dict(color=GREY, width=3), name=f"KS {curve.statistic:.3f}")
    fig.add_vline(x=threshold, line=dict(color=ORANGE, dash="dash"), annotation_text=f"cut-off {threshold:.1%}")
    top = float(min(1.0, max(0.3, 2 * threshold, 2 * at)))
    return styled(fig, "Kolmogorov-Smirnov: share scored below each PD", xaxis_title="PD", xaxis_tickformat=".0%",
                  yaxis_tickformat=".0%", xaxis_range=[0, top], height=360)


# ---------------------------------------------------------------- sectors

def segment_auc(table: pd.DataFrame) -> go.Figure:
    """AUC per segment with its bootstrap interval; small segments in grey."""
    t = table.dropna(subset=["auc"]).sort_values("auc")
    fig = go.Figure(go.Scatter(
        x=t["auc"], y=t["segment"].astype(str), mode="markers",
        marker=dict(size=11, color=[GREY if s else BLUE for s in t["small"]]),
        error_x=dict(type="data", symmetric=False, array=t["auc_upper"] - t["auc"],
                     arrayminus=t["auc"] - t["auc_lower"], color=GREY),
        customdata=t[["rows", "defaults"]],
        hovertemplate="%{y}: AUC %{x:.3f}<br>%{customdata[0]:,} rows, %{customdata[1]:,} defaults<extra></extra>"))
    fig.add_vline(x=0.5, line=dict(color=GREY, dash="dot"))
    return styled(fig, "AUC by sector (95% interval; grey: too few defaults)", xaxis_range=[0.3, 1.0],
                  height=max(300, 28 * len(t) + 90))


def segment_rates(table: pd.DataFrame) -> go.Figure:
    """Observed default rate against the mean predicted PD per segment."""
    t = table.sort_values("observed_rate", ascending=False)
    fig = go.Figure()
    fig.add_bar(x=t["segment"].astype(str), y=t["observed_rate"], name="observed default rate", marker_color=RED)
    fig.add_bar(x=t["segment"].astype(str), y=t["mean_pd"], name="mean predicted PD", marker_color=BLUE)
    return styled(fig, "Observed vs predicted default rate by sector", barmode="group", yaxis_tickformat=".1%",
                  xaxis_tickangle=-30)


def esg_bands(table: pd.DataFrame) -> go.Figure:
    """Mean PD by ESG band within each segment (:func:`riskcore.evaluation.report.esg_band_table`)."""
    colours = {"low": RED, "mid": ORANGE, "high": GREEN, "missing": GREY}
    fig = go.Figure()
    for band, b in table.groupby("band", sort=False):
        fig.add_bar(x=b["segment"].astype(str), y=b["mean_pd"], name=f"ESG {band}",
                    marker_color=colours.get(str(band), BLUE), customdata=b[["companies", "observed_rate"]],
                    hovertemplate="%{x} · ESG " + str(band) + ": mean PD %{y:.2%}<br>%{customdata[0]:,} companies, "
                                  "observed %{customdata[1]:.1%}<extra></extra>")
    return styled(fig, "Mean PD by ESG band within each sector", barmode="group", yaxis_tickformat=".1%",
                  xaxis_tickangle=-30)
