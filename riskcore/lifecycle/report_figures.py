"""The model report's figures: static SVG drawn with matplotlib, the same bytes for the same numbers.

A reviewer reads the report offline, maybe years later, so a figure is an inline
``<svg>`` element: no script, no network, no image file beside the HTML. Each
function draws data computed elsewhere and returns the SVG text: the figure data
of :mod:`riskcore.evaluation.figures` (the same objects the dashboard draws with
plotly) or the plain tables the report already holds (the numbers it also prints);
nothing is computed here. Drawing is deterministic: matplotlib's SVG ids
come from a fixed salt, the date metadata is left out, text stays text in
DejaVu Sans (shipped with matplotlib, so the layout never depends on the fonts
of the machine that builds the report). matplotlib is imported inside each
function, so importing riskcore stays fast.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from riskcore.evaluation.figures import CurveBand, GainsCurve, KsCurve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["cap_svg", "families_svg", "grades_svg", "ks_svg", "lift_svg", "lifetime_truth_svg", "roc_svg",
           "soundness_svg", "stability_svg", "stress_svg"]

_STYLE: dict[str, Any] = {"svg.hashsalt": "riskcore-model-report", "svg.fonttype": "none", "svg.id": None,
          "font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0, "axes.labelsize": 8.0,
          "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
          "legend.fontsize": 7.5, "path.simplify": False}
_COLOURS = {"Model": "#1f4e79", "Logistic baseline": "#c55a11"}
_LIGHTS = {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828"}
_GREY = "#7f7f7f"
_METHOD_LINES = {"hazard": ("Hazard", "#1f4e79", "--"), "migration": ("Migration", "#c55a11", ":")}


@contextmanager
def _style() -> Iterator[None]:
    """The report's fixed matplotlib settings, for the figures drawn inside the block only."""
    import matplotlib

    with matplotlib.rc_context(cast(Any, _STYLE)):
        yield


