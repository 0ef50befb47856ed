"""The stages of a training run up to a calibrated model with its cut-off.

:func:`riskcore.modelling.train.train` runs them in order; each takes what the
earlier ones produced and returns a small record, so each can be run and tested
on its own:

1. :func:`prepare_data` — validate, clean, check the target, add panel features;
2. :func:`split_data` — out-of-time or stratified split, typical ranges frozen on training rows;
3. :func:`screen_leaks` — leakage checks (b)–(d); a failure stops the run unless allowed;
4. :func:`split_parts` and :func:`search` — cross-validated candidate search and the choice;
5. :func:`refit` — the chosen candidate on every training row, and leakage check (a);
6. :func:`calibrate` and :func:`choose_cutoff` — calibrators and the cost-minimising threshold.

Evaluation, importances and the saved bundle follow in :mod:`riskcore.modelling.assessment`
and :mod:`riskcore.modelling.publish`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig
from riskcore.data.quality import QualityReport, check_frame, clean_for_training, freeze_typical_ranges, prepare_frame
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.errors import DataFileError, LeakageError, MissingColumnError
from riskcore.modelling.calibration import Calibrator, fit_calibrator
from riskcore.modelling.features import add_panel_features
from riskcore.modelling.leakage import LeakageFinding, LeakageReport, check_preprocessing, run_leakage_checks
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
    "Calibrated",
    "Cutoff",
    "Parts",
    "PreparedData",
    "SearchOutcome",
    "calibrate",
    "calibration_rows",
    "choose_cutoff",
    "model_inputs",
    "prepare_data",
    "refit",
    "screen_leaks",
    "search",
    "split_data",
    "split_parts",
]

MIN_DEFAULTS = 20


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
    prepared = prepare_frame(data, spec)
    quality = check_frame(prepared, positive=positive)
    frame, clean_notes = clean_for_training(prepared, quality, positive)
    missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
    if missing_required:
        raise MissingColumnError(missing_required,
                                 f"required feature column(s) {missing_required!r} are not in the data")
    y = frame[spec.target].to_numpy().astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos < MIN_DEFAULTS or n_neg < MIN_DEFAULTS:
        raise DataFileError(f"the target column {spec.target!r} has {n_pos} defaults and {n_neg} non-defaults after "
                            f"cleaning; training needs at least {MIN_DEFAULTS} of each to cross-validate, calibrate "
                            "and test honestly — add rows, or check that the right column is the target")
    if costs.mode == "exposure" and not (spec.exposure and spec.exposure in frame):
        raise MissingColumnError(spec.exposure or "exposure",
                                 "exposure cost mode needs an exposure column (--exposure COL)")
    return PreparedData(add_panel_features(frame, spec), y, quality, list(clean_notes))


def split_data(frame: pd.DataFrame, y: np.ndarray, spec: DatasetSpec,
               config: TrainingConfig) -> tuple[Split, DatasetSpec]:
    """Stage 2: split the rows, and freeze the spec's typical ranges on the training part only.

    The typical ranges flag unusual values at scoring time, so they must not
    have seen the validation or test rows.
    """
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


def split_parts(frame: pd.DataFrame, y: np.ndarray, split: Split) -> Parts:
    """The three parts of the split as frames indexed from 0, with their outcomes."""
    def part(idx: np.ndarray) -> pd.DataFrame:
        return frame.iloc[idx].reset_index(drop=True)

    return Parts(part(split.train), y[split.train], part(split.validation), y[split.validation],
                 part(split.test), y[split.test])


def search(parts: Parts, spec: DatasetSpec, config: TrainingConfig, progress: Progress) -> SearchOutcome:
    """Stage 4: cross-validate every candidate on the training part, add the ensemble, choose one.

    The chosen candidate is marked ``chosen``. Progress runs from 0.12 to 0.72.
    """
    rows = search_rows(parts.X_train, parts.y_train, spec, config)
    kinds = [k for k in config.candidates if k != "ensemble"]
    candidates = search_candidates(kinds, rows.X, rows.y, rows.folds, spec, config, progress, 0.12, 0.72)
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


def refit(chosen: CandidateResult, parts: Parts, spec: DatasetSpec, config: TrainingConfig,
          leak: LeakageReport) -> Any:
    """Stage 5: fit the chosen candidate on every training row, then check its preprocessing (a).

    The preprocessing finding is put first in ``leak.findings``.

    Raises
    ------
    LeakageError
        When a preprocessing step saw rows outside training and leaks are not allowed.
    """
    pipeline = build_pipeline(chosen, spec, config)
    pipeline.fit(parts.X_train, parts.y_train)
    X_other = pd.concat([parts.X_validation, parts.X_test], ignore_index=True)
    pre = _preprocessing_finding(pipeline, chosen.kind, parts.X_train, X_other)
    leak.findings.insert(0, pre)
    if pre.status == "fail" and not config.allow_leaks:
        raise LeakageError(f"training stopped: {pre.detail}", leak.findings)
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


def calibrate(pipeline: Any, chosen: CandidateResult, y_search: np.ndarray, parts: Parts,
              config: TrainingConfig) -> Calibrated:
    """Stage 6a: fit both calibrators (isotonic and Platt, both reported) and calibrate the held-out PDs.

    The PDs come from ``config.calibration``, floored as at scoring time.
    """
    from riskcore.modelling.bundle import calibrated_pd

    raw_va, raw_te = raw_score(pipeline, parts.X_validation), raw_score(pipeline, parts.X_test)
    cal_raw, cal_y = calibration_rows(config, chosen, y_search, raw_va, parts.y_validation)
    calibrators = {m: fit_calibrator(cal_raw, cal_y, method=m) for m in ("isotonic", "platt")}
    cal = calibrators[config.calibration]
    return Calibrated(raw_va, raw_te, calibrators, calibrated_pd(cal, raw_va), calibrated_pd(cal, raw_te),
                      rows=int(len(cal_y)), defaults=int(cal_y.sum()))


def _exposure(X: pd.DataFrame, spec: DatasetSpec, costs: Costs) -> np.ndarray | None:
    """Exposures of the rows in exposure cost mode (missing as 0), else None."""
    if costs.mode != "exposure" or not spec.exposure:
        return None
    return np.nan_to_num(X[spec.exposure].to_numpy(dtype=float), nan=0.0)


def choose_cutoff(parts: Parts, calibrated: Calibrated, spec: DatasetSpec, costs: Costs) -> Cutoff:
    """Stage 6b: the threshold of least cost on the validation part (the test part is not looked at)."""
    from riskcore.evaluation.costs import choose_threshold

    threshold, _ = choose_threshold(parts.y_validation, calibrated.p_validation, costs,
                                    exposure=_exposure(parts.X_validation, spec, costs))
    return Cutoff(float(threshold), _exposure(parts.X_test, spec, costs))
