"""Candidate search: cross-validate every candidate kind on company-grouped folds and pick one.

Each kind gets a randomized search over its space (:func:`riskcore.modelling.models.search_space`);
every configuration is scored by its mean out-of-fold AUC, the best configuration
of each kind becomes a :class:`CandidateResult`, an optional soft-voting ensemble
averages the three strongest, and :func:`choose_candidate` picks by mean CV AUC,
giving near-ties to the simpler model (:data:`riskcore.modelling.models.SIMPLICITY`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import ScorecardRules, TrainingConfig
from riskcore.data.schema import DatasetSpec
from riskcore.modelling.models import SIMPLICITY, make_pipeline, search_space
from riskcore.modelling.split import cv_folds
from riskcore.numeric import roc_auc
from riskcore.progress import Progress

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from riskcore.modelling.models import SoftVotingEnsemble

__all__ = [
    "CandidateResult",
    "Folds",
    "SearchRows",
    "build_pipeline",
    "choose_candidate",
    "ensemble_candidate",
    "sample_configs",
    "search_candidates",
    "search_rows",
]

Folds = list[tuple[np.ndarray, np.ndarray]]
"""Cross-validation folds as (training positions, validation positions) pairs."""


@dataclass
class CandidateResult:
    """Cross-validation outcome of one candidate kind (its best configuration)."""

    kind: str
    params: dict[str, Any]
    cv_auc_mean: float
    cv_auc_std: float
    fold_aucs: list[float]
    configs_tried: int
    seconds: float
    oof: np.ndarray = field(repr=False)
    chosen: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``metrics.json`` and MLflow."""
        return {"kind": self.kind, "cv_auc_mean": self.cv_auc_mean, "cv_auc_std": self.cv_auc_std,
                "fold_aucs": self.fold_aucs, "params": self.params, "configs_tried": self.configs_tried,
                "seconds": round(self.seconds, 2), "chosen": self.chosen}


@dataclass(frozen=True)
class SearchRows:
    """The training rows the search cross-validates on, and their company-grouped folds."""

    X: pd.DataFrame
    y: np.ndarray
    folds: Folds
    note: str | None = None


