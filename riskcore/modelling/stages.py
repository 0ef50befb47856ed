"""The stages of a training run up to a calibrated model with its cut-off.

:func:`riskcore.modelling.train.train` runs them in order; each takes what the
earlier ones produced and returns a small record, so each can be run and tested
on its own:

1. :func:`prepare_data` — validate (:func:`inspect_data`), clean, check the target, add panel
   features (:func:`clean_data`);
2. :func:`split_data` — out-of-time or stratified split, typical ranges frozen on training rows;
   :func:`split_parts` — its three parts;
3. :func:`screen_leaks` — leakage checks (b)–(d); a failure stops the run unless allowed
   (:func:`report_leaks`: every column of a file, for the data check);
4. :func:`search` — cross-validated candidate search and the choice;
5. :func:`refit` — the chosen candidate on every training row, and leakage check (a)
   (:func:`screen_preprocessing`);
6. :func:`calibrate` and :func:`choose_cutoff` — calibrators and the cost-minimising threshold.

Evaluation, importances and the saved bundle follow in :mod:`riskcore.modelling.assessment`
and :mod:`riskcore.modelling.publish`; :mod:`riskcore.modelling.pipeline` declares the
whole list once.

Two thresholds on the outcomes are written here: a split and the leakage checks need both
outcomes :data:`MIN_OUTCOMES` times, and training needs :data:`MIN_DEFAULTS` of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig
from riskcore.data.quality import (
    Prepared,
    QualityReport,
    check_frame,
    clean_for_training,
    freeze_typical_ranges,
    prepare_frame,
)
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.errors import DataFileError, LeakageError, MissingColumnError
from riskcore.evaluation.costs import choose_threshold
from riskcore.modelling.calibration import Calibrator, calibrated_pd, fit_calibrator
from riskcore.modelling.features import add_panel_features
from riskcore.modelling.leakage import (
    LeakageFinding,
    LeakageReport,
    candidate_columns,
    check_preprocessing,
    run_leakage_checks,
)
from riskcore.modelling.models import raw_score
from riskcore.modelling.search import (
    CandidateResult,
    SearchRows,
    build_pipeline,
    choose_candidate,
    ensemble_candidate,
    search_candidates,
    search_rows,
)
from riskcore.modelling.split import Split, split_portfolio
from riskcore.numeric import logit
from riskcore.progress import Progress

__all__ = [
    "MIN_DEFAULTS",
    "MIN_OUTCOMES",
    "Calibrated",
    "Cutoff",
    "Inspected",
    "Parts",
    "PreparedData",
    "SearchOutcome",
    "calibrate",
    "calibrate_scores",
    "calibration_rows",
    "choose_cutoff",
    "clean_data",
    "fit_candidate",
    "inspect_data",
    "model_inputs",
    "prepare_data",
    "refit",
    "report_leaks",
    "require_exposure",
    "require_outcomes",
    "screen_leaks",
    "screen_preprocessing",
    "search",
    "split_data",
    "split_parts",
]

MIN_DEFAULTS = 20
"""Training needs this many defaults and this many non-defaults to cross-validate, calibrate and test honestly."""
MIN_OUTCOMES = 3
"""A split and the leakage checks need both outcomes at least this often (a data check of a small file stops here)."""


@dataclass(frozen=True)
class Inspected:
    """A file read against its spec and its quality report, before anything is cleaned."""

    prepared: Prepared
    quality: QualityReport

    @property
    def has_target(self) -> bool:
        """Whether the file has the spec's target column at all."""
        spec = self.prepared.spec
        return bool(spec.target) and spec.target in self.prepared.frame


@dataclass(frozen=True)
class PreparedData:
    """The cleaned portfolio with its panel features, its 0/1 outcomes and what cleaning found."""

    frame: pd.DataFrame
    y: np.ndarray
    quality: QualityReport
    clean_notes: list[str]

    @property
    def n_defaults(self) -> int:
        """Rows with a default."""
        return int(self.y.sum())


@dataclass(frozen=True)
class Parts:
    """The training, validation and test rows (each re-indexed from 0) and their outcomes."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_validation: pd.DataFrame
    y_validation: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


@dataclass(frozen=True)
class SearchOutcome:
    """Every candidate's cross-validation result, the chosen one, and the rows they were scored on."""

    candidates: list[CandidateResult]
    chosen: CandidateResult
    rows: SearchRows


