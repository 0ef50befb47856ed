"""Cached loaders and session choices shared by the pages.

Caching is a UI concern, so it lives here and nowhere else: ``st.cache_resource``
for the model server (which keeps the verified bundles) and the cost sweeps
(shared, read-only), ``st.cache_data`` for frames and reports (hashed by their
arguments, returned as copies), a short ``ttl`` for what other processes change
(the MLflow store, the champion's reference). Heavy
objects are passed with a leading underscore and keyed on something cheap and
explicit (the model version, an upload's file id). ``st.session_state`` holds
only the user's choices.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import streamlit as st

from dashboard.tables import company_table
from riskcore.config import Costs, Settings, load_settings
from riskcore.errors import ModelNotFoundError, RiskcoreError
from riskcore.evaluation import (
    CostSweep,
    DecisionView,
    MonitorReport,
    calibration_columns,
    calibration_table,
    decision_view,
    esg_band_table,
    esg_columns,
    figures,
    performance_table,
    score_columns,
    sector_table,
)
from riskcore.evaluation import part as part_of
from riskcore.workbench import (
    AuditLog,
    ChampionRef,
    DataCheck,
    DatasetSpec,
    Delivery,
    Explanation,
    ModelBundle,
    ModelServer,
    PersonalColumn,
    Report,
    ReportFiles,
    ScoreResult,
    Served,
    VersionComparison,
    Workbench,
    WorkerProcesses,
)

# session-state keys of the user's choices
COST_FN, COST_FP, COST_MODE, LGD, THRESHOLD = "cost_fn", "cost_fp", "cost_mode", "lgd", "threshold_override"
# bootstrap resamples of every band and interval drawn on the pages (cached per model version)
N_RESAMPLES = 200


@st.cache_resource
def settings() -> Settings:
    """Settings read once per server process (riskcore.toml and the environment)."""
    return load_settings()


@st.cache_resource
def bench() -> Workbench:
    """The workbench of this server process: its experiment store, audit trail and model server, opened once."""
    return Workbench(settings())


def _stop_workers(procs: WorkerProcesses) -> None:
    procs.stop()


@st.cache_resource(show_spinner=False, on_release=_stop_workers)
def workers() -> WorkerProcesses:
    """The worker processes of this server process, started once: ``[jobs] dashboard_workers`` of them.

    ``RISKCORE_JOB_WORKERS`` overrides the count; with 0 none starts and a separate ``python -m riskcore worker``
    runs the queue. They run ``python -m riskcore worker`` with this process's settings, stop when it exits (and
    by themselves should it die), and give a running job back to the queue when they stop. Called by the pages
    that submit jobs (Portfolio scoring, Training runs), so a dashboard that never submits one starts none.
    """
    procs = WorkerProcesses(settings().jobs.dashboard_workers).start()
    atexit.register(procs.stop)
    return procs


@st.cache_data(ttl=10, show_spinner=False)
def champion_ref() -> ChampionRef | None:
    """The registry's champion (re-read every few seconds: another process may promote)."""
    return bench().champion()


@st.cache_resource(show_spinner="Loading the model…")
def model_server() -> ModelServer:
    """The one model server of this process, shared by every session (as the API has one).

    It looks for a new champion at most every ``[serving] check_seconds``, verifies every file of the
    bundle it serves at each look, and falls back to the last champion that verifies, so a promotion
    elsewhere shows without a restart and a tampered champion is never shown.
    """
    b = bench()
    b.audit  # noqa: B018 - opened first, so the server records its fallbacks in the audit trail
    return b.server


def served() -> Served:
    """What the dashboard shows right now: the verified champion, an earlier one (``degraded``), or nothing."""
    return model_server().current()


def current_bundle() -> ModelBundle | None:
    """The verified bundle to show, or ``None`` when none can be served (no champion yet, or none verifies)."""
    return served().bundle


def model_bundle() -> ModelBundle:
    """The bundle to show, for the pages (``dashboard/app.py`` makes sure one exists before they run).

    Raises
    ------
    riskcore.errors.ModelNotFoundError
        When nothing can be served, with the server's reason (no champion yet, or no bundle verifies).
    """
    now = served()
    if now.bundle is None:
        raise ModelNotFoundError(now.reason or "there is no champion model yet: open the dashboard's home page "
                                 "to train one")
    return now.bundle


