"""Plotly figures about one company: its contribution waterfall and its place among sector peers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import BLUE, GREEN, GREY, RED, styled


def waterfall(frame: pd.DataFrame, *, scale: str = "pd") -> go.Figure:
    """The contribution waterfall of :func:`dashboard.tables.waterfall_frame`.

    The first bar is the average company, each feature moves the score up (red,
    more risk) or down (green), and the last bar is the company's PD — the bars
    add up to it exactly.
    """
    measure = frame["step"].map({"base": "absolute", "feature": "relative", "other": "relative",
                                 "total": "total"}).tolist()
    labels = [f"{lab} ({val})" if val else lab for lab, val in zip(frame["label"], frame["value"])]
    pd_scale = scale == "pd"
    text = [(f"{d:+.2%}" if pd_scale else f"{d:+.2f}") if s in ("feature", "other")
            else (f"{d:.2%}" if pd_scale else f"{d:.2f}") for s, d in zip(frame["step"], frame["delta"])]
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=measure, y=labels, x=frame["delta"], text=text, textposition="outside",
        increasing=dict(marker_color=RED), decreasing=dict(marker_color=GREEN), totals=dict(marker_color=BLUE),
        connector=dict(line=dict(color=GREY, width=1)),
        hovertemplate="%{y}: %{text}<extra></extra>"))
    return styled(fig, "Why this PD: contributions " + ("in probability of default" if pd_scale else "in log-odds"),
                  xaxis_title="PD" if pd_scale else "log-odds", xaxis_tickformat=".1%" if pd_scale else None,
                  yaxis_autorange="reversed", height=max(320, 34 * len(frame) + 90), showlegend=False)


def peer_percentiles(peers: pd.DataFrame) -> go.Figure:
    """Each key ratio's percentile within the sector (:func:`riskcore.serving.explain.peer_percentiles`).

    Bars point the way of the risk: a ratio on the risky side of the sector
    median is red, on the safe side green.
    """
    p = peers.dropna(subset=["percentile"]).iloc[::-1]
    risky = ((p["percentile"] - 50) * p["direction"]) > 0
    colours = [RED if r else GREEN for r in risky]
    fig = go.Figure(go.Bar(x=p["percentile"] - 50, base=50, y=p["label"], orientation="h", marker_color=colours,
                           customdata=p[["value", "sector_median", "percentile"]],
                           hovertemplate="%{y}<br>value %{customdata[0]:.3g} · sector median %{customdata[1]:.3g}"
                                         "<br>percentile %{customdata[2]:.0f}<extra></extra>"))
    fig.add_vline(x=50, line=dict(color=GREY, dash="dot"))
    return styled(fig, "Key ratios against the sector (percentile in the training data)", xaxis_range=[0, 100],
                  xaxis_title="percentile within the sector", height=max(300, 30 * len(p) + 90), showlegend=False)
