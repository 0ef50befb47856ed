"""Plotly figure builders: data in, figure out, no Streamlit calls.

Each builder takes plain data computed by riskcore (frames with documented
columns, dataclasses, the figure data of :mod:`riskcore.evaluation.figures`)
and returns a ``plotly.graph_objects.Figure``; none computes a curve. This
module holds the shared style and the decision charts (business impact, costs,
portfolio scoring); :mod:`dashboard.charts_model` draws the model's evidence
and :mod:`dashboard.charts_company` one company.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from riskcore.evaluation import DecisionView
from riskcore.evaluation.figures import CostCurve

BLUE, ORANGE, GREY, RED, GREEN = "#1f5f8b", "#f2b134", "#9aa5b1", "#c0392b", "#2e8b57"
LIGHT_BLUE = "rgba(31, 95, 139, 0.18)"
LEVEL_COLOURS = {"Low": GREEN, "Medium": ORANGE, "High": "#e67e22", "Critical": RED}
# the title sits at the top of the figure and the legend in its own row just above the plot, so they never overlap
_LAYOUT: dict[str, Any] = dict(margin=dict(l=10, r=10, t=78, b=10), height=380, template="plotly_white",
                               legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, font=dict(size=11)))


def styled(fig: go.Figure, title: str, **layout: Any) -> go.Figure:
    """Apply the dashboard's layout and a title."""
    heading = dict(text=title, x=0, xanchor="left", y=1.0, yanchor="top", yref="container", pad=dict(t=10),
                   font=dict(size=15))
    fig.update_layout(**{**_LAYOUT, "title": heading, **layout})
    return fig


def loss_comparison(view: DecisionView) -> go.Figure:
    """Stacked bars: expected loss without the model vs with it (missed defaults + false alarms)."""
    i = view.impact
    fig = go.Figure()
    fig.add_bar(name="Missed defaults", x=["Without the model", "With the model"],
                y=[i.loss_without_model, i.missed_loss], marker_color=RED)
    fig.add_bar(name="False alarms", x=["Without the model", "With the model"], y=[0, i.false_alarm_cost],
                marker_color=ORANGE)
    return styled(fig, "Loss on the test year", barmode="stack", yaxis_title="cost", yaxis_tickformat=",.0f")


def cost_curve(curve: CostCurve, *, current: float) -> go.Figure:
    """Cost of every cut-off (validation rows), split into missed defaults and false alarms.

    ``curve`` is the engine's :class:`riskcore.evaluation.figures.CostCurve`; its cheapest cut-off and the
    ``current`` one (the cut-off in force) are marked.
    """
    optimal = curve.optimal_threshold
    fig = go.Figure()
    x = curve.threshold
    fig.add_scatter(x=x, y=curve.missed_loss, name="Missed defaults", line=dict(color=RED, width=1.5),
                    line_shape="hv")
    fig.add_scatter(x=x, y=curve.false_alarm_cost, name="False alarms", line=dict(color=ORANGE, width=1.5),
                    line_shape="hv")
    fig.add_scatter(x=x, y=curve.cost, name="Total cost", line=dict(color=BLUE, width=3), line_shape="hv",
                    customdata=np.column_stack([curve.referral_rate]),
                    hovertemplate="cut-off %{x:.2%}<br>cost %{y:,.0f}<br>referred %{customdata[0]:.1%}<extra></extra>")
    fig.add_vline(x=optimal, line=dict(color=GREEN, dash="dash"), annotation_text=f"optimal {optimal:.1%}",
                  annotation_position="top right")
    if abs(current - optimal) > 1e-12:
        fig.add_vline(x=current, line=dict(color=ORANGE, dash="dot"), annotation_text=f"chosen {current:.1%}",
                      annotation_position="top left")
    return styled(fig, "Cost of each cut-off on the validation year", xaxis_title="cut-off (PD at or above → refer)",
                  yaxis_title="cost", xaxis_tickformat=".0%", yaxis_tickformat=",.0f", hovermode="x unified",
                  xaxis_range=[0, min(1.0, max(0.3, 1.5 * max(optimal, current)))])


def confusion_matrix(confusion: pd.DataFrame) -> go.Figure:
    """The 2 × 2 table (rows actual, columns decision) as an annotated heat map."""
    z = confusion.to_numpy()
    text = [[f"{v:,}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[c.capitalize() for c in confusion.columns],
                               y=[i.capitalize() for i in confusion.index], text=text, texttemplate="%{text}",
                               colorscale=[[0, "#f3f6f9"], [1, BLUE]], showscale=False,
                               hovertemplate="%{y} · %{x}: %{z:,}<extra></extra>"))
    return styled(fig, "Decisions on the test year", xaxis_title="decision", yaxis_title="outcome", height=300,
                  yaxis_autorange="reversed")


def grade_distribution(dist: pd.DataFrame, levels: dict[str, str]) -> go.Figure:
    """Companies per master-scale grade (``ScoreResult.grade_distribution()``), coloured by risk level."""
    colours = [LEVEL_COLOURS.get(levels.get(str(g), ""), GREY) for g in dist["grade"]]
    fig = go.Figure(go.Bar(x=dist["grade"].astype(str), y=dist["companies"], marker_color=colours,
                           customdata=dist[["share", "mean_pd"]],
                           hovertemplate="grade %{x}: %{y:,} companies (%{customdata[0]:.1%})<br>"
                                         "mean PD %{customdata[1]:.2%}<extra></extra>"))
    return styled(fig, "Companies by grade", xaxis_title="grade (1 = safest)", yaxis_title="companies",
                  xaxis_type="category")


def expected_loss_by_segment(table: pd.DataFrame) -> go.Figure:
    """Expected loss per segment (``riskcore.evaluation.report.expected_loss_by_segment``), largest on top."""
    t = table.sort_values("expected_loss")
    fig = go.Figure(go.Bar(x=t["expected_loss"], y=t["segment"], orientation="h", marker_color=BLUE,
                           customdata=t[["companies", "exposure", "mean_pd"]],
                           hovertemplate="%{y}: %{x:,.0f}<br>%{customdata[0]:,} companies, exposure "
                                         "%{customdata[1]:,.0f}<br>mean PD %{customdata[2]:.2%}<extra></extra>"))
    return styled(fig, "Expected loss by sector (PD × LGD × exposure)", xaxis_title="expected loss",
                  xaxis_tickformat=",.0f", height=max(300, 28 * len(t) + 80))