@dataclass(frozen=True)
class Calibrated:
    """Raw scores of the held-out parts, both calibrators, and the PDs of the configured one."""

    raw_validation: np.ndarray
    raw_test: np.ndarray
    calibrators: dict[str, Calibrator]
    p_validation: np.ndarray
    p_test: np.ndarray
    rows: int
    defaults: int


@dataclass(frozen=True)
class Cutoff:
    """The chosen threshold and, in exposure cost mode, the test rows' exposures (missing as 0)."""

    threshold: float
    exposure_test: np.ndarray | None


def inspect_data(data: pd.DataFrame | Table, spec: DatasetSpec, positive: str | None) -> Inspected:
    """Stage 1a: read the data against its spec and report on its quality."""
    prepared = prepare_frame(data, spec)
    return Inspected(prepared, check_frame(prepared, positive=positive))


def require_outcomes(y: np.ndarray, target: str | None, where: str = "") -> None:
    """Refuse outcomes that cannot be trained on: fewer than :data:`MIN_DEFAULTS` defaults or non-defaults.

    ``where`` names where the rows are (`` in 3 partition(s)``), for the message.

    Raises
    ------
    DataFileError
        When there are too few of either outcome.
    """
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos < MIN_DEFAULTS or n_neg < MIN_DEFAULTS:
        raise DataFileError(f"the target column {target!r} has {n_pos} defaults and {n_neg} non-defaults{where} "
                            f"after cleaning; training needs at least {MIN_DEFAULTS} of each to cross-validate, "
                            "calibrate and test honestly — add rows, or check that the right column is the target")


def require_exposure(spec: DatasetSpec, columns: Sequence[str], costs: Costs) -> None:
    """Refuse exposure cost mode without an exposure column among ``columns``.

    Raises
    ------
    MissingColumnError
        When the costs are in exposure mode and the data has no exposure column.
    """
    if costs.mode == "exposure" and not (spec.exposure and spec.exposure in columns):
        raise MissingColumnError(spec.exposure or "exposure",
                                 "exposure cost mode needs an exposure column (--exposure COL)")


def clean_data(found: Inspected, spec: DatasetSpec, costs: Costs, positive: str | None, *,
               drop: Sequence[str] = (), for_training: bool = True) -> PreparedData:
    """Stage 1b: clean the rows as training does, leave out ``drop``, check the target, add the panel features.

    With ``for_training`` off (a data check), what training needs beyond a usable file — the required
    columns, :data:`MIN_DEFAULTS` of each outcome, an exposure column in exposure cost mode — is left to
    the quality report, which names a missing column and too few defaults.

    Raises
    ------
    DataFileError
        When no usable target remains and, for training, when a required feature column is missing, when
        fewer than :data:`MIN_DEFAULTS` defaults or non-defaults remain after cleaning, or when exposure cost
        mode has no exposure column.
    """
    prepared = found.prepared
    frame, clean_notes = clean_for_training(prepared, found.quality, positive)
    frame = frame.drop(columns=[c for c in drop if c in frame])
    y = frame[spec.target].to_numpy().astype(int)
    if for_training:
        missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
        if missing_required:
            raise MissingColumnError(missing_required,
                                     f"required feature column(s) {missing_required!r} are not in the data")
        require_outcomes(y, spec.target)
        require_exposure(spec, list(frame.columns), costs)
    return PreparedData(add_panel_features(frame, spec), y, found.quality, list(clean_notes))


def prepare_data(data: pd.DataFrame | Table, spec: DatasetSpec, costs: Costs,
                 positive: str | None) -> PreparedData:
    """Stage 1: validate and clean the data, check the target can be learnt, add the panel features.

    Raises
    ------
    DataFileError
        When a required feature column is missing, when fewer than :data:`MIN_DEFAULTS`
        defaults or non-defaults remain after cleaning, or when exposure cost mode
        has no exposure column.
    """
    return clean_data(inspect_data(data, spec, positive), spec, costs, positive)


def split_data(frame: pd.DataFrame, y: np.ndarray, spec: DatasetSpec,
               config: TrainingConfig) -> tuple[Split, DatasetSpec]:
    """Stage 2: split the rows, and freeze the spec's typical ranges on the training part only.

    The typical ranges flag unusual values at scoring time, so they must not
    have seen the validation or test rows.

    Raises
    ------
    DataFileError
        When an outcome occurs fewer than :data:`MIN_OUTCOMES` times, or the rows cannot be split.
    """
    n_pos = int(y.sum())
    if min(n_pos, len(y) - n_pos) < MIN_OUTCOMES:
        raise DataFileError(f"the file has {n_pos} default(s) in {len(y):,} usable rows; both outcomes must occur "
                            f"at least {MIN_OUTCOMES} times")
    split = split_portfolio(frame, y, time=spec.time, id=spec.id, random_state=config.random_state)
    return split, freeze_typical_ranges(spec, frame.iloc[split.train])


