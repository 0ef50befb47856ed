"""Plotly figures about one company: its contribution waterfall and its place among sector peers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import BLUE, GREEN, GREY, RED, styled

LABEL_CHAR_PX = 7.5
"""Width of one character of a bar's value label at the chart's font size (12 px), rounded up."""
LABEL_GAP_PX = 8.0
"""Space plotly leaves between a bar's end and its label outside it, rounded up."""
MIN_PLOT_PX = 320.0
"""The narrowest the waterfall's plot area is drawn: its column (3/5 of a wide page) on a 1,280-pixel screen, less
the feature labels on the left. The axis range leaves room for every label at this width; on a wider plot the
labels have more room still."""


def bar_spans(frame: pd.DataFrame) -> np.ndarray:
    """Where each bar of :func:`waterfall` starts and ends on the x axis: an array of shape (bars, 2).

    The base and the total start at zero; every other bar starts where the running total before it ends.
    """
    delta = frame["delta"].to_numpy(dtype=float)
    absolute = frame["step"].isin(["base", "total"]).to_numpy()
    spans = np.empty((len(delta), 2))
    level = 0.0
    for i, (d, whole) in enumerate(zip(delta, absolute)):
        start = 0.0 if whole else level
        spans[i] = (start, start + d)
        level = start + d
    return spans


def label_range(spans: np.ndarray, label_chars: list[int] | np.ndarray, *,
                plot_px: float = MIN_PLOT_PX) -> tuple[float, float]:
    """The x range that holds every bar and its value label, drawn outside the bar's end, at ``plot_px`` wide.

    A label takes ``chars × LABEL_CHAR_PX + LABEL_GAP_PX`` pixels, a share of the range that grows with the range
    itself, so the range is found as the fixed point of ``range = bars' extent + the labels beyond it`` (it
    converges as long as the labels on both sides take less than the whole plot's width).
    """
    spans = np.asarray(spans, dtype=float)
    if not len(spans):
        return 0.0, 1.0
    ends, starts = spans[:, 1], spans[:, 0]
    share = (np.asarray(label_chars, dtype=float) * LABEL_CHAR_PX + LABEL_GAP_PX) / plot_px
    right = ends >= starts  # the label sits beyond the end the bar grows towards
    low, high = float(min(spans.min(), 0.0)), float(max(spans.max(), 0.0))
    width = high - low or max(abs(high), 1e-3)
    for _ in range(200):
        lo = min(low, float(np.min(ends[~right] - share[~right] * width, initial=low)))
        hi = max(high, float(np.max(ends[right] + share[right] * width, initial=high)))
        if abs((hi - lo) - width) <= 1e-12 * max(width, 1.0):
            break
        width = hi - lo
    return lo, hi


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
    # plotly's automatic range holds the bars, not the labels outside them: the last bars' values were cut at the
    # plot's edge, so the range is set to hold both, and a label is never clipped at the axis if the plot is narrower
    lo, hi = label_range(bar_spans(frame), [len(t) for t in text])
    fig = go.Figure(go.Waterfall(
        orientation="h", measure=measure, y=labels, x=frame["delta"], text=text, textposition="outside",
        cliponaxis=False, increasing=dict(marker_color=RED), decreasing=dict(marker_color=GREEN),
        totals=dict(marker_color=BLUE), connector=dict(line=dict(color=GREY, width=1)),
        hovertemplate="%{y}: %{text}<extra></extra>"))
    return styled(fig, "Why this PD: contributions " + ("in probability of default" if pd_scale else "in log-odds"),
                  xaxis_title="PD" if pd_scale else "log-odds", xaxis_tickformat=".1%" if pd_scale else None,
                  xaxis_range=[lo, hi], yaxis_autorange="reversed", height=max(320, 34 * len(frame) + 90),
                  showlegend=False, margin=dict(l=10, r=30, t=78, b=10))


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
