"""The training run, declared once: its stages in order, each with a progress budget, and who runs them.

:data:`TRAINING` is the list. Each :class:`Stage` has a name, its share of the progress
bar (``start`` to ``end``) and its :class:`Step`, the function that reads the
:class:`~riskcore.modelling.context.RunContext` and adds what it produced:

==============  ==========  =====================================================================
stage           progress    what it adds
==============  ==========  =====================================================================
prepare         0.01–0.04   the quality report, the cleaned rows and their panel features
split           0.04–0.06   the split (typical ranges frozen on its training rows) and its parts
screen_leaks    0.06–0.12   the model inputs and the leakage checks (b)–(d)
search          0.12–0.72   every candidate cross-validated, and the one chosen
refit           0.74–0.80   the chosen candidate fitted on every training row, leakage check (a)
calibrate       0.80–0.84   both calibrators, the held-out PDs and the cost-minimising cut-off
assess          0.84–0.88   the test metrics (once) and the logistic baseline
importance      0.88–0.90   permutation importances and their warnings
soundness       0.90–0.92   declared directions, macro stress, feature families, monotone cost,
                            the cycle's grade moves, the lifetime term structures and their
                            back-test (on the demo, against its known truth too)
save            0.92–0.96   the bundle written, reloaded and checked against the fitted model
log             0.96–1.00   the run logged and registered in MLflow (when there is a tracker)
==============  ==========  =====================================================================

A :class:`LocalExecutor` runs each stage's own step in this process. An executor may
replace the steps of some named stages with its own (the Dask executor of
:mod:`riskcore.modelling.cluster_train` prepares, splits, refits and calibrates where the
partitions are); the budgets stay the stage's. :func:`run_training` runs the whole list and
returns the :class:`~riskcore.modelling.result.TrainingResult`; a data check
(:func:`riskcore.workflows.check_file`) runs ``TRAINING.until("screen_leaks")`` in report mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from riskcore.data.demo_truth import demo_lifetime_truth
from riskcore.errors import DataFileError
from riskcore.evaluation.reference import build_reference
from riskcore.modelling import assessment, cycle, lifetime_backtest, publish, recording, soundness, stages
from riskcore.modelling.context import Rows, RunContext, Saved, known
from riskcore.modelling.importance import importance_table, importance_warnings
from riskcore.modelling.result import TrainingResult
from riskcore.progress import Progress

__all__ = ["TRAINING", "Budget", "LocalExecutor", "Pipeline", "Stage", "Step", "run_training", "training_result"]


@dataclass(frozen=True)
class Budget:
    """A stage's share of the progress bar: it reports fractions from ``start`` to ``end``."""

    start: float
    end: float
    progress: Progress

    def report(self, share: float, message: str) -> None:
        """Report ``share`` (0 to 1) of the stage done, as a fraction of the whole run."""
        self.progress(self.start + (self.end - self.start) * share, message)


@dataclass(frozen=True)
class Step:
    """How a stage runs: ``run(context, budget)``, and what the progress bar says when it starts.

    ``message`` is a text, a function of the context, or ``None`` when the step reports its own progress.
    """

    run: Callable[[RunContext, Budget], None]
    message: str | Callable[[RunContext], str] | None = None

    def says(self, ctx: RunContext) -> str | None:
        """The message shown when the step starts."""
        return self.message(ctx) if callable(self.message) else self.message


def _always(ctx: RunContext) -> bool:
    """Every run has this stage."""
    return True


@dataclass(frozen=True)
class Stage:
    """One named stage of the run: its progress budget, its local step, and when it applies."""

    name: str
    start: float
    end: float
    step: Step
    applies: Callable[[RunContext], bool] = _always


@dataclass(frozen=True)
class Pipeline:
    """Stages in the order they run; their budgets rise through the progress bar without overlapping."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        bounds = [b for s in self.stages for b in (s.start, s.end)]
        if bounds != sorted(bounds) or not all(0.0 <= b <= 1.0 for b in bounds):
            raise ValueError(f"progress budgets must rise through [0, 1] without overlapping: {bounds}")

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names, in order."""
        return tuple(s.name for s in self.stages)

    def until(self, name: str) -> Pipeline:
        """The first stages, up to and including ``name``."""
        return Pipeline(self.stages[: self.names.index(name) + 1])