@st.cache_data(show_spinner=False)
def holdout(_bundle: ModelBundle, model_version: str) -> pd.DataFrame:
    """Validation and test rows of the model, with their scores."""
    return _bundle.holdout()


def rows(bundle: ModelBundle, part: str) -> pd.DataFrame:
    """The ``validation`` or ``test`` rows of the model's hold-out."""
    return part_of(holdout(bundle, bundle.version), part)


@st.cache_resource(max_entries=8, show_spinner=False)
def cost_sweep(_bundle: ModelBundle, model_version: str, part: str, exposure_mode: bool) -> CostSweep:
    """The sorted scores of one hold-out part, ready for instant re-costing."""
    part_rows = rows(_bundle, part)
    exposure = None
    spec = _bundle.spec
    if exposure_mode and spec.exposure and spec.exposure in part_rows:
        exposure = part_rows[spec.exposure].fillna(0.0).to_numpy(dtype=float)
    return CostSweep(part_rows["y"].to_numpy(), part_rows["p_default"].to_numpy(), exposure)


# ---------------------------------------------------------------- the user's costs and cut-off

def costs(bundle: ModelBundle) -> Costs:
    """The costs the user has chosen (defaults: the model's own)."""
    base = bundle.costs
    ss = st.session_state
    return replace(base, fn=float(ss.get(COST_FN, base.fn)), fp=float(ss.get(COST_FP, base.fp)),
                   mode=ss.get(COST_MODE, base.mode), lgd=float(ss.get(LGD, base.lgd)))


def threshold_override() -> float | None:
    """The manual cut-off, or ``None`` for the cost-optimal one."""
    value = st.session_state.get(THRESHOLD)
    return None if value is None else float(value)


def has_exposure(bundle: ModelBundle) -> bool:
    """Whether the model's data carries an exposure per company (enables the exposure cost mode)."""
    spec = bundle.spec
    hold = holdout(bundle, bundle.version)
    return bool(spec.exposure and spec.exposure in hold and hold[spec.exposure].notna().any())


def current_view(bundle: ModelBundle) -> DecisionView:
    """The cut-off in force and its consequences on the test year, at the user's costs (no model run)."""
    c = costs(bundle)
    exposure_mode = c.mode == "exposure" and has_exposure(bundle)
    if c.mode == "exposure" and not exposure_mode:
        c = replace(c, mode="fixed")
    return decision_view(holdout(bundle, bundle.version), c, threshold=threshold_override(),
                         exposure=bundle.spec.exposure,
                         sweep=cost_sweep(bundle, bundle.version, "validation", exposure_mode))


def cost_curve(bundle: ModelBundle, view: DecisionView) -> figures.CostCurve:
    """The cost of every cut-off on the validation rows at the view's costs (the sweep it was chosen on)."""
    sweep = cost_sweep(bundle, bundle.version, "validation", view.costs.mode == "exposure")
    return figures.CostCurve.from_sweep(sweep, view.costs)


# ---------------------------------------------------------------- files and data checks

def demo_data_path() -> Path:
    """Where the demo portfolio lives."""
    return Path(settings().data_dir) / "demo_portfolio.csv"


def training_data_path(bundle: ModelBundle) -> Path | None:
    """The file the model was trained on, when it is still there."""
    src = (bundle.metrics.get("data") or {}).get("source")
    path = Path(src) if src else demo_data_path()
    return path if path.exists() else None


@st.cache_data(max_entries=8, show_spinner="Checking the data…")
def data_check(path: str, mtime: float, _spec: DatasetSpec, model_version: str, leakage: bool) -> DataCheck:
    """Quality report, split and (optionally) leakage checks of a data file (cached per file version)."""
    return bench().check(bench().load(path, spec=_spec), leakage=leakage)


@st.cache_data(max_entries=4, show_spinner="Looking for personal data…")
def personal_data(path: str, mtime: float, _spec: DatasetSpec, model_version: str) -> list[PersonalColumn]:
    """The columns of a data file that look like personal data (cached per file version), told before training."""
    return bench().personal_data(bench().load(path, spec=_spec))


