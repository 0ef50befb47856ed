"""Training: quick and full profile wall time on the default demo portfolio.

Baselines measured in the same run, on the same machine state:

* one plain ``LogisticRegression`` fit (lbfgs, standardised numeric columns,
  missing values filled with the median) on the training part of the same
  data — the cheapest honest model, so ``quick`` and ``full`` read as
  "this many plain fits";
* a brute-force loop that prices each of 50,000 distinct thresholds one at a
  time, against the vectorised :class:`riskcore.evaluation.costs.CostSweep` the training
  run uses to pick its cut-off (both must find the same minimum cost).

Each profile prints its stage times (from the progress callback) so a slow
stage is visible. Targets (not test assertions): quick under 60 s and full
under 5 minutes on the 2-core machine.

    .venv/bin/python benchmarks/train_bench.py [--companies 5000] [--skip-full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from riskcore.config import set_thread_defaults  # noqa: E402

set_thread_defaults()

from _common import row, timeit  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from riskcore.config import Costs, TrainingConfig  # noqa: E402
from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio  # noqa: E402
from riskcore.evaluation.costs import CostSweep  # noqa: E402
from riskcore.modelling.tracking import Tracker  # noqa: E402
from riskcore.modelling.train import train  # noqa: E402


class StageClock:
    """A progress callback that remembers when each stage started."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.stages: list[tuple[str, float]] = []

    def __call__(self, fraction: float, message: str) -> None:
        stage = message.split(" (")[0]
        if not self.stages or self.stages[-1][0] != stage:
            self.stages.append((stage, time.perf_counter() - self.t0))

    def report(self, total: float) -> list[str]:
        ends = [t for _, t in self.stages[1:]] + [total]
        rows = [(name, end - start) for (name, start), end in zip(self.stages, ends)]
        return [f"      {name:46s} {sec:7.1f} s" for name, sec in sorted(rows, key=lambda r: -r[1])[:6]]


def _baseline_fit(frame, split) -> float:
    numeric = [f.name for f in DEMO_SPEC.features if f.kind == "numeric" and f.name in frame]
    train_rows = frame.iloc[split.train]
    X, y = train_rows[numeric].to_numpy(float), train_rows["default_12m"].to_numpy()
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000))
    seconds, _ = timeit(lambda: model.fit(X, y), repeat=3)
    return seconds


def _brute_sweep(y: np.ndarray, p: np.ndarray, costs: Costs) -> float:
    best = np.inf
    for t in np.unique(p):
        refer = p >= t
        cost = costs.fn * np.sum(y & ~refer) + costs.fp * np.sum(~y & refer)
        best = min(best, cost)
    return float(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=5000)
    parser.add_argument("--skip-full", action="store_true", help="time the quick profile only")
    args = parser.parse_args()

    portfolio = generate_portfolio(args.companies, seed=7)
    frame = portfolio.frame
    print(f"demo portfolio: {args.companies:,} companies, {len(frame):,} company-years\n")
    profiles = [("quick", TrainingConfig.quick())] + ([] if args.skip_full else [("full", TrainingConfig())])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", Path(tmp) / "artifacts")
        for name, config in profiles:
            clock = StageClock()
            t0 = time.perf_counter()
            result = train(frame, DEMO_SPEC, config=config, models_dir=Path(tmp) / name, tracker=tracker,
                           progress=clock, source="benchmark")
            results[name] = (time.perf_counter() - t0, result, clock)
        quick_result = results["quick"][1]
        baseline = _baseline_fit(frame.reset_index(drop=True), quick_result.split)

    print(row("baseline: one plain logistic fit on the training part", baseline))
    for name, (seconds, result, clock) in results.items():
        t = result.metrics["test"]
        target = 60 if name == "quick" else 300
        print(row(f"{name} profile, end to end (MLflow included)", seconds, baseline,
                  f"target < {target} s: {'met' if seconds < target else 'MISSED'}"))
        oracle = (result.metrics.get("oracle") or {}).get("auc", float("nan"))
        print(f"      chosen {result.metrics['model']['kind']}; test AUC {t['auc']:.3f} (oracle {oracle:.3f}); "
              f"ECE {t['ece_raw']:.4f} raw → {t['ece_calibrated']:.4f} calibrated")
        print("\n".join(clock.report(seconds)))

    # the cut-off search a training run performs, on 50,000 continuous scores (every one a distinct threshold)
    rng = np.random.default_rng(7)
    n = 50_000
    p = 1 / (1 + np.exp(-rng.normal(-2.7, 1.1, n)))
    y = rng.random(n) < p
    costs = Costs()
    vec, (_, best_vec) = timeit(lambda: CostSweep(y, p).optimal(costs), repeat=5)
    brute, best_brute = timeit(lambda: _brute_sweep(y, p, costs), repeat=1)
    assert abs(best_vec - best_brute) < 1e-6 * max(1.0, best_brute)
    print()
    print(row(f"baseline: brute-force loop over {n:,} distinct thresholds", brute))
    print(row("vectorised CostSweep.optimal (sort once, cumulative sums)", vec, brute,
              f"{brute / vec:,.0f}× faster, same cost {best_vec:,.0f}"))


if __name__ == "__main__":
    main()