class LocalExecutor:
    """Runs each stage's own step, in this process."""

    def step(self, stage: Stage) -> Step:
        """The step that runs ``stage``."""
        return stage.step

    def run(self, pipeline: Pipeline, ctx: RunContext) -> RunContext:
        """Run the stages that apply, in order, until one stops the run (report mode); returns ``ctx``."""
        for stage in pipeline.stages:
            if ctx.stopped is not None:
                break
            if not stage.applies(ctx):
                continue
            step = self.step(stage)
            message = step.says(ctx)
            if message is not None:
                ctx.progress(stage.start, message)
            step.run(ctx, Budget(stage.start, stage.end, ctx.progress))
        return ctx


# ---------------------------------------------------------------------------
# the local steps
# ---------------------------------------------------------------------------

def _prepare(ctx: RunContext, budget: Budget) -> None:
    """Validate, report on quality, clean (the data check leaves training's own gates to the report)."""
    if ctx.data is None:
        raise RuntimeError("the prepare stage needs the data: this executor brings none")
    found = stages.inspect_data(ctx.data, ctx.spec, ctx.positive)
    ctx.quality, ctx.has_target = found.quality, found.has_target
    try:
        prepared = stages.clean_data(found, ctx.spec, ctx.costs, ctx.positive, drop=ctx.drop,
                                     for_training=ctx.mode == "train")
    except DataFileError as err:
        ctx.stop(err)
        return
    ctx.prepared = prepared
    ctx.notes.extend(prepared.clean_notes)


def _split(ctx: RunContext, budget: Budget) -> None:
    """Split every row; freeze the spec's typical ranges on the training part."""
    data = known(ctx.prepared, "the prepared data")
    try:
        split, ctx.spec = stages.split_data(data.frame, data.y, ctx.spec, ctx.config)
    except DataFileError as err:
        ctx.stop(err)
        return
    ctx.split = split
    ctx.rows = Rows(data.frame, data.y, split, stages.split_parts(data.frame, data.y, split))
    if split.note:
        ctx.notes.append(split.note)


def _screen_leaks(ctx: RunContext, budget: Budget) -> None:
    """Leakage checks (b)–(d): the model's inputs in training, every column of the file in a data check."""
    rows = known(ctx.rows, "the rows")
    if ctx.mode == "report":
        ctx.leak, note = stages.report_leaks(rows.frame, rows.y, ctx.spec, rows.split, ctx.config)
    else:
        ctx.inputs = stages.model_inputs(rows.frame, ctx.spec)
        ctx.leak, note = stages.screen_leaks(rows.frame, rows.y, ctx.spec, rows.split, ctx.inputs, ctx.config)
    if note:
        ctx.notes.append(note)


def _search(ctx: RunContext, budget: Budget) -> None:
    """Cross-validate every candidate on the training part, choose one."""
    ctx.search = stages.search(known(ctx.rows, "the rows").parts, ctx.spec, ctx.config, ctx.progress,
                               lo=budget.start, hi=budget.end)
    if ctx.search.rows.note:
        ctx.notes.append(ctx.search.rows.note)


def _refit(ctx: RunContext, budget: Budget) -> None:
    """The chosen candidate on every training row, then leakage check (a)."""
    ctx.pipeline = stages.refit(known(ctx.search, "the search").chosen, known(ctx.rows, "the rows").parts, ctx.spec,
                                ctx.config, known(ctx.leak, "the leakage report"))


def _calibrate(ctx: RunContext, budget: Budget) -> None:
    """Both calibrators and the held-out PDs, then the cut-off of least cost on validation."""
    search, parts = known(ctx.search, "the search"), known(ctx.rows, "the rows").parts
    ctx.calibrated = stages.calibrate(ctx.pipeline, search.chosen, search.rows.y, parts, ctx.config)
    ctx.cutoff = stages.choose_cutoff(parts, ctx.calibrated, ctx.spec, ctx.costs)


