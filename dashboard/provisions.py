"""Cached loaders of the Provisions page: each as-of year's provisions computed once, re-weighted on every rerun.

The expensive part of a provision is scoring the panel under each macro scenario (the model in the loop);
it is cached per model version, file version and as-of year (:func:`provision_run`). Moving a weight slider
only re-weights the cached scenarios' ECLs (:func:`riskcore.evaluation.reweighted`, milliseconds). The
demo's known truth (the generator run again) is cached the same way (:func:`lifetime_truth`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from riskcore.workbench import DatasetSpec, ModelBundle, ProvisionRun

__all__ = ["lifetime_truth", "panel_years", "provision_run"]


@st.cache_data(max_entries=8, show_spinner="Reading the portfolio's years…")
def panel_years(path: str, mtime: float, _spec: DatasetSpec, model_version: str) -> list[int]:
    """The fiscal years of a panel file, oldest first (empty when the file has no year column the model names)."""
    frame = state.bench().load(path, spec=_spec).table.frame
    if not _spec.time or _spec.time not in frame:
        return []
    years = pd.to_numeric(frame[_spec.time], errors="coerce").dropna()
    if len(years) < 0.9 * len(frame):  # dates rather than years: their calendar years
        years = pd.to_datetime(frame[_spec.time], errors="coerce").dt.year.dropna()
    return sorted(int(y) for y in years.unique())


@st.cache_data(max_entries=16, show_spinner="Scoring each macro scenario and computing the provisions…")
def provision_run(_bundle: ModelBundle, model_version: str, path: str, mtime: float, as_of: int) -> ProvisionRun:
    """The provisions of the file at ``as_of`` under the settings' scenarios (scored once per model, file, year).

    A ``RiskcoreError`` (a file without the id, year or default columns, no history before the year)
    propagates and is not cached.
    """
    return state.bench().preview_provisions(_bundle, path, as_of=as_of)


@st.cache_data(max_entries=4, show_spinner="Simulating the demo's true lifetime PDs…")
def lifetime_truth(_bundle: ModelBundle, model_version: str, path: str, mtime: float,
                   as_of: int) -> pd.DataFrame | None:
    """The demo's known truth against both term structures by grade and year (``None``: not the demo's last year)."""
    run = provision_run(_bundle, model_version, path, mtime, as_of)
    return state.bench().lifetime_truth(run, path, _bundle.spec.id or "id")
