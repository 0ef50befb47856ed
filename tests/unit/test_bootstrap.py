"""Bootstrap intervals: vectorised resamples equal explicit resampling, weights, chunks, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from samples import probability_sample as _sample
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskcore.errors import SchemaError
from riskcore.evaluation.bootstrap import bootstrap_auc_samples, bootstrap_ci, bootstrap_samples, resample_counts
from riskcore.evaluation.metrics import roc_auc
from riskcore.evaluation.reliability import expected_calibration_error


def _explicit(y, p, counts_row):
    return np.repeat(y, counts_row), np.repeat(p, counts_row)


@pytest.mark.parametrize("decimals", [None, 2])
def test_vectorised_bootstrap_equals_explicit_resampling(decimals):
    y, p, _ = _sample(800, decimals=decimals)
    counts = np.vstack(list(resample_counts(len(y), 6, 11)))
    assert counts.shape == (6, len(y)) and (counts.sum(axis=1) == len(y)).all()
    aucs = bootstrap_auc_samples(y, p, n_resamples=6, random_state=11)
    others = bootstrap_samples(y.astype(float), p, None, ("pr_auc", "brier", "ece", "ks"), 6, 11)
    for b in range(6):
        yy, pp = _explicit(y, p, counts[b])
        assert abs(aucs[b] - roc_auc_score(yy, pp)) < 1e-12
        assert abs(others["pr_auc"][b] - average_precision_score(yy, pp)) < 1e-12
        assert abs(others["brier"][b] - brier_score_loss(yy, pp)) < 1e-12
        assert abs(others["ks"][b] - ks_2samp(pp[yy == 1], pp[yy == 0]).statistic) < 1e-12
        # the bootstrap ECE keeps the full sample's uniform bins, which are fixed edges anyway
        assert abs(others["ece"][b] - expected_calibration_error(yy, pp)) < 1e-12


def test_bootstrap_with_sample_weight_multiplies_the_counts():
    y, p, _ = _sample(300)
    w = np.random.default_rng(2).integers(1, 4, len(y)).astype(float)
    counts = next(resample_counts(len(y), 3, 5))
    aucs = bootstrap_auc_samples(y, p, 3, 5, sample_weight=w)
    for b in range(3):
        assert abs(aucs[b] - roc_auc_score(y, p, sample_weight=counts[b] * w)) < 1e-12


def test_bootstrap_drops_resamples_with_one_class():
    y = np.zeros(30, dtype=int)
    y[0] = 1  # a resample misses the single default with probability (29/30)**30 ≈ 0.36
    p = np.linspace(0, 1, 30)
    aucs = bootstrap_auc_samples(y, p, 200, 3)
    assert aucs.shape == (200,)
    assert 30 < np.isnan(aucs).sum() < 120
    lo, hi = bootstrap_ci(y, p, "auc", 200, random_state=3)
    kept = aucs[~np.isnan(aucs)]
    assert lo == pytest.approx(np.percentile(kept, 2.5)) and hi == pytest.approx(np.percentile(kept, 97.5))


def test_bootstrap_ci_is_reproducible_and_ordered():
    y, p, _ = _sample(500)
    for metric in ("auc", "pr_auc", "brier", "ece", "ks"):
        first = bootstrap_ci(y, p, metric, n_resamples=100, random_state=3)
        assert first == bootstrap_ci(y, p, metric, n_resamples=100, random_state=3)
        assert first != bootstrap_ci(y, p, metric, n_resamples=100, random_state=4)
        assert first[0] <= first[1]
    lo, hi = bootstrap_ci(y, p, "auc", n_resamples=300)
    assert lo < roc_auc(y, p) < hi


def test_bootstrap_ci_edge_cases():
    assert all(np.isnan(v) for v in bootstrap_ci(np.zeros(5), np.linspace(0, 1, 5), "auc", 20))
    with pytest.raises(ValueError, match="metric='gini' is unknown"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "gini")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_resamples=0"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "auc", n_resamples=0)
    with pytest.raises(ValueError, match="confidence=1.5"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 0.9]), "auc", confidence=1.5)
    with pytest.raises(SchemaError, match="outside"):
        bootstrap_ci(np.array([0, 1]), np.array([0.1, 2.0]), "brier")
    # rank metrics accept any score
    assert bootstrap_ci(np.array([0, 1, 0, 1]), np.array([-3.0, 2.0, -1.0, 5.0]), "auc", 20) == (1.0, 1.0)


def test_bootstrap_resamples_are_chunked_without_changing_results(monkeypatch):
    import riskcore.evaluation.bootstrap as bootstrap

    y, p, _ = _sample(400)
    whole = bootstrap_auc_samples(y, p, 50, 9)
    assert len(whole) == 50
    monkeypatch.setattr(bootstrap, "_CHUNK_CELLS", 400 * 7)  # chunks of 7 resamples: 7 full and 1 partial
    chunked = bootstrap_auc_samples(y, p, 50, 9)
    counts = np.vstack(list(resample_counts(len(y), 50, 9)))
    assert counts.shape == (50, 400)
    for b in (0, 6, 7, 49):
        assert abs(chunked[b] - roc_auc_score(*_explicit(y, p, counts[b]))) < 1e-12
    assert np.all((0 <= whole) & (whole <= 1))
