"""Monitoring the portfolios a model scores after training, as they and their outcomes arrive.

- :func:`monitor_file`: score a later portfolio (validated, scored and recorded in the audit trail exactly as
  ``score`` does), and compare it with the model's reference profile, and with the outcomes when they arrived
  (:mod:`riskcore.evaluation.monitoring`);
- :func:`monitor_audit`: the same for the scores a model already gave, read back from the audit trail;
- :func:`record_monitoring`: write ``monitor.json`` and log the run under the monitoring experiment, so the
  dashboard's monitoring page and ``GET /monitoring`` show the history;
- :func:`monitor_demo_years`: the demo's later years, monitored one year at a time on the first start.

``python -m riskcore monitor``, the dashboard's monitoring page and the demo's first start call these.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskcore.data.tabular import read_table, write_csv
from riskcore.errors import SchemaError
from riskcore.evaluation.monitor_report import GradeMigration, Intake, MonitorReport
from riskcore.evaluation.monitoring import MonitorCounts, PriorMigration, monitor, period_order
from riskcore.evaluation.realised import grade_migration
from riskcore.modelling.bundle import ModelBundle, json_ready, load_bundle, write_json
from riskcore.modelling.demo import demo_later_paths, train_demo
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit import HASH_PREFIX, AuditLog, Delivery
from riskcore.serving.batch import FileRequest, FileSource, ScoreJob
from riskcore.serving.monitor import MonitorSink, read_outcomes
from riskcore.workflows import Face, default_caller, score_and_record

if TYPE_CHECKING:
    from riskcore.config import AlertRules, Profile, Settings, ValidationRules
    from riskcore.modelling.train import TrainingResult

__all__ = ["DEMO_LATER_YEARS", "MonitorRun", "first_start", "monitor_audit", "monitor_demo_years", "monitor_file",
           "record_monitoring"]

DEMO_LATER_YEARS = 3
"""Years after the training panel the first start writes and monitors (each with its planted change)."""

@dataclass
class MonitorRun:
    """The outcome of :func:`monitor_file`: the report, the scoring job behind it, and (once logged) its run.

    ``deliveries``: its alerts' deliveries to the targets of ``[alerts.delivery]`` as planned when the run ended
    (``pending`` ones are being sent in the background; ``repeat`` ones were sent lately and are not sent again).
    """

    report: MonitorReport
    job: ScoreJob | None
    run_id: str | None = None
    written: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    retrain_job: str = ""
    deliveries: tuple[Delivery, ...] = ()

    def summary(self) -> str:
        """The report's summary with the scoring job's counts."""
        job = self.job
        if job is None:
            return self.report.to_text()
        head = (f"Scored {job.n_scored:,} of {job.n_rows:,} rows" + (f" ({job.n_rejected:,} rejected, see the "
                "reject report)" if job.n_rejected else "") + f"; audit request {job.request_id}")
        return head + "\n" + self.report.to_text()


def monitor_file(
    bundle: ModelBundle,
    source: FileSource | pd.DataFrame,
    *,
    audit: AuditLog,
    face: Face,
    outcomes: FileSource | None = None,
    period: str | None = None,
    rules: AlertRules | None = None,
    validation: ValidationRules | None = None,
    caller: str | None = None,
    sheet: str | None = None,
    max_bytes: int | None = None,
    positive: str | None = None,
    rejects_path: str | os.PathLike[str] | None = None,
    name: str | None = None,
    progress: Progress = no_progress,
    client: Any = None,
) -> MonitorRun:
    """Score a portfolio scored after training, record it, and monitor it against the model's reference profile.

    The file goes through the same validation, scoring and audit trail as ``score`` (rejected rows are reported
    and left out; the valid ones are monitored), one chunk at a time.

    Parameters
    ----------
    bundle : the model whose portfolio it is.
    source : the portfolio: a path, bytes or binary file object (CSV, Excel, Parquet), or a frame.
    audit : the audit trail its scores are recorded in.
    face : ``"cli"``, ``"dashboard"`` or ``"api"``.
    outcomes : the outcomes file (company id, period, 0/1), when the outcomes arrived.
    period : the column naming each row's period (default the model's time column).
    rules : the alert thresholds (default the product's).
    validation : the lights of the validation battery, run when outcomes arrived (default the product's).
    caller, sheet, max_bytes : as :func:`score_and_record`.
    positive : the outcome label that means default, when it is not 0/1.
    rejects_path : where to write the reject report, when rows were rejected.
    name : what the portfolio is called in the report (default the file's path).
    progress : ``progress(fraction, message)``.
    client : a Dask ``distributed.Client``: ``source`` is then a file, folder or glob of partitions, scored and
        counted on the cluster and merged (:func:`riskcore.serving.distributed.monitor_partitions`); the
        report equals one process's on the same rows.

    Returns
    -------
    MonitorRun

    Raises
    ------
    riskcore.errors.BundleError
        When the model has no reference profile (trained before monitoring existed).
    riskcore.errors.DataFileError, riskcore.errors.SchemaError
        When the portfolio or the outcomes file cannot be used (the outcomes are read first).
    """
    started = time.perf_counter()
    sink = MonitorSink(bundle.reference, bundle.spec, period)
    t0 = time.perf_counter()
    found = read_outcomes(outcomes, bundle.spec, period=period, positive=positive) if outcomes is not None else None
    outcomes_s = time.perf_counter() - t0
    job: ScoreJob
    if client is not None:
        from riskcore.serving.distributed import monitor_partitions  # dask and distributed load only for a cluster

        job, sink = monitor_partitions(bundle, source, client=client, audit=audit,  # type: ignore[arg-type]
                                       request=FileRequest(face=face, caller=caller or default_caller(face),
                                                           progress=progress), period=period)
    else:
        job = score_and_record(bundle, source, audit=audit, face=face, caller=caller, sheet=sheet,
                               max_bytes=max_bytes, progress=progress, sink=sink)
    if rejects_path is not None and job.n_rejected:
        write_csv(job.rejects, rejects_path)
    leading = [f"{job.n_rejected:,} row(s) were rejected and are not monitored (see the reject report)"] \
        if job.n_rejected else []
    if sink.period and not sink.period_found:
        leading.append(f"the portfolio has no column {sink.period!r}: it was monitored as one period")
    leading += found.notes() if found is not None else []
    t0 = time.perf_counter()
    prior = (_migration_since_last_period(audit, bundle, sink.counts.rows(), sink.period)
             if sink.period_found and len(sink.counts.periods) == 1 else None)
    report = monitor(sink.counts, model_version=bundle.version, rules=rules,
                     outcomes=None if found is None else found.frame,
                     period_column=sink.period if sink.period_found else None,
                     source=name or (str(source) if isinstance(source, str | Path) else "upload"), notes=leading,
                     prior_migration=prior, intake=Intake(job.request_id, job.n_rows, job.n_rejected),
                     validation=validation)
    # "score" includes the monitoring counts of each chunk, also shown on their own as "monitor_counts"
    timings = {**job.timings, "outcomes": outcomes_s, "monitor_counts": sink.seconds,
               "monitor_report": time.perf_counter() - t0}
    timings["total"] = time.perf_counter() - started
    return MonitorRun(report, job, timings=timings)


def _migration_since_last_period(audit: AuditLog, bundle: ModelBundle, rows: pd.DataFrame,
                                 period: str | None) -> PriorMigration | None:
    """Grade migration from the latest earlier period this model scored (in the audit trail) to this portfolio's.

    A portfolio of one period has no migration of its own; its companies' grades of
    the period before are in the audit trail, recorded when that period was scored.
    """
    if not period or rows.empty:
        return None
    current = str(rows["period"].iloc[0])
    scored = audit.scored(bundle.version)
    if period not in scored:
        return None
    labels = scored[period].astype(str)
    earlier = [p for p in set(labels) if period_order(p) < period_order(current)]
    if not earlier:
        return None
    before = max(earlier, key=period_order)
    prior = scored[labels == before]
    both = pd.concat([pd.DataFrame({"id": prior["_company_id"].astype(str), "period": before,
                                    "p_default": prior["_p_default"].astype(float)}),
                      rows.assign(period=current, id=rows["id"].astype(str))], ignore_index=True)
    found = grade_migration(both, [before, current])
    if found is None:
        return None
    return PriorMigration(GradeMigration.from_json(found),
                          f"grade migration from {before} to {current}: {found['companies']:,} companies this model "
                          f"also scored in {before} (the audit trail's latest score of each)")


def _hashed(values: pd.Series) -> pd.Series:
    """Per row, whether the recorded value is a salted hash (a redacted input), as the trail stores them."""
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        return pd.Series(False, index=values.index)
    return values.astype(str).str.startswith(HASH_PREFIX)


def monitor_audit(
    bundle: ModelBundle,
    audit: AuditLog,
    *,
    since: str | None = None,
    until: str | None = None,
    outcomes: FileSource | None = None,
    period: str | None = None,
    rules: AlertRules | None = None,
    validation: ValidationRules | None = None,
    positive: str | None = None,
) -> MonitorRun:
    """Monitor the scores a model already gave, read back from the audit trail, without scoring anything again.

    Every score the model version recorded between ``since`` and ``until`` counts, with the inputs it was
    given; a company scored more than once in a period counts once, with its latest score.

    Parameters
    ----------
    bundle : the model (its version selects the scores; its reference profile is compared with).
    audit : the audit trail.
    since, until : ISO dates or times (UTC), ``since <= recorded < until``; ``None`` leaves a side open.
    outcomes, period, rules, validation, positive : as :func:`monitor_file`.

    Returns
    -------
    MonitorRun
        With ``job`` None (nothing was scored).

    Raises
    ------
    riskcore.errors.SchemaError
        When the model recorded no score in the window, or a feature it uses is stored redacted (only its
        salted hashes are in the trail).
    """
    started = time.perf_counter()
    found = read_outcomes(outcomes, bundle.spec, period=period, positive=positive) if outcomes is not None else None
    scored = audit.scored(bundle.version, since=since, until=until)
    window = f"{since or 'the start'} to {until or 'now'}"
    if scored.empty:
        raise SchemaError(f"the audit trail holds no score of model {bundle.version} from {window}; score a "
                          "portfolio first (python -m riskcore score) or widen --since/--until")
    redacted = [c for c in bundle.spec.model_inputs if c in scored and _hashed(scored[c]).any()]
    if redacted:
        raise SchemaError(f"the audit trail keeps only salted hashes of the feature(s) {', '.join(map(repr, redacted))}"
                          " ([audit] redact, or a name that says it is personal data), so they cannot be monitored "
                          "from it; monitor a file instead (python -m riskcore monitor --data FILE)")
    if found is not None and audit.redaction is not None and _hashed(scored["_company_id"]).all():
        # the trail keeps the ids' salted hashes: the outcomes' ids are looked up the same way
        found.frame = found.frame.assign(id=[audit.redaction.hash_text(str(v)) for v in found.frame["id"]])
    column = period or bundle.spec.time
    periods = scored[column] if column and column in scored else None
    keys = ["_company_id"] + (["_period"] if periods is not None else [])
    scored = scored.assign(_period=periods.astype(str) if periods is not None else None)
    latest = scored.drop_duplicates(keys, keep="last").reset_index(drop=True)
    counts = MonitorCounts(bundle.reference)
    t0 = time.perf_counter()
    counts.add(latest, latest["_p_default"].to_numpy(dtype=float), ids=latest["_company_id"].to_numpy(dtype=object),
               periods=None if periods is None else latest[column].to_numpy(dtype=object),
               segments=latest[bundle.spec.segment].to_numpy(dtype=object)
               if bundle.spec.segment and bundle.spec.segment in latest else None)
    counts_s = time.perf_counter() - t0
    leading = ([f"{len(scored) - len(latest):,} earlier score(s) of companies scored again in the same period "
                "were left out; each company counts once, with its latest score"] if len(latest) < len(scored) else [])
    leading += found.notes() if found is not None else []
    report = monitor(counts, model_version=bundle.version, rules=rules,
                     outcomes=None if found is None else found.frame,
                     period_column=column if periods is not None else None,
                     source=f"audit trail, scores of {bundle.version} from {window}", notes=leading,
                     intake=Intake(None, int(len(scored)), 0), validation=validation)
    return MonitorRun(report, None, timings={"monitor_counts": counts_s, "total": time.perf_counter() - started})


def record_monitoring(run: MonitorRun, bundle: ModelBundle, *, out: str | os.PathLike[str] | None = None,
                      tracker: Tracker | None = None) -> MonitorRun:
    """Write ``monitor.json`` (and ``summary.txt``) to ``out`` and log the run under the monitoring experiment.

    Parameters
    ----------
    run : what :func:`monitor_file` returned.
    bundle : the model monitored (its version tags the run).
    out : a folder for ``monitor.json``; ``None`` writes no file.
    tracker : the model's tracker; the run goes to its monitoring experiment. ``None`` logs nothing.

    Returns
    -------
    MonitorRun
        The same run, with ``run_id`` and ``written`` set.
    """
    t0 = time.perf_counter()
    data = json_ready(run.report.to_json())
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "monitor.json", data)
        (folder / "summary.txt").write_text(run.summary() + "\n", encoding="utf-8")
        run.written = folder / "monitor.json"
    if tracker is not None:
        run.run_id = tracker.monitoring().log_monitoring(data, model_version=bundle.version,
                                                         bundle_hash=bundle.manifest_hash, summary=run.summary())
    run.timings["record"] = time.perf_counter() - t0
    return run


def monitor_demo_years(settings: Settings, bundle: ModelBundle, *,
                       progress: Progress = no_progress) -> list[MonitorRun]:
    """Monitor the demo's later years one year at a time, with their outcomes, and log each run.

    This is what a risk manager does each year as the portfolio and then its
    outcomes arrive; on the first start it gives the monitoring page a true history.
    Nothing happens when the later years were not generated.

    Parameters
    ----------
    settings : where the demo files, the audit trail and the experiment store are.
    bundle : the model to monitor (the first start's champion).
    progress : ``progress(fraction, message)``.

    Returns
    -------
    list of MonitorRun
        One per later year, oldest first.
    """
    later_path, outcomes_path = demo_later_paths(settings)
    if not (later_path.exists() and outcomes_path.exists()):
        return []
    time = bundle.spec.time or "fiscal_year"
    later = read_table(later_path).frame
    outcomes = pd.read_csv(outcomes_path)
    years = sorted(pd.to_numeric(later[time], errors="coerce").dropna().astype(int).unique())
    audit = AuditLog.from_settings(settings)
    tracker = Tracker.from_settings(settings)
    runs = []
    for k, year in enumerate(years):
        progress(k / len(years), f"monitoring the demo's later year {year}")
        part = later[pd.to_numeric(later[time], errors="coerce") == year].reset_index(drop=True)
        found = outcomes[outcomes[time] == year].to_csv(index=False).encode()
        run = monitor_file(bundle, part, audit=audit, face="dashboard", caller="first start", outcomes=found,
                           rules=settings.alerts, validation=settings.validation,
                           name=f"demo later year {year} ({later_path.name})")
        runs.append(record_monitoring(run, bundle, tracker=tracker))
    progress(1.0, "monitoring history recorded")
    return runs


def first_start(settings: Settings, *, profile: Profile = "quick", progress: Progress = no_progress,
                n_companies: int | None = None, seed: int = 7) -> TrainingResult:
    """The dashboard's first start: the demo portfolio and its later years, a first model, a monitoring history.

    Parameters
    ----------
    settings : where everything is written.
    profile : the training profile (quick by default: under a minute on two cores).
    progress : ``progress(fraction, message)``.
    n_companies : companies in the demo portfolio (default ``settings.demo_companies``).
    seed : the demo's seed.

    Returns
    -------
    riskcore.modelling.train.TrainingResult
        The first model's training run.
    """
    def part(start: float, end: float) -> Progress:
        return lambda fraction, message: progress(start + (end - start) * fraction, message)

    result = train_demo(settings, profile=profile, progress=part(0.0, 0.9), n_companies=n_companies, seed=seed,
                        later_years=DEMO_LATER_YEARS)
    monitor_demo_years(settings, load_bundle(result.bundle_dir), progress=part(0.9, 1.0))
    return result
