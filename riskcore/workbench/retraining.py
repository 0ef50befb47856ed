"""The retraining loop: newest data → a challenger → the gate against the champion → its report → a decision.

One run (:func:`retrain`), from the ``[retraining]`` settings (:class:`riskcore.config.RetrainingRules`):

1. **The newest data**: ``data`` names a file, or a folder of partitions (CSV or Parquet files of
   whole companies, read in name order as one table). Its SHA-256 (of the file, or of the partitions' hashes
   in order) is the run's data hash. When it is the data the champion was trained on, the run stops: *no new
   data*.
2. **A challenger**, trained with the champion's recorded configuration (its model kind, profile,
   calibration, search size, seed, SMOTE and monotone settings) or a named profile, registered but not
   promoted, with the loop's identity as the one who trained it. A leakage check that stops training
   stops the run, with its reason.
3. **The gate**: the challenger against the champion on the newest out-of-time period (the challenger's
   test rows, which the champion never trained on) with the promotion rules of ``[promotion]``.
4. **Its model report** (HTML) in the run's folder, for the validator who signs it.
5. **The decision**: with ``auto_promote = true`` and a passing gate, the challenger is promoted through the
   ledger (an ``override`` of the separation of duties that names the loop: the setting is what allows it);
   otherwise it waits for a validator's signature and an admin's promotion, the loop never being the
   promoter.

Whatever happens, the run ends with its facts (trigger, data hash, versions, the gate's verdict and checks,
the decision, the reason it stopped) as the job's result and one ``retrain`` entry in the model ledger; the
champion changes only by a promotion that passed the gate. A cron expression or ``monthly`` / ``quarterly``
/ ``yearly`` in ``schedule`` is run by the workers (:func:`schedule_due`: the latest due time not yet run is
run once, however many were missed); a monitoring run that fails a rule of ``on_alert`` submits a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import pandas as pd
from croniter import croniter

from riskcore.config import Profile, Settings, TrainingConfig
from riskcore.data.tabular import Table
from riskcore.errors import LeakageError, RiskcoreError, TrackingError
from riskcore.lifecycle.delivery import Notice
from riskcore.lifecycle.report import build_report, write_report
from riskcore.lifecycle.versions import compare_versions, promote
from riskcore.modelling.bundle import ModelBundle
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit import AuditLog, ModelMove
from riskcore.serving.cluster import partition_files
from riskcore.serving.opening import open_model
from riskcore.workbench.datasets import Dataset, dataset_of, load_dataset
from riskcore.workbench.locks import state_lock
from riskcore.workflows import train_file

__all__ = ["RetrainOutcome", "data_digest", "read_newest", "retrain", "schedule_due", "training_config_of"]

_READ_BLOCK: Final = 1 << 20


@dataclass(frozen=True)
class RetrainOutcome:
    """What one run of the loop did: the facts stored as its job's result and summed up in its ledger entry.

    ``decision``: ``promoted``, ``awaiting_signoff`` (trained, waiting for a validator and an admin),
    ``gate_failed`` (champion kept) or ``stopped`` (no new data, a leakage stop, a failure; ``reason`` says).
    """

    trigger: str
    decision: str
    reason: str
    champion: str = ""
    challenger: str = ""
    data: str = ""
    data_sha256: str = ""
    gate_passed: bool | None = None
    gate_digest: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    report: str = ""
    ledger_seq: int = 0
    rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the job's result)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def sentence(self) -> str:
        """The run in one line (the ledger entry's reason)."""
        versions = (f"challenger {self.challenger} against champion {self.champion}" if self.challenger
                    else f"champion {self.champion or 'none'}")
        gate = "" if self.gate_passed is None or self.decision == "gate_failed" else \
            f"; gate {'passed' if self.gate_passed else 'failed'}"
        return f"retraining ({self.trigger}) on data {self.data_sha256[:12] or '-'}: {versions}{gate}; " \
               f"{self.decision.replace('_', ' ')}: {self.reason}"

    def notice(self, job_id: str) -> Notice:
        """The decision as a notice for people (``info``; see :mod:`riskcore.lifecycle.delivery`)."""
        decided = {"promoted": f"promoted challenger {self.challenger}",
                   "awaiting_signoff": f"challenger {self.challenger} waits for a validator's signature",
                   "gate_failed": f"challenger {self.challenger} failed the promotion gate",
                   "stopped": "stopped"}.get(self.decision, self.decision.replace("_", " "))
        return Notice("retraining", "info", f"Retraining ({self.trigger}) {decided}", self.sentence(),
                      f"retraining|{job_id}", model_version=self.challenger or self.champion, ref=job_id,
                      link="training_runs", at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))


