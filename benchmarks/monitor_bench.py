"""Benchmark ``python -m riskcore monitor`` as a user runs it, against the simplest hand-rolled script.

Setup (not timed): a fresh home where the dashboard's first start runs (the demo
portfolio and its three later years, a quick model, the monitoring history of those
years), then a portfolio of ``--rows`` rows made of copies of the demo's later years
under new company ids, with its outcomes, written as CSV.

Measured, each in its own process with its wall time and peak memory:

* ``python -m riskcore monitor --data BIG.csv --outcomes BIG_outcomes.csv --out DIR --timings``
  with every step on: validation and reject report, scoring, the audit trail, the
  monitoring counts per period and sector, the report, ``monitor.json`` and the MLflow run;
* ``benchmarks/handrolled_monitor.py`` on the same files, with no riskcore in its process (it
  scores from the model card ``model_card.py`` exports, as ``handrolled_score.py`` does): read,
  score, PSI per feature and for the score, expected default rate and AUC, the outcomes join and
  the realised AUC.

It prints the ratio, the stages of the monitor command (from ``--timings``) and checks
the targets of the monitoring issue: the monitoring itself (counts and report) within
5 s for a million rows, and the expected AUC before outcomes within 0.03 of the
realised AUC on each of the demo's later years.

    .venv/bin/python benchmarks/monitor_bench.py [--rows 1000000] [--companies 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import measure_command, parse_timings  # noqa: E402
from model_card import export_card  # noqa: E402

TARGET_MONITOR_S = 5.0
TARGET_AUC_GAP = 0.03


def _env(home: Path) -> dict[str, str]:
    """The user's environment with the benchmark's home (fresh MLflow store and audit trail)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RISKCORE_AUDIT_URL",
                                                              "RISKCORE_CONFIG")}
    env["RISKCORE_HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT)
    return env


def first_start(home: Path, companies: int) -> None:
    """Run the dashboard's first start in a child process (demo data, quick model, monitoring history)."""
    code = ("from riskcore.config import load_settings, set_thread_defaults; set_thread_defaults(); "
            "from riskcore.lifecycle import first_start; "
            f"first_start(load_settings(), n_companies={companies})")
    subprocess.run([sys.executable, "-c", code], env=_env(home), check=True, cwd=ROOT)


def big_portfolio(home: Path, rows: int, folder: Path) -> tuple[Path, Path]:
    """Copies of the demo's later years under new company ids, and their outcomes, as CSV files."""
    import pandas as pd

    later = pd.read_csv(home / "data" / "demo_portfolio.later.csv", dtype={"company_id": str})
    outcomes = pd.read_csv(home / "data" / "demo_portfolio.later_outcomes.csv", dtype={"company_id": str})
    copies = -(-rows // len(later))
    parts, found = [], []
    for k in range(copies):
        parts.append(later.assign(company_id=later["company_id"] + f"-{k}"))
        found.append(outcomes.assign(company_id=outcomes["company_id"] + f"-{k}"))
    big = pd.concat(parts, ignore_index=True).iloc[:rows]
    big = big.sort_values(["company_id", "fiscal_year"], kind="stable")  # as exports usually are
    out = pd.concat(found, ignore_index=True)
    out = out[out["company_id"].isin(set(big["company_id"]))]
    data, results = folder / "big.csv", folder / "big_outcomes.csv"
    big.to_csv(data, index=False)
    out.drop(columns=["true_pd"]).to_csv(results, index=False)
    return data, results


def champion_bundle(home: Path) -> str:
    """The first start's champion bundle folder."""
    code = ("from riskcore.config import load_settings; from riskcore.serving.opening import open_model; "
            "print(open_model('champion', load_settings()).path)")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(home), check=True, capture_output=True, text=True,
                          cwd=ROOT)
    return proc.stdout.strip().splitlines()[-1]


def history_gaps(home: Path) -> list[dict[str, Any]]:
    """Expected against realised AUC of each later year the first start monitored."""
    code = ("import json; from riskcore.config import load_settings; from riskcore.modelling.tracking import Tracker;"
            "t = Tracker.from_settings(load_settings()); runs = t.monitoring_runs();"
            "print(json.dumps([t.monitoring_report(r) for r in runs['run_id']]))")
    proc = subprocess.run([sys.executable, "-c", code], env=_env(home), check=True, capture_output=True, text=True,
                          cwd=ROOT)
    reports = json.loads(proc.stdout.strip().splitlines()[-1])
    out = []
    for r in reports:
        if r.get("realized") and str(r.get("source", "")).startswith("demo later year"):
            out.append({"period": r["periods"][0], "expected_auc": r["expected"]["auc"],
                        "interval": r["expected"]["auc_ci"], "realized_auc": r["realized"]["auc"],
                        "gap": abs(r["expected"]["auc"] - r["realized"]["auc"])})
    return sorted(out, key=lambda g: str(g["period"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the monitored portfolio")
    parser.add_argument("--companies", type=int, default=5000, help="companies of the demo portfolio")
    parser.add_argument("--keep", help="folder to keep the files in (default: a temporary one)")
    args = parser.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        home = work / "home"
        print(f"setting up in {work}: first start with {args.companies:,} companies …", flush=True)
        first_start(home, args.companies)
        data, outcomes = big_portfolio(home, args.rows, work)
        bundle = champion_bundle(home)
        card = export_card(bundle, work / "card.json")  # what the hand-rolled script knows of the model
        print(f"portfolio: {args.rows:,} rows ({data.stat().st_size / 1e6:,.0f} MB CSV); model {Path(bundle).name}")

        cli = measure_command([sys.executable, "-m", "riskcore", "monitor", "--data", str(data), "--outcomes",
                               str(outcomes), "--out", str(work / "mon"), "--timings"], env=_env(home), cwd=ROOT)
        hand = measure_command([sys.executable, str(ROOT / "benchmarks" / "handrolled_monitor.py"), "--card", str(card),
                                "--model", bundle,
                                "--data", str(data), "--outcomes", str(outcomes), "--out",
                                str(work / "hand.json")], env=_env(home), cwd=ROOT)
        if not cli.ok or not hand.ok:
            raise SystemExit(f"a command failed: monitor rc {cli.rc} ({cli.last_error_line()}), "
                             f"hand-rolled rc {hand.rc} ({hand.last_error_line()})")
        stages = parse_timings(cli.stderr) or {}
        report = json.loads((work / "mon" / "monitor.json").read_text(encoding="utf-8"))
        handrolled = json.loads((work / "hand.json").read_text(encoding="utf-8"))
        print(f"\n{'command':58s} {'wall':>8s} {'peak MB':>8s}")
        print(f"{'python -m riskcore monitor (every step on)':58s} {cli.wall_s:7.1f}s {cli.peak_mb:8,.0f}")
        print(f"{'hand-rolled script':58s} {hand.wall_s:7.1f}s {hand.peak_mb:8,.0f}")
        print(f"ratio monitor / hand-rolled: {cli.wall_s / hand.wall_s:.2f}× time, "
              f"{cli.peak_mb / hand.peak_mb:.2f}× memory")
        print("monitor stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        monitoring_s = stages.get("monitor_counts", float("nan")) + stages.get("monitor_report", float("nan"))
        print(f"\nagreement: score PSI {report['score']['psi']:.4f} vs {handrolled['score_psi']:.4f}; expected AUC "
              f"{report['expected']['auc']:.4f} vs {handrolled['expected_auc']:.4f}; realised AUC "
              f"{report['realized']['auc']:.4f} vs {handrolled['realized_auc']:.4f}")
        worst = max(abs(f["psi"] - handrolled["features"][f["name"]]) for f in report["features"])
        print(f"  largest feature-PSI difference: {worst:.2e}")
        print("\ntargets:")
        met = "met" if monitoring_s <= TARGET_MONITOR_S else "NOT met"
        print(f"  monitoring {args.rows:,} rows against the profile (counts + report): {monitoring_s:.2f} s "
              f"(target ≤ {TARGET_MONITOR_S:g} s) — {met}")
        for g in history_gaps(home):
            ok = "met" if g["gap"] <= TARGET_AUC_GAP else "NOT met"
            print(f"  {g['period']}: expected AUC {g['expected_auc']:.3f} [{g['interval'][0]:.3f}, "
                  f"{g['interval'][1]:.3f}] vs realised {g['realized_auc']:.3f}: gap {g['gap']:.3f} "
                  f"(target ≤ {TARGET_AUC_GAP}) — {ok}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
