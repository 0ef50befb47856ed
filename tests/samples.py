"""Seeded samples the metric and calibration tests share: scores and outcomes with a known relation."""

from __future__ import annotations

import numpy as np

__all__ = ["SEED", "probability_sample", "raw_score_sample"]

SEED = 7


def probability_sample(n: int = 1500, seed: int = SEED, decimals: int | None = None):
    """Outcomes drawn from a true PD, and noisy probabilities around it: ``(y, y_prob, true_pd)``."""
    rng = np.random.default_rng(seed)
    true_pd = 1 / (1 + np.exp(-rng.normal(-2.0, 1.1, n)))
    y = (rng.random(n) < true_pd).astype(int)
    y_prob = np.clip(true_pd * rng.lognormal(0, 0.3, n), 0, 1)
    if decimals is not None:
        y_prob = np.round(y_prob, decimals)
    return y, y_prob, true_pd


def raw_score_sample(n: int = 2000, seed: int = SEED, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores (log-odds scale, optionally rounded into ties) and outcomes drawn from them: ``(score, y)``."""
    rng = np.random.default_rng(seed)
    score = rng.normal(-1.5, 1.2, n)
    if ties:
        score = np.round(score, 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * score + 0.3)))).astype(int)
    return score, y