def data_digest(files: list[Path]) -> str:
    """SHA-256 of one file, or of the partitions' SHA-256 digests in order (a folder)."""
    digests = []
    for path in files:
        h = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                h.update(block)
        digests.append(h.hexdigest())
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def read_newest(where: str | Path, spec_of: ModelBundle | None = None) -> tuple[Dataset, list[Path]]:
    """The newest data: a file, or a folder's partitions read as one table (rows numbered across them).

    The data contract is decided as ``python -m riskcore train`` decides it (the demo layout recognised,
    else inferred), on the whole table.

    Raises
    ------
    riskcore.errors.DataFileError
        When nothing is found there or a partition cannot be read (the message names it).
    """
    files = partition_files(where)
    if len(files) == 1:
        return load_dataset(files[0]), files
    parts = [load_dataset(f).table for f in files]
    # a partition spans its last row's number, rows it could not read included (their numbers stay theirs)
    spans = [max([len(p.frame), int(p.rows.max()) if len(p.rows) else 0, *(pr.row or 0 for pr in p.problems)])
             for p in parts]
    offsets = np.cumsum([0] + spans[:-1])
    frame = pd.concat([p.frame for p in parts], ignore_index=True, sort=False)
    rows = np.concatenate([p.rows + off for p, off in zip(parts, offsets, strict=True)])
    problems = [replace(pr, row=pr.row + int(off)) if pr.row is not None else pr
                for p, off in zip(parts, offsets, strict=True) for pr in p.problems]
    info = replace(parts[0].info, n_rows=len(frame), n_columns=frame.shape[1],
                   notes=(*parts[0].info.notes, f"{len(files)} partitions read as one table, rows numbered across "
                          "them in name order"))
    table = Table(frame, rows, info, problems)
    return dataset_of(table, path=Path(where)), files


def training_config_of(champion: ModelBundle, profile: str = "",
                       params: Mapping[str, Any] | None = None) -> TrainingConfig:
    """The champion's recorded training configuration, or a named profile's when ``profile`` is given.

    ``params`` are the champion's training run's parameters as MLflow keeps them: the search size (folds and
    configurations tried), which the bundle does not record, comes from there.
    """
    if profile:
        return TrainingConfig.for_profile(cast(Profile, profile))
    model = champion.metrics.get("model", {})
    info, params = champion.info, params or {}
    recorded: dict[str, Any] = {"candidates": (model["kind"],)} if model.get("kind") else {}
    for key, name in (("calibration", "calibration"), ("smote", "smote"), ("monotone", "monotone"),
                      ("seed", "random_state"), ("cv_folds", "cv_folds"), ("n_iter", "n_iter")):
        value = model.get(key, info.get(key))
        if value is None and key in ("cv_folds", "n_iter") and str(params.get(key, "")).isdigit():
            value = int(params[key])
        if value is not None:
            recorded[name] = value
    base = model.get("profile") if model.get("profile") in ("quick", "full") else "full"
    return TrainingConfig.for_profile(cast(Profile, base), **recorded)