@st.cache_data(max_entries=4, show_spinner="Checking the file…")
def upload_check(_data: bytes, file_id: str, _spec: DatasetSpec, model_version: str, leakage: bool) -> DataCheck:
    """The same checks for an uploaded file (keyed on the upload's id, not on its bytes)."""
    dataset = bench().load(_data, spec=_spec, max_bytes=settings().upload_max_mb * 1_000_000)
    return bench().check(dataset, leakage=leakage)


# ---------------------------------------------------------------- MLflow

@contextmanager
def exclusive(name: Literal["training", "monitoring"]) -> Iterator[None]:
    """One of the state folder's locks, shared with every face: two sessions never train the first model twice."""
    with bench().exclusive(name):
        yield


def clear_model_caches() -> None:
    """Forget cached champion lookups and runs after a model was trained or promoted; the server looks again now."""
    champion_ref.clear()
    runs.clear()
    registry_versions.clear()
    model_server().refresh()


@st.cache_data(ttl=10, show_spinner=False)
def runs() -> pd.DataFrame:
    """Top-level MLflow runs, newest first."""
    return bench().runs()


@st.cache_data(ttl=10, show_spinner=False)
def registry_versions() -> pd.DataFrame:
    """Registered model versions and which one is the champion."""
    return bench().registry()


@st.cache_data(ttl=60, show_spinner=False)
def run_candidates(run_id: str) -> pd.DataFrame:
    """The candidate models one run compared."""
    return bench().candidates(run_id)


@st.cache_data(ttl=60, show_spinner=False)
def run_info(run_id: str) -> dict[str, Any]:
    """Parameters, metrics and tags of one run."""
    return bench().run(run_id)


# ---------------------------------------------------------------- model views (cached per model version)

@st.cache_data(show_spinner=False)
def calibration(_bundle: ModelBundle, model_version: str, part: str) -> pd.DataFrame:
    """ECE with intervals, Brier and mean PD of the raw, isotonic and Platt probabilities."""
    r = rows(_bundle, part)
    return calibration_table(r, calibration_columns(r), chosen=f"p_{_bundle.info.get('calibration', 'isotonic')}",
                             n_resamples=N_RESAMPLES)


@st.cache_data(show_spinner=False)
def reliability(_bundle: ModelBundle, model_version: str, part: str, strategy: str,
                n_bins: int) -> tuple[figures.ReliabilityCurve, ...]:
    """Reliability curves of the raw and the calibrated probabilities."""
    return figures.reliability_curves(rows(_bundle, part),
                                      {"Raw model output": "p_uncalibrated", "Calibrated": "p_default"},
                                      n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]


@st.cache_data(show_spinner="Drawing the bootstrap bands…")
def performance(_bundle: ModelBundle, model_version: str) -> dict[str, Any]:
    """The model's and its baseline's figure data and metric table on the test rows.

    Returns
    -------
    dict
        ``roc`` and ``pr`` (a :class:`~riskcore.evaluation.figures.CurveBand` per model), ``gains`` (a
        :class:`~riskcore.evaluation.figures.GainsCurve` per model), ``ks`` (the model's
        :class:`~riskcore.evaluation.figures.KsCurve`) and ``table``
        (:func:`~riskcore.evaluation.report.performance_table`).
    """
    r = rows(_bundle, "test")
    cols = score_columns(r)
    return {"roc": figures.curve_bands(r, cols, "roc", n_resamples=N_RESAMPLES),
            "pr": figures.curve_bands(r, cols, "pr", n_resamples=N_RESAMPLES),
            "gains": figures.gains_curves(r, cols),
            "ks": figures.KsCurve.from_scores(r["y"].to_numpy(), r["p_default"].to_numpy()),
            "table": performance_table(r, cols, n_resamples=N_RESAMPLES)}


@st.cache_data(show_spinner=False)
def sectors(_bundle: ModelBundle, model_version: str, part: str, min_defaults: int) -> pd.DataFrame:
    """Per-sector metrics with AUC intervals."""
    segment = _bundle.spec.segment
    assert segment is not None  # the sectors page shows only for a model with a segment column
    return sector_table(rows(_bundle, part), segment, n_resamples=N_RESAMPLES, min_defaults=min_defaults)


@st.cache_data(show_spinner=False)
def esg_bands(_bundle: ModelBundle, model_version: str, part: str) -> pd.DataFrame:
    """Mean PD and observed default rate by ESG band within each sector."""
    segment = _bundle.spec.segment
    assert segment is not None  # the sectors page shows only for a model with a segment column
    return esg_band_table(rows(_bundle, part), segment=segment, esg_columns=esg_columns(_bundle.spec))


