"""Figures and tables of the Training runs page's comparison of a challenger with the champion.

Pure functions of the comparison dict of :func:`riskcore.lifecycle.compare_versions`
(``VersionComparison.comparison.as_dict()``: ``auc``, ``cost``, ``swap``, ``champion`` /
``challenger`` with their per-grade back-tests, plus the ``curves`` that
:func:`dashboard.state.comparison_curves` adds: each side's :class:`riskcore.evaluation.figures.ModelCurves`)
and of the ledger's moves; no Streamlit calls. Every number drawn comes from that dict: nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts import BLUE, GREY, ORANGE, styled
from dashboard.charts_monitoring import LIGHT_COLOURS
from riskcore.evaluation.figures import ModelCurves

if TYPE_CHECKING:
    from riskcore.workbench import ModelMove

__all__ = ["COLOURS", "MODELS", "cost_bars", "cost_pair", "grade_calibration", "ledger_table", "roc_pair",
           "swap_table"]

MODELS = ("champion", "challenger")
"""The two sides of a comparison, in the order they are drawn."""
COLOURS = {"champion": ORANGE, "challenger": BLUE}
"""Each side's colour in every figure of the comparison."""
# the pair of curves' figures have several legend entries with long version names: below the plot, not above
_LEGEND_BELOW: dict[str, Any] = dict(height=480, margin=dict(l=10, r=10, t=50, b=90),
                                     legend=dict(orientation="h", yanchor="top", y=-0.16, x=0, font=dict(size=11)))


def _interval(cost: dict[str, Any]) -> str:
    """The cost difference with its paired-bootstrap interval, as the bar chart's caption reads it."""
    level = f"{cost['confidence']:.0%} " if cost.get("confidence") is not None else ""
    return (f"challenger − champion: {cost['difference']:+,.0f} "
            f"({level}interval {cost['low']:+,.0f} to {cost['high']:+,.0f})")


def cost_bars(comparison: dict[str, Any], labels: Sequence[str] = MODELS) -> go.Figure:
    """Bars of the two models' expected cost on the same rows, each at its own cut-off, with Δ and its interval.

    Parameters
    ----------
    comparison : dict
        ``VersionComparison.comparison.as_dict()``; reads ``cost`` (``cost_champion``, ``cost_challenger``,
        ``difference``, ``low``, ``high``, ``confidence``) and ``thresholds``.
    labels : pair of str
        The names of the champion and the challenger on the x axis (e.g. their model versions).

    Returns
    -------
    plotly Figure
        One bar per model; the difference and its interval are the annotation under the title.
    """
    cost = comparison["cost"]
    thresholds = comparison.get("thresholds") or {}
    values = [cost["cost_champion"], cost["cost_challenger"]]
    cut_offs = [thresholds.get(m) for m in MODELS]
    text = [f"{v:,.0f}" + (f"<br>cut-off {t:.1%}" if t is not None else "") for v, t in zip(values, cut_offs)]
    fig = go.Figure(go.Bar(x=list(labels), y=values, text=text, textposition="auto",
                           marker_color=[COLOURS[m] for m in MODELS], hovertemplate="%{x}: %{y:,.0f}<extra></extra>"))
    fig.add_annotation(text=_interval(cost), showarrow=False, x=0, y=1.08, xref="paper", yref="paper",
                       xanchor="left")
    return styled(fig, "Expected cost on the same rows", yaxis_title="cost", yaxis_tickformat=",.0f",
                  showlegend=False, margin=dict(l=10, r=10, t=90, b=10))


