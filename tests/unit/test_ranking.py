"""The shared sort: rows by descending score with ties grouped, and the rank metrics computed from it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, roc_auc_score

from riskcore.evaluation.ranking import Ranked, has_both_classes, matvec, rank_metrics, rowdot


def test_ranked_groups_tied_scores_riskiest_first():
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = np.array([0.2, 0.9, 0.5, 0.5, 0.2])
    ranked = Ranked.of(y, p)
    assert ranked.order.tolist() == [1, 2, 3, 0, 4] and ranked.starts.tolist() == [0, 1, 3]
    pos, neg = ranked.group_sums(np.ones((1, 5)))
    assert pos.tolist() == [[1.0, 1.0, 1.0]] and neg.tolist() == [[0.0, 1.0, 1.0]]
    pos, neg = ranked.group_sums(np.array([[2.0, 1.0, 0.0, 3.0, 1.0]]))
    assert pos.tolist() == [[1.0, 0.0, 1.0]] and neg.tolist() == [[0.0, 3.0, 2.0]]


def test_rank_metrics_equal_sklearn_and_scipy_and_are_nan_without_a_class():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(float)
    p = np.round(rng.random(300) * 0.5 + 0.4 * y, 2)
    pos, neg = Ranked.of(y, p).group_sums(np.vstack([np.ones(300), np.r_[np.ones(150), np.zeros(150)] * (1 - y)]))
    out = rank_metrics(pos, neg, ("auc", "pr_auc", "ks"))
    assert out["auc"][0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert out["pr_auc"][0] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert out["ks"][0] == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)
    assert np.isnan(out["auc"][1]) and np.isnan(out["ks"][1])  # second row: no positive carries weight
    assert set(rank_metrics(pos, neg, ("auc",))) == {"auc"}


def test_has_both_classes_looks_at_weights():
    y = np.array([0.0, 1.0, 1.0])
    assert has_both_classes(y, None) and not has_both_classes(y[1:], None)
    assert not has_both_classes(y, np.array([0.0, 1.0, 2.0])) and has_both_classes(y, np.array([0.5, 0.0, 1.0]))


def test_row_products_equal_numpy():
    a, b, v = np.arange(6.0).reshape(2, 3), np.ones((2, 3)), np.array([1.0, 0.0, 2.0])
    assert rowdot(a, b).tolist() == [3.0, 12.0] and matvec(a, v).tolist() == (a @ v).tolist()
