"""The stages of a training run that measure the calibrated model on rows it never saw.

7. :func:`assess` — every metric once on the test part (with the calibration
   error of both calibrators, segments and, on synthetic data, the true PD as ceiling);
   :func:`baseline` — a logistic regression calibrated the same way, for comparison;
   :func:`scorecard_comparison` — the points scorecard's test AUC against the chosen model's;
8. :func:`riskcore.modelling.importance.importance_table` — importances and their warnings;

and the records the bundle keeps of them: :func:`split_info` (the split as plain data) and
:func:`holdout_frame` (the scored validation and test rows); ``metrics.json`` itself is
:func:`riskcore.modelling.recording.run_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig, ValidationRules
from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.costs import business_impact
from riskcore.evaluation.curves import segment_table
from riskcore.evaluation.grading import grade_index
from riskcore.evaluation.metrics import evaluate, oracle_metrics, roc_auc
from riskcore.evaluation.realised import grade_migration
from riskcore.evaluation.reference import GRADE_NAMES
from riskcore.evaluation.reliability import expected_calibration_error
from riskcore.evaluation.validation import ValidationBattery, validation_battery
from riskcore.modelling.calibration import calibrated_pd, fit_calibrator
from riskcore.modelling.models import make_pipeline, raw_score
from riskcore.modelling.split import Split
from riskcore.modelling.stages import Calibrated, Cutoff, Parts, SearchOutcome, calibration_rows
from riskcore.numeric import expit

__all__ = ["Assessment", "Baseline", "assess", "baseline", "battery_on_test_rows", "holdout_frame",
           "scorecard_comparison", "split_info"]


@dataclass(frozen=True)
class Assessment:
    """What the test part (and the validation part, for comparison) says about the model."""

    test: dict[str, Any]
    validation: dict[str, Any]
    calibration: dict[str, Any]
    business: dict[str, Any]
    segments: pd.DataFrame
    oracle: dict[str, Any] | None


@dataclass(frozen=True)
class Baseline:
    """The logistic baseline's test metrics and its test PDs."""

    metrics: dict[str, Any]
    p_test: np.ndarray


def _calibration_report(calibrated: Calibrated, parts: Parts, config: TrainingConfig) -> dict[str, Any]:
    """How the calibrator was fitted, and the ECE of both calibrators on validation and test."""
    report: dict[str, Any] = {"method": config.calibration, "fitted_on": config.calibrate_on,
                              "rows": calibrated.rows, "defaults": calibrated.defaults}
    for m, c in calibrated.calibrators.items():
        report[m] = {
            "ece_test": float(expected_calibration_error(parts.y_test, calibrated_pd(c, calibrated.raw_test))),
            "ece_validation": float(expected_calibration_error(parts.y_validation,
                                                               calibrated_pd(c, calibrated.raw_validation))),
        }
    return report


def _oracle(parts: Parts, p_test: np.ndarray, spec: DatasetSpec, test_auc: float | None) -> dict[str, Any] | None:
    """On data with a known true PD: its AUC (the ceiling), the share of it the model reaches, ECE against it."""
    if not (spec.oracle and spec.oracle in parts.X_test):
        return None
    o = oracle_metrics(parts.y_test, p_test, parts.X_test[spec.oracle].to_numpy(dtype=float))
    ratio = test_auc / o["auc"] if test_auc and o.get("auc") else None
    return {"auc": o["auc"], "ece_vs_true_pd": o["ece_vs_true_pd"], "auc_ratio": ratio}