def model_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """The spec's model inputs that are columns of ``frame``, in the spec's order."""
    return [c for c in spec.model_inputs if c in frame]


def screen_leaks(frame: pd.DataFrame, y: np.ndarray, spec: DatasetSpec, split: Split, inputs: list[str],
                 config: TrainingConfig) -> tuple[LeakageReport, str | None]:
    """Stage 3: leakage checks (b)–(d) before any model is fitted.

    Returns the report and, when checks failed but ``config.allow_leaks`` lets the
    run go on, a note saying so.

    Raises
    ------
    LeakageError
        When a check fails and leaks are not allowed; it names the columns.
    """
    leak = run_leakage_checks(frame, y, spec, split, columns=inputs, random_state=config.random_state)
    if leak.failed and not config.allow_leaks:
        cols = ", ".join(map(repr, leak.failed_columns)) or "see the details"
        details = " ".join(f.detail for f in leak.failed)
        raise LeakageError(f"training stopped: leakage check failed for {cols}. {details}", leak.findings)
    note = f"leakage checks failed for {leak.failed_columns!r} but --allow-leaks was given" if leak.failed else None
    return leak, note


def report_leaks(frame: pd.DataFrame, y: np.ndarray, spec: DatasetSpec, split: Split,
                 config: TrainingConfig) -> tuple[LeakageReport, str | None]:
    """Stage 3 for a data check: leakage checks (b)–(d) of every column of the file, reported, never raised.

    A column without a single value in the training rows carries no signal, and the quick
    models of the signal-share check cannot be fitted on it (e.g. a year-on-year change in a
    file holding one year): it is left out, and the note returned says which.
    """
    rows = frame.iloc[split.train]
    columns = candidate_columns(frame, spec)
    empty = [c for c in columns if rows[c].isna().all()]
    leak = run_leakage_checks(frame, y, spec, split, columns=[c for c in columns if c not in empty],
                              random_state=config.random_state)
    note = (f"{len(empty)} column(s) have no value in the training rows and were left out of the leakage checks: "
            f"{', '.join(empty)}") if empty else None
    return leak, note


def split_parts(frame: pd.DataFrame, y: np.ndarray, split: Split) -> Parts:
    """The three parts of the split as frames indexed from 0, with their outcomes."""
    def part(idx: np.ndarray) -> pd.DataFrame:
        return frame.iloc[idx].reset_index(drop=True)

    return Parts(part(split.train), y[split.train], part(split.validation), y[split.validation],
                 part(split.test), y[split.test])


def search(parts: Parts, spec: DatasetSpec, config: TrainingConfig, progress: Progress, *, lo: float = 0.0,
           hi: float = 1.0) -> SearchOutcome:
    """Stage 4: cross-validate every candidate on the training part, add the ensemble, choose one.

    The chosen candidate is marked ``chosen``. Progress runs from ``lo`` to ``hi``.
    """
    rows = search_rows(parts.X_train, parts.y_train, spec, config)
    kinds = [k for k in config.candidates if k != "ensemble"]
    candidates = search_candidates(kinds, rows.X, rows.y, rows.folds, spec, config, progress, lo, hi)
    if "ensemble" in config.candidates:
        ens = ensemble_candidate(candidates, rows.y, rows.folds)
        if ens is not None:
            candidates.append(ens)
    chosen = choose_candidate(candidates, config.tie_tolerance)
    chosen.chosen = True
    return SearchOutcome(candidates, chosen, rows)


def _preprocessing_finding(pipeline: Any, kind: str, X_train: pd.DataFrame, X_other: pd.DataFrame) -> LeakageFinding:
    """Leakage check (a) for a pipeline, or for every member of an ensemble (the first failure wins)."""
    if kind != "ensemble":
        return check_preprocessing(pipeline, X_train, X_other)
    checks = [check_preprocessing(p, X_train, X_other) for _, p in pipeline.members]
    bad = [c for c in checks if c.status == "fail"]
    return bad[0] if bad else LeakageFinding("preprocessing", "pass", "every ensemble member: " + checks[0].detail)


def fit_candidate(chosen: CandidateResult, parts: Parts, spec: DatasetSpec, config: TrainingConfig) -> Any:
    """Stage 5a: the chosen candidate's pipeline fitted on every training row."""
    pipeline = build_pipeline(chosen, spec, config)
    pipeline.fit(parts.X_train, parts.y_train)
    return pipeline


