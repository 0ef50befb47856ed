"""One training run, from a raw frame to a registered, verified model bundle.

validate → clean → panel features → split → leakage checks (a failing check stops
the run unless allowed) → cross-validate every candidate on company-grouped
folds with a randomized search → pick by mean CV AUC (near-ties go to the simpler
model) → refit on the training part → calibrate (isotonic or Platt, both reported)
on the out-of-fold training scores plus the validation rows → choose the
cost-minimising threshold on validation → evaluate once on test → importances
(warn when one feature dominates) → the declared risk directions against the model's
own (partial dependence), a macro stress and each feature family's effect
(:mod:`riskcore.modelling.soundness`) → save the bundle → reload it and check it
scores exactly like the fitted pipeline → log to MLflow, register, and mark the
champion.

:func:`train` runs that list, declared once as :data:`riskcore.modelling.pipeline.TRAINING`,
on a :class:`~riskcore.modelling.context.RunContext` in this process; each stage is a
function of its own in :mod:`riskcore.modelling.stages` (data to calibrated model),
:mod:`riskcore.modelling.assessment` (test metrics), :mod:`riskcore.modelling.importance`,
:mod:`riskcore.modelling.soundness` and :mod:`riskcore.modelling.publish` (bundle and
MLflow). Progress is reported through a ``progress(fraction, message)`` callback, each
stage within its own budget.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskcore.config import Costs, TrainingConfig, ValidationRules
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.modelling.context import RunContext
from riskcore.modelling.pipeline import run_training
from riskcore.modelling.result import TrainingResult
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress

__all__ = ["TrainingResult", "train"]


def train(
    data: pd.DataFrame | Table,
    spec: DatasetSpec,
    *,
    config: TrainingConfig | None = None,
    costs: Costs | None = None,
    models_dir: str | Path,
    tracker: Tracker | None = None,
    progress: Progress = no_progress,
    positive: str | None = None,
    promote: bool | None = None,
    source: str | None = None,
    trained_by: str | None = None,
    validation: ValidationRules | None = None,
) -> TrainingResult:
    """Train, evaluate, save, register.

    Parameters
    ----------
    data : the portfolio as a frame or as a table read from a file.
    spec : its spec (see :func:`riskcore.data.infer.infer_spec` for a user's CSV).
    config : search budget, calibration, SMOTE, leak policy (default: full profile).
    costs : cost of a missed default and of a false alarm (default 50,000 / 10,000).
    models_dir : where the bundle folder is written.
    tracker : a :class:`riskcore.modelling.tracking.Tracker`, or None to skip MLflow.
    progress : ``progress(fraction, message)`` callback.
    positive : the target label meaning default, when not 0/1.
    promote : make the new model the champion; by default only when there is none yet.
    source : where the data came from (a file path), recorded with the model.
    trained_by : who started the run (``cli:<login>``, ``dashboard:<user>``), recorded with the model: the
        person who trained a version may not promote it (separation of duties).
    validation : the lights of the validation battery run on the test rows (default: ``[validation]``'s defaults).

    Returns
    -------
    TrainingResult

    Raises
    ------
    DataFileError
        When the data cannot be used for training (no target, too few defaults).
    LeakageError
        When a leakage check fails and ``config.allow_leaks`` is false.
    """
    ctx = RunContext(spec, config=config or TrainingConfig(), costs=costs or Costs(), data=data, positive=positive,
                     progress=progress, models_dir=Path(models_dir), tracker=tracker, promote=promote, source=source,
                     trained_by=trained_by, notes=list(spec.notes),  # the notes start with what reading converted
                     validation_rules=validation or ValidationRules())  # the notes start with what reading converted
    return run_training(ctx)
