"""What a Dask worker does for a training run on a cluster: one function per task, on one partition.

:func:`riskcore.modelling.cluster_train.train_on_cluster` hands these to the workers. A partition is read
with riskcore's tolerant reader and prepared by the same cleaning policy and panel features as a local run
(:func:`prepare_partition`); the prepared frame stays on the worker that made it, and later tasks take rows
from it by position: the keys (:func:`partition_keys`), the rows of the stratified sample
(:func:`take_rows`), the training matrix the booster learns from (:func:`training_matrix`,
:func:`outcomes`) and the raw scores of the held-out rows (:func:`score_rows`). Only the keys, the sample
and the held-out scores ever travel to the client.

Panel features (a company's earlier years) are computed within the partition, so a company's rows must all
be in one partition; :func:`partition_keys` returns the ids so that the client can check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.quality import check_frame, clean_for_training, prepare_frame
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import read_table
from riskcore.errors import MissingColumnError
from riskcore.modelling.features import FeatureBuilder, add_panel_features
from riskcore.modelling.models import raw_score

__all__ = ["KEY_Y", "PartitionKeys", "PreparedPartition", "booster_params", "heldout_columns", "merge_notes",
           "outcomes", "partition_keys", "prepare_partition", "score_rows", "take_rows", "training_matrix"]

KEY_Y = "__y"
"""The 0/1 outcome's column in the keys frame (named so that no user column can clash with it)."""


@dataclass(frozen=True)
class PreparedPartition:
    """One partition after cleaning and panel features, kept on its worker; ``y`` is its 0/1 outcome."""

    frame: pd.DataFrame
    y: np.ndarray
    clean_notes: list[str]
    n_read: int


@dataclass(frozen=True)
class PartitionKeys:
    """The little the client learns of a partition: id, time and outcome per row, its columns, its notes."""

    keys: pd.DataFrame
    columns: list[str]
    clean_notes: list[str]
    n_read: int


def prepare_partition(path: str, spec: DatasetSpec, positive: str | None) -> PreparedPartition:
    """Read, validate and clean one partition and add its panel features, as a local run's first stage does.

    The target's minimum counts are checked by the client over every partition, not here: a small partition
    with few defaults is a normal part of a large portfolio.

    Raises
    ------
    DataFileError
        When the file cannot be read or has no usable target.
    MissingColumnError
        When a required feature column is missing.
    """
    prepared = prepare_frame(read_table(path), spec)
    missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
    if missing_required:
        raise MissingColumnError(missing_required,
                                 f"required feature column(s) {missing_required!r} are not in {path}")
    quality = check_frame(prepared, positive=positive)
    frame, notes = clean_for_training(prepared, quality, positive)
    y = frame[spec.target].to_numpy().astype(int)
    return PreparedPartition(add_panel_features(frame, spec), y, list(notes), int(len(prepared.frame)))


def partition_keys(part: PreparedPartition, spec: DatasetSpec) -> PartitionKeys:
    """The partition's id and time columns (those it has) and its outcome, one row per cleaned row."""
    cols = [c for c in (spec.id, spec.time) if c and c in part.frame]
    keys = part.frame[cols].copy()
    keys[KEY_Y] = part.y
    return PartitionKeys(keys.reset_index(drop=True), [str(c) for c in part.frame.columns], part.clean_notes,
                         part.n_read)


def take_rows(part: PreparedPartition, positions: np.ndarray) -> pd.DataFrame:
    """The prepared rows at ``positions`` (a few thousand of a partition: the sample's share of it)."""
    return part.frame.iloc[np.asarray(positions, dtype=np.int64)].reset_index(drop=True)


def training_matrix(part: PreparedPartition, positions: np.ndarray, builder: FeatureBuilder) -> np.ndarray:
    """The model matrix of the rows at ``positions``, built by the pipeline's fitted feature step."""
    if not len(positions):
        return np.empty((0, len(builder.layout_.names)))
    return np.asarray(builder.transform(take_rows(part, positions)), dtype=float)


def outcomes(part: PreparedPartition, positions: np.ndarray) -> np.ndarray:
    """The 0/1 outcomes of the rows at ``positions``, as floats (the booster's label type)."""
    return part.y[np.asarray(positions, dtype=np.int64)].astype(float)


def heldout_columns(spec: DatasetSpec) -> list[str]:
    """The columns of the held-out rows that the assessment reads: segment, exposure, true PD (when set)."""
    return [c for c in dict.fromkeys((spec.segment, spec.exposure, spec.oracle)) if c]


def score_rows(part: PreparedPartition, positions: np.ndarray, pipeline: Any, columns: list[str]) -> pd.DataFrame:
    """Raw scores of the rows at ``positions`` with their outcome and the ``columns`` the assessment reads.

    Columns: ``columns`` (those the partition has), ``y``, ``score_raw`` (log-odds, as
    :func:`riskcore.modelling.models.raw_score` computes it).
    """
    rows = take_rows(part, positions)
    out = rows[[c for c in columns if c in rows]].copy()
    out["y"] = part.y[np.asarray(positions, dtype=np.int64)]
    out["score_raw"] = raw_score(pipeline, rows) if len(rows) else np.empty(0)
    return out


def merge_notes(notes: list[str]) -> list[str]:
    """The partitions' cleaning notes with the counts of each kind added up.

    ``3 invalid cell(s) set to missing`` and ``2 invalid cell(s) set to missing`` become
    ``5 invalid cell(s) set to missing``; a note without a leading count is kept once.
    """
    totals: dict[str, int] = {}
    other: dict[str, None] = {}
    for note in notes:
        m = re.match(r"(\d+) (.*)", note)
        if m:
            totals[m.group(2)] = totals.get(m.group(2), 0) + int(m.group(1))
        else:
            other[note] = None
    return [f"{n} {rest}" for rest, n in totals.items()] + list(other)


def booster_params(pipeline: Any) -> tuple[dict[str, Any], int]:
    """The chosen XGBClassifier's booster parameters and boosting rounds, for ``xgboost.dask.train``.

    ``n_jobs`` is left out so that each worker uses its own threads.
    """
    model = pipeline.steps[-1][1]
    params = {k: v for k, v in model.get_xgb_params().items() if v is not None and k != "n_jobs"}
    return params, int(model.get_params()["n_estimators"] or 100)
