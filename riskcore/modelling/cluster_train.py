"""One training run on a Dask cluster, for a portfolio partitioned into files: the bundle of a local run.

:func:`train_on_cluster` runs the stages of :data:`riskcore.modelling.pipeline.TRAINING`, the list a local run
runs, with a :class:`DaskExecutor`: its own steps for the stages ``prepare``, ``split``, ``refit`` and
``calibrate`` run where the data is, the other stages are the local ones on the sample or on every held-out row:

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig
from riskcore.data.quality import check_frame, freeze_typical_ranges
from riskcore.data.schema import DatasetSpec
from riskcore.errors import ConfigError, DataFileError, RiskcoreError
from riskcore.modelling import cluster_tasks, stages
from riskcore.modelling.context import HeldOut, Rows, RunContext, known
from riskcore.modelling.models import raw_score
from riskcore.modelling.pipeline import Budget, LocalExecutor, Stage, Step, run_training
from riskcore.modelling.result import TrainingResult
from riskcore.modelling.sampling import stratified_sample, sub_split
from riskcore.modelling.search import build_pipeline
from riskcore.modelling.split import Split, split_portfolio
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress

if TYPE_CHECKING:  # dask's distributed is a heavy optional library, imported only when a cluster is used
    from distributed import Client, Future

__all__ = ["SAMPLED_STATISTICS", "DaskExecutor", "train_on_cluster"]

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
    stages.require_outcomes(data.y, spec.target, f" in {len(files):,} partition(s)")
    stages.require_exposure(spec, data.columns, costs)


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


class DaskExecutor(LocalExecutor):
    """Runs the training stages where a partitioned portfolio is, on a Dask cluster.

    Its own steps replace four stages of :data:`~riskcore.modelling.pipeline.TRAINING`: ``prepare`` (each
    partition prepared on a worker), ``split`` (the split from the keys, then the stratified sample gathered),
    ``refit`` (XGBoost on every training row) and ``calibrate`` (every held-out row scored on the workers).
    The other stages are the local ones, on the sample (the rows in this process) or on every held-out row.
    One executor serves one run: it keeps the partitions' handles between the stages.
    """

    _ON_THE_SAMPLE = {"importance": "measuring feature importance on the sample",
                      "soundness": "measuring the model's directions and sensitivity on the sample"}

    def __init__(self, client: Client, files: Sequence[Path], *, sample_rows: int):
        self.client, self.files, self.sample_rows = client, list(files), sample_rows
        self._data: _Portfolio | None = None
        self._sampled: _Sampled | None = None
        self._steps = {
            "prepare": Step(self._prepare, lambda ctx: f"preparing {len(self.files):,} partition(s) on the cluster"),
            "split": Step(self._split, "splitting by the keys"),
            "refit": Step(self._refit, lambda ctx: f"training XGBoost on {len(known(ctx.split, 'the split').train):,} "
                                                   "rows on the cluster"),
            "calibrate": Step(self._calibrate, "scoring the validation and test rows on the cluster"),
        }

    def step(self, stage: Stage) -> Step:
        """The step that runs ``stage`` here: this executor's own, or the local one (saying it runs on the sample)."""
        if stage.name in self._steps:
            return self._steps[stage.name]
        return replace(stage.step, message=self._ON_THE_SAMPLE[stage.name]) if stage.name in self._ON_THE_SAMPLE \
            else stage.step

    def _prepare(self, ctx: RunContext, budget: Budget) -> None:
        """Each partition prepared and kept on its worker; the keys checked here as a local run checks the frame."""
        data = _prepare(self.client, self.files, ctx.spec, ctx.positive)
        _check_portfolio(data, ctx.spec, ctx.costs, self.files)
        ctx.notes.extend(data.clean_notes)
        self._data = data

    def _split(self, ctx: RunContext, budget: Budget) -> None:
        """The split from the keys; the stratified sample gathered, the spec frozen and the quality report on it."""
        data = known(self._data, "the partitions")
        split = split_portfolio(data.keys, data.y, time=ctx.spec.time, id=ctx.spec.id,
                                random_state=ctx.config.random_state)
        if split.note:
            ctx.notes.append(split.note)
        budget.report(0.5, "gathering the stratified sample")
        sampled = _sample(self.client, data, split, ctx.spec, self.sample_rows, ctx.config.random_state)
        ctx.spec = spec = sampled.spec
        panel = {f.name for f in spec.panel_features}  # a file has none: the report reads the prepared columns
        ctx.quality = check_frame(sampled.frame[[c for c in sampled.frame if c not in panel]], spec,
                                  positive=ctx.positive)
        ctx.prepared = stages.PreparedData(data.keys, data.y, ctx.quality, data.clean_notes)
        ctx.split, ctx.rows = split, Rows(sampled.frame, sampled.y, sampled.split, sampled.parts)
        ctx.extra_metrics = {"cluster": _cluster_info(self.files, data, sampled, self.sample_rows, ctx.config,
                                                      cluster_tasks.heldout_columns(spec))}
        ctx.extra_info = {"engine": "dask"}
        ctx.extra_params = {"engine": "dask", "partitions": len(self.files), "sample_rows": int(len(sampled.positions))}
        self._sampled = sampled

    def _refit(self, ctx: RunContext, budget: Budget) -> None:
        """XGBoost on every training row, its feature step fitted on the sample's; leakage check (a) on the sample."""
        data, sampled = known(self._data, "the partitions"), known(self._sampled, "the sample")
        chosen = known(ctx.search, "the search").chosen
        pipeline: Any = build_pipeline(chosen, ctx.spec, ctx.config)
        pipeline.steps[0][1].fit(sampled.parts.X_train, sampled.parts.y_train)
        _train_booster(self.client, data, known(ctx.split, "the split"), pipeline)
        stages.screen_preprocessing(pipeline, chosen.kind, sampled.parts, known(ctx.leak, "the leakage report"),
                                    ctx.config)
        ctx.pipeline = pipeline
        ctx.notes.append(_sample_note(sampled, data, self.sample_rows, ctx.config.random_state))

    def _calibrate(self, ctx: RunContext, budget: Budget) -> None:
        """Every held-out row scored on its worker; calibrated and cut off on every validation row.

        The sample's own held-out rows get the same calibrators, for what is measured on the sample.
        """
        data, sample = known(self._data, "the partitions"), known(self._sampled, "the sample").parts
        held_va, held_te = _score_heldout(self.client, data, known(ctx.split, "the split"), ctx.pipeline, ctx.spec)
        va, te = (h.drop(columns=["y", "score_raw"]) for h in (held_va, held_te))
        parts = stages.Parts(sample.X_train, sample.y_train, va, held_va["y"].to_numpy().astype(int), te,
                             held_te["y"].to_numpy().astype(int))
        raw_va = held_va["score_raw"].to_numpy(dtype=float)
        every = stages.calibrate_scores(raw_va, held_te["score_raw"].to_numpy(dtype=float), raw_va,
                                        parts.y_validation, ctx.config.calibration)
        ctx.heldout = HeldOut(parts, every)
        ctx.cutoff = stages.choose_cutoff(parts, every, ctx.spec, ctx.costs)
        ctx.calibrated = stages.calibrate_scores(
            raw_score(ctx.pipeline, sample.X_validation), raw_score(ctx.pipeline, sample.X_test), raw_va,
            sample.y_validation, ctx.config.calibration, calibrators=every.calibrators)


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
    started = time.monotonic()
    if sample_rows < 1_000:
        raise ConfigError(f"sample_rows must be at least 1,000 to cross-validate the search, not {sample_rows!r}")
    config, notes = _cluster_config(config)
    ctx = RunContext(spec, config=config, costs=costs or Costs(), positive=positive, progress=progress,
                     models_dir=Path(models_dir), tracker=tracker, promote=promote, source=source,
                     trained_by=trained_by, notes=[*spec.notes, *notes], started=started)
    return run_training(ctx, DaskExecutor(client, [Path(f) for f in files], sample_rows=sample_rows))


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