def schedule_due(cron: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` that the schedule (a cron expression, UTC) was due."""
    # croniter's previous time of a moment that is itself due is the one before it: look from a second earlier
    upcoming = croniter(cron, now - timedelta(seconds=1)).get_next(datetime)
    return upcoming if upcoming <= now else croniter(cron, now).get_prev(datetime)


def _run_params(tracker: Tracker, run_id: str) -> dict[str, Any]:
    """A training run's parameters (empty when the run cannot be read: the profile's search size is used)."""
    try:
        return dict(tracker.run(run_id)["params"]) if run_id else {}
    except TrackingError:
        return {}


def _champion_data(champion: ModelBundle) -> str:
    data = champion.metrics.get("data", {})
    return str(data.get("sha256") or "")


def retrain(settings: Settings, *, tracker: Tracker, audit: AuditLog, trigger: str, job_id: str, out: Path,
            data: str | None = None, progress: Progress = no_progress,
            previous: Callable[[], list[dict[str, Any]]] = list) -> RetrainOutcome:
    """Run the loop once (see the module docstring); never raises for what a run may meet, returns it.

    A run stopped from outside (its job cancelled, its worker stopping: the progress callback raises) or by
    a bug is recorded in the ledger as stopped too, then the exception is raised again.

    Parameters
    ----------
    trigger : what started it (``command``, ``dashboard``, ``api``, ``schedule``, ``alert:<rules>``).
    job_id : the job it runs as (named in the ledger entry).
    out : the run's folder (the challenger's report goes there).
    data : the data to use instead of ``[retraining] data``.
    previous : the results of earlier runs (their data hashes tell which data a champion came from).
    """
    rules = settings.retraining
    where = data or rules.data
    champion_version = ""
    outcome = RetrainOutcome(trigger=trigger, decision="stopped", reason="", data=str(where or ""))
    interrupted: Exception | None = None
    try:
        ref = tracker.champion()
        if ref is None:
            raise _Stop("there is no champion to retrain: train a first model (python -m riskcore train)")
        champion = open_model("champion", settings)
        champion_version = champion.version
        outcome = replace(outcome, champion=champion_version)
        if not where:
            raise _Stop("no data to retrain on: set [retraining] data in riskcore.toml to a file or a folder of "
                        "partitions, or pass --data")
        progress(0.02, "reading the newest data")
        dataset, files = read_newest(where)
        digest = data_digest(files)
        outcome = replace(outcome, data_sha256=digest, rows=len(dataset.table.frame))
        earlier = previous()
        seen = {_champion_data(champion)} | {r.get("data_sha256", "") for r in earlier
                                             if r.get("challenger") == champion_version}
        if digest in seen:
            raise _Stop(f"no new data: {where} is the data champion {champion_version} was trained on "
                        f"(SHA-256 {digest[:12]}…)")
        waiting = [r for r in earlier if r.get("data_sha256") == digest and r.get("challenger")
                   and r.get("champion") == champion_version]
        if waiting:  # a repeated alert or schedule must not pile up challengers of the same data
            last = waiting[0]
            raise _Stop(f"no new data: challenger {last['challenger']} was already trained on this data against "
                        f"champion {champion_version} (decision: {str(last.get('decision', '')).replace('_', ' ')}), "
                        "and the same data would train the same challenger; the loop waits for new data")
        config = training_config_of(champion, rules.profile, _run_params(tracker, ref.run_id))
        progress(0.05, f"training a challenger ({', '.join(config.candidates)}, profile {config.profile})")
        trained = train_file(dataset.table, dataset.spec, settings=settings, config=config, tracker=tracker,
                             positive=dataset.roles.positive, promote=False, source=str(Path(where).resolve()),
                             trained_by=rules.identity,
                             progress=lambda f, m: progress(0.05 + 0.75 * f, m))
        challenger = open_model(trained.model_version, settings)
        outcome = replace(outcome, challenger=challenger.version)
        progress(0.82, "comparing the challenger with the champion on the newest out-of-time period")
        found = compare_versions(champion, challenger, costs=settings.costs, rules=settings.promotion)
        gate = found.comparison
        outcome = replace(outcome, gate_passed=gate.passed, gate_digest=gate.digest(),
                          checks=[{"name": c.name, "passed": c.passed, "detail": c.detail} for c in gate.checks])
        progress(0.9, "writing the challenger's model report")
        out.mkdir(parents=True, exist_ok=True)
        written = write_report(build_report(challenger, settings=settings, tracker=tracker, audit=audit), out)
        outcome = replace(outcome, report=str(written[0]) if written else "")
        if not gate.passed:
            failed = "; ".join(c.detail for c in gate.checks if not c.passed)
            outcome = replace(outcome, decision="gate_failed",
                              reason=f"the challenger failed the promotion gate, the champion is unchanged: {failed}")
        elif rules.auto_promote:
            with state_lock(settings.home, "promotion"):
                move = promote(settings, challenger.version, actor=rules.identity, override=True,
                               reason=f"retraining job {job_id}: the gate passed and [retraining] auto_promote "
                                      "is on, so the loop promotes what it trained")
            outcome = replace(outcome, decision="promoted" if move.moved else "awaiting_signoff",
                              reason=("promoted through the ledger (auto_promote)" if move.moved
                                      else f"not promoted: {move.message}"))
        else:
            outcome = replace(outcome, decision="awaiting_signoff",
                              reason="the gate passed; the challenger waits for a validator's signature of its report "
                                     "and an admin's promotion (auto_promote is off)")
    except _Stop as stop:
        outcome = replace(outcome, decision="stopped", reason=str(stop))
    except LeakageError as err:
        outcome = replace(outcome, decision="stopped", reason=f"a leakage check stopped training: {err}")
    except RiskcoreError as err:
        outcome = replace(outcome, decision="stopped", reason=f"{type(err).__name__}: {err}")
    except Exception as err:  # cancelled, its worker stopping, or a bug: on record all the same, then raised
        interrupted = err
        outcome = replace(outcome, decision="stopped", reason=f"the run was interrupted ({type(err).__name__}: {err})")
    entry = audit.record_move(ModelMove(event="retrain", actor=rules.identity, from_version=champion_version,
                                        to_version=outcome.challenger, reason=f"job {job_id}: {outcome.sentence()}",
                                        gate_digest=outcome.gate_digest))
    if interrupted is not None:
        raise interrupted
    progress(1.0, outcome.decision.replace("_", " "))
    return replace(outcome, ledger_seq=entry.seq)


class _Stop(Exception):
    """A reason the loop stops before it is through (recorded, never raised to the caller)."""

