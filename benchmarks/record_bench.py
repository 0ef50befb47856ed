"""One company's scoring path, per model kind: ``score_one`` and small groups scored as one matrix.

For every model kind riskcore trains (``MODEL_KINDS``), a small model is trained on the demo
portfolio (1,000 companies, one configuration, two folds), once, into ``--models`` (reused by later
runs), then on one thread:

* ``score_one`` per company (validate, build the model row, score, calibrate, grade): p50 and p99;
* groups of 16 and 64 companies: each record validated and built, the rows stacked and scored as one
  matrix (``ModelBundle.score_matrix``), the p50 per company.

The ensemble is the soft vote over the logistic, LightGBM and XGBoost candidates (chosen whatever
its cross-validated AUC, so that it is measured).

The baseline, measured in the same run on the same bundle: the libraries' own calls (the direct
paths of :mod:`riskcore.modelling.direct` switched off, XGBoost's booster with its threads).

    .venv/bin/python benchmarks/record_bench.py [--models DIR] [--kinds logistic,lightgbm] [--companies 300]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskcore.config import set_thread_defaults  # noqa: E402

set_thread_defaults()  # as every entry point does, before a model library loads

import numpy as np  # noqa: E402

from riskcore.config import TrainingConfig  # noqa: E402
from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio  # noqa: E402
from riskcore.modelling import stages  # noqa: E402
from riskcore.modelling.bundle import ModelBundle, load_bundle  # noqa: E402
from riskcore.modelling.models import MODEL_KINDS  # noqa: E402
from riskcore.modelling.scorers import (  # noqa: E402
    EnsembleScorer,
    Scorer,
    SklearnScorer,
    TransformedNative,
    XGBoostScorer,
)
from riskcore.modelling.train import train  # noqa: E402
from riskcore.serving.records import checked_record  # noqa: E402
from riskcore.serving.scoring import score_one  # noqa: E402

SEED = 7
GROUPS = (16, 64)


def _train(models: Path, kind: str) -> Path:
    """The bundle of a small ``kind`` model in ``models/kind`` (trained on the first call)."""
    folder = models / kind
    done = folder / "BUNDLE"
    if done.exists():
        return Path(done.read_text(encoding="utf-8"))
    candidates: tuple[Any, ...] = ("logistic", "lightgbm", "xgboost", "ensemble") if kind == "ensemble" else (kind,)
    chooser = stages.choose_candidate
    if kind == "ensemble":
        stages.choose_candidate = lambda results, _tol: next(r for r in results if r.kind == "ensemble")
    try:
        portfolio = generate_portfolio(1000, seed=SEED)
        config = TrainingConfig.quick(candidates=candidates, n_iter=1, cv_folds=2, n_bootstrap=200)
        bundle_dir = Path(train(portfolio.frame, DEMO_SPEC, config=config, models_dir=folder).bundle_dir)
    finally:
        stages.choose_candidate = chooser
    done.write_text(str(bundle_dir), encoding="utf-8")
    return bundle_dir


def _library(scorer: Scorer) -> Scorer:
    """A copy of the scorer that calls the libraries as they come (the baseline)."""
    if isinstance(scorer, EnsembleScorer):
        return EnsembleScorer([(fb, _library(s)) for fb, s in scorer.members])
    plain = copy.copy(scorer)
    if isinstance(plain, SklearnScorer):
        plain.direct_prep = plain.direct_fill = plain.direct_trees = None
    if isinstance(plain, TransformedNative):
        plain.direct_fill, plain.inner = None, _library(plain.inner)
    if isinstance(plain, XGBoostScorer):
        plain.small = plain.booster
    return plain


def _records(bundle: ModelBundle, n: int) -> list[dict[str, Any]]:
    """n valid companies from the bundle's held-out rows (missing values left out)."""
    hold = bundle.holdout()
    names = list(bundle.spec.feature_names)
    rows = hold[names].to_dict(orient="records")
    return [{k: v for k, v in rows[i % len(rows)].items() if not (isinstance(v, float) and math.isnan(v))}
            for i in range(n)]


def _p(values: list[float], q: float) -> float:
    return float(np.quantile(values, q))


def _one(bundle: ModelBundle, records: list[dict[str, Any]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        for r in records:
            t0 = time.perf_counter()
            score_one(bundle, r)
            times.append(time.perf_counter() - t0)
    return times


def _group(bundle: ModelBundle, records: list[dict[str, Any]], size: int,
           repeat: int) -> tuple[list[float], list[float]]:
    """Per company: the whole group path (records built, one matrix scored), and the matrix scored alone."""
    whole, scored = [], []
    groups = [records[i:i + size] for i in range(0, len(records) - size + 1, size)]
    for _ in range(repeat):
        for g in groups:
            t0 = time.perf_counter()
            matrix = np.vstack([checked_record(bundle, r)[1] for r in g])
            t1 = time.perf_counter()
            bundle.score_matrix(matrix)
            t2 = time.perf_counter()
            whole.append((t2 - t0) / size)
            scored.append((t2 - t1) / size)
    return whole, scored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="/tmp/riskcore-record-bench", help="where the trained models are kept")
    parser.add_argument("--kinds", default=",".join(MODEL_KINDS))
    parser.add_argument("--companies", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--train-only", action="store_true", help="train the missing models, time nothing")
    args = parser.parse_args(argv)
    models = Path(args.models)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bundles = {k: _train(models, k) for k in kinds}
    if args.train_only:
        return
    print(f"{'kind':14s} {'path':8s} {'1 row p50':>10s} {'p99':>8s} | {'16 rows':>8s} {'scored':>8s} | "
          f"{'64 rows':>8s} {'scored':>8s}   (ms per company)")
    for kind, folder in bundles.items():
        direct = load_bundle(folder)
        records = _records(direct, args.companies)
        for path, bundle in (("library", replace(direct, scorer=_library(direct.scorer))), ("direct", direct)):
            _one(bundle, records[:20], 1)  # warm up
            one = _one(bundle, records, args.repeat)
            cells = [f"{kind:14s} {path:8s} {_p(one, 0.5) * 1e3:10.3f} {_p(one, 0.99) * 1e3:8.3f}"]
            for size in GROUPS:
                whole, scored = _group(bundle, records, size, args.repeat)
                cells.append(f"{statistics.median(whole) * 1e3:8.3f} {statistics.median(scored) * 1e3:8.3f}")
            print(" | ".join(cells))


if __name__ == "__main__":
    main()
