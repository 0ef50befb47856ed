"""What a training run knows, stage by stage: one object the stages read and fill in.

:class:`RunContext` starts with what the caller gives (the data, its spec, the
training settings and costs, where the bundle goes, the tracker) and each stage of
:data:`riskcore.modelling.pipeline.TRAINING` adds what it produced: the quality
report and the cleaned rows, the split, the leakage report, the search, the fitted
pipeline, its calibration and cut-off, the assessment, the importances, the saved
bundle and its registration. :func:`known` reads a field a later stage needs.

The same object serves a data check (``mode="report"``): the first stages run, and a
problem that would stop training is kept in :attr:`RunContext.stopped` instead of
raised (see :meth:`RunContext.stop`).

On a cluster the rows in this process are a stratified sample (:attr:`RunContext.rows`)
while the test metrics use every held-out row (:attr:`RunContext.heldout`); on one
machine both are every row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig, ValidationRules
from riskcore.data.quality import QualityReport
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.errors import RiskcoreError
from riskcore.evaluation.validation import ValidationBattery
from riskcore.modelling.assessment import Assessment, Baseline
from riskcore.modelling.bundle import ModelBundle
from riskcore.modelling.cycle import CycleModel
from riskcore.modelling.leakage import LeakageReport
from riskcore.modelling.publish import Registration
from riskcore.modelling.split import Split
from riskcore.modelling.stages import Calibrated, Cutoff, Parts, PreparedData, SearchOutcome
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress

__all__ = ["HeldOut", "Mode", "Rows", "RunContext", "Saved", "known"]

Mode = Literal["train", "report"]
"""``train`` raises what stops a run; ``report`` (a data check) keeps it and stops quietly."""

T = TypeVar("T")


def known(value: T | None, what: str) -> T:
    """``value``, which an earlier stage must have set.

    Raises
    ------
    RuntimeError
        When it is not set: the stages ran out of order, a bug.
    """
    if value is None:
        raise RuntimeError(f"{what} is not known yet: a stage that needs it ran before the stage that makes it")
    return value


@dataclass(frozen=True)
class Rows:
    """The rows this process holds, their outcomes, their split and its three parts.

    Every row on one machine; on a cluster, the stratified sample gathered to the client (its
    split is the portfolio's split restricted to the sample).
    """

    frame: pd.DataFrame
    y: np.ndarray
    split: Split
    parts: Parts


@dataclass(frozen=True)
class HeldOut:
    """Every validation and test row's features, outcome and calibrated PD, when they are not all in ``rows``."""

    parts: Parts
    calibrated: Calibrated


@dataclass(frozen=True)
class Saved:
    """The saved bundle of a run: its version, folder, reloaded bundle and metrics."""

    version: str
    bundle_dir: Path
    bundle: ModelBundle
    metrics: dict[str, Any]


@dataclass
class RunContext:
    """One training run (or data check) from the caller's inputs to the registered bundle.

    The first block is what the caller gives; the rest is filled in by the stages, in order.
    ``extra_metrics``, ``extra_info`` and ``extra_params`` are what an executor adds to
    ``metrics.json``, ``bundle.json`` and the MLflow parameters (a cluster run names its engine,
    partitions and sample there).
    """

    spec: DatasetSpec
    config: TrainingConfig = field(default_factory=TrainingConfig)
    costs: Costs = field(default_factory=Costs)
    data: pd.DataFrame | Table | None = None
    positive: str | None = None
    drop: tuple[str, ...] = ()
    mode: Mode = "train"
    progress: Progress = no_progress
    models_dir: Path | None = None
    tracker: Tracker | None = None
    promote: bool | None = None
    source: str | None = None
    trained_by: str | None = None
    notes: list[str] = field(default_factory=list)
    validation_rules: ValidationRules = field(default_factory=ValidationRules)
    started: float = field(default_factory=time.monotonic)

    quality: QualityReport | None = None
    has_target: bool = True
    prepared: PreparedData | None = None
    split: Split | None = None
    rows: Rows | None = None
    inputs: list[str] = field(default_factory=list)
    leak: LeakageReport | None = None
    search: SearchOutcome | None = None
    pipeline: Any = None
    calibrated: Calibrated | None = None
    heldout: HeldOut | None = None
    cutoff: Cutoff | None = None
    assessment: Assessment | None = None
    baseline: Baseline | None = None
    battery: ValidationBattery | None = None
    # the scorecard against the chosen model on the test rows (assessment.scorecard_comparison), when searched
    scorecard: dict[str, Any] | None = None
    importances: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    blocks: dict[str, Any] = field(default_factory=dict)
    cycle: CycleModel | None = None
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    extra_info: dict[str, Any] = field(default_factory=dict)
    extra_params: dict[str, Any] = field(default_factory=dict)
    saved: Saved | None = None
    registration: Registration | None = None
    stopped: str | None = None

    def stop(self, err: RiskcoreError) -> None:
        """A problem that stops the run: raised in training, kept in :attr:`stopped` in report mode.

        In report mode no later stage runs; :attr:`stopped` says why.
        """
        if self.mode == "train":
            raise err
        self.stopped = str(err)

    def every_heldout(self) -> tuple[Parts, Calibrated]:
        """The parts and calibrated PDs of every held-out row: :attr:`heldout`, or the rows in this process."""
        if self.heldout is not None:
            return self.heldout.parts, self.heldout.calibrated
        return known(self.rows, "the rows").parts, known(self.calibrated, "the calibration")
