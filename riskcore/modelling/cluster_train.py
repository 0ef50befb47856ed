"""One training run on a Dask cluster, for a portfolio partitioned into files: the bundle of a local run.

:func:`train_on_cluster` runs the stages of :func:`riskcore.modelling.train.train` where the data is:

1. **Prepare on the workers.** Each partition file is read by riskcore's tolerant reader, validated,
   cleaned by the training-data policy and given its panel features on a worker
   (:func:`riskcore.modelling.cluster_tasks.prepare_partition`); the prepared frame stays there. Only the
   keys (id, time, outcome) come to the client. Partitions must hold whole companies (checked).
2. **Split from the keys.** The period split and the company-grouped folds come from the keys with
   :func:`~riskcore.modelling.split.split_portfolio`, exactly as a local run splits the same rows.
3. **A documented stratified sample.** At most ``sample_rows`` rows (strata: part × period × outcome,
   seeded; :func:`~riskcore.modelling.sampling.stratified_sample`) are gathered to the client. The quality
   report, the leakage checks, the typical ranges, the feature step's fit, the hyper-parameter search, the permutation
   importances, the data profile, the reference's feature bins and the bundle's holdout rows come from it.
4. **XGBoost on every training row.** ``xgboost.dask`` trains the booster on all training rows of all
   partitions (``DaskQuantileDMatrix``, ``xgboost.dask.train``) with the parameters the search chose; the
   matrices are built on the workers by the pipeline's feature step, fitted on the sample's training rows
   only (so it never sees a validation or test row). A cluster-wide lock keeps one training job at a time.
   The booster becomes the pipeline's ``XGBClassifier``, so the bundle is the usual XGBoost bundle.
5. **Held-out rows scored on the workers.** Only the raw scores and outcomes of every validation and test
   row come back, with the segment, exposure and true-PD columns (those the spec has) that the
   assessment reads. The calibrators are fitted on the validation rows (``calibrate_on="validation"``:
   the sample's out-of-fold scores came from the search's models, not from the cluster-trained booster),
   then the threshold (validation) and the test metrics follow as in a local run, on every held-out row.

``metrics.json`` says which statistics came from the sample (``cluster`` → ``from_sample``), and the
run's notes say it in words. ``dask``, ``distributed`` and ``xgboost`` are imported inside the functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig
from riskcore.data.quality import QualityReport, check_frame, freeze_typical_ranges
from riskcore.data.schema import DatasetSpec
from riskcore.errors import ConfigError, DataFileError, LeakageError, MissingColumnError, RiskcoreError
from riskcore.evaluation.reference import build_reference
from riskcore.modelling import assessment, cluster_tasks, publish, soundness, stages
from riskcore.modelling.importance import importance_table, importance_warnings
from riskcore.modelling.leakage import LeakageReport, check_preprocessing
from riskcore.modelling.models import raw_score
from riskcore.modelling.sampling import stratified_sample, sub_split
from riskcore.modelling.search import build_pipeline
from riskcore.modelling.split import Split, split_portfolio
from riskcore.modelling.train import TrainingResult, _mlflow_metrics, _mlflow_params
from riskcore.progress import Progress, no_progress

if TYPE_CHECKING:
    from distributed import Client, Future

    from riskcore.modelling.tracking import Tracker

__all__ = ["SAMPLED_STATISTICS", "train_on_cluster"]

SAMPLED_STATISTICS = ("quality report", "leakage checks", "typical ranges", "feature step", "hyper-parameter search",
                      "permutation importance", "soundness and sensitivity", "data profile", "reference feature bins",
                      "bundle holdout rows")
"""What a cluster run computes on its stratified sample; everything else uses every row."""

TRAINING_LOCK = "riskcore-xgboost-training"
"""The cluster-wide lock that keeps one XGBoost training job at a time on a cluster."""


@dataclass(frozen=True)
class _Portfolio:
    """The client's view of the partitioned data: every row's keys and where the row lives."""

    futures: list[Future]
    keys: pd.DataFrame
    y: np.ndarray
    owner: np.ndarray
    local: np.ndarray
    columns: list[str]
    clean_notes: list[str]
    n_read: int

    def by_partition(self, positions: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``positions`` (sorted, into ``keys``) as (partition, positions within it), partitions in order."""
        positions = np.sort(np.asarray(positions, dtype=np.int64))
        owners = self.owner[positions]
        return [(int(p), self.local[positions[owners == p]]) for p in np.unique(owners)]


