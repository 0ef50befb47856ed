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

from riskcore.config import Costs, Profile, Settings, TrainingConfig
from riskcore.data.schema import DEMO_SPEC, DatasetSpec
from riskcore.data.synth import Manifest, generate_portfolio
from riskcore.data.tabular import Table, read_table, write_csv
from riskcore.modelling.context import RunContext
from riskcore.modelling.features import with_history_features
from riskcore.modelling.pipeline import run_training
from riskcore.modelling.result import TrainingResult
from riskcore.modelling.tracking import Tracker
from riskcore.progress import Progress, no_progress

__all__ = ["TrainingResult", "demo_later_paths", "train", "train_demo"]


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
                     trained_by=trained_by, notes=list(spec.notes))  # the notes start with what reading converted
    return run_training(ctx)


def train_demo(settings: Settings, *, profile: Profile = "quick", progress: Progress = no_progress,
               n_companies: int | None = None, seed: int = 7, later_years: int = 0) -> TrainingResult:
    """Generate the demo portfolio (when missing), train on it, register and promote the model.

    This is the dashboard's first start. The CSV and its manifest are written to
    ``settings.data_dir``; the model is logged to the settings' MLflow store. With
    ``later_years`` the years after the training panel are written too (see
    :func:`demo_later_paths`), for the monitoring history of the first start.
    """
    path = Path(settings.data_dir) / "demo_portfolio.csv"
    manifest = path.with_name(path.name + ".manifest.json")
    later_missing = later_years > 0 and not all(p.exists() for p in demo_later_paths(settings))
    if not path.exists():
        progress(0.0, "generating the demo portfolio")
        _write_demo(settings, n_companies or settings.demo_companies, seed, later_years, write_panel=True)
    elif later_missing and manifest.exists():
        # the later years continue the panel on disk: the same companies and seed
        m = Manifest.from_json(manifest.read_text(encoding="utf-8"))
        progress(0.0, "generating the demo's later years")
        _write_demo(settings, m.n_companies, m.seed, later_years, write_panel=False)
    table = read_table(path)

    def scaled(fraction: float, message: str) -> None:
        progress(0.05 + 0.95 * fraction, message)

    return train(table, DEMO_SPEC, config=TrainingConfig.for_profile(profile, random_state=seed),
                 costs=settings.costs, models_dir=settings.models_dir, tracker=Tracker.from_settings(settings),
                 progress=scaled, promote=True, source=str(path))


def demo_later_paths(settings: Settings) -> tuple[Path, Path]:
    """Where the demo's later years go: the portfolio scored later, and the outcomes that followed."""
    folder = Path(settings.data_dir)
    return folder / "demo_portfolio.later.csv", folder / "demo_portfolio.later_outcomes.csv"


def _write_demo(settings: Settings, n_companies: int, seed: int, later_years: int, *, write_panel: bool) -> None:
    """Write the demo portfolio, its manifest and (with ``later_years``) its later years, each file atomically."""
    portfolio = generate_portfolio(n_companies, seed=seed, later_years=later_years)
    path = Path(settings.data_dir) / "demo_portfolio.csv"
    path.parent.mkdir(parents=True, exist_ok=True)

    def atomic(frame: pd.DataFrame, target: Path) -> None:
        tmp = target.with_suffix(".tmp")
        write_csv(frame, tmp)
        tmp.replace(target)

    if portfolio.later is not None:
        later_path, outcomes_path = demo_later_paths(settings)
        atomic(with_history_features(portfolio.frame, portfolio.later.frame, DEMO_SPEC), later_path)
        atomic(portfolio.later.outcomes, outcomes_path)
    if write_panel:
        path.with_name(path.name + ".manifest.json").write_text(portfolio.manifest.to_json(), encoding="utf-8")
        atomic(portfolio.frame, path)