def _figure(width: float, height: float) -> Figure:
    """A figure not attached to pyplot (no global state, no window), drawn with the SVG backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72, layout="constrained")


def _svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (XML header, DOCTYPE and the RDF metadata removed)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if 0 <= start < end:  # matplotlib's RDF block names creative-commons vocabularies: nothing a reader needs
        text = text[:start] + text[end + len("</metadata>"):]
    return text.strip()


def _colour(label: str) -> str:
    return _COLOURS.get(label, _GREY)


def roc_svg(curves: Sequence[CurveBand]) -> str:
    """ROC curves with their bootstrap bands (:class:`~riskcore.evaluation.figures.CurveBand`, one per model)."""
    with _style():
        fig = _figure(3.6, 3.2)
        ax = fig.add_subplot()
        for c in curves:
            ax.fill_between(c.x, c.lower, c.upper, color=_colour(c.label), alpha=0.15, linewidth=0)
            ax.plot(c.x, c.y, color=_colour(c.label), label=c.label, linewidth=1.4)
        ax.plot([0, 1], [0, 1], color=_GREY, linestyle=":", linewidth=0.8, label="Random")
        ax.set(xlabel="False-positive rate", ylabel="True-positive rate", xlim=(0, 1), ylim=(0, 1.01),
               title="ROC on the test rows (95% band)")
        ax.legend(loc="lower right")
        return _svg(fig)


def cap_svg(gains: Sequence[GainsCurve]) -> str:
    """Cumulative accuracy profile of each model (:class:`~riskcore.evaluation.figures.GainsCurve`) and the perfect one.

    The perfect model has captured every default at the share of companies that defaulted.
    """
    with _style():
        fig = _figure(3.6, 3.2)
        ax = fig.add_subplot()
        for g in gains:
            x, y = g.cap()
            ax.plot(x, y, marker="o", markersize=2.5, color=_colour(g.label), label=g.label, linewidth=1.4)
        default_rate = gains[0].overall_rate if gains else float("nan")
        if default_rate > 0:
            ax.plot([0, default_rate, 1], [0, 1, 1], color=_GREY, linestyle="--", linewidth=0.8, label="Perfect")
        ax.plot([0, 1], [0, 1], color=_GREY, linestyle=":", linewidth=0.8, label="Random")
        ax.set(xlabel="Share of companies, riskiest first", ylabel="Share of defaults captured", xlim=(0, 1),
               ylim=(0, 1.01), title="CAP / gains on the test rows")
        ax.legend(loc="lower right")
        return _svg(fig)


def lift_svg(gains: Sequence[GainsCurve]) -> str:
    """Lift by risk decile (1 = riskiest) of each model, side by side (a decile without lift drawn as 0)."""
    with _style():
        fig = _figure(3.6, 3.2)
        ax = fig.add_subplot()
        width = 0.8 / max(len(gains), 1)
        for i, g in enumerate(gains):
            ax.bar(g.decile + (i - (len(gains) - 1) / 2) * width, np.where(np.isnan(g.lift), 0.0, g.lift),
                   width=width, color=_colour(g.label), label=g.label)
        ax.axhline(1.0, color=_GREY, linestyle=":", linewidth=0.8)
        ax.set(xlabel="Risk decile (1 = riskiest)", ylabel="Lift (default rate / overall rate)",
               title="Lift by decile on the test rows", xticks=range(1, 11))
        ax.legend(loc="upper right")
        return _svg(fig)


def ks_svg(curves: Sequence[KsCurve], ks: Mapping[str, float]) -> str:
    """Score distributions of defaulters and non-defaulters per model, the KS gap marked at the curve's peak.

    ``ks`` gives the KS statistic of each model's title (as recorded in ``metrics.json``).
    """
    with _style():
        fig = _figure(3.4 * max(len(curves), 1), 3.0)
        axes = fig.subplots(1, max(len(curves), 1), squeeze=False)[0]
        for ax, c in zip(axes, curves):
            ax.step(c.threshold, c.non_defaults_below, where="post", color="#2e7d32", label="Repaid")
            ax.step(c.threshold, c.defaults_below, where="post", color="#c62828", label="Defaulted")
            if len(c.threshold):
                at = c.peak
                ax.vlines(c.threshold[at], c.defaults_below[at], c.non_defaults_below[at], color="black",
                          linewidth=1.2)
            ax.set_xscale("log")
            ax.set(xlabel="PD cut-off", ylabel="Share scored below", ylim=(0, 1.01),
                   title=f"{c.label}: KS {ks.get(c.label, float('nan')):.3f}")
            ax.legend(loc="lower right")
        return _svg(fig)


def grades_svg(backtest: pd.DataFrame) -> str:
    """Predicted PD against the observed default rate per grade, Jeffreys interval, coloured by traffic light."""
    with _style():
        fig = _figure(5.6, 3.0)
        ax = fig.add_subplot()
        x = np.arange(len(backtest))
        colours = [_LIGHTS.get(str(t), _GREY) for t in backtest["traffic_light"]]
        lower = np.maximum(backtest["observed_rate"] - backtest["jeffreys_low"], 0)
        upper = np.maximum(backtest["jeffreys_high"] - backtest["observed_rate"], 0)
        ax.errorbar(x, np.maximum(backtest["observed_rate"], 1e-4), yerr=[lower, upper], fmt="none", ecolor=_GREY,
                    elinewidth=0.8, capsize=2)
        observed = backtest["observed_rate"].to_numpy(dtype=float)
        seen = observed > 0
        ax.scatter(x[seen], observed[seen], c=[c for c, s in zip(colours, seen) if s], s=22, zorder=3,
                   label="Observed rate")
        if (~seen).any():  # no default in the grade: drawn on the axis floor, hollow
            ax.scatter(x[~seen], np.full((~seen).sum(), 1e-4), facecolors="none",
                       edgecolors=[c for c, s in zip(colours, seen) if not s], s=22, zorder=3,
                       label="No default (axis floor)")
        ax.plot(x, backtest["predicted_pd"], marker="_", markersize=12, linestyle="none", color="black",
                label="Mean predicted PD")
        ax.set_yscale("log")
        ax.set_xticks(x, [str(g) for g in backtest["grade"]])
        ax.set(xlabel="Master-scale grade", ylabel="Default rate", title="Back-test per grade on the test rows")
        ax.legend(loc="upper left")
        return _svg(fig)


def stability_svg(periods: pd.DataFrame, label: str) -> str:
    """AUC with its interval per period or fold (columns segment, auc, auc_lower, auc_upper)."""
    with _style():
        fig = _figure(4.4, 2.8)
        ax = fig.add_subplot()
        x = np.arange(len(periods))
        auc = periods["auc"].to_numpy(dtype=float)
        lo = np.where(np.isnan(periods["auc_lower"].to_numpy(dtype=float)), auc, periods["auc_lower"])
        hi = np.where(np.isnan(periods["auc_upper"].to_numpy(dtype=float)), auc, periods["auc_upper"])
        ax.errorbar(x, auc, yerr=[auc - lo, hi - auc], fmt="o", color=_COLOURS["Model"],
                    capsize=3)
        ax.set_xticks(x, [str(s) for s in periods["segment"]])
        bottom = max(0.0, float(np.nanmin(lo)) - 0.05) if np.isfinite(lo).any() else 0.5
        ax.set(xlabel=label, ylabel="AUC", ylim=(bottom, 1.0), xlim=(-0.5, len(periods) - 0.5),
               title=f"AUC by {label.lower()}")
        return _svg(fig)


def _pd_panel(ax: Axes, feature: dict[str, Any]) -> None:
    """One feature's partial-dependence curve, titled with its label and whether it agrees."""
    colour = _COLOURS["Model"] if feature.get("agrees", True) else "#c62828"
    ax.plot(feature.get("grid") or [], feature.get("average") or [], color=colour, linewidth=1.2)
    arrow = {1: "↑", -1: "↓"}.get(int(feature.get("declared", 0)), "")
    mark = "" if feature.get("agrees", True) else " ✗"
    title = textwrap.fill(f"{feature.get('label') or feature.get('name')} {arrow}{mark}", 26)
    ax.set_title(title, fontsize=7, color=colour)
    ax.tick_params(labelsize=6)


