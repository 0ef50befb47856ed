"""The hand-rolled baseline of ``python -m riskcore monitor``: the simplest script that does the same job.

No riskcore in its process: it scores as ``handrolled_score.py`` does, from the model
card the benchmark exports beforehand (``model_card.py``). pyarrow reads the portfolio
and the outcomes → the year-on-year features by one sort and a grouped difference, the
model matrix, the booster or the logistic's numbers and the calibrator's knots give the
PD → numpy counts every feature's values in the bins of the bundle's ``reference.json``
(read as JSON) and computes PSI per feature and for the score → the expected default
rate and the exact expected AUC of the PDs → pandas joins the outcomes and scikit-learn
gives the realised AUC → ``json`` writes the numbers.

What it leaves out on purpose: validation and the reject report, the audit trail,
periods and sectors, χ² and KS, the interval of the expected AUC, the back-tests,
migration, alerts, the MLflow run. That is the price the benchmark measures.

    .venv/bin/python benchmarks/handrolled_monitor.py --card CARD.json --model BUNDLE --data FILE --outcomes FILE \
        --out monitor.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import handrolled_score as hs  # noqa: E402


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


def main(card_path: str, model: str, data: str, outcomes: str, out: str) -> None:
    import numpy as np
    import pyarrow.csv as pcsv
    from sklearn.metrics import roc_auc_score

    card, booster = hs.load(card_path)
    reference = json.loads((Path(model) / "reference.json").read_text(encoding="utf-8"))
    table = pcsv.read_csv(data)
    panel = hs.panel_features(table, card)  # a year-on-year column of the file fills in where the history has none
    p = hs.calibrated(hs.raw_scores(hs.model_matrix(table, panel, card), card, booster), card)
    features = {}
    for f in reference["features"]:
        bins = f["bins"]
        n_bins = (len(bins["levels"]) if bins["kind"] == "categorical" else len(bins["edges"]) + 1) + 2
        values = panel[f["name"]] if f["name"] in panel else table.column(f["name"]).to_numpy(zero_copy_only=False)
        counts = np.bincount(_codes(bins, values), minlength=n_bins)
        features[f["name"]] = _psi(np.asarray(bins["reference_counts"], dtype=float), counts.astype(float))
    score = reference["score"]
    score_counts = np.bincount(_codes(score, p), minlength=len(score["edges"]) + 3)
    values, inverse = np.unique(p, return_inverse=True)  # equal PDs (isotonic steps) count half
    q = 1 - p
    q_at = np.bincount(inverse, weights=q, minlength=len(values))
    q_below = np.cumsum(q_at) - q_at
    pairs = p.sum() * q.sum() - np.sum(p * q)
    expected_auc = float(np.sum(p * (q_below[inverse] + 0.5 * (q_at[inverse] - q))) / pairs)
    keys, target = [card["id"], card["time"]], card["target"]
    found = pcsv.read_csv(outcomes).to_pandas()
    scored = table.select(keys).to_pandas().assign(p=p)
    joined = scored.merge(found[[*keys, target]], on=keys, how="inner")
    result = {"features": features, "score_psi": _psi(np.asarray(score["reference_counts"], float),
                                                      score_counts.astype(float)),
              "expected_default_rate": float(p.mean()), "expected_auc": expected_auc,
              "realized_auc": float(roc_auc_score(joined[target], joined["p"])), "n": int(len(p))}
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--card", required=True, help="the model card (JSON) exported by benchmarks/model_card.py")
    parser.add_argument("--model", required=True, help="the bundle folder (its reference.json is read as JSON)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--outcomes", required=True)
    parser.add_argument("--out", required=True)
    a = parser.parse_args()
    t0 = time.perf_counter()
    main(a.card, a.model, a.data, a.outcomes, a.out)
    print(f"timings: {json.dumps({'total': round(time.perf_counter() - t0, 3)})}", file=sys.stderr)
