"""``python -m riskcore models compare`` on a file with outcomes against the simplest script that does the job.

Two models (a logistic champion and a LightGBM challenger) are trained on a demo portfolio into a
state folder of their own; a later portfolio of ``--rows`` rows with outcomes is written as CSV.

- riskcore: ``python -m riskcore models compare CHALLENGER --data FILE --out DIR`` as a child
  process: reading the file tolerantly, validating and scoring it with both verified bundles,
  DeLong's ΔAUC, the paired bootstrap of the cost difference (1,000 resamples), the swap set, the
  calibration back-test of both and the gate, ``comparison.json`` written;
- hand-rolled (``handrolled_compare.py``): pandas reads the CSV, each bundle's own pipeline scores
  it, scikit-learn's AUC for both, numpy's paired bootstrap of the cost difference at each model's
  cut-off (1,000 resamples), no validation, no verification, no calibration check.

Both run in the same run; printed: wall seconds, the ratio, peak memory, and whether the two agree
on both AUCs.

    .venv/bin/python benchmarks/compare_bench.py [--rows 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from _common import measure_command  # noqa: E402


def _env(home: Path) -> dict[str, str]:
    config = home / "riskcore.toml"
    config.write_text("", encoding="utf-8")
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_CONFIG": str(config)}
    env.pop("RISKCORE_AUDIT_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _prepare(home: Path, rows: int) -> tuple[str, Path]:
    """Two registered models and a later portfolio of ``rows`` rows with outcomes; the challenger's version."""
    from riskcore.config import TrainingConfig, load_settings
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.tracking import Tracker
    from riskcore.modelling.train import train

    settings = load_settings(env={"RISKCORE_HOME": str(home)})
    portfolio = generate_portfolio(3000, seed=11, later_years=1)
    quick = {"n_iter": 1, "cv_folds": 2, "n_bootstrap": 200}
    tracker = Tracker.from_settings(settings)
    for kind in ("logistic", "lightgbm"):
        result = train(portfolio.frame, DEMO_SPEC, models_dir=settings.models_dir, tracker=tracker,
                       config=TrainingConfig.quick(candidates=(kind,), **quick))
    later = portfolio.later.frame.merge(portfolio.later.outcomes.drop(columns="true_pd"), on=["company_id",
                                                                                               "fiscal_year"])
    reps = -(-rows // len(later))
    import pandas as pd

    tiled = pd.concat([later.assign(company_id=later["company_id"].astype(str) + f"-{r}") for r in range(reps)],
                      ignore_index=True).head(rows)
    path = home / "later.csv"
    tiled.to_csv(path, index=False)
    return result.model_version, path


def main(argv: list[str] | None = None) -> None:
    """Prepare, run both, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="compare-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        challenger, data = _prepare(home, args.rows)
        env = _env(home)
        ours = measure_command([sys.executable, "-m", "riskcore", "models", "compare", challenger, "--data", str(data),
                                "--out", str(Path(tmp) / "out")], env=env, cwd=ROOT)
        plain = measure_command([sys.executable, str(HERE / "handrolled_compare.py"), str(home / "models"), challenger,
                                 str(data)], env=env, cwd=ROOT)
        mine = json.loads((Path(tmp) / "out" / "comparison.json").read_text()) if ours.ok else {}
        lines = plain.stdout.strip().splitlines()
        theirs = json.loads(lines[-1]) if plain.ok and lines else {}
        if not theirs:
            print(f"hand-rolled script failed: {plain.last_error_line()}")
        verify = subprocess.run([sys.executable, "-m", "riskcore", "audit", "verify"], env=env, cwd=ROOT,
                                capture_output=True, text=True, check=False).returncode
    auc = mine.get("auc", {})
    agree = bool(theirs) and abs(auc.get("auc_champion", 0) - theirs["auc_champion"]) < 1e-9 and \
        abs(auc.get("auc_challenger", 0) - theirs["auc_challenger"]) < 1e-9
    print(f"models compare on {args.rows:,} rows with outcomes ({mine.get('rows', 0):,} scored by both)")
    print(f"riskcore    : {ours.wall_s:6.1f} s  peak {ours.peak_mb:6.0f} MB  exit {ours.rc}")
    print(f"hand-rolled : {plain.wall_s:6.1f} s  peak {plain.peak_mb:6.0f} MB  exit {plain.rc}"
          + ("" if plain.ok else f"  FAILED {plain.last_error_line()}"))
    ratio = ours.wall_s / plain.wall_s if plain.wall_s else float("nan")
    print(f"ratio {ratio:.2f}× the hand-rolled script; AUCs agree: {agree}; audit verify exit {verify}")


if __name__ == "__main__":
    main()