def assess(parts: Parts, calibrated: Calibrated, cutoff: Cutoff, spec: DatasetSpec, config: TrainingConfig,
           costs: Costs) -> Assessment:
    """Stage 7: evaluate once on the test part, at the threshold chosen on validation."""
    y_te, p_te, y_va, p_va = parts.y_test, calibrated.p_test, parts.y_validation, calibrated.p_validation
    test = evaluate(y_te, p_te, cutoff.threshold, n_resamples=config.n_bootstrap, random_state=config.random_state,
                    y_raw=expit(calibrated.raw_test))
    validation = {"auc": roc_auc(y_va, p_va), "ece_calibrated": float(expected_calibration_error(y_va, p_va)),
                  "rows": int(len(y_va)), "defaults": int(y_va.sum())}
    business = business_impact(y_te, p_te, cutoff.threshold, costs, exposure=cutoff.exposure_test).as_dict()
    segments = pd.DataFrame()
    if spec.segment and spec.segment in parts.X_test:
        segments = segment_table(y_te, p_te, parts.X_test[spec.segment].astype(str).to_numpy(),
                                 n_resamples=min(config.n_bootstrap, 500), random_state=config.random_state)
    return Assessment(test, validation, _calibration_report(calibrated, parts, config), business, segments,
                      _oracle(parts, p_te, spec, test.get("auc")))


def battery_on_test_rows(parts: Parts, calibrated: Calibrated, spec: DatasetSpec, validation_auc: float | None,
                 rules: ValidationRules) -> ValidationBattery:
    """Stage 7c: the validation battery on the test rows (``metrics.json``'s ``validation_battery``).

    What the test rows are compared with is the validation rows, the held-out part before them:
    the AUC test takes the validation AUC as the initial one, the grade PSI and the Herfindahl
    comparison the validation rows' grade distribution, and the migration the companies graded in
    both parts (by the spec's id column; none without one). Monitoring later compares with the
    test rows themselves.
    """
    p_va, p_te = calibrated.p_validation, calibrated.p_test
    migration = None
    if spec.id and spec.id in parts.X_validation and spec.id in parts.X_test:
        rows = pd.DataFrame({"id": np.concatenate([parts.X_validation[spec.id].to_numpy(dtype=object),
                                                   parts.X_test[spec.id].to_numpy(dtype=object)]),
                             "period": ["validation"] * len(p_va) + ["test"] * len(p_te),
                             "p_default": np.concatenate([p_va, p_te])})
        migration = grade_migration(rows, ["validation", "test"])
    reference = np.bincount(grade_index(p_va), minlength=len(GRADE_NAMES)) if len(p_va) else None
    return validation_battery(p_te, parts.y_test, rules, sample="test rows", reference_grade_counts=reference,
                              reference="the validation rows", auc_initial=validation_auc,
                              initial="the validation rows",
                              migration=None if migration is None else migration["matrix"],
                              migration_periods="from the validation rows to the test rows")


def baseline(search: SearchOutcome, pipeline: Any, parts: Parts, spec: DatasetSpec, config: TrainingConfig,
             threshold: float) -> Baseline | None:
    """Stage 7b: the logistic candidate, refitted and calibrated like the model, on the test part.

    None when logistic regression was not among the candidates. When it was
    chosen, the model itself is the baseline.
    """
    logit_cand = next((c for c in search.candidates if c.kind == "logistic"), None)
    if logit_cand is None:
        return None
    if search.chosen.kind == "logistic":
        base_pipe = pipeline
    else:
        base_pipe = make_pipeline("logistic", spec, logit_cand.params, smote=config.smote,
                                  random_state=config.random_state).fit(parts.X_train, parts.y_train)
    b_raw, b_y = calibration_rows(config, logit_cand, search.rows.y, raw_score(base_pipe, parts.X_validation),
                                  parts.y_validation)
    bcal = fit_calibrator(b_raw, b_y, method=config.calibration)  # calibrated the same way as the model
    p_test = calibrated_pd(bcal, raw_score(base_pipe, parts.X_test))
    bt = evaluate(parts.y_test, p_test, threshold, n_resamples=config.n_bootstrap, random_state=config.random_state)
    return Baseline({"kind": "logistic", "auc": bt["auc"], "auc_ci": bt["auc_ci"], "brier": bt["brier"],
                     "ece_calibrated": bt["ece_calibrated"]}, p_test)