def roc_pair(comparison: dict[str, Any], labels: Sequence[str] = MODELS) -> go.Figure:
    """Both models' ROC curves on the same rows, with the chance diagonal and each model's point at its cut-off.

    Parameters
    ----------
    comparison : dict
        What :func:`dashboard.state.comparison` returns; reads ``curves[model]`` (a
        :class:`~riskcore.evaluation.figures.ModelCurves`: its ``roc`` and ``operating`` point) and ``auc``
        (``auc_champion``, ``auc_challenger``: the AUCs DeLong's test compared).
    labels : pair of str
        The names of the champion and the challenger in the legend (e.g. their model versions).

    Returns
    -------
    plotly Figure
        Traces in order: the diagonal, then per model its curve (named with its AUC) and its operating point.
    """
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color=GREY, dash="dot"), name="chance",
                    hoverinfo="skip")
    for model, label in zip(MODELS, labels):
        curves: ModelCurves = comparison["curves"][model]
        roc, point, colour = curves.roc, curves.operating, COLOURS[model]
        fig.add_scatter(x=roc.fpr, y=roc.tpr, mode="lines", line=dict(color=colour, width=2.5),
                        name=f"{label} (AUC {comparison['auc'][f'auc_{model}']:.3f})", legendgroup=model,
                        text=[f"{t:.2%}" if np.isfinite(t) else "above every PD" for t in roc.threshold],
                        hovertemplate="cut-off %{text}<br>false alarms %{x:.1%}<br>defaults caught %{y:.1%}"
                                      "<extra></extra>")
        fig.add_scatter(x=[point.fpr], y=[point.tpr], mode="markers", legendgroup=model,
                        name=f"{label} at its cut-off {point.threshold:.1%}",
                        marker=dict(color=colour, size=12, symbol="x", line=dict(width=1, color="white")),
                        hovertemplate="cut-off %{text}<br>false alarms %{x:.1%}<br>defaults caught %{y:.1%}"
                                      "<extra></extra>", text=[f"{point.threshold:.2%}"])
    return styled(fig, "ROC curves on the same rows", xaxis_title="false-alarm rate (FPR)",
                  yaxis_title="defaults caught (TPR)", xaxis_range=[0, 1], yaxis_range=[0, 1.02], **_LEGEND_BELOW)


def cost_pair(comparison: dict[str, Any], labels: Sequence[str] = MODELS) -> go.Figure:
    """Both models' expected cost against the cut-off on the same rows, each one's own cut-off and its cheapest.

    Parameters
    ----------
    comparison : dict
        What :func:`dashboard.state.comparison` returns; reads ``curves[model]`` (a
        :class:`~riskcore.evaluation.figures.ModelCurves`): its ``cost`` curve with the cheapest cut-off on these
        rows, and its ``operating`` point (the model's own cut-off and its cost).
    labels : pair of str
        The names of the champion and the challenger in the legend.

    Returns
    -------
    plotly Figure
        Per model, in order: its cost curve (a step: a cut-off refers every PD at or above it), its own
        cut-off (a cross, and a dotted vertical line) and its cheapest cut-off (a star).
    """
    fig = go.Figure()
    marked = []
    for model, label in zip(MODELS, labels):
        curves: ModelCurves = comparison["curves"][model]
        own, cost, colour = curves.operating, curves.cost, COLOURS[model]
        fig.add_scatter(x=cost.threshold, y=cost.cost, mode="lines", line_shape="vh",
                        line=dict(color=colour, width=2.5), name=label, legendgroup=model,
                        hovertemplate="cut-off %{x:.2%}<br>cost %{y:,.0f}<extra></extra>")
        fig.add_scatter(x=[own.threshold], y=[own.cost], mode="markers", legendgroup=model,
                        name=f"{label}: its cut-off {own.threshold:.1%}, cost {own.cost:,.0f}",
                        marker=dict(color=colour, size=12, symbol="x", line=dict(width=1, color="white")),
                        hovertemplate="own cut-off %{x:.2%}<br>cost %{y:,.0f}<extra></extra>")
        fig.add_scatter(x=[cost.optimal_threshold], y=[cost.optimal_cost], mode="markers", legendgroup=model,
                        name=f"{label}: cheapest {cost.optimal_threshold:.1%}, cost {cost.optimal_cost:,.0f}",
                        marker=dict(color=colour, size=14, symbol="star", line=dict(width=1, color="white")),
                        hovertemplate="cheapest cut-off %{x:.2%}<br>cost %{y:,.0f}<extra></extra>")
        fig.add_vline(x=own.threshold, line=dict(color=colour, dash="dot", width=1))
        marked += [own.threshold, cost.optimal_threshold]
    return styled(fig, "Expected cost of each cut-off on the same rows",
                  xaxis_title="cut-off (PD at or above → refer)", yaxis_title="cost", xaxis_tickformat=".0%",
                  yaxis_tickformat=",.0f", **_LEGEND_BELOW, xaxis_range=[0, min(1.0, max(0.3, 1.5 * max(marked)))])


def _grades_frame(grades: list[dict[str, Any]]) -> pd.DataFrame:
    """One model's per-grade back-test as a frame (an empty list gives the columns and no rows)."""
    columns = ["grade", "n", "predicted_pd", "observed_rate", "jeffreys_low", "jeffreys_high", "traffic_light"]
    frame = pd.DataFrame(grades)
    return frame.reindex(columns=columns) if len(frame) else pd.DataFrame(columns=columns)


