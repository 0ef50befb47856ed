"""The workbench: the one object the command line, the API and the dashboard call for what users do.

In the manner of MLflow's ``MlflowClient``: a :class:`Workbench` owns the settings, the experiment
store, the audit trail, the model server and the state folder's locks, and offers one verb per
thing a user does, each returning a typed result. The faces never open a store themselves.

========================  ==========================================================================
verb                      result
========================  ==========================================================================
``load``                  :class:`~riskcore.workbench.datasets.Dataset` (the demo layout recognised)
``check``                 :class:`~riskcore.workflows.DataCheck`
``personal_data``         :class:`~riskcore.data.personal.PersonalColumn` s (told before training)
``train``                 :class:`~riskcore.modelling.train.TrainingResult` (here or on a cluster)
``score``                 :class:`~riskcore.serving.batch.ScoreJob` (here or on a cluster)
``predict``               :class:`~riskcore.serving.requests.ServedScores` (what the model server serves)
``predict_group``         one ``ServedScores`` per request of a group answered together, recorded in one commit
``monitor``               :class:`~riskcore.lifecycle.monitoring.MonitorRun` (a file, or the audit trail)
``provisions``            :class:`~riskcore.workbench.provisioning.ProvisionFiles` (stages, ECL, on record)
``preview_provisions``    :class:`~riskcore.serving.provisions.ProvisionRun` (the same, shown, not recorded)
``recorded_provisions``   the provisions runs on record (:class:`~riskcore.workbench.provision_history.RecordedRun`);
                          ``open_recorded_provisions``: one run's companies, checked against their SHA-256
``lifetime_truth``        the demo's known-truth cumulative PD by grade against both term structures
``compare``               :class:`~riskcore.lifecycle.versions.VersionComparison`
``promote``, ``rollback`` :class:`~riskcore.lifecycle.versions.Move` (one at a time, on every face)
``versions``, ``history`` the registry's versions; the ledger's moves
``report``, ``sign``      the model report of a version; a validator's signature in the ledger
``find_report``,          the report's HTML and PDF kept in the state folder, found, or written and kept
``written_report``
``verify_audit``          :class:`~riskcore.serving.audit.VerifyResult` (the live chain; with the archives, all)
``export_audit``          :class:`~riskcore.serving.audit.AuditExport` (a period, as Parquet an examiner verifies)
``verify_export``         :class:`~riskcore.serving.audit.ExportCheck` (offline; or against the trail)
``archive_audit``         :class:`~riskcore.serving.audit.AuditArchive` (old requests out, an anchor left)
``find_scores``           :class:`~riskcore.serving.audit.FoundScores` (by company id or an input's exact value)
``submit_score``, ``job`` durable jobs: a portfolio scored by a worker, polled, downloaded, cancelled
``retrain``               :class:`~riskcore.workbench.retraining.RetrainOutcome` (one run of the loop)
``notify``, ``deliveries`` alerts delivered to people (``[alerts.delivery]``), each on record
========================  ==========================================================================

Alerts reach people from here: a monitoring run's warnings and failures (:meth:`Workbench.monitor`), a
retraining decision (:meth:`Workbench.retrain`), a server's fallback to an earlier champion (the model
server's ``on_move``) and a job that failed (the worker) go to :meth:`Workbench.notify`, which records and
sends them in the background (:mod:`riskcore.lifecycle.delivery`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pandas as pd

from riskcore.config import Costs, Settings, TrainingConfig, load_settings
from riskcore.data.demo_truth import demo_lifetime_truth
from riskcore.data.personal import PersonalColumn, find_personal_data
from riskcore.data.schema import DatasetSpec
from riskcore.errors import AuditError, ConfigError, DataFileError
from riskcore.evaluation.monitor_report import MonitorReport
from riskcore.lifecycle.delivery import Notice, Postman, monitoring_notices, move_notice
from riskcore.lifecycle.monitoring import MonitorRun, first_start, monitor_audit, monitor_file, record_monitoring
from riskcore.lifecycle.monitoring_history import MonitoringHistory, RecordedMonitoring
from riskcore.lifecycle.report import (
    REPORT_CACHE,
    History,
    Report,
    ReportFiles,
    ReportStore,
    build_report,
    gather_history,
    html_to_pdf,
    render_report,
    report_key,
    write_report,
)
from riskcore.lifecycle.shadow import compare_from_audit
from riskcore.lifecycle.signoff import sign_report
from riskcore.lifecycle.versions import Move, VersionComparison, compare_versions, promote, rollback
from riskcore.modelling.bundle import ModelBundle, write_json
from riskcore.modelling.cluster_train import train_on_cluster
from riskcore.modelling.demo import DemoFiles, write_demo_data
from riskcore.modelling.tracking import ChampionRef, Tracker
from riskcore.modelling.train import TrainingResult
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit import (
    AuditArchive,
    AuditExport,
    AuditLog,
    Delivery,
    DeliveryLog,
    ExportCheck,
    FoundScores,
    Job,
    JobQueue,
    ModelMove,
    Source,
    VerifyResult,
    examine_export,
)
from riskcore.serving.batch import FileRequest, FileSource, ScoreJob
from riskcore.serving.cluster import cluster_failures, open_cluster, partition_files
from riskcore.serving.distributed import score_partitions
from riskcore.serving.explain import Explanation, explain_frame
from riskcore.serving.opening import open_model
from riskcore.serving.provisions import ProvisionRun, read_scenarios
from riskcore.serving.requests import ScoringRequest, ServedScores, score_group, score_served
from riskcore.serving.scoring import WhatIf, what_if
from riskcore.serving.server import ModelServer, Served
from riskcore.workbench.datasets import DataRoles, Dataset, load_dataset
from riskcore.workbench.jobs import (
    RETRAIN,
    SCORE,
    Heartbeat,
    JobFiles,
    ScoreCounter,
    expire_files,
    run_score_job,
    score_params,
)
from riskcore.workbench.locks import LockName, state_lock
from riskcore.workbench.provision_history import RecordedRun, open_recorded, recorded_runs
from riskcore.workbench.provisioning import ProvisionFiles, compute_provisions, run_provisions, truth_by_grade
from riskcore.workbench.retraining import RetrainOutcome, retrain
from riskcore.workflows import DataCheck, check_file, default_caller, score_and_record, train_file

__all__ = ["Cluster", "Workbench"]

log = logging.getLogger("riskcore.workbench")


@dataclass(frozen=True)
class Cluster:
    """Where a job runs on a Dask cluster: an existing scheduler (``tcp://HOST:PORT``), or local worker processes."""

    scheduler: str | None = None
    workers: int = 2


class Workbench:
    """What a user does with riskcore, on one state folder, one experiment store and one audit trail.

    Parameters
    ----------
    settings : the settings (default: :func:`riskcore.config.load_settings`, ``riskcore.toml`` and the
        environment, read on first use). The experiment store, the audit trail and the model server are
        opened on first use and kept, so a long-running face (the API, the dashboard) opens each once.
    tracker, audit : an experiment store and an audit trail already open (default: the settings').
    pinned : the model server serves this bundle (or the bundle in this folder) only, instead of following
        the registry's champion.

    Examples
    --------
    >>> bench = Workbench()                                  # doctest: +SKIP
    >>> job = bench.score("champion", "portfolio.csv", output="scored.csv")  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, *, tracker: Tracker | None = None,
                 audit: AuditLog | None = None, pinned: ModelBundle | str | os.PathLike[str] | None = None) -> None:
        self._settings = settings
        self._tracker = tracker
        self._audit = audit
        self._pinned = pinned
        self._server: ModelServer | None = None
        self._queue: JobQueue | None = None
        self._postman: Postman | None = None
        self._opening = threading.RLock()

    # -------------------------------------------------------------- the stores
    @property
    def settings(self) -> Settings:
        """The settings, read on first use (checking a file or writing the demo needs none)."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def tracker(self) -> Tracker:
        """The experiment store and model registry (MLflow), opened once."""
        with self._opening:
            if self._tracker is None:
                self._tracker = Tracker.from_settings(self.settings)
            return self._tracker

    @property
    def audit(self) -> AuditLog:
        """The audit trail, opened once."""
        with self._opening:
            if self._audit is None:
                self._audit = AuditLog.from_settings(self.settings)
            return self._audit

    @property
    def server(self) -> ModelServer:
        """What a long-running face scores with: the champion, or the last verified champion.

        Its fallbacks are recorded in the audit trail when one was opened before it (a face that could not
        open the audit trail still serves, and says so).
        """
        with self._opening:
            if self._server is None:
                self._server = ModelServer(self.settings, tracker=self._tracker, audit=self._audit,
                                           pinned=self._pinned, on_move=self._served_move)
            return self._server

    def _served_move(self, move: ModelMove) -> None:
        """The model server fell back to an earlier champion, or serves the champion again: tell people."""
        notice = move_notice(move)
        if notice is not None:
            self.notify([notice])

    @property
    def postman(self) -> Postman:
        """Delivers alerts to the targets of ``[alerts.delivery]``, each recorded in the audit trail's database."""
        with self._opening:
            if self._postman is None:
                rules = self.settings.alerts.delivery
                log_ = None
                if rules.targets:
                    try:
                        log_ = DeliveryLog(self.audit.store)
                    except AuditError as err:
                        log.warning("alert deliveries cannot be recorded (%s); they are sent unrecorded", err)
                self._postman = Postman(rules, log_)
            return self._postman

    def notify(self, notices: Sequence[Notice]) -> list[Delivery]:
        """Deliver notices to the targets of ``[alerts.delivery]`` in the background; their deliveries, at once.

        Nothing happens without a target. Never raises: a delivery that fails is recorded with its reason.
        """
        if not notices or not self.settings.alerts.delivery.targets:
            return []
        return self.postman.notify(notices)

    def deliveries(self, *, ref: str | None = None, ids: Sequence[str] | None = None, kind: str | None = None,
                   limit: int = 100) -> list[Delivery]:
        """The alerts delivered (newest first): about one monitoring run or job (``ref``), these ``ids``, a kind."""
        return DeliveryLog(self.audit.store).list(ref=ref, ids=ids, kind=kind, limit=limit)

    def wait_for_deliveries(self, timeout_s: float | None = None) -> bool:
        """Wait for the deliveries in flight, at most ``timeout_s`` (default ``[alerts.delivery] wait_seconds``).

        Returns whether none is still in flight; those that are stay pending, and a worker sends them.
        """
        if self._postman is None:
            return True
        return self._postman.wait(self.settings.alerts.delivery.wait_seconds if timeout_s is None else timeout_s)

    def resend_deliveries(self) -> list[Delivery]:
        """Send the deliveries a process that ended left pending (a worker's periodic work); those taken over."""
        if not self.settings.alerts.delivery.targets:
            return []
        return self.postman.resend_stale()

    @contextmanager
    def exclusive(self, name: LockName) -> Iterator[None]:
        """Hold one of the state folder's locks (a promotion, the first training) across processes."""
        with state_lock(self.settings.home, name):
            yield

    # -------------------------------------------------------------- data
    def load(self, source: FileSource, roles: DataRoles | None = None, *, sheet: str | None = None,
             spec: DatasetSpec | None = None, max_bytes: int | None = None) -> Dataset:
        """Read a data file (a path, or an upload's bytes) and decide its contract, or take ``spec``'s.

        See :func:`~riskcore.workbench.datasets.load_dataset`.
        """
        return load_dataset(source, roles, sheet=sheet, spec=spec, max_bytes=max_bytes)

    def check(self, dataset: Dataset, *, leakage: bool = True) -> DataCheck:
        """The quality report, the split and the leakage checks of a file, as training would see it."""
        return check_file(dataset.table, dataset.spec, positive=dataset.roles.positive, drop=dataset.roles.drop,
                          leakage=leakage)

    def personal_data(self, dataset: Dataset) -> list[PersonalColumn]:
        """The columns of a file that look like personal data, by their values or their header, to tell before training.

        The quality report of :meth:`check` and of every training run carries the same findings.
        """
        return find_personal_data(dataset.table.frame, dataset.spec)

    def demo_data(self, out: str | os.PathLike[str], *, companies: int = 5000, seed: int = 7,
                  default_rate: float = 0.06, later_years: int = 0) -> DemoFiles:
        """Generate the known-truth demo portfolio (and its later years) and write it with its manifest."""
        return write_demo_data(out, companies=companies, seed=seed, default_rate=default_rate,
                               later_years=later_years)

    # -------------------------------------------------------------- models
    def open_model(self, model: str | os.PathLike[str] | None = "champion") -> ModelBundle:
        """The verified bundle named by a folder, a model version, or ``champion``."""
        return open_model(model, self.settings)

    def partitions(self, inputs: str | os.PathLike[str]) -> list[Path]:
        """The partition files a cluster job reads: a file, a folder, or a glob of CSV or Parquet files."""
        return partition_files(inputs)

    def train(self, data: Dataset | str | os.PathLike[str], *, config: TrainingConfig, costs: Costs | None = None,
              roles: DataRoles | None = None, track: bool = True, promote: bool | None = None,
              trained_by: str | None = None, source: str | None = None, progress: Progress = no_progress,
              cluster: Cluster | None = None, sample_rows: int = 200_000) -> TrainingResult:
        """Train, evaluate, save and register a model on a file; on a cluster with ``cluster``.

        ``data`` is a :class:`Dataset` already loaded, or a path read with ``roles``. With ``cluster``, the path
        names a file, folder or glob of partitions, each holding whole companies (the contract is decided on the
        first one), and XGBoost trains on every training row. ``source`` is the data's name as the model records
        it (default: the file's absolute path). A scorecard's points are scaled by the settings' ``[scorecard]``.
        """
        costs = costs or self.settings.costs
        # [grading] is frozen in the bundle it trains; [scorecard] scales a scorecard's points (on a cluster too)
        config = replace(config, grading=self.settings.grading, scorecard=self.settings.scorecard)
        tracker = self.tracker if track else None
        trained_by = trained_by or default_caller("cli")
        if cluster is not None:
            where = str(data.path) if isinstance(data, Dataset) else str(data)
            files = self.partitions(where)
            dataset = data if isinstance(data, Dataset) else self.load(files[0], roles)
            with open_cluster(cluster.scheduler, cluster.workers) as client, \
                    cluster_failures("training on the cluster", "no model was saved or registered"):
                return train_on_cluster(files, dataset.spec, client=client, config=config, costs=costs,
                                        models_dir=self.settings.models_dir, tracker=tracker, progress=progress,
                                        positive=dataset.roles.positive, promote=promote,
                                        source=source or str(Path(where).resolve()), sample_rows=sample_rows,
                                        trained_by=trained_by)
        dataset = data if isinstance(data, Dataset) else self.load(data, roles)
        source_name = source or (str(dataset.path.resolve()) if dataset.path is not None else None)
        return train_file(dataset.table, dataset.spec, settings=self.settings, config=config, costs=costs,
                          tracker=tracker, progress=progress, positive=dataset.roles.positive, promote=promote,
                          source=source_name, trained_by=trained_by)

    def first_start(self, *, profile: Literal["quick", "full"] = "quick",
                    progress: Progress = no_progress) -> TrainingResult | None:
        """The demo portfolio, a first model and its monitoring history, once across every process.

        Returns ``None`` when a champion exists already (another process made it while this one waited).
        """
        with self.exclusive("training"):
            if self.tracker.champion() is not None:
                return None
            return first_start(self.settings, profile=profile, progress=progress)

    # -------------------------------------------------------------- scoring
    def score(self, model: str | ModelBundle, source: FileSource | pd.DataFrame, *,
              output: str | os.PathLike[str] | None = None, rejects: str | os.PathLike[str] | None = None,
              face: Source = "cli", caller: str | None = None, sheet: str | None = None, explain: bool = False,
              keep: bool = False, max_bytes: int | None = None, lgd: float | None = None,
              progress: Progress = no_progress, cluster: Cluster | None = None) -> ScoreJob:
        """Score a portfolio; record every score in the audit trail; then write the scored rows and rejects.

        On a cluster, ``source`` is a file, folder or glob of partitions and ``output`` a folder of Parquet parts.
        """
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        audit = self.audit
        if cluster is not None:
            request = FileRequest(face=face, caller=caller or default_caller(face), risk_bands=self.settings.risk_bands,
                                  explain=explain, progress=progress)
            with open_cluster(cluster.scheduler, cluster.workers) as client:
                return score_partitions(bundle, str(source), str(output), client=client, audit=audit,
                                        request=request)
        return score_and_record(bundle, source, audit=audit, face=face, caller=caller or default_caller(face),
                                output=output, rejects_path=rejects, sheet=sheet, keep=keep, max_bytes=max_bytes,
                                risk_bands=self.settings.risk_bands, lgd=lgd, explain=explain, progress=progress)

    def explain(self, bundle: ModelBundle, rows: pd.DataFrame) -> Explanation:
        """Every row's contributions to its score (SHAP values in log-odds and in PD), rows as scoring reads them."""
        return explain_frame(bundle, rows)

    def what_if(self, bundle: ModelBundle, company: dict[str, Any], changes: dict[str, Any]) -> WhatIf:
        """One company re-scored with some of its values changed (nothing is recorded: no decision is made)."""
        return what_if(bundle, company, changes)

    def served(self) -> Served:
        """What the model server serves right now (it looks at the registry at most every few seconds)."""
        return self.server.current()

    def predict(self, records: Sequence[Mapping[str, Any]], ids: Sequence[str], *, caller: str, request_id: str,
                served: Served | None = None, audit: AuditLog | None = None, explain: bool = False,
                strict: bool = True,
                audit_inputs: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None) -> ServedScores:
        """Score companies with what is served (shadow and canary included), every score recorded first.

        ``served`` and ``audit`` default to what the model server serves now and the workbench's audit trail.
        """
        return score_served(served or self.served(), records, ids, audit=audit or self.audit, caller=caller,
                            request_id=request_id, risk_bands=self.settings.risk_bands, explain=explain,
                            strict=strict, audit_inputs=audit_inputs)

    def predict_group(self, requests: Sequence[ScoringRequest], *, served: Served | None = None,
                      audit: AuditLog | None = None, strict: bool = True) -> list[ServedScores]:
        """Score requests answered together, every score of every request recorded in one audit transaction first.

        Each model scores all the requests' companies at once; when the transaction fails, it raises and no
        request may be answered with a score. ``served`` and ``audit`` default to what the model server serves
        now and the workbench's audit trail.
        """
        return score_group(served or self.served(), requests, audit=audit or self.audit,
                           risk_bands=self.settings.risk_bands, strict=strict)

    # -------------------------------------------------------------- provisions
    def provisions(self, model: str | ModelBundle, source: str | os.PathLike[str], *, as_of: str | int,
                   out: str | os.PathLike[str], scenarios: str | os.PathLike[str] | None = None,
                   standard: str | None = None, previous: str | os.PathLike[str] | None = None,
                   face: Source = "cli", caller: str | None = None) -> ProvisionFiles:
        """IFRS 9 or CECL provisions of a panel file at an as-of date, recorded in the audit trail, then written.

        ``scenarios``: a TOML file of macro scenarios (default: the ``[provisions]`` weights and severities);
        ``standard``: ``ifrs9`` or ``cecl`` (default: the settings'); ``previous``: an earlier run's folder,
        for the stage movements since.
        """
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        chosen = read_scenarios(scenarios, bundle.spec) if scenarios is not None else None
        return run_provisions(bundle, source, as_of=as_of, out=out, rules=self.settings.provisions, audit=self.audit,
                              caller=caller or default_caller(face), face=face, scenarios=chosen, standard=standard,
                              previous=previous)

    def preview_provisions(self, model: str | ModelBundle, source: str | os.PathLike[str], *, as_of: str | int,
                           standard: str | None = None) -> ProvisionRun:
        """The provisions of a panel file at an as-of date with the settings' scenarios, to show: nothing recorded.

        The Provisions page's view; :meth:`provisions` is the run on record (audit trail, then files).
        """
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        return compute_provisions(bundle, source, as_of=as_of, rules=self.settings.provisions, standard=standard)

    def recorded_provisions(self, *, limit: int | None = None) -> list[RecordedRun]:
        """The provisions runs recorded in the audit trail (the newest ``limit``, or all), newest first.

        Raises ``AuditError`` when the trail cannot be read.
        """
        return recorded_runs(self.audit, limit=limit)

    def open_recorded_provisions(self, run: RecordedRun, id_column: str) -> pd.DataFrame:
        """A recorded provisions run's ``companies.csv`` (id, stage, ecl, ...), checked against its SHA-256 on record.

        Raises ``DataFileError`` when the run names no folder, the folder or file is gone, or the file was altered.
        """
        return open_recorded(run, id_column)

    def lifetime_truth(self, run: ProvisionRun, source: str | os.PathLike[str], id_column: str, *,
                       n_paths: int = 100) -> pd.DataFrame | None:
        """The demo's known-truth cumulative PD by grade and year against the run's two term structures.

        ``None`` when ``source`` is not the demo portfolio (no manifest next to it, or not the generator's) or
        the run is not at its last year, from which the truth is simulated.
        """
        truth = demo_lifetime_truth(source, run.hazards.horizon, n_paths=n_paths)
        return None if truth is None else truth_by_grade(run, truth, id_column)

    # -------------------------------------------------------------- monitoring
    def monitor(self, model: str | ModelBundle = "champion", data: FileSource | None = None, *,
                out: str | os.PathLike[str] | None = None, outcomes: FileSource | None = None,
                period: str | None = None, positive: str | None = None, sheet: str | None = None,
                since: str | None = None, until: str | None = None, face: Source = "cli", caller: str | None = None,
                track: bool = True, name: str | None = None, progress: Progress = no_progress,
                cluster: Cluster | None = None) -> MonitorRun:
        """Monitor a later portfolio (scored and recorded first), or with ``data=None`` the audit trail's scores.

        The run's ``monitor.json`` goes to ``out`` and, with ``track``, to the monitoring experiment.
        """
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        rules, audit = self.settings.alerts, self.audit
        rejects = Path(out) / "rejects.csv" if out is not None else None
        if data is None:
            run = monitor_audit(bundle, audit, since=since, until=until, outcomes=outcomes, period=period,
                                rules=rules, validation=self.settings.validation, positive=positive)
        elif cluster is not None:
            with open_cluster(cluster.scheduler, cluster.workers) as client:
                run = monitor_file(bundle, data, audit=audit, face=face, caller=caller, outcomes=outcomes,
                                   period=period, rules=rules, validation=self.settings.validation, positive=positive,
                                   rejects_path=rejects,
                                   progress=progress, client=client)
        else:
            run = monitor_file(bundle, data, audit=audit, face=face, caller=caller, outcomes=outcomes, period=period,
                               rules=rules, validation=self.settings.validation, sheet=sheet, positive=positive,
                               rejects_path=rejects, name=name,
                               max_bytes=self.settings.upload_max_mb * 1_000_000 if face == "dashboard" else None,
                               progress=progress)
        run = record_monitoring(run, bundle, out=out, tracker=self.tracker if track else None)
        failing = sorted({a.rule for a in run.report.alerts if a.status == "fail"}
                         & set(self.settings.retraining.on_alert))
        if failing:
            job = self.submit_retrain(caller=self.settings.retraining.identity, trigger=f"alert:{','.join(failing)}",
                                      monitoring_run=run.run_id or "")
            run = replace(run, retrain_job=job.id)
        deliveries = self.notify(monitoring_notices(run.report, run_id=run.run_id or ""))
        return replace(run, deliveries=tuple(deliveries)) if deliveries else run

    # -------------------------------------------------------------- the champion's life
    def compare(self, challenger: str | ModelBundle, champion: str | ModelBundle = "champion", *,
                data: FileSource | None = None, from_audit: bool = False, outcomes: FileSource | None = None,
                since: str | None = None, until: str | None = None,
                positive: str | None = None) -> VersionComparison:
        """A challenger against the champion on the same rows (or on the shadow history), and the gate's verdict."""
        champ = champion if isinstance(champion, ModelBundle) else self.open_model(champion)
        chall = challenger if isinstance(challenger, ModelBundle) else self.open_model(challenger)
        s = self.settings
        if from_audit:
            if outcomes is None:
                raise ConfigError("comparing from the audit trail needs the outcomes observed since: pass them "
                                  "as a file with company id, period and outcome")
            return compare_from_audit(self.audit, champ, chall, outcomes=outcomes, costs=s.costs,
                                      rules=s.promotion, since=since, until=until, positive=positive)
        return compare_versions(champ, chall, costs=s.costs, rules=s.promotion, data=data, positive=positive)

    def write_comparison(self, found: VersionComparison, out: str | os.PathLike[str]) -> Path:
        """Write a comparison as ``comparison.json`` in ``out`` (the versions, the rows, the gate's digest)."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "comparison.json", {"champion_version": found.champion,
                                                "challenger_version": found.challenger, "rows_from": found.rows_from,
                                                "digest": found.comparison.digest(), **found.comparison.as_dict()})
        return folder / "comparison.json"

    def promote(self, version: str, *, reason: str, actor: str, override: bool = False,
                data: FileSource | None = None) -> Move:
        """Make a version the champion through the promotion gate, on record; one promotion at a time."""
        with self.exclusive("promotion"):
            return promote(self.settings, version, reason=reason, actor=actor, override=override, data=data)

    def rollback(self, *, reason: str, actor: str) -> Move:
        """Make the previous champion the champion again, on record; one move at a time."""
        with self.exclusive("promotion"):
            return rollback(self.settings, reason=reason, actor=actor)

    def registry(self) -> pd.DataFrame:
        """The registered versions and which one is the champion (``Tracker.registry_versions``)."""
        return self.tracker.registry_versions()

    def versions(self) -> pd.DataFrame:
        """The registered versions (:meth:`registry`) with each run's test AUC (``test_auc``)."""
        versions = self.registry()
        if versions.empty:
            return versions.assign(test_auc=pd.Series(dtype=float))
        runs = self.tracker.runs()
        auc = dict(zip(runs["run_id"], runs["metrics.test.auc"], strict=True)) if "metrics.test.auc" in runs else {}
        return versions.assign(test_auc=[auc.get(r, float("nan")) for r in versions["run_id"]])

    def champion(self) -> ChampionRef | None:
        """Where the registry's champion is, or ``None`` before the first model."""
        return self.tracker.champion()

    def runs(self) -> pd.DataFrame:
        """The experiment's training runs, newest first (``Tracker.runs``)."""
        return self.tracker.runs()

    def run(self, run_id: str) -> dict[str, Any]:
        """One run's parameters, metrics and tags."""
        return self.tracker.run(run_id)

    def candidates(self, run_id: str) -> pd.DataFrame:
        """The candidate models one training run compared."""
        return self.tracker.candidates(run_id)

    def monitoring_runs(self, model_version: str | None = None) -> pd.DataFrame:
        """The monitoring runs of one model version (or of all), newest first."""
        return MonitoringHistory(self.tracker).runs(model_version)

    def monitoring_report(self, run_id: str) -> MonitorReport:
        """The report of one monitoring run (its ``monitor.json``)."""
        return MonitoringHistory(self.tracker).report(run_id)

    def monitoring_deliveries(self, run_id: str) -> tuple[Delivery, ...]:
        """Where a monitoring run's alerts were delivered and how, newest first (empty when that cannot be read)."""
        return self._monitoring_history().deliveries(run_id)

    def latest_monitoring(self, model_version: str) -> RecordedMonitoring | None:
        """The newest monitoring run of a model version (with its deliveries), or ``None`` when never monitored."""
        return self._monitoring_history().latest(model_version)

    def _monitoring_history(self) -> MonitoringHistory:
        try:
            deliveries: DeliveryLog | None = DeliveryLog(self.audit.store)
        except AuditError as err:
            log.warning("the alert deliveries cannot be read: %s", err)
            deliveries = None
        return MonitoringHistory(self.tracker, deliveries)

    def history(self) -> list[ModelMove]:
        """Every move of the champion and every signature, oldest first, from the audit trail's ledger."""
        return self.audit.moves()

    # -------------------------------------------------------------- documentation
    def report(self, model: str | ModelBundle = "champion", *, audit: AuditLog | None = None,
               generated_at: str | None = None) -> Report:
        """The facts of a version's documentation report (the bundle, the MLflow run, the registry, the ledger)."""
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        return build_report(bundle, settings=self.settings, tracker=self.tracker, audit=audit,
                            generated_at=generated_at)

    def write_report(self, report: Report, out: str | os.PathLike[str],
                     formats: Sequence[Literal["html", "pdf"]] = ("html",)) -> list[Path]:
        """Write a report as ``model-report-VERSION.html`` and / or ``.pdf`` in ``out``."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = write_report(report, folder, ("html",)) if "html" in formats else []
        if "pdf" in formats:
            written.append(html_to_pdf(render_report(report), folder / f"model-report-{report.version}.pdf"))
        return written

    @property
    def report_store(self) -> ReportStore:
        """The reports and sections written, kept in the state folder (``report-cache``) by what made them."""
        return ReportStore(self.settings.home / REPORT_CACHE)

    def _report_inputs(self, model: str | ModelBundle, audit: AuditLog | None,
                       generated_at: str | None) -> tuple[ModelBundle, str, History, str]:
        """The bundle, the generation line, the history and the key of a version's report as it is now."""
        bundle = model if isinstance(model, ModelBundle) else self.open_model(model)
        stamp = generated_at or datetime.now(UTC).date().isoformat()
        history = gather_history(bundle.version, self.tracker, audit)
        settings = self.settings
        key = report_key(bundle_hash=bundle.manifest_hash, generated_at=stamp, alerts=settings.alerts,
                         promotion=settings.promotion, serving=settings.serving, history=history)
        return bundle, stamp, history, key

    def find_report(self, model: str | ModelBundle = "champion", *, audit: AuditLog | None = None,
                    generated_at: str | None = None) -> ReportFiles | None:
        """A version's report (HTML and PDF) for its facts as they are now, when it was written; else ``None``.

        The facts' key (:func:`riskcore.lifecycle.report.report_key`) is computed without writing anything: the
        registry, the run and the ledger are read, which takes a fraction of a second.

        Parameters
        ----------
        model : a version, a bundle folder, ``"champion"``, or a loaded bundle.
        audit : the audit trail whose ledger the history and sign-off sections read (none: they say so).
        generated_at : the report's generation line (default: today's date, UTC).
        """
        bundle, _, _, key = self._report_inputs(model, audit, generated_at)
        return self.report_store.find(key, bundle.version)

    def written_report(self, model: str | ModelBundle = "champion", *, audit: AuditLog | None = None,
                       generated_at: str | None = None, pdf: bool = True) -> ReportFiles:
        """A version's report (HTML and PDF) for its facts as they are now: found, or written and kept.

        A report is written with the sections that read the bundle only taken from the store, and kept in the
        state folder, so the next call, in any process, finds it. ``pdf=False`` writes the HTML alone and does
        not keep it (what a signature needs). The other arguments are those of :meth:`find_report`.
        """
        bundle, stamp, history, key = self._report_inputs(model, audit, generated_at)
        found = self.report_store.find(key, bundle.version)
        if found is not None:
            return found
        return self.report_store.write(build_report(bundle, settings=self.settings, tracker=self.tracker,
                                                    audit=audit, generated_at=stamp, history=history), pdf=pdf)

    def report_section(self, report: Report, section_id: str) -> str:
        """One section of a report alone in the report's page (for a preview); kept in the store when it can be."""
        return self.report_store.section_page(report, section_id)

    def sign(self, *, version: str, bundle_hash: str, html: str, actor: str, role: str, decision: str) -> ModelMove:
        """Record a validator's (or an approver's) signature of a version's report in the ledger."""
        return sign_report(self.audit, version=version, bundle_hash=bundle_hash, html=html, actor=actor, role=role,
                           decision=decision)

    # -------------------------------------------------------------- durable jobs
    @property
    def queue(self) -> JobQueue:
        """The job queue, in the audit trail's database (opened once)."""
        with self._opening:
            if self._queue is None:
                self._queue = JobQueue(self.audit.store, lease_s=self.settings.jobs.lease_seconds)
            return self._queue

    @property
    def job_files(self) -> JobFiles:
        """The jobs' folder: each job's upload, result and reject report."""
        return JobFiles(self.settings.jobs_dir)

    def readable_path(self, path: str | os.PathLike[str]) -> Path:
        """A server-side file a scoring job may read: inside one of ``[jobs] paths``.

        Raises
        ------
        riskcore.errors.DataFileError
            When it is outside them (or none are set), or not a file.
        """
        try:
            found = Path(path).expanduser().resolve()
        except (ValueError, OSError, RuntimeError):  # a NUL byte, an unknown ~user, a loop of links
            raise DataFileError(f"{str(path)[:200]!r} is not a path the server can read") from None
        roots = [Path(p).expanduser().resolve() for p in self.settings.jobs.paths]
        if not any(found.is_relative_to(root) for root in roots):
            where = ", ".join(map(str, roots)) if roots else "none are set"
            raise DataFileError(f"the server reads job files only under the folders of [jobs] paths ({where}); "
                                f"{str(path)!r} is not under them. Upload the file instead")
        if not found.is_file():
            raise DataFileError(f"no such file on the server: {str(path)!r}")
        return found

    def submit_score(self, source: str | os.PathLike[str], *, caller: str, face: Source, stored: bool = False,
                     job_id: str | None = None, name: str = "", result_format: str = "csv",
                     model: str = "champion", sheet: str | None = None, explain: bool = False,
                     lgd: float | None = None) -> Job:
        """Queue a portfolio to be scored by a worker; returns the job (see :mod:`riskcore.workbench.jobs`).

        ``stored``: ``source`` is an upload already in the job's folder (``job_id`` names it); otherwise a file
        on the server, which must be under ``[jobs] paths``.
        """
        path = Path(source) if stored else self.readable_path(source)
        params = score_params(input=path, stored=stored, face=face, name=name, result_format=result_format,
                              model=model, sheet=sheet, explain=explain, lgd=lgd)
        return self.queue.submit(SCORE, caller, params, max_attempts=self.settings.jobs.max_attempts, job_id=job_id)

    def submit_upload(self, source: str | os.PathLike[str] | BinaryIO, *, caller: str, face: Source, name: str = "",
                      **options: Any) -> Job:
        """Store a file (a path to copy, or an open binary file) as a new job's upload and queue it to be scored.

        ``options`` are :meth:`submit_score`'s (``result_format``, ``model``, ``sheet``, ``explain``, ``lgd``).

        Raises
        ------
        riskcore.errors.DataFileError
            When the file is not a CSV, Excel or Parquet file, or is over ``[jobs] upload_max_mb``.
        """
        files, limit = self.job_files, self.settings.job_upload_max_bytes
        name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "")
        job_id = files.new_id()
        target = files.receive(job_id)
        try:
            with target.open("wb") as out:
                size = 0
                handle = open(source, "rb") if isinstance(source, (str, os.PathLike)) else source  # noqa: SIM115
                try:
                    while block := handle.read(1 << 20):
                        size += len(block)
                        if size > limit:
                            raise DataFileError(f"the file is over {limit / 1e6:,.0f} MB, the largest a job "
                                                "accepts ([jobs] upload_max_mb); split it into smaller files")
                        out.write(block)
                finally:
                    if handle is not source:
                        handle.close()
            stored = files.settle(job_id, target, name)
            return self.submit_score(stored, caller=caller, face=face, stored=True, job_id=job_id,
                                     name=name or stored.name, **options)
        except OSError as err:
            files.discard(job_id)
            raise DataFileError(f"the file could not be stored for the job: {err.strerror or err}") from None
        except BaseException:
            files.discard(job_id)
            raise

    def job(self, job_id: str) -> Job | None:
        """One job as stored (state, progress, result), or ``None``."""
        return self.queue.get(job_id)

    def jobs(self, *, caller: str | None = None, kind: str | None = None, limit: int = 50) -> list[Job]:
        """The newest jobs first, of one caller or kind when given."""
        return self.queue.list(caller=caller, kind=kind, limit=limit)

    def cancel_job(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one ends now, a running one stops at its next chunk, recording nothing."""
        return self.queue.cancel(job_id)

    def job_file(self, job: Job, which: str = "result") -> Path:
        """The file a finished scoring job wrote: ``result`` (the scored rows) or ``rejects`` (the reject report).

        Raises
        ------
        riskcore.errors.DataFileError
            When the job has not succeeded, wrote no such file, or its files were deleted (the message says when).
        """
        if which not in ("result", "rejects"):
            raise DataFileError(f"a job's files are its result and its rejects, not {which!r}")
        if job.state != "succeeded":
            raise DataFileError(f"job {job.id} is {job.state}: its files exist once it has succeeded")
        if job.result.get("files_deleted"):
            raise DataFileError(f"the files of job {job.id} were deleted: {job.result.get('files_deleted_reason')}")
        name = (job.result.get("files") or {}).get(which)
        if not name:
            raise DataFileError(f"job {job.id} has no {which} file" + (": no row was rejected"
                                                                         if which == "rejects" else ""))
        path = self.job_files.folder(job.id) / str(name)
        if not path.is_file():
            raise DataFileError(f"the {which} file of job {job.id} is no longer there")
        return path

    def submit_retrain(self, *, caller: str, trigger: str, data: str | None = None, job_id: str | None = None,
                       monitoring_run: str = "") -> Job:
        """Queue a run of the retraining loop; a run already queued or running is returned instead of a second."""
        params = {"trigger": trigger, "data": data, "monitoring_run": monitoring_run}
        return self.queue.submit(RETRAIN, caller, params, max_attempts=1, job_id=job_id, single=job_id is None)

    def retrain(self, *, trigger: str, job_id: str, data: str | None = None,
                progress: Progress = no_progress) -> RetrainOutcome:
        """Run the retraining loop once, now (see :mod:`riskcore.workbench.retraining`); it is on record."""
        def previous() -> list[dict[str, Any]]:
            return [j.result for j in self.queue.list(kind=RETRAIN, states=("succeeded",), limit=200)]

        outcome = retrain(self.settings, tracker=self.tracker, audit=self.audit, trigger=trigger, job_id=job_id,
                          out=self.settings.home / "reports" / f"retraining-{job_id}", data=data, progress=progress,
                          previous=previous)
        self.notify([outcome.notice(job_id)])
        return outcome

    def run_job(self, job: Job, heartbeat: Heartbeat) -> dict[str, Any]:
        """Run a claimed job (a worker's step): returns its result; raises what stops it."""
        if job.kind == SCORE:
            heartbeat.counter = ScoreCounter()
            return run_score_job(job, settings=self.settings, audit=self.audit, files=self.job_files,
                                 open_model=self.open_model, progress=heartbeat.progress,
                                 counter=heartbeat.counter)
        if job.kind == RETRAIN:
            return self.retrain(trigger=str(job.params.get("trigger") or "command"), job_id=job.id,
                                data=job.params.get("data"), progress=heartbeat.progress).as_dict()
        raise ConfigError(f"job {job.id} is of a kind this version cannot run ({job.kind!r})")

    def expire_job_files(self, *, actor: str = "jobs", now: float | None = None) -> list[str]:
        """Delete the files of jobs that ended more than ``[jobs] keep_hours`` ago, on record; their ids."""
        return expire_files(self.queue, self.job_files, self.audit, keep_hours=self.settings.jobs.keep_hours,
                            actor=actor, now=now)

    def verify_audit(self, url: str | None = None, *, archives: str | os.PathLike[str] | None = None) -> VerifyResult:
        """Verify the audit trail's hash chain (``url``: another audit database); name the first altered row.

        Once older requests were archived the live chain is verified from their anchor; with ``archives`` (the
        folder holding them) each archive too, from its files, so the whole history is checked.
        """
        return AuditLog(url or self.settings.resolved_audit_url).verify(archives=archives)

    def export_audit(self, *, since: str, until: str, actor: str,
                     out: str | os.PathLike[str] | None = None) -> AuditExport:
        """Write every score recorded from ``since`` until ``until`` (UTC) into a folder an examiner verifies offline.

        ``out`` defaults to a new folder under the state folder's ``exports/``. The export is recorded in the
        audit trail with its manifest's digest.
        """
        if out is None:
            stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S%fZ")
            out = self.settings.home / "exports" / f"audit-{_safe(since)}-to-{_safe(until)}-{stamp}"
        return self.audit.export(out, since=since, until=until, actor=actor)

    def verify_export(self, folder: str | os.PathLike[str], *, against_trail: bool = False,
                      url: str | None = None) -> ExportCheck:
        """Verify an export or archive folder from its files alone; with ``against_trail``, compare it with the trail.

        Offline, every row hash and every link is recomputed and a row edited, deleted or added is named. Against
        the trail (the settings' audit database, or ``url``), the export's last head must be the trail's.
        """
        check = examine_export(folder)
        if against_trail:
            check = AuditLog(url or self.settings.resolved_audit_url).compare_export(check)
        return check

    def archive_audit(self, *, actor: str, before: str | None = None, out: str | os.PathLike[str] | None = None,
                      vacuum: bool = False, progress: Progress = no_progress) -> AuditArchive:
        """Move the requests recorded before ``before`` into a verified archive and out of the live database.

        ``before`` defaults to today less ``[audit] retain_years`` (with 0, nothing is archived unless
        ``before`` is given); ``out`` to the state folder's ``audit-archives/``.
        """
        if before is None:
            years = self.settings.audit.retain_years
            if years == 0:
                return AuditArchive("", None, 0, "", False, "nothing archived: [audit] retain_years is 0 (every "
                                    "score stays in the live database); set it, e.g. retain_years = 7, or name a "
                                    "cut-off date")
            today = pd.Timestamp.now(tz="UTC").date()
            before = today.replace(year=today.year - years, day=28 if (today.month, today.day) == (2, 29)
                                   else today.day).isoformat()
        folder = self.settings.home / "audit-archives" if out is None else out
        return self.audit.archive(folder, before=before, actor=actor, vacuum=vacuum, progress=progress)

    def find_scores(self, value: str, *, column: str | None = None, limit: int | None = 100,
                    source: Source | None = None) -> FoundScores:
        """The recorded scores of a company, newest first: by its id, or by an input's exact value (``column``).

        A redacted value (a company name, an e-mail address) is looked for by its salted hash, with this
        state folder's salt, so a name is found without ever being stored.
        """
        audit = self.audit
        by_hash = audit.redaction is not None
        if column is None:
            return FoundScores(audit.find(value, limit=limit, source=source), None, by_hash)
        return audit.find_by(column, value, limit=limit, source=source)


def _safe(text: str) -> str:
    """A date or time as it can stand in a folder's name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:40]
