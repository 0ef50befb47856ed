"""Candidate search: configurations, the rows searched, cross-validation, the ensemble and the choice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from training_data import small_panel

from riskcore.config import TrainingConfig
from riskcore.modelling.models import SoftVotingEnsemble, search_space
from riskcore.modelling.search import (
    CandidateResult,
    build_pipeline,
    choose_candidate,
    ensemble_candidate,
    sample_configs,
    search_candidates,
    search_rows,
)

CONFIG = TrainingConfig.quick(candidates=("logistic", "lightgbm"), n_iter=1, cv_folds=2, n_jobs=1)


@pytest.fixture(scope="module")
def panel():
    return small_panel()


def _result(kind: str, auc: float, oof: np.ndarray | None = None) -> CandidateResult:
    return CandidateResult(kind, {"k": kind}, auc, 0.01, [auc], 1, 0.0, np.zeros(4) if oof is None else oof)


def test_sample_configs_draws_n_iter_points_of_the_space():
    configs = sample_configs("lightgbm", 3, 7)
    assert len(configs) == 3 and configs == sample_configs("lightgbm", 3, 7)
    space = search_space("lightgbm")
    assert all(set(c) == set(space) and all(c[k] in space[k] for k in c) for c in configs)


def test_sample_configs_halves_the_random_forest_budget():
    assert len(sample_configs("random_forest", 6, 7)) == 3
    assert len(sample_configs("random_forest", 1, 7)) == 2


def test_search_rows_keep_every_row_of_a_small_file(panel):
    frame, spec = panel
    y = frame["default"].to_numpy()
    rows = search_rows(frame, y, spec, CONFIG)
    assert len(rows.X) == len(frame) and rows.note is None and len(rows.folds) == 2


def test_search_rows_subsample_whole_companies(panel):
    frame, spec = panel
    y = frame["default"].to_numpy()
    rows = search_rows(frame, y, spec, replace(CONFIG, max_search_rows=800))
    assert rows.note is not None and "of 1,600 training rows" in rows.note
    assert len(rows.X) == 800  # 200 of 400 companies, all four years of each
    assert (rows.X.groupby("company_id").size() == 4).all()
    for tr, va in rows.folds:
        assert not set(rows.X["company_id"].iloc[tr]) & set(rows.X["company_id"].iloc[va])


def test_search_candidates_scores_out_of_fold_predictions(panel):
    frame, spec = panel
    y = frame["default"].to_numpy()
    rows = search_rows(frame, y, spec, CONFIG)
    seen = []
    results = search_candidates(["logistic", "lightgbm"], rows.X, rows.y, rows.folds, spec, CONFIG,
                                lambda f, m: seen.append(f), 0.1, 0.5)
    assert [r.kind for r in results] == ["logistic", "lightgbm"]
    for r in results:
        assert np.isfinite(r.oof).all() and r.configs_tried == 1
        assert r.fold_aucs == pytest.approx([roc_auc_score(rows.y[va], r.oof[va]) for _, va in rows.folds])
        assert r.cv_auc_mean == pytest.approx(np.mean(r.fold_aucs))
    assert seen[-1] == pytest.approx(0.5) and all(0.1 < f <= 0.5 for f in seen)


def test_ensemble_averages_the_three_best():
    y = np.array([0, 1, 0, 1])
    folds = [(np.array([0, 1]), np.array([2, 3])), (np.array([2, 3]), np.array([0, 1]))]
    results = [_result("logistic", 0.7, np.array([0.1, 0.9, 0.2, 0.8])), _result("lightgbm", 0.8, np.full(4, 0.5)),
               _result("xgboost", 0.75, np.full(4, 0.5)), _result("hist_gb", 0.6, np.full(4, 0.5))]
    ens = ensemble_candidate(results, y, folds)
    assert ens is not None and ens.kind == "ensemble"
    assert [m["kind"] for m in ens.params["members"]] == ["lightgbm", "xgboost", "logistic"]
    np.testing.assert_allclose(ens.oof, [(0.1 + 1.0) / 3, (0.9 + 1.0) / 3, (0.2 + 1.0) / 3, (0.8 + 1.0) / 3])
    assert ens.cv_auc_mean == 1.0
    assert ensemble_candidate(results[:1], y, folds) is None


def test_choose_gives_near_ties_to_the_simpler_model():
    results = [_result("lightgbm", 0.801), _result("logistic", 0.7995), _result("random_forest", 0.802)]
    assert choose_candidate(results, 0.003).kind == "logistic"
    assert choose_candidate(results, 0.0).kind == "random_forest"
    assert choose_candidate(results[:1] + results[2:], 0.003).kind == "lightgbm"


def test_build_pipeline_makes_the_candidate_or_its_ensemble(panel):
    _, spec = panel
    pipe = build_pipeline(CandidateResult("logistic", {}, 0.7, 0.0, [], 1, 0.0, np.zeros(1)), spec, CONFIG)
    assert [name for name, _ in pipe.steps][0] == "features"
    members = {"members": [{"kind": "logistic", "params": {}}, {"kind": "lightgbm", "params": {}}]}
    ens = build_pipeline(CandidateResult("ensemble", members, 0.7, 0.0, [], 1, 0.0, np.zeros(1)), spec, CONFIG)
    assert isinstance(ens, SoftVotingEnsemble) and [k for k, _ in ens.members] == ["logistic", "lightgbm"]