def sample_configs(kind: str, n_iter: int, random_state: int) -> list[dict[str, Any]]:
    """The configurations of ``kind`` to try: the whole grid when it is small, else ``n_iter`` random draws.

    The random forest gets half the draws: each of its fits costs several of the others.
    """
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    space = search_space(kind)
    if not space:
        return [{}]
    size = len(ParameterGrid(space))
    if kind == "random_forest":
        n_iter = max(2, n_iter // 2)
    if size <= n_iter:
        return list(ParameterGrid(space))
    return list(ParameterSampler(space, n_iter=n_iter, random_state=random_state))


def search_rows(X_train: pd.DataFrame, y_train: np.ndarray, spec: DatasetSpec, config: TrainingConfig) -> SearchRows:
    """Rows and folds for the search: at most ``config.max_search_rows``, whole companies kept together.

    A large file is subsampled by company (so a company's years stay in one fold)
    because the search fits every configuration on every fold; the final model
    is refitted on all training rows. ``note`` says so when it happens.
    """
    groups = X_train[spec.id].astype(str).to_numpy() if spec.id and spec.id in X_train else None
    keep = np.arange(len(X_train))
    note = None
    if len(X_train) > config.max_search_rows:
        rng = np.random.default_rng(config.random_state)
        if groups is not None:
            uniq = np.unique(groups)
            chosen = rng.choice(uniq, int(len(uniq) * config.max_search_rows / len(X_train)), replace=False)
            keep = np.flatnonzero(np.isin(groups, chosen))
        else:
            keep = np.sort(rng.choice(len(X_train), config.max_search_rows, replace=False))
        note = f"the search used {len(keep):,} of {len(X_train):,} training rows; the final model all"
    X, y = X_train.iloc[keep].reset_index(drop=True), y_train[keep]
    folds = cv_folds(y, groups[keep] if groups is not None else None, n_splits=config.cv_folds,
                     random_state=config.random_state)
    return SearchRows(X, y, folds, note)


def _fit_task(task: tuple[str, int, int], params: dict[str, Any], X: pd.DataFrame, y: np.ndarray,
              fold: tuple[np.ndarray, np.ndarray], spec: DatasetSpec, smote: bool,
              random_state: int, monotone: bool = False,
              scaling: ScorecardRules | None = None) -> tuple[tuple[str, int, int], np.ndarray, float]:
    """One cross-validation fit, on one thread (the search parallelises over fits instead).

    Returns the task's key, its out-of-fold predictions and its fit time.
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    tr, va = fold
    with threadpool_limits(limits=1):
        pipe = make_pipeline(task[0], spec, params, smote=smote, random_state=random_state, monotone=monotone,
                             scaling=scaling)
        pipe.fit(X.iloc[tr], y[tr])
        pred = np.asarray(pipe.predict_proba(X.iloc[va])[:, 1])
    return task, pred, time.perf_counter() - t0


def _fold_aucs(y: np.ndarray, oof: np.ndarray, folds: Folds) -> list[float]:
    """AUC of the out-of-fold predictions within each fold (NaN for a fold with one class)."""
    return [roc_auc(y[va], oof[va]) for _, va in folds]


def _best_of_kind(kind: str, plans: list[dict[str, Any]], oofs: dict[tuple[str, int], np.ndarray], y: np.ndarray,
                  folds: Folds, seconds: float) -> CandidateResult:
    """The configuration of ``kind`` with the highest mean fold AUC (the first one on a tie)."""
    best: CandidateResult | None = None
    for pi, params in enumerate(plans):
        oof = oofs[(kind, pi)]
        aucs = _fold_aucs(y, oof, folds)
        mean = float(np.nanmean(aucs))
        if best is None or mean > best.cv_auc_mean:
            best = CandidateResult(kind, dict(params), mean, float(np.nanstd(aucs)), [float(a) for a in aucs],
                                   len(plans), seconds, oof)
    if best is None:
        raise ValueError(f"no configuration of {kind!r} to compare")
    return best


def search_candidates(
    kinds: Sequence[str],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    spec: DatasetSpec,
    config: TrainingConfig,
    progress: Progress,
    lo: float,
    hi: float,
) -> list[CandidateResult]:
    """Cross-validate every sampled configuration of every candidate.

    Each fit runs single-threaded and ``config.n_jobs`` fits run at once in
    worker processes: on two cores, two one-thread fits finish sooner than one
    two-thread fit (OpenMP's synchronisation costs more than it gains on a few
    thousand rows — LightGBM 1.6 s on one thread against 2.5 s on two).
    Progress moves from ``lo`` to ``hi`` as fits finish.
    """
    from joblib import Parallel, delayed

    plans = {k: sample_configs(k, config.n_iter, config.random_state) for k in kinds}
    tasks = [(kind, pi, fi) for kind in kinds for pi in range(len(plans[kind])) for fi in range(len(folds))]
    total = len(tasks)
    fit_seconds = dict.fromkeys(kinds, 0.0)
    oofs = {(kind, pi): np.full(len(y), np.nan) for kind, pi, _ in tasks}
    jobs = max(1, min(config.n_jobs, total))
    calls = (delayed(_fit_task)(t, plans[t[0]][t[1]], X, y, folds[t[2]], spec, config.smote, config.random_state,
                                config.monotone, config.scorecard) for t in tasks)
    outputs = (Parallel(n_jobs=jobs, return_as="generator_unordered")(calls) if jobs > 1
               else (fn(*args, **kwargs) for fn, args, kwargs in calls))
    for done, ((kind, pi, fi), pred, seconds) in enumerate(outputs, 1):
        oofs[(kind, pi)][folds[fi][1]] = pred
        fit_seconds[kind] += seconds
        progress(lo + (hi - lo) * done / total, f"cross-validating {kind} ({done}/{total} fits)")
    return [_best_of_kind(kind, plans[kind], oofs, y, folds, fit_seconds[kind]) for kind in kinds]


def ensemble_candidate(results: list[CandidateResult], y: np.ndarray, folds: Folds) -> CandidateResult | None:
    """Soft voting over the three best candidates, scored on their averaged out-of-fold predictions.

    None when fewer than two candidates were searched.
    """
    ranked = sorted(results, key=lambda c: -c.cv_auc_mean)[:3]
    if len(ranked) < 2:
        return None
    oof = np.mean([c.oof for c in ranked], axis=0)
    aucs = _fold_aucs(y, oof, folds)
    return CandidateResult("ensemble", {"members": [{"kind": c.kind, "params": c.params} for c in ranked]},
                           float(np.nanmean(aucs)), float(np.nanstd(aucs)), [float(a) for a in aucs], 1,
                           0.0, oof)


def choose_candidate(results: list[CandidateResult], tolerance: float) -> CandidateResult:
    """The simplest candidate within ``tolerance`` of the best mean CV AUC (then the higher AUC)."""
    best = max(r.cv_auc_mean for r in results)
    near = [r for r in results if best - r.cv_auc_mean <= tolerance]
    return min(near, key=lambda r: (SIMPLICITY.get(r.kind, 9), -r.cv_auc_mean))


def build_pipeline(candidate: CandidateResult, spec: DatasetSpec,
                   config: TrainingConfig) -> Pipeline | SoftVotingEnsemble:
    """An unfitted pipeline of the candidate's kind and configuration (an ensemble of its members)."""
    if candidate.kind == "ensemble":
        members = [(m["kind"], m["params"]) for m in candidate.params["members"]]
        return make_pipeline("ensemble", spec, members=members, smote=config.smote,
                             random_state=config.random_state, monotone=config.monotone, scaling=config.scorecard)
    return make_pipeline(candidate.kind, spec, candidate.params, smote=config.smote,
                         random_state=config.random_state, monotone=config.monotone, scaling=config.scorecard)
