"""The company waterfall keeps every bar and its value label inside the plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.charts_company import LABEL_CHAR_PX, LABEL_GAP_PX, MIN_PLOT_PX, waterfall


def _frame(base: float, deltas: list[float], other: float | None = None) -> pd.DataFrame:
    """A waterfall frame as :func:`dashboard.tables.waterfall_frame` writes it."""
    rows = [{"step": "base", "label": "Average company", "value": "", "delta": base}]
    rows += [{"step": "feature", "label": f"Feature {i}", "value": f"{i / 10:.2f}", "delta": d}
             for i, d in enumerate(deltas)]
    if other is not None:
        rows.append({"step": "other", "label": "3 other features", "value": "", "delta": other})
    frame = pd.DataFrame(rows)
    frame["end"] = frame["delta"].cumsum()
    end = float(frame["end"].iloc[-1])
    return pd.concat([frame, pd.DataFrame([{"step": "total", "label": "This company", "value": "", "delta": end,
                                            "end": end}])], ignore_index=True)


def _bars_and_labels(fig) -> tuple[list[tuple[float, float]], list[tuple[float, float]], tuple[float, float]]:
    """From the figure's trace and layout: each bar's span, each label's span at the narrowest plot, the x range."""
    (trace,) = fig.data
    low, high = fig.layout.xaxis.range
    width = high - low
    bars, labels, level = [], [], 0.0
    for measure, x, text in zip(trace.measure, trace.x, trace.text):
        start = level if measure == "relative" else 0.0
        end = start + float(x)
        level = end
        bars.append((min(start, end), max(start, end)))
        size = (len(text) * LABEL_CHAR_PX + LABEL_GAP_PX) / MIN_PLOT_PX * width
        labels.append((end, end + size) if end >= start else (end - size, end))  # outside the bar's tip
    return bars, labels, (low, high)


def _assert_everything_shows(fig) -> None:
    bars, labels, (low, high) = _bars_and_labels(fig)
    tolerance = 1e-9 * (high - low)
    for lo, hi in bars + labels:
        assert low - tolerance <= lo and hi <= high + tolerance, ((lo, hi), (low, high))
    (trace,) = fig.data
    assert trace.cliponaxis is False and trace.textposition == "outside"


def test_the_last_bars_values_are_inside_the_plot():
    # the case that was cut: features push the PD far above the average, the largest values come last
    fig = waterfall(_frame(0.031, [0.09, 0.06, 0.04, -0.01, 0.02], other=0.012))
    _assert_everything_shows(fig)
    bars, labels, (low, high) = _bars_and_labels(fig)
    assert high > max(hi for _, hi in bars)  # room beyond the longest bar for its label


def test_labels_left_of_falling_bars_near_zero_are_inside_the_plot():
    fig = waterfall(_frame(0.04, [-0.015, -0.012, -0.009, -0.003], other=-0.0005))
    _assert_everything_shows(fig)
    assert fig.layout.xaxis.range[0] < 0


@pytest.mark.parametrize("scale", ["pd", "logodds"])
def test_a_waterfall_in_log_odds_below_zero_shows_everything(scale):
    frame = _frame(-3.1, [0.8, -0.4, 1.2, 0.05], other=-0.3) if scale == "logodds" else \
        _frame(0.02, [0.3, -0.1, 0.2])
    _assert_everything_shows(waterfall(frame, scale=scale))


contributions = st.floats(-0.2, 0.2, allow_nan=False).filter(lambda d: abs(d) > 1e-6 or d == 0)


@given(base=st.floats(0.001, 0.5), deltas=st.lists(contributions, min_size=1, max_size=8),
       other=st.one_of(st.none(), contributions), scale=st.sampled_from(["pd", "logodds"]))
def test_every_bar_and_label_is_inside_the_range_and_the_bars_keep_most_of_the_width(base, deltas, other, scale):
    fig = waterfall(_frame(base if scale == "pd" else np.log(base / (1 - base)), deltas, other), scale=scale)
    _assert_everything_shows(fig)
    bars, _, (low, high) = _bars_and_labels(fig)
    extent = max(max(hi for _, hi in bars), 0.0) - min(min(lo for lo, _ in bars), 0.0)
    if extent > 0:
        assert extent / (high - low) > 0.3  # labels of up to 7 characters on both sides take the rest at most