@st.cache_data(show_spinner=False)
def companies(_bundle: ModelBundle, model_version: str, part: str) -> pd.DataFrame:
    """The companies of one hold-out part, riskiest first, for the search box (graded as the model grades)."""
    frame = rows(_bundle, part)
    return company_table(frame, _bundle.spec, graded=_bundle.ttc_pd(frame["p_default"].to_numpy(dtype=float), frame))


@st.cache_data(max_entries=64, show_spinner=False)
def explanation(_bundle: ModelBundle, model_version: str, part: str, position: int) -> Explanation:
    """Contributions of one company of the hold-out (SHAP, in log-odds and in PD)."""
    return bench().explain(_bundle, rows(_bundle, part).iloc[[position]].reset_index(drop=True))


@st.cache_data(show_spinner=False)
def points_table(_bundle: ModelBundle, model_version: str) -> pd.DataFrame:
    """A points scorecard's table: characteristic, label, bin, count, event_rate, woe, points."""
    return _bundle.points_table()


@st.cache_data(max_entries=64, show_spinner=False)
def company_points(_bundle: ModelBundle, model_version: str, part: str, position: int) -> pd.DataFrame:
    """One hold-out company's bin and points per characteristic (a points scorecard's explanation)."""
    return _bundle.points(rows(_bundle, part).iloc[[position]].reset_index(drop=True))


# ---------------------------------------------------------------- scoring an upload

@st.cache_data(max_entries=8, ttl=3600, show_spinner="Scoring the portfolio…")
def scored_upload(_bundle: ModelBundle, model_version: str, file_id: str, _data: bytes,
                  lgd: float, caller: str) -> tuple[ScoreResult, str]:
    """Score one upload and write it to the audit trail as ``caller`` (``dashboard:<user>``), once per upload.

    Keyed on the upload's file id, so reruns of the page (a filter changed)
    show the same scoring event without scoring or auditing it again, while a
    new upload — even of the same bytes — is scored and audited anew. An
    ``AuditError`` propagates and is not cached: no scores without an audit row.
    """
    s = settings()
    job = bench().score(_bundle, _data, face="dashboard", caller=caller, keep=True,
                        max_bytes=s.upload_max_mb * 1_000_000, lgd=lgd)
    assert job.result is not None  # keep=True keeps every scored row
    return job.result, job.request_id


# ---------------------------------------------------------------- monitoring

@st.cache_data(ttl=10, show_spinner=False)
def monitoring_runs(model_version: str | None) -> pd.DataFrame:
    """The monitoring runs (of one model version, or all), newest first; re-read every few seconds."""
    return bench().monitoring_runs(model_version)


@st.cache_data(max_entries=64, show_spinner=False)
def monitoring_report(run_id: str) -> MonitorReport:
    """The report of one monitoring run (a finished run never changes, so it is cached for good)."""
    return bench().monitoring_report(run_id)


@st.cache_data(ttl=5, show_spinner=False)
def monitoring_deliveries(run_id: str) -> tuple[Delivery, ...]:
    """Where a monitoring run's alerts were delivered and how (re-read every few seconds: they are sent after it)."""
    return bench().monitoring_deliveries(run_id)


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Monitoring the portfolio…")
def monitor_upload(_bundle: ModelBundle, model_version: str, file_id: str, _data: bytes, outcomes_id: str | None,
                   _outcomes: bytes | None, period: str | None, caller: str) -> tuple[MonitorReport, str, str]:
    """Monitor one uploaded portfolio (and its outcomes), record it in the audit trail as ``caller``, once.

    Keyed on the uploads' file ids and the period column, like :func:`scored_upload`, so a rerun of the page
    shows the same run without scoring, auditing or logging it again. Runs under a lock, so two sessions do not
    write the monitoring history at once. A ``RiskcoreError`` propagates and is not cached.

    Returns
    -------
    tuple of (MonitorReport, str, str)
        The report, the monitoring run's id, and the retraining job a failing alert of ``[retraining] on_alert``
        queued (empty when none).
    """
    with exclusive("monitoring"):
        run = bench().monitor(_bundle, _data, face="dashboard", caller=caller, outcomes=_outcomes,
                              period=period or None)
    monitoring_runs.clear()
    assert run.run_id is not None  # record_monitoring with a tracker always logs the run
    return run.report, run.run_id, run.retrain_job


