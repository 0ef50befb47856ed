"""The hand-rolled baseline of ``python -m riskcore monitor``: the simplest script that does the same job.

pyarrow reads the portfolio and the outcomes → the engine's ``add_panel_features``
and the bundle's matrix builder and scorer give the calibrated PD (the model has to
be scored the same way, or the numbers differ) → numpy counts every feature's
values in the bins of the bundle's ``reference.json`` and computes PSI per feature
and for the score → the expected default rate and the exact expected AUC of the PDs
→ pandas joins the outcomes and scikit-learn gives the realised AUC → ``json`` writes
the numbers.

What it leaves out on purpose: validation and the reject report, the audit trail,
periods and sectors, χ² and KS, the interval of the expected AUC, the back-tests,
migration, alerts, the MLflow run. That is the price the benchmark measures.

    .venv/bin/python benchmarks/handrolled_monitor.py --model BUNDLE --data FILE --outcomes FILE --out monitor.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _psi(expected, actual):  # type: ignore[no-untyped-def]
    import numpy as np

    e = np.maximum(expected / expected.sum(), 1e-4)
    a = np.maximum(actual / actual.sum(), 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


def _codes(bins: dict, values):  # type: ignore[no-untyped-def,type-arg]
    import numpy as np
    import pandas as pd

    if bins["kind"] == "categorical":
        levels = bins["levels"]
        s = pd.Series(values, dtype=object)
        codes = pd.Index(levels, dtype=object).get_indexer(pd.Index(s))
        return np.where(s.isna().to_numpy(), len(levels), np.where(codes < 0, len(levels) + 1, codes))
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    n = len(bins["edges"]) + 1
    codes = np.searchsorted(np.asarray(bins["edges"], dtype=float), x, side="right")
    lo, hi = bins["lo"], bins["hi"]
    with np.errstate(invalid="ignore"):
        outside = ~np.isfinite(x) | ((x < lo) if lo is not None else False) | ((x > hi) if hi is not None else False)
    return np.where(np.isnan(x), n, np.where(outside, n + 1, codes))


def main(model: str, data: str, outcomes: str, out: str) -> None:
    import numpy as np
    import pyarrow.csv as pcsv
    from sklearn.metrics import roc_auc_score

    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.features import add_panel_features

    bundle = load_bundle(model)
    spec = bundle.spec
    reference = json.loads((Path(model) / "reference.json").read_text(encoding="utf-8"))
    frame = pcsv.read_csv(data).to_pandas()
    given = {f.name: frame[f.name] for f in spec.panel_features if f.name in frame}
    frame = add_panel_features(frame, spec)
    for name, values in given.items():  # a year-on-year column of the file fills in where the history has none
        frame[name] = frame[name].fillna(values)
    _, p = bundle.score_matrix(bundle.matrix(frame))
    features = {}
    for f in reference["features"]:
        bins = f["bins"]
        n_bins = (len(bins["levels"]) if bins["kind"] == "categorical" else len(bins["edges"]) + 1) + 2
        counts = np.bincount(_codes(bins, frame[f["name"]].to_numpy()), minlength=n_bins)
        features[f["name"]] = _psi(np.asarray(bins["reference_counts"], dtype=float), counts.astype(float))
    score = reference["score"]
    score_counts = np.bincount(_codes(score, p), minlength=len(score["edges"]) + 3)
    values, inverse = np.unique(p, return_inverse=True)  # equal PDs (isotonic steps) count half
    q = 1 - p
    q_at = np.bincount(inverse, weights=q, minlength=len(values))
    q_below = np.cumsum(q_at) - q_at
    pairs = p.sum() * q.sum() - np.sum(p * q)
    expected_auc = float(np.sum(p * (q_below[inverse] + 0.5 * (q_at[inverse] - q))) / pairs)
    found = pcsv.read_csv(outcomes).to_pandas()
    scored = frame[[spec.id, spec.time]].assign(p=p)
    joined = scored.merge(found[[spec.id, spec.time, spec.target]], on=[spec.id, spec.time], how="inner")
    result = {"features": features, "score_psi": _psi(np.asarray(score["reference_counts"], float),
                                                      score_counts.astype(float)),
              "expected_default_rate": float(p.mean()), "expected_auc": expected_auc,
              "realized_auc": float(roc_auc_score(joined[spec.target], joined["p"])), "n": int(len(p))}
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--outcomes", required=True)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    t0 = time.perf_counter()
    main(a.model, a.data, a.outcomes, a.out)
    print(f"timings: {json.dumps({'total': round(time.perf_counter() - t0, 3)})}", file=sys.stderr)
