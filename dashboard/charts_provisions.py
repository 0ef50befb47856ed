"""Plotly figures of the Provisions page: ECL by stage, its movement, the stage-2 drivers, lifetime PD curves.

Pure functions of the engine's tables (``ProvisionRun.summary``, ``stage_movements``, ``stage_drivers``,
``term_structures`` / ``against_truth``); no Streamlit calls.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import BLUE, GREEN, GREY, ORANGE, RED, styled

__all__ = ["ecl_by_stage", "lifetime_curves", "movement_steps", "stage_drivers", "waterfall"]

STAGE_COLOURS = {1: GREEN, 2: ORANGE, 3: RED}
STANDARD_NAMES = {"ifrs9": "IFRS 9", "cecl": "CECL"}


def ecl_by_stage(by_standard: dict[str, pd.DataFrame]) -> go.Figure:
    """ECL of each stage, one bar group per standard (``by_standard``: standard → ``ProvisionResult.by_stage``)."""
    fig = go.Figure()
    for stage in (1, 2, 3):
        x, y = [], []
        for standard, table in by_standard.items():
            row = table[table["stage"].astype(str) == str(stage)]
            x.append(STANDARD_NAMES.get(standard, standard))
            y.append(float(row["ecl"].iloc[0]) if len(row) else 0.0)
        fig.add_bar(x=x, y=y, name=f"Stage {stage}", marker_color=STAGE_COLOURS[stage],
                    hovertemplate="%{x}, stage " + str(stage) + ": ECL %{y:,.0f}<extra></extra>")
    fig.update_layout(barmode="stack", yaxis_title="Expected credit loss")
    return styled(fig, "ECL by stage", height=360)


def _step_label(from_stage: str, to_stage: str) -> str:
    if from_stage == "new":
        return "New companies"
    if to_stage == "gone":
        return "Left the book"
    if from_stage == to_stage:
        return f"Stayed in stage {to_stage}"
    return f"Stage {from_stage} → {to_stage}"


def movement_steps(movements: pd.DataFrame) -> pd.DataFrame:
    """The waterfall's middle steps: ECL change and companies per kind of move (``stage_movements`` rows grouped).

    Returns
    -------
    pandas.DataFrame
        ``step``, ``companies``, ``ecl_change``: new companies, the stays in each stage (remeasured), the moves
        between stages, the companies that left; steps with no company left out.
    """
    labelled = movements.assign(step=[_step_label(str(a), str(b)) for a, b in
                                      zip(movements["from_stage"], movements["to_stage"], strict=True)])
    out = labelled.groupby("step", sort=False).agg(companies=("companies", "sum"), ecl_change=("ecl_change", "sum"))
    order = (["New companies"] + [f"Stayed in stage {s}" for s in "123"]
             + [f"Stage {a} → {b}" for a in "123" for b in "123" if a != b] + ["Left the book"])
    return out.reindex([s for s in order if s in out.index]).reset_index()


def waterfall(previous_ecl: float, steps: pd.DataFrame, current_ecl: float, previous_label: str,
              current_label: str) -> go.Figure:
    """ECL from the previous period to this one: the opening total, each step's change, the closing total."""
    labels = [previous_label, *steps["step"], current_label]
    values = [previous_ecl, *steps["ecl_change"], current_ecl]
    measure = ["absolute", *["relative"] * len(steps), "total"]
    counts = ["", *[f"{int(c):,} companies" for c in steps["companies"]], ""]
    fig = go.Figure(go.Waterfall(x=labels, y=values, measure=measure, text=[f"{v:+,.0f}" if m == "relative"
                                                                             else f"{v:,.0f}" for v, m in
                                                                             zip(values, measure, strict=True)],
                                 customdata=counts, textposition="outside",
                                 hovertemplate="%{x}: %{y:,.0f}<br>%{customdata}<extra></extra>",
                                 increasing=dict(marker_color=RED), decreasing=dict(marker_color=GREEN),
                                 totals=dict(marker_color=BLUE), connector=dict(line=dict(color=GREY))))
    fig.update_layout(yaxis_title="Expected credit loss", showlegend=False)
    return styled(fig, "Movement of the ECL since the previous period", height=400)


def stage_drivers(drivers: pd.DataFrame) -> go.Figure:
    """Stage-2 companies by the rule that put them there (``stage_drivers``' table)."""
    fig = go.Figure(go.Bar(x=drivers["companies"], y=drivers["driver"], orientation="h", marker_color=ORANGE,
                           customdata=drivers[["ecl", "share"]].to_numpy(),
                           hovertemplate="%{y}: %{x:,} companies (%{customdata[1]:.0%}), ECL %{customdata[0]:,.0f}"
                                         "<extra></extra>"))
    fig.update_layout(xaxis_title="Companies in stage 2", yaxis=dict(autorange="reversed"))
    return styled(fig, "Why companies are in stage 2", height=max(200, 90 + 45 * len(drivers)))


def lifetime_curves(curves: pd.DataFrame, method: str, *, truth: bool) -> go.Figure:
    """Cumulative PD by year ahead, a line per grade; with ``truth``, the known truth dotted beside each.

    ``curves``: ``grade``, ``year``, ``<method>_pd`` and, with ``truth``, ``true_pd`` (``against_truth``'s
    table, or ``term_structures``' without the truth).
    """
    fig = go.Figure()
    grades = list(dict.fromkeys(curves["grade"]))
    palette = ["#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61", "#f46d43", "#d73027", "#a50026",
               "#67001f"]
    for i, grade in enumerate(grades):
        g = curves[curves["grade"] == grade]
        colour = palette[min(i * len(palette) // max(len(grades), 1), len(palette) - 1)]
        fig.add_scatter(x=g["year"], y=g[f"{method}_pd"], mode="lines+markers", name=f"Grade {grade}",
                        line=dict(color=colour), legendgroup=str(grade),
                        hovertemplate=f"Grade {grade}, " + "year %{x}: %{y:.2%} estimated<extra></extra>")
        if truth:
            fig.add_scatter(x=g["year"], y=g["true_pd"], mode="lines", name=f"Grade {grade} (truth)",
                            line=dict(color=colour, dash="dot"), legendgroup=str(grade), showlegend=False,
                            hovertemplate=f"Grade {grade}, " + "year %{x}: %{y:.2%} true<extra></extra>")
    fig.update_layout(xaxis_title="Years ahead", yaxis_title="Cumulative PD", yaxis_tickformat=".0%",
                      xaxis=dict(dtick=1))
    title = "Cumulative PD by grade" + (" (dotted: the demo's known truth)" if truth else "")
    return styled(fig, title, height=420)
