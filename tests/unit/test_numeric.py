"""The one logistic function, its inverse and the guarded AUC, against the copies they replaced and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import roc_auc_score

from riskcore.numeric import P_CLIP, expit, logit, roc_auc

log_odds = arrays(np.float64, st.integers(0, 50), elements=st.floats(-700, 700))
probabilities = arrays(np.float64, st.integers(0, 50), elements=st.floats(0.0, 1.0))


def _old_sigmoid(x: np.ndarray) -> np.ndarray:
    """The overflow-safe sigmoid calibration.py used to carry."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _old_logit(p: np.ndarray) -> np.ndarray:
    """The clipped log-odds bundle.py, models.py, explain.py and train.py used to carry."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(q / (1 - q))


@given(log_odds)
def test_expit_equals_the_old_sigmoids(x):
    out = expit(x)
    np.testing.assert_allclose(out, _old_sigmoid(x), rtol=1e-14, atol=1e-300)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(out, 1.0 / (1.0 + np.exp(-x)), rtol=1e-14, atol=1e-300)
    assert out.dtype == np.float64 and out.shape == x.shape
    assert np.all((out >= 0) & (out <= 1))


@given(probabilities)
def test_logit_equals_the_old_clipped_log_odds(p):
    out = logit(p)
    np.testing.assert_allclose(out, _old_logit(p), rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(out))
    assert np.all(np.abs(out) <= -np.log(P_CLIP) + 1e-9)


@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(-15, 15)))
def test_logit_inverts_expit_away_from_the_clip(x):
    np.testing.assert_allclose(logit(expit(x)), x, atol=1e-6)


def test_clipping_gives_finite_scores_at_zero_and_one_and_keeps_nan():
    out = logit(np.array([0.0, 1.0, np.nan, 0.5]))
    assert out[0] == pytest.approx(np.log(P_CLIP / (1 - P_CLIP)))
    assert out[1] == pytest.approx(-out[0])
    assert np.isnan(out[2]) and out[3] == 0.0
    assert np.isnan(expit(np.array([np.nan]))[0])
    assert logit(0.25).shape == () and float(expit(0.0)) == 0.5


@st.composite
def labelled(draw):
    n = draw(st.integers(2, 60))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    score = np.array(draw(st.lists(st.sampled_from([0.1, 0.2, 0.5, 0.7, 0.9, -3.0]), min_size=n, max_size=n)))
    w = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n)))
    return y, score, w


@given(labelled())
def test_roc_auc_equals_sklearn_or_is_nan_without_both_classes(case):
    y, score, _ = case
    if len(np.unique(y)) < 2:
        assert np.isnan(roc_auc(y, score))
    else:
        assert roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


@given(labelled())
def test_weighted_roc_auc_needs_both_classes_with_weight(case):
    y, score, w = case
    if len(np.unique(y[w > 0])) < 2:
        assert np.isnan(roc_auc(y, score, w))
    else:
        assert roc_auc(y, score, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w), abs=1e-12)


def test_roc_auc_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert roc_auc([1, 1], [0.1, 0.4]) != roc_auc([1, 1], [0.1, 0.4])  # NaN
    assert np.isnan(roc_auc([0, 1], [0.1, 0.4], [1.0, 0.0]))