# the small multiples' margins and gaps in inches: the tick labels and the shared label on the left, a panel's
# title (up to two lines) above it, its tick labels below it
_PANEL_LEFT, _PANEL_RIGHT, _PANEL_TOP, _PANEL_BOTTOM = 0.62, 0.08, 0.36, 0.22
_PANEL_GAP_X, _PANEL_GAP_Y = 0.42, 0.62


def soundness_svg(features: Sequence[dict[str, Any]], columns: int = 4) -> str:
    """Small multiples of the stored partial-dependence curves; contradicted directions in red with a cross.

    The panels are placed on a fixed grid rather than by the layout engine, which measured every tick label of
    some forty panels twice (three quarters of the report's drawing time).
    """
    from matplotlib.figure import Figure

    with _style():
        rows = max(1, -(-len(features) // columns))
        width, height = 1.95 * columns, 1.5 * rows
        fig = Figure(figsize=(width, height), dpi=72)
        panel_width = (width - _PANEL_LEFT - _PANEL_RIGHT - (columns - 1) * _PANEL_GAP_X) / columns
        panel_height = (height - _PANEL_TOP - _PANEL_BOTTOM - (rows - 1) * _PANEL_GAP_Y) / rows
        fig.subplots_adjust(left=_PANEL_LEFT / width, right=1 - _PANEL_RIGHT / width, top=1 - _PANEL_TOP / height,
                            bottom=_PANEL_BOTTOM / height, wspace=_PANEL_GAP_X / panel_width,
                            hspace=_PANEL_GAP_Y / panel_height)
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for ax, feature in zip(axes, features):
            _pd_panel(ax, feature)
        for ax in axes[len(features):]:
            ax.set_axis_off()
        fig.supylabel("Average PD", fontsize=7, x=0.1 / width)
        return _svg(fig)


def stress_svg(by_grade: pd.DataFrame) -> str:
    """Mean PD per grade before and after the macro stress (columns grade, mean_pd_base, mean_pd_stressed)."""
    with _style():
        fig = _figure(5.0, 2.8)
        ax = fig.add_subplot()
        x = np.arange(len(by_grade))
        ax.bar(x - 0.2, by_grade["mean_pd_base"], width=0.4, color=_COLOURS["Model"], label="As scored")
        ax.bar(x + 0.2, by_grade["mean_pd_stressed"], width=0.4, color="#c62828", label="Stressed")
        ax.set_yscale("log")
        ax.set_xticks(x, [str(g) for g in by_grade["grade"]])
        ax.set(xlabel="Grade before the stress", ylabel="Mean PD", title="Macro stress by grade")
        ax.legend(loc="upper left")
        return _svg(fig)


def families_svg(families: pd.DataFrame) -> str:
    """Test AUC change when each feature family is set to missing (columns family, auc_change)."""
    with _style():
        fig = _figure(4.4, 0.5 + 0.32 * max(len(families), 1))
        ax = fig.add_subplot()
        y = np.arange(len(families))
        change = families["auc_change"].to_numpy(dtype=float)
        ax.barh(y, change, color=[("#c62828" if c < 0 else _COLOURS["Model"]) for c in change])
        ax.set_yticks(y, [str(f) for f in families["family"]])
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set(xlabel="Change in test AUC", title="Each family's inputs set to missing")
        return _svg(fig)


def lifetime_truth_svg(by_grade: pd.DataFrame, columns: int = 5) -> str:
    """Small multiples, one per grade: true cumulative PD by year ahead against both methods' estimates.

    ``by_grade`` has the columns grade, year, companies, true_pd, hazard_pd and migration_pd (the ``truth``
    block of ``metrics["lifetime"]``). Placed on a fixed grid, as :func:`soundness_svg`.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    grades = list(dict.fromkeys(by_grade["grade"]))
    with _style():
        rows = max(1, -(-len(grades) // columns))
        width, height = 1.6 * columns, 0.5 + 1.45 * rows
        fig = Figure(figsize=(width, height), dpi=72)
        top = 0.6  # a panel's title and, above the first row, the legend
        panel_width = (width - _PANEL_LEFT - _PANEL_RIGHT - (columns - 1) * _PANEL_GAP_X) / columns
        panel_height = (height - top - _PANEL_BOTTOM - 0.2 - (rows - 1) * _PANEL_GAP_Y) / rows
        fig.subplots_adjust(left=_PANEL_LEFT / width, right=1 - _PANEL_RIGHT / width, top=1 - top / height,
                            bottom=(_PANEL_BOTTOM + 0.2) / height, wspace=_PANEL_GAP_X / panel_width,
                            hspace=_PANEL_GAP_Y / panel_height)
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for ax, grade in zip(axes, grades):
            part = by_grade[by_grade["grade"] == grade].sort_values("year")
            ax.plot(part["year"], part["true_pd"], color="black", marker="o", markersize=2.5, linewidth=1.2,
                    label="True")
            for method, (label, colour, style) in _METHOD_LINES.items():
                ax.plot(part["year"], part[f"{method}_pd"], color=colour, linestyle=style, linewidth=1.2, label=label)
            ax.set_title(f"Grade {grade} ({int(part['companies'].iloc[0]):,})", fontsize=7)
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_xticks(list(part["year"]))
            ax.tick_params(labelsize=6)
        for ax in axes[len(grades):]:
            ax.set_axis_off()
        if grades:
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="upper center", ncols=3, bbox_to_anchor=(0.5, 1.0))
        fig.supylabel("Cumulative PD", fontsize=7, x=0.1 / width)
        fig.supxlabel("Years ahead", fontsize=7, y=0.05 / height)
        return _svg(fig)