def _cluster_config(config: TrainingConfig | None) -> tuple[TrainingConfig, list[str]]:
    """The run's settings: XGBoost the only candidate, calibration on the validation rows; notes if changed.

    Raises
    ------
    ConfigError
        When SMOTE is asked for: oversampling runs inside a pipeline's fit, which the cluster does not run.
    """
    config = config or TrainingConfig()
    if config.smote:
        raise ConfigError("SMOTE oversampling is not available for training on a cluster; leave out --smote, "
                          "or train in one process")
    notes = []
    if tuple(config.candidates) != ("xgboost",):
        notes.append(f"on a cluster the boosted candidate is XGBoost ({', '.join(config.candidates)} asked): only "
                     "its Dask interface trains on every partition")
    return replace(config, candidates=("xgboost",), calibrate_on="validation"), notes


def _prepare(client: Client, files: Sequence[Path], spec: DatasetSpec, positive: str | None) -> _Portfolio:
    """Stage 1 on the workers: each partition prepared and kept there; its keys gathered here."""
    job = f"{time.time_ns():x}"
    futures = [client.submit(cluster_tasks.prepare_partition, str(p), spec, positive, pure=False,
                             key=f"riskcore-train-{job}-prepare-{i:05d}") for i, p in enumerate(files)]
    keys_futures = [client.submit(cluster_tasks.partition_keys, f, spec, key=f"riskcore-train-{job}-keys-{i:05d}")
                    for i, f in enumerate(futures)]
    found: list[cluster_tasks.PartitionKeys] = []
    for i, fut in enumerate(keys_futures):
        try:
            found.append(fut.result())
        except RiskcoreError as err:
            err.args = (f"partition {files[i]}: {err}", *err.args[1:])
            raise
    sizes = [len(k.keys) for k in found]
    keys = pd.concat([k.keys for k in found], ignore_index=True)
    return _Portfolio(futures=futures, keys=keys.drop(columns=cluster_tasks.KEY_Y),
                      y=keys[cluster_tasks.KEY_Y].to_numpy().astype(int),
                      owner=np.repeat(np.arange(len(found)), sizes),
                      local=np.concatenate([np.arange(s) for s in sizes]) if sizes else np.empty(0, np.int64),
                      columns=found[0].columns if found else [],
                      clean_notes=cluster_tasks.merge_notes([n for k in found for n in k.clean_notes]),
                      n_read=sum(k.n_read for k in found))


def _check_portfolio(data: _Portfolio, spec: DatasetSpec, costs: Costs, files: Sequence[Path]) -> None:
    """What a local run checks on the whole frame, here on the keys of every partition.

    Raises
    ------
    DataFileError
        When a company has rows in two partitions while the model reads a company's earlier rows, or when
        fewer than :data:`riskcore.modelling.stages.MIN_DEFAULTS` defaults or non-defaults remain.
    MissingColumnError
        When exposure cost mode has no exposure column.
    """
    if spec.panel_features and spec.id and spec.id in data.keys:
        spread = pd.Series(data.owner).groupby(data.keys[spec.id].astype(str).to_numpy()).nunique()
        if (spread > 1).any():
            raise DataFileError(f"{int((spread > 1).sum()):,} companies (for one, {spread[spread > 1].index[0]!r}) "
                                "have rows in more than one partition; panel features read a company's earlier "
                                f"rows, so partition the portfolio by {spec.id!r}, not by period")
    n_pos, n_neg = int(data.y.sum()), int(len(data.y) - data.y.sum())
    if n_pos < stages.MIN_DEFAULTS or n_neg < stages.MIN_DEFAULTS:
        raise DataFileError(f"the target column {spec.target!r} has {n_pos} defaults and {n_neg} non-defaults in "
                            f"{len(files):,} partition(s) after cleaning; training needs at least "
                            f"{stages.MIN_DEFAULTS} of each — add rows, or check that the right column is the target")
    if costs.mode == "exposure" and not (spec.exposure and spec.exposure in data.columns):
        raise MissingColumnError(spec.exposure or "exposure",
                                 "exposure cost mode needs an exposure column (--exposure COL)")


