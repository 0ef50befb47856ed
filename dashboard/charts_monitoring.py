"""Plotly figures of the monitoring page: drift over periods, score drift and default rates, back-tests, migration.

Pure functions of monitoring reports (``monitor.json`` dicts), of the frames
:func:`dashboard.monitoring_tables.monitoring_history` merges from them and of the engine's
:class:`riskcore.evaluation.figures.DriftHeatmap`; no Streamlit calls. The PSI bands come from the engine
(``PSI_WATCH`` and ``PSI_ACT`` of :mod:`riskcore.evaluation.drift`, :func:`riskcore.evaluation.figures.psi_bands`),
so the colours say what the alerts say.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import BLUE, GREEN, GREY, ORANGE, RED, styled
from dashboard.monitoring_tables import PeriodHistory
from riskcore.evaluation import PSI_ACT, PSI_WATCH
from riskcore.evaluation.figures import DRIFT_BANDS, DriftHeatmap, psi_bands

__all__ = ["BAND_COLOURS", "LIGHT_COLOURS", "drift_heatmap", "feature_label", "grade_backtest",
           "migration_heatmap", "score_and_default_rate"]

BANDS = DRIFT_BANDS
BAND_COLOURS = {"stable": GREEN, "watch": ORANGE, "act": RED}
"""Colour of each PSI band: stable below PSI_WATCH, watch up to PSI_ACT, act above."""
LIGHT_COLOURS = {"green": GREEN, "amber": ORANGE, "red": RED}
"""Colour of each traffic light of the back-test."""
BAND_NAMES = {"stable": f"stable < {PSI_WATCH:.2f}", "watch": f"watch {PSI_WATCH:.2f}–{PSI_ACT:.2f}",
              "act": f"act > {PSI_ACT:.2f}"}


def feature_label(label: str, family: str) -> str:
    """A feature's row label; macro series are marked, since they move every period by nature."""
    return f"{label} (macro)" if family == "macro" else label


def _band_scale() -> list[list[Any]]:
    """A discrete colour scale over the band codes 0, 1, 2 (each band one flat colour)."""
    scale: list[list[Any]] = []
    for i, band in enumerate(BANDS):
        scale += [[i / len(BANDS), BAND_COLOURS[band]], [(i + 1) / len(BANDS), BAND_COLOURS[band]]]
    return scale


