"""Plotly figure builders: data in, figure out, no Streamlit calls.

Each builder takes plain data computed by riskcore (frames with documented
columns, dataclasses) and returns a ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

import plotly.graph_objects as go

from riskcore.reports import DecisionView

BLUE, ORANGE, GREY, RED, GREEN = "#1f5f8b", "#f2b134", "#9aa5b1", "#c0392b", "#2e8b57"
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=360, template="plotly_white",
               legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))


def loss_comparison(view: DecisionView) -> go.Figure:
    """Stacked bars: expected loss without the model vs with it (missed defaults + false alarms)."""
    i = view.impact
    fig = go.Figure()
    fig.add_bar(name="Missed defaults", x=["Without the model", "With the model"],
                y=[i.loss_without_model, i.missed_loss], marker_color=RED)
    fig.add_bar(name="False alarms", x=["Without the model", "With the model"], y=[0, i.false_alarm_cost],
                marker_color=ORANGE)
    fig.update_layout(barmode="stack", title="Loss on the test year", yaxis_title="cost", **_LAYOUT)
    return fig