def _strata(data: _Portfolio, split: Split, spec: DatasetSpec) -> pd.DataFrame:
    """Part × period × outcome of every row (the period as the split reads it: the year of a daily date)."""
    strata = pd.DataFrame({"part": split.labels(len(data.y)), "y": data.y})
    if spec.time and spec.time in data.keys:
        t = data.keys[spec.time]
        strata["period"] = t.dt.year if pd.api.types.is_datetime64_any_dtype(t) else t
    return strata


def _gather_rows(client: Client, data: _Portfolio, positions: np.ndarray) -> pd.DataFrame:
    """The prepared rows at ``positions`` (sorted), fetched from the workers that hold them."""
    futures = [client.submit(cluster_tasks.take_rows, data.futures[p], local, pure=False)
               for p, local in data.by_partition(positions)]
    frames = client.gather(futures)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=data.columns)


def _train_booster(client: Client, data: _Portfolio, split: Split, pipeline: Any) -> Any:
    """Stage 4: XGBoost on every training row of every partition; the pipeline's model holds the booster."""
    import dask
    import dask.array as da
    import xgboost.dask as dxgb
    from distributed import Lock

    builder = pipeline.steps[0][1]
    width = len(builder.layout_.names)
    blocks, labels = [], []
    for p, local in data.by_partition(split.train):
        blocks.append(da.from_delayed(dask.delayed(cluster_tasks.training_matrix)(data.futures[p], local, builder),
                                      shape=(len(local), width), dtype=float))
        labels.append(da.from_delayed(dask.delayed(cluster_tasks.outcomes)(data.futures[p], local),
                                      shape=(len(local),), dtype=float))
    params, rounds = cluster_tasks.booster_params(pipeline)
    # xgboost.dask looks the client up as the current one, and the caller's need not be the default
    with client.as_current(), Lock(TRAINING_LOCK, scheduler_rpc=client.scheduler, loop=client.loop):
        matrix = dxgb.DaskQuantileDMatrix(client, da.concatenate(blocks), da.concatenate(labels), missing=np.nan)
        booster = dxgb.train(client, params, matrix, num_boost_round=rounds)["booster"]
    pipeline.steps[-1][1].load_model(bytearray(booster.save_raw("json")))
    return pipeline