def _empty(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to draw (instead of empty axes)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return styled(fig, title, height=240, xaxis_visible=False, yaxis_visible=False)


def drift_heatmap(heatmap: DriftHeatmap) -> go.Figure:
    """Feature × period PSI, each cell coloured by its band, the worst feature (over all periods) on top.

    ``heatmap`` is the engine's :class:`riskcore.evaluation.figures.DriftHeatmap` of a monitoring history. The PSI
    is the cell's text; the hover adds the band, the χ² p-value and the rows of that period.
    """
    title = "Drift of each feature per period (PSI against the training bins)"
    if heatmap.empty:
        return _empty(title, "No feature drift recorded yet")
    rows = [feature_label(label, family) for label, family in zip(heatmap.labels, heatmap.families)]
    cols = list(heatmap.periods)
    extra = np.dstack([heatmap.status, heatmap.p_value, heatmap.n])
    text = [["" if pd.isna(v) else f"{v:.2f}" for v in r] for r in heatmap.psi]
    fig = go.Figure(go.Heatmap(
        z=heatmap.band, x=cols, y=rows, text=text, texttemplate="%{text}", zmin=-0.5,
        zmax=len(BANDS) - 0.5, colorscale=_band_scale(), xgap=2, ygap=2, customdata=extra,
        colorbar=dict(tickvals=list(range(len(BANDS))), ticktext=[BAND_NAMES[b] for b in BANDS], title="band"),
        hovertemplate="%{y} · %{x}<br>PSI %{text} (%{customdata[0]})<br>χ² p-value %{customdata[1]:.3g}"
                      "<br>%{customdata[2]:,} rows<extra></extra>"))
    return styled(fig, title, height=max(320, 22 * len(rows) + 130), xaxis_type="category",
                  xaxis_title="period", yaxis_autorange="reversed", yaxis_type="category")


def _error(upper: pd.Series, lower: pd.Series, centre: pd.Series) -> dict[str, Any]:
    """Asymmetric error bars from an interval around ``centre``."""
    return dict(type="data", symmetric=False, array=(upper - centre).to_numpy(dtype=float),
                arrayminus=(centre - lower).to_numpy(dtype=float), thickness=1.2)


def score_and_default_rate(history: PeriodHistory) -> go.Figure:
    """Left: the score's PSI per period with the watch and act lines. Right: expected vs realised default rate.

    The expected default rate (mean calibrated PD) carries its Poisson-binomial interval, the realised rate (where
    outcomes arrived) its Jeffreys interval.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Score PSI per period", "Expected vs realised default rate"))
    score, expected, vintages = history.score, history.expected, history.vintages
    if not score.empty:
        bands = psi_bands(score["status"], score["psi"])
        fig.add_bar(x=score["period"].astype(str), y=score["psi"], name="score PSI", showlegend=False,
                    marker_color=[BAND_COLOURS[b] for b in bands], customdata=np.column_stack([bands, score["n"]]),
                    hovertemplate="%{x}: PSI %{y:.3f} (%{customdata[0]}), %{customdata[1]:,} rows<extra></extra>",
                    row=1, col=1)
    for level, colour, name in ((PSI_WATCH, ORANGE, "watch"), (PSI_ACT, RED, "act")):
        fig.add_hline(y=level, line=dict(color=colour, dash="dash", width=1), annotation_text=f"{name} {level:.2f}",
                      annotation_position="top left", row=1, col=1)
    if not expected.empty:
        fig.add_scatter(x=expected["period"].astype(str), y=expected["default_rate"], name="expected (mean PD)",
                        mode="lines+markers", line=dict(color=BLUE),
                        error_y=_error(expected["default_rate_high"], expected["default_rate_low"],
                                       expected["default_rate"]),
                        hovertemplate="%{x}: expected %{y:.2%}<extra></extra>", row=1, col=2)
    if not vintages.empty:
        fig.add_scatter(x=vintages["period"].astype(str), y=vintages["observed_rate"], name="realised",
                        mode="lines+markers", line=dict(color=RED, dash="dot"), marker=dict(size=9),
                        error_y=_error(vintages["jeffreys_high"], vintages["jeffreys_low"], vintages["observed_rate"]),
                        customdata=vintages[["defaults", "n"]],
                        hovertemplate="%{x}: realised %{y:.2%} (%{customdata[0]:,} defaults of %{customdata[1]:,})"
                                      "<extra></extra>", row=1, col=2)
    periods = [str(p) for p in history.periods]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods, title_text="period")
    fig.update_yaxes(title_text="PSI", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="default rate", tickformat=".1%", rangemode="tozero", row=1, col=2)
    # the legend gets its own row above the two panels' titles
    return styled(fig, "Score drift and default rates over the periods", height=430,
                  margin=dict(l=10, r=10, t=118, b=10),
                  legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0, font=dict(size=11)))


def grade_backtest(grades: list[dict[str, Any]]) -> go.Figure:
    """Per grade: predicted PD against the observed default rate with its Jeffreys interval, coloured by light."""
    title = "Back-test by grade: predicted PD vs observed default rate"
    g = pd.DataFrame(grades)
    if g.empty or "observed_rate" not in g or g["observed_rate"].isna().all():
        return _empty(title, "No outcomes yet: the back-test needs the realised defaults")
    x = g["grade"].astype(str)
    fig = go.Figure()
    fig.add_scatter(x=x, y=g["predicted_pd"], name="predicted PD", mode="markers",
                    marker=dict(symbol="diamond-open", size=12, color=GREY, line=dict(width=2)),
                    hovertemplate="grade %{x}: predicted %{y:.2%}<extra></extra>")
    lights = g["traffic_light"].map(lambda t: LIGHT_COLOURS.get(str(t), GREY))
    fig.add_scatter(x=x, y=g["observed_rate"], name="observed (Jeffreys 95%)", mode="markers",
                    marker=dict(size=11, color=list(lights)),
                    error_y=_error(g["jeffreys_high"], g["jeffreys_low"], g["observed_rate"]),
                    customdata=g[["defaults", "n", "p_value", "traffic_light"]],
                    hovertemplate="grade %{x}: observed %{y:.2%} (%{customdata[0]:,} of %{customdata[1]:,})<br>"
                                  "binomial p-value %{customdata[2]:.3g} · %{customdata[3]}<extra></extra>")
    return styled(fig, title, xaxis_type="category", xaxis_title="grade (1 = safest)", yaxis_title="default rate",
                  yaxis_tickformat=".1%", yaxis_rangemode="tozero")


def migration_heatmap(migration: dict[str, Any]) -> go.Figure:
    """Grade migration of companies seen in consecutive periods: each row's shares, counts in the hover.

    The diagonal (companies that kept their grade) is outlined.
    """
    title = "Grade migration between consecutive periods (share of each row)"
    grades = [str(g) for g in migration.get("grades") or []]
    counts = np.asarray(migration.get("matrix") or [], dtype=float)
    if not grades or counts.size == 0 or counts.sum() == 0:
        return _empty(title, "No company appears in two consecutive periods yet")
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / totals, np.nan)
    text = [["" if np.isnan(v) or v == 0 else f"{v:.0%}" if v >= 0.005 else "<1%" for v in r] for r in shares]
    fig = go.Figure(go.Heatmap(z=shares, x=grades, y=grades, text=text, texttemplate="%{text}", zmin=0, zmax=1,
                               colorscale=[[0, "#f3f6f9"], [1, BLUE]], customdata=counts,
                               colorbar=dict(tickformat=".0%", title="share"),
                               hovertemplate="from %{y} to %{x}: %{z:.1%} of the row<br>%{customdata:,.0f} "
                                             "companies<extra></extra>"))
    for i in range(len(grades)):
        fig.add_shape(type="rect", x0=i - 0.5, x1=i + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color=RED, width=2))
    return styled(fig, title, height=460, xaxis_type="category", yaxis_type="category",
                  xaxis_title="grade in the later period", yaxis_title="grade in the earlier period",
                  yaxis_autorange="reversed")