def _add_grades(fig: go.Figure, grades: pd.DataFrame, col: int, *, first: bool) -> None:
    """Predicted PD (line) and observed rate with its Jeffreys interval (dots coloured by light) of one model."""
    x = grades["grade"].astype(str).tolist()
    fig.add_scatter(x=x, y=grades["predicted_pd"], mode="lines+markers", name="predicted PD", legendgroup="pd",
                    showlegend=first, line=dict(color=GREY, dash="dash"), row=1, col=col)
    observed = grades["observed_rate"].astype(float)
    fig.add_scatter(x=x, y=observed, mode="markers", name="observed rate", legendgroup="obs", showlegend=first,
                    marker=dict(size=10, color=[LIGHT_COLOURS.get(str(t), GREY) for t in grades["traffic_light"]]),
                    error_y=dict(type="data", symmetric=False,
                                 array=(grades["jeffreys_high"].astype(float) - observed).tolist(),
                                 arrayminus=(observed - grades["jeffreys_low"].astype(float)).tolist()),
                    customdata=grades[["n", "traffic_light"]].to_numpy(),
                    hovertemplate="grade %{x}: observed %{y:.2%} of %{customdata[0]:,} (%{customdata[1]})"
                                  "<extra></extra>", row=1, col=col)


def grade_calibration(comparison: dict[str, Any], labels: Sequence[str] = MODELS) -> go.Figure:
    """Each model's per-grade predicted PD against the observed default rate on the same rows, side by side.

    Parameters
    ----------
    comparison : dict
        ``VersionComparison.comparison.as_dict()``; reads ``champion["grades"]`` and ``challenger["grades"]``
        (rows with ``grade, n, predicted_pd, observed_rate, jeffreys_low, jeffreys_high, traffic_light``) and
        each side's ``ece``.
    labels : pair of str
        The names of the champion and the challenger (the panels' titles).

    Returns
    -------
    plotly Figure
        Two panels sharing the y axis; the observed rate's dot has the grade's traffic-light colour and its
        Jeffreys interval as error bar.
    """
    titles = [f"{label} (ECE {comparison[m]['ece']:.4f})" for m, label in zip(MODELS, labels)]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles, horizontal_spacing=0.06)
    for col, model in enumerate(MODELS, start=1):
        _add_grades(fig, _grades_frame(comparison[model]["grades"]), col, first=col == 1)
        fig.update_xaxes(title_text="grade", type="category", row=1, col=col)
    fig.update_yaxes(title_text="default rate", tickformat=".1%", row=1, col=1)
    return styled(fig, "Calibration per grade on the same rows", margin=dict(l=10, r=10, t=78, b=70),
                  legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, font=dict(size=11)))


def swap_table(comparison: dict[str, Any]) -> pd.DataFrame:
    """The swap set: the companies the two models decide differently, and how many of them defaulted.

    Returns
    -------
    DataFrame
        Columns ``companies, decision, observed_default_rate``: the challenger accepts what the champion refers,
        the champion accepts what the challenger refers, both decide alike (no rate: not a swap).
    """
    swap = comparison["swap"]
    return pd.DataFrame({
        "decision": ["challenger accepts, champion refers", "champion accepts, challenger refers", "decided alike"],
        "companies": [swap["champion_refers_challenger_accepts"], swap["challenger_refers_champion_accepts"],
                      swap["agree"]],
        "observed_default_rate": [swap["default_rate_challenger_accepts"], swap["default_rate_champion_accepts"],
                                  float("nan")],
    })


def ledger_table(moves: Sequence[ModelMove]) -> pd.DataFrame:
    """The ledger of the champion's moves, newest first, as the page shows it.

    Returns
    -------
    DataFrame
        Columns ``time, event, from, to, by, reason, gate`` (``gate``: the first 12 characters of the gate
        report's SHA-256, empty for a rollback); ``time`` is a UTC timestamp without a time zone.
    """
    columns = ["time", "event", "from", "to", "by", "reason", "gate"]
    rows = [{"time": m.ts, "event": m.event, "from": m.from_version, "to": m.to_version, "by": m.actor,
             "reason": m.reason, "gate": m.gate_digest[:12], "seq": m.seq} for m in moves]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows).sort_values("seq", ascending=False)
    # UTC without a time zone: the table's column says UTC, and a browser table shows a naive time as it is
    frame["time"] = pd.to_datetime(frame["time"], utc=True, errors="coerce").dt.tz_localize(None)
    return frame[columns].reset_index(drop=True)