def _assess(ctx: RunContext, budget: Budget) -> None:
    """Every metric once on the test part; the logistic baseline calibrated the same way; the scorecard's AUC."""
    parts, calibrated = ctx.every_heldout()
    cutoff = known(ctx.cutoff, "the cut-off")
    ctx.assessment = assessment.assess(parts, calibrated, cutoff, ctx.spec, ctx.config, ctx.costs)
    ctx.battery = assessment.battery_on_test_rows(parts, calibrated, ctx.spec, ctx.assessment.validation.get("auc"),
                                          ctx.validation_rules)
    ctx.baseline = assessment.baseline(known(ctx.search, "the search"), ctx.pipeline, known(ctx.rows, "the rows").parts,
                                       ctx.spec, ctx.config, cutoff.threshold)
    ctx.scorecard = assessment.scorecard_comparison(known(ctx.search, "the search"), ctx.pipeline, parts,
                                                    calibrated.raw_test, ctx.spec, ctx.config)


def _importance(ctx: RunContext, budget: Budget) -> None:
    """Permutation importances on the validation rows, and the warnings they raise."""
    parts, found = known(ctx.rows, "the rows").parts, known(ctx.assessment, "the assessment")
    ctx.importances = importance_table(ctx.pipeline, parts.X_validation, parts.y_validation, ctx.inputs, ctx.spec,
                                       known(ctx.search, "the search").chosen.kind, ctx.config.random_state)
    ctx.warnings = importance_warnings(ctx.importances, ctx.config.importance_warning, found.test["auc"],
                                       found.oracle["auc"] if found.oracle else None)


def _soundness(ctx: RunContext, budget: Budget) -> None:
    """The declared directions against the model's own, the macro stress, the families, the monotone cost."""
    rows, calibrated = known(ctx.rows, "the rows"), known(ctx.calibrated, "the calibration")
    ctx.blocks = soundness.measure(ctx.pipeline, known(ctx.search, "the search").chosen, rows.parts, calibrated,
                                   ctx.spec, ctx.inputs, ctx.config)
    # the through-the-cycle parameters are frozen for every model, so the report shows what TTC grades would do
    model = soundness.CalibratedModel(ctx.pipeline, calibrated.calibrators[ctx.config.calibration])
    parts = rows.parts
    ctx.cycle, central = cycle.fit_cycle(parts.X_train, parts.y_train, model.p_default, ctx.spec, ctx.inputs,
                                         ctx.config.grading, random_state=ctx.config.random_state)
    ctx.blocks["cycle"] = cycle.cycle_block(central, model.p_default, rows.frame, rows.y, rows.split.train, ctx.spec)
    # the demo portfolio (a manifest next to the file) has a known truth to hold the term structures against
    truth = demo_lifetime_truth(ctx.source, lifetime_backtest.LIFETIME_YEARS,
                                n_paths=lifetime_backtest.TRUTH_PATHS) if ctx.source else None
    ctx.blocks["lifetime"] = lifetime_backtest.lifetime_block(model.p_default, rows.frame, rows.y, rows.split.train,
                                                              ctx.spec, truth=truth)


def _save(ctx: RunContext, budget: Budget) -> None:
    """Claim a version, assemble ``metrics.json`` and the holdout rows, save the bundle and verify it."""
    chosen, parts = known(ctx.search, "the search").chosen, known(ctx.rows, "the rows").parts
    calibrated, (every, every_calibrated) = known(ctx.calibrated, "the calibration"), ctx.every_heldout()
    created = datetime.now(UTC)
    version, bundle_dir = publish.claim_version(Path(known(ctx.models_dir, "the models folder")),
                                                f"{chosen.kind}-{created.strftime('%Y%m%dT%H%M%SZ')}")
    metrics = recording.run_metrics(ctx, version=version, created=created)
    importances = known(ctx.importances, "the importances")
    content = publish.BundleContent(
        info=recording.bundle_info(ctx, version=version, created=created, costs=metrics["costs"]),
        calibrators=dict(every_calibrated.calibrators), metrics=metrics, importances=importances,
        profile=publish.data_profile(parts.X_train, ctx.spec, parts.y_train, publish.feature_builder(ctx.pipeline)),
        holdout=assessment.holdout_frame(parts, ctx.inputs, ctx.spec, calibrated,
                                         ctx.baseline.p_test if ctx.baseline else None),
        reference=build_reference(ctx.spec, parts.X_train,
                                  np.concatenate([every_calibrated.p_validation, every_calibrated.p_test]),
                                  every_calibrated.p_test, every.y_test).as_dict(),
        cycle=ctx.cycle)
    bundle = publish.save_and_verify(bundle_dir, pipeline=ctx.pipeline, kind=chosen.kind, spec=ctx.spec,
                                     content=content, X_test=parts.X_test, p_test=calibrated.p_test)
    ctx.saved = Saved(version, bundle_dir, bundle, metrics)


