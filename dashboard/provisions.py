"""Cached loaders of the Provisions page: each as-of year's provisions computed once, re-weighted on every rerun.

The expensive part of a provision is scoring the panel under each macro scenario (the model in the loop);
it is cached per model version, file version and as-of year (:func:`provision_run`). Moving a weight slider
only re-weights the cached scenarios' ECLs (:func:`riskcore.evaluation.reweighted`, milliseconds). The
demo's known truth (the generator run again) is cached the same way (:func:`lifetime_truth`).

The waterfall compares with the previous year computed now, or with a provisions run on record: the runs the
audit trail lists (:func:`recorded_runs`, re-read every few seconds: a command may record one), each named by
:func:`run_label`, opened by :func:`recorded_companies` (the run's ``companies.csv`` checked against the SHA-256
on record on every rerun, never cached: a file altered meanwhile is refused at once).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.charts_provisions import STANDARD_NAMES
from riskcore.workbench import DatasetSpec, ModelBundle, ProvisionRun, RecordedRun

__all__ = ["lifetime_truth", "panel_years", "provision_run", "recorded_companies", "recorded_runs", "run_label"]

RECORDED_RUNS_SHOWN = 50
"""The newest provisions runs on record offered to compare with."""


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


@st.cache_data(ttl=10, show_spinner=False)
def recorded_runs() -> list[RecordedRun]:
    """The newest provisions runs on record, newest first (``AuditError`` when the trail cannot be read, not cached)."""
    return state.bench().recorded_provisions(limit=RECORDED_RUNS_SHOWN)


def run_label(run: RecordedRun) -> str:
    """A run on record in one line: its number in the trail, as-of year, standard, ECL, when, which model."""
    when = run.recorded_at[:16].replace("T", " ")
    return (f"Run {run.seq} on record: as of {run.as_of}, {STANDARD_NAMES.get(run.standard, run.standard)}, "
            f"ECL {run.ecl:,.0f}, recorded {when} UTC, model {run.model_version}")


def recorded_companies(run: RecordedRun, id_column: str) -> pd.DataFrame:
    """A run on record's per-company ``id_column``, ``stage`` and ``ecl``, its file checked against the trail first.

    ``DataFileError`` (no folder on record, the folder or file gone, the file altered) propagates.
    """
    return state.bench().open_recorded_provisions(run, id_column)[[id_column, "stage", "ecl"]]