def screen_preprocessing(pipeline: Any, kind: str, parts: Parts, leak: LeakageReport, config: TrainingConfig) -> None:
    """Stage 5b: leakage check (a), the preprocessing fitted on the training rows only; put first in ``leak``.

    Raises
    ------
    LeakageError
        When a preprocessing step saw rows outside training and leaks are not allowed.
    """
    X_other = pd.concat([parts.X_validation, parts.X_test], ignore_index=True)
    pre = _preprocessing_finding(pipeline, kind, parts.X_train, X_other)
    leak.findings.insert(0, pre)
    if pre.status == "fail" and not config.allow_leaks:
        raise LeakageError(f"training stopped: {pre.detail}", leak.findings)


def refit(chosen: CandidateResult, parts: Parts, spec: DatasetSpec, config: TrainingConfig,
          leak: LeakageReport) -> Any:
    """Stage 5: fit the chosen candidate on every training row, then check its preprocessing (a).

    The preprocessing finding is put first in ``leak.findings``.

    Raises
    ------
    LeakageError
        When a preprocessing step saw rows outside training and leaks are not allowed.
    """
    pipeline = fit_candidate(chosen, parts, spec, config)
    screen_preprocessing(pipeline, chosen.kind, parts, leak, config)
    return pipeline


def calibration_rows(config: TrainingConfig, chosen: CandidateResult, y_search: np.ndarray,
                     raw_va: np.ndarray, y_va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw scores and outcomes the calibrator is fitted on.

    ``pooled`` (the default) adds the chosen candidate's out-of-fold training
    scores — each predicted by a model that never saw its row, like
    scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` — to the
    validation rows. One validation year holds a few hundred defaults and its
    own point in the credit cycle; isotonic regression on it alone fits that
    year's noise (on the demo portfolio it made a well-calibrated model worse on
    the test year). The pooled rows span every training year, so the PD is
    anchored to the default rate across the cycle.
    """
    if config.calibrate_on == "validation" or chosen.oof is None:
        return raw_va, y_va
    ok = np.isfinite(chosen.oof)
    return np.r_[logit(chosen.oof[ok]), raw_va], np.r_[y_search[ok], y_va]


def calibrate_scores(raw_validation: np.ndarray, raw_test: np.ndarray, cal_raw: np.ndarray, cal_y: np.ndarray,
                     method: str, calibrators: dict[str, Calibrator] | None = None) -> Calibrated:
    """Both calibrators fitted on ``cal_raw`` and ``cal_y`` (unless given), and the held-out PDs of ``method``.

    The PDs are floored as at scoring time.
    """
    cals = calibrators or {m: fit_calibrator(cal_raw, cal_y, method=m) for m in ("isotonic", "platt")}
    cal = cals[method]
    return Calibrated(raw_validation, raw_test, cals, calibrated_pd(cal, raw_validation), calibrated_pd(cal, raw_test),
                      rows=int(len(cal_y)), defaults=int(np.sum(cal_y)))


def calibrate(pipeline: Any, chosen: CandidateResult, y_search: np.ndarray, parts: Parts,
              config: TrainingConfig) -> Calibrated:
    """Stage 6a: fit both calibrators (isotonic and Platt, both reported) and calibrate the held-out PDs.

    The PDs come from ``config.calibration``, floored as at scoring time.
    """
    raw_va, raw_te = raw_score(pipeline, parts.X_validation), raw_score(pipeline, parts.X_test)
    cal_raw, cal_y = calibration_rows(config, chosen, y_search, raw_va, parts.y_validation)
    return calibrate_scores(raw_va, raw_te, cal_raw, cal_y, config.calibration)


def _exposure(X: pd.DataFrame, spec: DatasetSpec, costs: Costs) -> np.ndarray | None:
    """Exposures of the rows in exposure cost mode (missing as 0), else None."""
    if costs.mode != "exposure" or not spec.exposure:
        return None
    return np.nan_to_num(X[spec.exposure].to_numpy(dtype=float), nan=0.0)


def choose_cutoff(parts: Parts, calibrated: Calibrated, spec: DatasetSpec, costs: Costs) -> Cutoff:
    """Stage 6b: the threshold of least cost on the validation part (the test part is not looked at)."""
    threshold, _ = choose_threshold(parts.y_validation, calibrated.p_validation, costs,
                                    exposure=_exposure(parts.X_validation, spec, costs))
    return Cutoff(float(threshold), _exposure(parts.X_test, spec, costs))