# ---------------------------------------------------------------- champion against challenger

@st.cache_data(max_entries=16, show_spinner="Comparing the two models…")
def comparison(champion_version: str, challenger_version: str) -> dict[str, Any]:
    """Two model versions compared on the same rows, with the promotion gate, as plain data.

    Keyed on the two model versions: a bundle never changes once written, so the comparison of the same pair
    (with the settings' costs and gate) is the same on every rerun. A ``RiskcoreError`` (a ``SchemaError`` when
    the champion trained on the challenger's test period) propagates and is not cached.

    Returns
    -------
    dict
        ``VersionComparison.comparison.as_dict()`` (rows, auc, cost, swap, score_psi, champion, challenger,
        thresholds, gate) plus ``rows_from``, ``notes`` and ``curves`` (each side's
        :class:`~riskcore.evaluation.figures.ModelCurves`, see :func:`comparison_curves`).
    """
    s = settings()
    result = bench().compare(challenger_version, champion_version)
    return {**result.comparison.as_dict(), "rows_from": result.rows_from, "notes": list(result.notes),
            "curves": comparison_curves(result, s.costs)}


# at most this many points of each cost curve are drawn (a sweep has one per distinct score)
COST_CURVE_POINTS = 400


def comparison_curves(result: VersionComparison, costs: Costs) -> dict[str, figures.ModelCurves]:
    """Both models' ROC curves and expected cost per cut-off, on the comparison's rows.

    Parameters
    ----------
    result : VersionComparison
        Carries the rows' outcomes ``y``, both models' PDs, their cut-offs and (exposure mode) the exposure.
    costs : Costs
        The costs the comparison was priced with (a missing exposure counts as 0, as in the comparison).

    Returns
    -------
    dict
        ``{"champion": ..., "challenger": ...}``: :func:`riskcore.evaluation.figures.comparison_curves`, each cost
        curve thinned to at most ``COST_CURVE_POINTS`` cut-offs (and the cheapest one).
    """
    return figures.comparison_curves(result.y, result.p_champion, result.p_challenger, result.thresholds, costs,
                                     result.exposure, max_points=COST_CURVE_POINTS)


# ---------------------------------------------------------------- the model report

def _report_audit() -> AuditLog | None:
    """The audit trail whose ledger the report's history and sign-off read, or ``None`` when it cannot be opened."""
    try:
        return bench().audit
    except RiskcoreError:
        return None


def report_files(bundle: ModelBundle, generated_on: str) -> ReportFiles | None:
    """A version's model report of the day (HTML and PDF), when it is written.

    Not cached here: the workbench's report store on disk is the cache, shared by every session and process
    and named by everything the report reads, so a signature or a newly registered version is never shown
    stale. Finding it reads the registry and the ledger (a tenth of a second); writing it the first time
    takes seconds (the figures and the PDF), later only the sections the ledger changes and the PDF.
    """
    return bench().find_report(bundle, audit=_report_audit(), generated_at=generated_on)


def written_report(bundle: ModelBundle, generated_on: str, *, pdf: bool = True) -> ReportFiles:
    """A version's model report of the day: found, or written now and kept (see :func:`report_files`).

    ``pdf=False``: the HTML alone, not kept (the text a signature is over).
    """
    return bench().written_report(bundle, audit=_report_audit(), generated_at=generated_on, pdf=pdf)


@st.cache_data(max_entries=4, ttl=30, show_spinner="Gathering the report's facts…")
def report_facts(_bundle: ModelBundle, bundle_hash: str, generated_on: str) -> Report:
    """The facts of a version's report, for a preview of one section while the whole report is not written.

    Keyed on the bundle's manifest hash and the day; the history (registry, ledger) is at most 30 s old here,
    and ``report_facts.clear()`` after a signature.
    """
    return bench().report(_bundle, audit=_report_audit(), generated_at=generated_on)


def report_section(bundle: ModelBundle, section_id: str, generated_on: str) -> str:
    """One section of the version's report alone in the report's page (the bundle's sections kept on disk)."""
    return bench().report_section(report_facts(bundle, bundle.manifest_hash, generated_on), section_id)