def _score_heldout(client: Client, data: _Portfolio, split: Split, pipeline: Any,
                   spec: DatasetSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage 5: every validation and test row scored on its worker; (validation, test) frames come back.

    Columns: :func:`~riskcore.modelling.cluster_tasks.heldout_columns`, ``y``, ``score_raw``; rows in the
    portfolio's order.
    """
    shared = client.scatter(pipeline, broadcast=True)
    columns = cluster_tasks.heldout_columns(spec)
    out = []
    for part in (split.validation, split.test):
        futures = [client.submit(cluster_tasks.score_rows, data.futures[p], local, shared, columns, pure=False)
                   for p, local in data.by_partition(part)]
        out.append(pd.concat(client.gather(futures), ignore_index=True))
    return out[0], out[1]


def _calibrated(raw_va: np.ndarray, y_va: np.ndarray, raw_te: np.ndarray,
                calibrators: dict[str, Any] | None, method: str) -> stages.Calibrated:
    """Both calibrators fitted on the validation scores (unless given), and the PDs of ``method``."""
    from riskcore.modelling.bundle import calibrated_pd
    from riskcore.modelling.calibration import fit_calibrator

    cals = calibrators or {m: fit_calibrator(raw_va, y_va, method=m) for m in ("isotonic", "platt")}
    cal = cals[method]
    return stages.Calibrated(raw_va, raw_te, cals, calibrated_pd(cal, raw_va), calibrated_pd(cal, raw_te),
                             rows=int(len(y_va)), defaults=int(np.sum(y_va)))


@dataclass(frozen=True)
class _Run:
    """What the save stage needs of a cluster run."""

    pipeline: Any
    search: stages.SearchOutcome
    data: stages.PreparedData
    sample: stages.Parts
    sample_calibrated: stages.Calibrated
    parts: stages.Parts
    calibrated: stages.Calibrated
    cutoff: stages.Cutoff
    found: assessment.Assessment
    importances: pd.DataFrame
    warnings: list[str]
    split: Split
    inputs: list[str]
    cluster: dict[str, Any]
    blocks: dict[str, Any]


def _save(models_dir: str | Path, run: _Run, leak: LeakageReport, spec: DatasetSpec, config: TrainingConfig,
          costs: Costs, source: str | None, trained_by: str | None = None) -> tuple[str, Path, Any, dict[str, Any]]:
    """Stage 9: the bundle of a local run, its sampled parts (profile, holdout, feature bins) from the sample."""
    chosen = run.search.chosen
    created = datetime.now(UTC)
    version, bundle_dir = publish.claim_version(Path(models_dir), f"{chosen.kind}-{created.strftime('%Y%m%dT%H%M%SZ')}")
    metrics = assessment.run_metrics(
        version=version, created=created, chosen=chosen, config=config, data=run.data, inputs=run.inputs,
        source=source, trained_by=trained_by, spec=spec,
        split=assessment.split_info(run.split, run.data.frame, run.data.y, spec),
        candidates=run.search.candidates, assessment=run.found, threshold=run.cutoff.threshold, costs=costs,
        base=None, importances=run.importances, leak=leak, warnings=run.warnings)
    metrics.update(run.blocks)  # soundness, sensitivity and (with monotone constraints) monotone
    metrics["cluster"] = run.cluster
    info = {"version": version, "created_at": created.isoformat(), "threshold": float(run.cutoff.threshold),
            "costs": metrics["costs"], "calibration": config.calibration, "params": chosen.params,
            "training_rows": int(len(run.split.train)), "test_auc": run.found.test["auc"], "profile": config.profile,
            "engine": "dask"}
    sc = run.sample_calibrated
    content = publish.BundleContent(
        info=info, calibrators=dict(run.calibrated.calibrators), metrics=metrics, importances=run.importances,
        profile=publish.data_profile(run.sample.X_train, spec, run.sample.y_train,
                                     publish.feature_builder(run.pipeline)),
        holdout=assessment.holdout_frame(run.sample, run.inputs, spec, sc, None),
        reference=build_reference(spec, run.sample.X_train,
                                  np.concatenate([run.calibrated.p_validation, run.calibrated.p_test]),
                                  run.calibrated.p_test, run.parts.y_test).as_dict())
    bundle = publish.save_and_verify(bundle_dir, pipeline=run.pipeline, kind=chosen.kind, spec=spec, content=content,
                                     X_test=run.sample.X_test, p_test=sc.p_test)
    return version, bundle_dir, bundle, metrics


@dataclass(frozen=True)
class _Sampled:
    """The stratified sample on the client: its rows, outcomes, split, and the spec frozen on it."""

    positions: np.ndarray
    parts: stages.Parts
    frame: pd.DataFrame
    y: np.ndarray
    split: Split
    spec: DatasetSpec


def _sample(client: Client, data: _Portfolio, split: Split, spec: DatasetSpec, sample_rows: int,
            random_state: int) -> _Sampled:
    """Stage 3: draw and gather the stratified sample; freeze the typical ranges on its training rows."""
    positions = stratified_sample(_strata(data, split, spec), sample_rows, random_state)
    frame = _gather_rows(client, data, positions)
    y = data.y[positions]
    sub = sub_split(split, positions)
    spec = freeze_typical_ranges(spec, frame.iloc[sub.train])
    return _Sampled(positions, stages.split_parts(frame, y, sub), frame, y, sub, spec)


def _sample_note(sampled: _Sampled, data: _Portfolio, sample_rows: int, seed: int) -> str:
    """The note that says what the sample is and which statistics come from it."""
    n, n_all = len(sampled.positions), len(data.y)
    return (f"trained on a Dask cluster: a stratified sample of {n:,} of {n_all:,} rows ({n / max(n_all, 1):.1%}; at "
            f"most {sample_rows:,}, strata part × period × outcome, seed {seed}) gave the "
            f"{', '.join(SAMPLED_STATISTICS)}; XGBoost trained on every training row, and the calibration, the "
            "threshold and the test metrics used every validation and test row (calibrated on the validation rows)")


def _assess_heldout(held_va: pd.DataFrame, held_te: pd.DataFrame, sampled: _Sampled, spec: DatasetSpec,
                    config: TrainingConfig, costs: Costs) -> tuple[stages.Parts, stages.Calibrated, stages.Cutoff,
                                                                   assessment.Assessment]:
    """Stages 6–7 on every held-out row: calibrate on validation, threshold on validation, evaluate on test."""
    va, te = (h.drop(columns=["y", "score_raw"]) for h in (held_va, held_te))
    parts = stages.Parts(sampled.parts.X_train, sampled.parts.y_train, va, held_va["y"].to_numpy().astype(int), te,
                         held_te["y"].to_numpy().astype(int))
    calibrated = _calibrated(held_va["score_raw"].to_numpy(dtype=float), parts.y_validation,
                             held_te["score_raw"].to_numpy(dtype=float), None, config.calibration)
    cutoff = stages.choose_cutoff(parts, calibrated, spec, costs)
    return parts, calibrated, cutoff, assessment.assess(parts, calibrated, cutoff, spec, config, costs)


def train_on_cluster(
    files: Sequence[str | Path],
    spec: DatasetSpec,
    *,
    client: Client,
    config: TrainingConfig | None = None,
    costs: Costs | None = None,
    models_dir: str | Path,
    tracker: Tracker | None = None,
    progress: Progress = no_progress,
    positive: str | None = None,
    promote: bool | None = None,
    source: str | None = None,
    trained_by: str | None = None,
    sample_rows: int = 200_000,
) -> TrainingResult:
    """Train, evaluate, save and register a model on a Dask cluster, from a portfolio in partition files.

    Parameters
    ----------
    files : the partition files (CSV or Parquet), each holding whole companies; every worker must read them
        at these paths (see :func:`riskcore.serving.cluster.partition_files`).
    spec : the data's spec.
    client : a client of the cluster (:func:`riskcore.serving.cluster.open_cluster`).
    config : search budget, calibration and leak policy; the candidate is XGBoost and the calibrator is
        fitted on the validation rows whatever it says (the notes say when that changed a setting).
    costs, models_dir, tracker, progress, positive, promote, source, trained_by : as
        :func:`riskcore.modelling.train.train`.
    sample_rows : the most rows of the stratified sample gathered to the client (see the module docstring).

    Returns
    -------
    TrainingResult
        As a local run's; ``metrics["cluster"]`` describes the partitions and the sample.

    Raises
    ------
    ConfigError
        When SMOTE is asked for, or ``sample_rows`` is too small to search.
    DataFileError
        When a partition cannot be used, companies span partitions, or too few defaults remain.
    LeakageError
        When a leakage check fails and ``config.allow_leaks`` is false.
    """
    t0 = time.monotonic()
    if sample_rows < 1_000:
        raise ConfigError(f"sample_rows must be at least 1,000 to cross-validate the search, not {sample_rows!r}")
    config, notes = _cluster_config(config)
    costs = costs or Costs()
    notes = [*spec.notes, *notes]
    paths = [Path(f) for f in files]
    progress(0.01, f"preparing {len(paths):,} partition(s) on the cluster")
    data = _prepare(client, paths, spec, positive)
    _check_portfolio(data, spec, costs, paths)
    notes.extend(data.clean_notes)
    progress(0.06, "splitting by the keys")
    split = split_portfolio(data.keys, data.y, time=spec.time, id=spec.id, random_state=config.random_state)
    if split.note:
        notes.append(split.note)
    progress(0.08, "gathering the stratified sample")
    sampled = _sample(client, data, split, spec, sample_rows, config.random_state)
    spec = sampled.spec
    quality, inputs, leak, search = _screen_and_search(sampled, config, positive, progress, notes)
    pipeline: Any = build_pipeline(search.chosen, spec, config)
    pipeline.steps[0][1].fit(sampled.parts.X_train, sampled.parts.y_train)
    progress(0.74, f"training XGBoost on {len(split.train):,} rows on the cluster")
    _train_booster(client, data, split, pipeline)
    _check_preprocessing(pipeline, sampled.parts, leak, config)
    progress(0.82, "scoring the validation and test rows on the cluster")
    held_va, held_te = _score_heldout(client, data, split, pipeline, spec)
    parts, calibrated, cutoff, found = _assess_heldout(held_va, held_te, sampled, spec, config, costs)
    progress(0.88, "measuring feature importance on the sample")
    importances = importance_table(pipeline, sampled.parts.X_validation, sampled.parts.y_validation, inputs, spec,
                                   "xgboost", config.random_state)
    warnings = importance_warnings(importances, config.importance_warning, found.test["auc"],
                                   found.oracle["auc"] if found.oracle else None)
    notes.append(_sample_note(sampled, data, sample_rows, config.random_state))
    s = sampled.parts
    sample_calibrated = _calibrated(raw_score(pipeline, s.X_validation), s.y_validation, raw_score(pipeline, s.X_test),
                                    calibrated.calibrators, config.calibration)
    progress(0.90, "measuring the model's directions and sensitivity on the sample")
    blocks = soundness.measure(pipeline, search.chosen, s, sample_calibrated, spec, inputs, config)
    run = _Run(pipeline=pipeline, search=search,
               data=stages.PreparedData(data.keys, data.y, quality, data.clean_notes), sample=s,
               sample_calibrated=sample_calibrated, parts=parts, calibrated=calibrated, cutoff=cutoff, found=found,
               importances=importances, warnings=warnings, split=split, inputs=inputs,
               cluster=_cluster_info(paths, data, sampled, sample_rows, config, cluster_tasks.heldout_columns(spec)),
               blocks=blocks)
    progress(0.92, "saving the bundle")
    version, bundle_dir, bundle, metrics = _save(models_dir, run, leak, spec, config, costs, source, trained_by)
    result = TrainingResult(bundle_dir=bundle_dir, model_version=version, metrics=metrics,
                            candidates=search.candidates, quality=quality, leakage=leak, split=split, notes=notes,
                            seconds=time.monotonic() - t0)
    if tracker is not None:
        progress(0.96, "logging to MLflow")
        _log_run(tracker, result, run, bundle, config=config, costs=costs, spec=spec, promote=promote)
    result.seconds = time.monotonic() - t0
    progress(1.0, "done")
    return result


def _screen_and_search(sampled: _Sampled, config: TrainingConfig, positive: str | None, progress: Progress,
                       notes: list[str]) -> tuple[QualityReport, list[str], LeakageReport, stages.SearchOutcome]:
    """Stages 1b, 3 and 4 on the sample: its quality report, the leakage checks (b)–(d), the search.

    The quality report reads the sample's prepared columns (the panel features are left out, as a file has
    none); ``notes`` gets the leakage and search notes.
    """
    spec = sampled.spec
    panel = {f.name for f in spec.panel_features}
    quality = check_frame(sampled.frame[[c for c in sampled.frame if c not in panel]], spec, positive=positive)
    inputs = stages.model_inputs(sampled.frame, spec)
    leak, leak_note = stages.screen_leaks(sampled.frame, sampled.y, spec, sampled.split, inputs, config)
    search = stages.search(sampled.parts, spec, config, progress)
    notes.extend(n for n in (leak_note, search.rows.note) if n)
    return quality, inputs, leak, search


def _log_run(tracker: Tracker, result: TrainingResult, run: _Run, bundle: Any, *, config: TrainingConfig,
             costs: Costs, spec: DatasetSpec, promote: bool | None) -> None:
    """Stage 10: the run logged and registered as a local run is, with the engine, partitions and sample size."""
    chosen = run.search.chosen
    params = {**_mlflow_params(chosen, config, run.split, run.data, costs, spec), "engine": "dask",
              "partitions": len(run.cluster["partitions"]), "sample_rows": run.cluster["sample"]["rows"]}
    reg = publish.log_to_tracker(
        tracker, version=result.model_version, kind=chosen.kind, params=params,
        metrics=_mlflow_metrics(run.found, run.cutoff.threshold, run.blocks),
        candidates=[{**c.as_dict(), "fold_aucs": None} for c in run.search.candidates], bundle=bundle,
        bundle_dir=result.bundle_dir, summary=result.summary(), promote=promote)
    result.run_id, result.registry_version, result.promoted = reg.run_id, reg.registry_version, reg.promoted


def _check_preprocessing(pipeline: Any, sample: stages.Parts, leak: LeakageReport, config: TrainingConfig) -> None:
    """Leakage check (a) on the sample: the feature step matches one fitted on the training rows only.

    Raises
    ------
    LeakageError
        When it saw other rows and leaks are not allowed.
    """
    pre = check_preprocessing(pipeline, sample.X_train, pd.concat([sample.X_validation, sample.X_test],
                                                                  ignore_index=True))
    leak.findings.insert(0, pre)
    if pre.status == "fail" and not config.allow_leaks:
        raise LeakageError(f"training stopped: {pre.detail}", leak.findings)


def _cluster_info(files: Sequence[Path], data: _Portfolio, sampled: _Sampled, sample_rows: int,
                  config: TrainingConfig, gathered: list[str]) -> dict[str, Any]:
    """``metrics["cluster"]``: the partitions, the sample, and what came from it or from every row."""
    return {
        "engine": "dask", "partitions": [str(f) for f in files], "rows_read": data.n_read,
        "rows": int(len(data.y)),
        "sample": {"rows": int(len(sampled.positions)), "max_rows": int(sample_rows),
                   "strata": ["part", "period", "outcome"], "seed": int(config.random_state),
                   "train_rows": int(len(sampled.split.train)), "validation_rows": int(len(sampled.split.validation)),
                   "test_rows": int(len(sampled.split.test))},
        "from_sample": list(SAMPLED_STATISTICS),
        "from_every_row": ["cleaning", "panel features", "split and folds' parts", "XGBoost training",
                           "calibration (validation rows)", "threshold (validation rows)", "test metrics",
                           "reference PD and grade bins"],
        "gathered_heldout_columns": ["y", "score_raw", *gathered],
        "calibrate_on": "validation",
    }
