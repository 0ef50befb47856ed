"""The simplest script that compares two models on a file with outcomes (the baseline of compare_bench.py).

pandas reads the CSV; each bundle's own fitted pipeline and calibrator score it; scikit-learn's AUC for
both; the cost difference at each model's cut-off with a paired bootstrap of 1,000 resamples in numpy.
No validation of the rows, no verification of the bundles, no calibration back-test, no gate.

    python benchmarks/handrolled_compare.py MODELS_DIR CHALLENGER_VERSION FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    """Print one JSON line: both AUCs and the cost difference with its 95% interval."""
    from riskcore.modelling.bundle import load_bundle

    models, challenger_version, path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    challenger = load_bundle(models / challenger_version)
    champion = load_bundle(next(p for p in sorted(models.iterdir()) if p.name != challenger_version))
    frame = pd.read_csv(path, dtype={"company_id": str})
    y = frame["default_12m"].to_numpy(dtype=int)
    p = [b.predict_frame(frame)[1] for b in (champion, challenger)]
    fn, fp = champion.costs.fn, champion.costs.fp

    def cost(pd_: np.ndarray, threshold: float) -> np.ndarray:
        refer = pd_ >= threshold
        return np.where(refer & (y == 0), fp, 0.0) + np.where(~refer & (y == 1), fn, 0.0)

    diff = cost(p[1], challenger.threshold) - cost(p[0], champion.threshold)
    rng = np.random.default_rng(7)
    boots = np.array([diff[rng.integers(0, len(diff), len(diff))].sum() for _ in range(1000)])
    print(json.dumps({"auc_champion": roc_auc_score(y, p[0]), "auc_challenger": roc_auc_score(y, p[1]),
                      "difference": float(diff.sum()), "low": float(np.quantile(boots, 0.025)),
                      "high": float(np.quantile(boots, 0.975))}))


if __name__ == "__main__":
    main()