def scorecard_comparison(search: SearchOutcome, pipeline: Any, parts: Parts, raw_test: np.ndarray,
                         spec: DatasetSpec, config: TrainingConfig) -> dict[str, Any] | None:
    """Stage 7c: how much test AUC the points scorecard gives up against the chosen model, on the same rows.

    None when the scorecard was not a candidate. When another candidate was chosen, the
    scorecard is refitted with its best configuration on the same training rows (one fit: its
    cross-validation already ran) and both models' raw scores on the test rows are ranked;
    AUC depends on the ranking only, so calibration changes neither. When the scorecard was
    chosen it gives nothing up. A dict with chosen (kind), scorecard_auc, model_auc,
    auc_given_up (model minus scorecard), rows, defaults and the points scaling (pdo, base_points, base_odds).
    """
    card = next((c for c in search.candidates if c.kind == "scorecard"), None)
    if card is None:
        return None
    y = parts.y_test
    model_auc = roc_auc(y, raw_test)
    if search.chosen.kind == "scorecard":
        card_auc = model_auc
    else:
        card_pipe = make_pipeline("scorecard", spec, card.params, scaling=config.scorecard)
        card_auc = roc_auc(y, raw_score(card_pipe.fit(parts.X_train, parts.y_train), parts.X_test))
    rules = config.scorecard
    return {"chosen": search.chosen.kind, "scorecard_auc": card_auc, "model_auc": model_auc,
            "auc_given_up": model_auc - card_auc, "rows": int(len(y)), "defaults": int(np.sum(y)),
            "pdo": rules.pdo, "base_points": rules.base_points, "base_odds": rules.base_odds}


def split_info(split: Split, frame: pd.DataFrame, y: np.ndarray, spec: DatasetSpec) -> dict[str, Any]:
    """The split as plain data: mode, sizes, periods, note and the per-part summary table."""
    summary = split.summary(y, frame[spec.id] if spec.id in frame else None,
                            frame[spec.time] if spec.time and spec.time in frame else None)
    return {
        "mode": split.mode, "train_rows": int(len(split.train)), "validation_rows": int(len(split.validation)),
        "test_rows": int(len(split.test)), "periods": split.periods, "note": split.note,
        "summary": summary.astype(object).where(lambda d: d.notna(), None).to_dict(orient="records"),
    }


def holdout_frame(parts: Parts, inputs: list[str], spec: DatasetSpec, calibrated: Calibrated,
                  p_baseline: np.ndarray | None) -> pd.DataFrame:
    """The validation and test rows with their outcome and every score the bundle's reports need.

    Columns: the spec's role columns, the model inputs, ``part``, ``y``,
    ``score_raw``, ``p_default``, ``p_uncalibrated``, ``p_isotonic``, ``p_platt``
    and, with a baseline, ``p_baseline`` (NaN on validation rows).
    """
    keep = [c for c in (spec.id, spec.time, spec.segment, spec.name_column, spec.exposure, spec.oracle) if c]
    holdout = pd.concat([parts.X_validation.assign(part="validation"), parts.X_test.assign(part="test")],
                        ignore_index=True)
    cols = list(dict.fromkeys([c for c in keep if c in holdout] + inputs + ["part"]))
    holdout = holdout[cols].copy()
    holdout["y"] = np.concatenate([parts.y_validation, parts.y_test])
    holdout["score_raw"] = np.concatenate([calibrated.raw_validation, calibrated.raw_test])
    holdout["p_default"] = np.concatenate([calibrated.p_validation, calibrated.p_test])
    holdout["p_uncalibrated"] = expit(holdout["score_raw"].to_numpy())
    for m, c in calibrated.calibrators.items():
        holdout[f"p_{m}"] = calibrated_pd(c, holdout["score_raw"].to_numpy())
    if p_baseline is not None:
        holdout["p_baseline"] = np.concatenate([np.full(len(parts.y_validation), np.nan), p_baseline])
    return holdout