def _log(ctx: RunContext, budget: Budget) -> None:
    """Log the run with its candidates and summary, register the bundle, promote it when asked."""
    search, saved = known(ctx.search, "the search"), known(ctx.saved, "the saved bundle")
    ctx.registration = publish.log_to_tracker(
        known(ctx.tracker, "the tracker"), version=saved.version, kind=search.chosen.kind,
        params=recording.mlflow_params(ctx), metrics=recording.mlflow_metrics(ctx),
        candidates=[{**c.as_dict(), "fold_aucs": None} for c in search.candidates], bundle=saved.bundle,
        bundle_dir=saved.bundle_dir, summary=training_result(ctx).summary(), promote=ctx.promote)


def _has_tracker(ctx: RunContext) -> bool:
    """Whether the run is logged to MLflow."""
    return ctx.tracker is not None


def _refitting(ctx: RunContext) -> str:
    """The refit stage's message: which candidate is refitted."""
    return f"refitting {known(ctx.search, 'the search').chosen.kind} on all training rows"


TRAINING = Pipeline((
    Stage("prepare", 0.01, 0.04, Step(_prepare, "checking data quality")),
    Stage("split", 0.04, 0.06, Step(_split, "splitting")),
    Stage("screen_leaks", 0.06, 0.12, Step(_screen_leaks, "running leakage checks")),
    Stage("search", 0.12, 0.72, Step(_search)),
    Stage("refit", 0.74, 0.80, Step(_refit, _refitting)),
    Stage("calibrate", 0.80, 0.84, Step(_calibrate, "calibrating and choosing the threshold")),
    Stage("assess", 0.84, 0.88, Step(_assess, "evaluating on the test part")),
    Stage("importance", 0.88, 0.90, Step(_importance, "measuring feature importance")),
    Stage("soundness", 0.90, 0.92, Step(_soundness, "measuring the model's directions and sensitivity")),
    Stage("save", 0.92, 0.96, Step(_save, "saving the bundle")),
    Stage("log", 0.96, 1.00, Step(_log, "logging to MLflow"), applies=_has_tracker),
))
"""The stages of a training run, in order (see the module docstring)."""


def training_result(ctx: RunContext) -> TrainingResult:
    """The result of a run whose bundle is saved: version, metrics, candidates, findings, notes, registration."""
    saved, reg = known(ctx.saved, "the saved bundle"), ctx.registration
    return TrainingResult(bundle_dir=saved.bundle_dir, model_version=saved.version, metrics=saved.metrics,
                          candidates=known(ctx.search, "the search").candidates,
                          quality=known(ctx.quality, "the quality report"),
                          leakage=known(ctx.leak, "the leakage report"), split=known(ctx.split, "the split"),
                          notes=ctx.notes, run_id=reg.run_id if reg else None,
                          registry_version=reg.registry_version if reg else None,
                          promoted=reg.promoted if reg else False, seconds=time.monotonic() - ctx.started)


def run_training(ctx: RunContext, executor: LocalExecutor | None = None) -> TrainingResult:
    """Run :data:`TRAINING` on ``ctx`` with ``executor`` (default: this process) and return the result."""
    (executor or LocalExecutor()).run(TRAINING, ctx)
    ctx.progress(1.0, "done")
    return training_result(ctx)
