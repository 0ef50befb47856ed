"""The cost sweep on 1,000,000 scores and the vectorised bootstrap AUC.

Baselines measured in the same run: a loop of 101 thresholds each calling
``sklearn.metrics.confusion_matrix`` on the million rows (what a naive cost
slider would do), and a loop of ``sklearn.metrics.roc_auc_score`` over 1,000
explicitly resampled copies of 5,000 rows (the same resamples).

    .venv/bin/python benchmarks/cost_bench.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, timeit  # noqa: E402

from riskcore.config import Costs  # noqa: E402
from riskcore.evaluation.bootstrap import bootstrap_auc_samples, resample_counts  # noqa: E402
from riskcore.evaluation.costs import CostSweep, cost_curve  # noqa: E402

SEED = 7


def _portfolio(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_prob = 1 / (1 + np.exp(-rng.normal(-2.5, 1.2, n)))  # continuous: every score is its own threshold
    y_true = (rng.random(n) < y_prob).astype(np.int8)
    exposure = rng.lognormal(11, 1, n)
    return y_true, y_prob, exposure


def _brute_force(y_true: np.ndarray, y_prob: np.ndarray, costs: Costs) -> tuple[float, float]:
    best = (np.inf, np.inf)
    for t in np.linspace(0.0, 1.0, 101):
        tn, fp, fn, tp = confusion_matrix(y_true, y_prob >= t, labels=[0, 1]).ravel()
        cost = costs.fn * fn + costs.fp * fp
        if cost <= best[1]:
            best = (float(t), float(cost))
    return best


def _faster(baseline: float, seconds: float) -> str:
    return f"{baseline / seconds:,.0f}× faster"


def main() -> None:
    n = 1_000_000
    y_true, y_prob, exposure = _portfolio(n)
    costs = Costs(fn=50_000.0, fp=10_000.0)
    slider = Costs(fn=42_000.0, fp=7_500.0)
    print(f"cost sweep: {n:,} scores, {len(np.unique(y_prob)):,} distinct, {int(y_true.sum()):,} defaults")

    base_s, base_best = timeit(lambda: _brute_force(y_true, y_prob, costs), repeat=1)
    curve_s, curve = timeit(lambda: cost_curve(y_true, y_prob, costs), repeat=5)
    build_s, sweep = timeit(lambda: CostSweep(y_true, y_prob, exposure), repeat=5)
    optimal_s, best = timeit(lambda: sweep.optimal(slider), repeat=7)
    optimal_exp_s, _ = timeit(lambda: sweep.optimal(Costs(fp=7_500.0, lgd=0.4, mode="exposure")), repeat=7)
    swept_curve_s, _ = timeit(lambda: sweep.curve(slider), repeat=3)
    at_s, _ = timeit(lambda: sweep.at(0.137, slider), repeat=7)

    print(row("baseline: 101 thresholds × sklearn confusion_matrix", base_s, extra=f"best {base_best[0]:.2f}"))
    print(row("cost_curve (every distinct threshold, one sort)", curve_s, base_s,
              f"{_faster(base_s, curve_s)}; {len(curve):,} thresholds"))
    print(row("CostSweep construction (sort + cumulative sums, once)", build_s, base_s, _faster(base_s, build_s)))
    print(row("CostSweep.optimal(new costs)  [slider; target < 0.1 s]", optimal_s, base_s,
              f"{_faster(base_s, optimal_s)}; t={best[0]:.4f}; {'OK' if optimal_s < 0.1 else 'SLOW'}"))
    print(row("CostSweep.optimal(new costs), exposure mode", optimal_exp_s, base_s, _faster(base_s, optimal_exp_s)))
    print(row("CostSweep.curve(new costs) as a DataFrame", swept_curve_s, base_s, _faster(base_s, swept_curve_s)))
    print(row("CostSweep.at(threshold, costs)", at_s, base_s, _faster(base_s, at_s)))

    m, n_resamples = 5_000, 1_000
    y_small, p_small, _ = _portfolio(m, seed=SEED + 1)

    def loop() -> np.ndarray:
        out = []
        for counts in resample_counts(m, n_resamples, SEED):
            for c in counts:
                out.append(roc_auc_score(np.repeat(y_small, c), np.repeat(p_small, c)))
        return np.array(out)

    boot_base_s, explicit = timeit(loop, repeat=1)
    boot_s, vectorised = timeit(lambda: bootstrap_auc_samples(y_small, p_small, n_resamples, SEED), repeat=3)
    gap = float(np.max(np.abs(vectorised - explicit)))
    print(f"bootstrap AUC: {n_resamples:,} resamples of {m:,} rows")
    print(row("baseline: loop of sklearn roc_auc_score on resamples", boot_base_s))
    print(row("bootstrap_auc_samples (one sort, count matrix)", boot_s, boot_base_s,
              f"{_faster(boot_base_s, boot_s)}; max |diff| vs loop {gap:.1e}"))


if __name__ == "__main__":
    main()
