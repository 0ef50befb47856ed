"""The command the credit officer runs: ``python -m riskcore score``, audit trail included.

What is timed is what the user pays: the command in its own process, from the
interpreter's start to its exit, every step on (read, validate, score,
calibrate, grade, record every score in a fresh SQLite audit trail, write), on
a portfolio in the demo layout (the demo portfolio tiled, ids unique per tile)
as CSV and as Parquet, at ``--rows`` and, with the first champion, at
``--big-rows``. Two champions, each trained once through the engine: a LightGBM
model of a few hundred trees and the quick profile's logistic regression
(``--champions``).

Baseline measured in the same run, on the same files and models:
``benchmarks/handrolled_score.py``, the same job written with plain libraries
and no riskcore in its process (pyarrow read → year-on-year features by one
sort and a grouped difference → the model matrix → ``lightgbm.Booster.predict``
on every core, as riskcore's scorer predicts, or ``--baseline-threads 1`` for
one; or the logistic regression's own numbers → the calibrator's knots by
``numpy.interp`` → pyarrow write). What it knows of the model comes from a
model card exported from the bundle before anything is timed
(``benchmarks/model_card.py``). After each pair of runs at ``--rows``, the
benchmark checks that riskcore's ``p_default`` equals the script's within
1e-9 on every row both kept (riskcore rejects invalid rows; a repeated key is
left out), prints the largest difference, and exits with an error when they
differ. After each scoring run, ``python -m riskcore audit verify`` checks that
run's audit trail.

Each command runs behind a tiny wrapper process (``_common.measure_command``)
that reports its wall time and ``RUSAGE_CHILDREN``'s ``ru_maxrss``, so each peak
memory figure is that command's alone. With ``--timings`` (when the CLI offers
it) the command prints seconds per stage; without it the stages are reported as
unknown. A run whose memory would exceed ``--mem-limit-mb`` (projected from the
smaller file, or watched while it runs) is skipped or stopped rather than allowed
to exhaust a shared machine.

Targets (checked and printed, never asserted): riskcore within 1.3× the
hand-rolled wall time at ``--rows`` with the LightGBM champion and within 2×
with the logistic one; peak memory at most 1 GB at ``--rows`` and within 10% of
that at ``--big-rows``; recording 1,000,000 scores in the audit trail in at most
3 s (the ``audit`` stage); verification at least 1,000,000 rows/s. Results also
go to ``benchmarks/output/score_bench.json``.

Section 2 (skip with ``--no-latency``) keeps the in-process latencies with the
LightGBM champion: ``score_one`` p50/p99 against the booster on one row (target
p50 < 1 ms), one company's explanation (target p50 < 10 ms), and
``explain_frame`` on 10,000 rows against the booster's ``pred_contrib``.

    .venv/bin/python benchmarks/score_bench.py [--rows 1000000] [--big-rows 5000000] [--formats csv,parquet]
                                               [--champions lightgbm,logistic] [--repeat 1] [--quick]
                                               [--no-latency] [--grading pit|ttc]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _common import CommandRun, measure_command, parse_timings, row  # noqa: E402
from model_card import export_card  # noqa: E402

SEED = 7
OUTPUT = HERE / "output"
FORMATS = ("csv", "parquet")
RISKCORE_STAGES = ("read", "validate", "score", "audit", "write", "total")  # as documented; others are kept too
# the champion's one search point: a fixed tree count so the model has a few hundred trees whatever the search draws
CHAMPION_PARAMS: dict[str, list[Any]] = {"n_estimators": [400], "learning_rate": [0.03], "num_leaves": [15],
                                         "min_child_samples": [60], "colsample_bytree": [0.7], "subsample": [0.9],
                                         "reg_lambda": [5.0]}
TARGET_RATIO = {"lightgbm": 1.3, "logistic": 2.0}  # riskcore / hand-rolled wall time at --rows, per champion
AGREEMENT_TOL = 1e-9  # largest |Δ p_default| allowed between riskcore and the hand-rolled script
CHAMPIONS = ("lightgbm", "logistic")
TARGET_PEAK_MB = 1024.0
TARGET_PEAK_GROWTH = 1.10
TARGET_AUDIT_S_PER_MILLION = 3.0
TARGET_VERIFY_ROWS_PER_S = 1_000_000.0


# ---------------------------------------------------------------------------
# data and model
# ---------------------------------------------------------------------------

def _base(order: str = "year") -> pd.DataFrame:
    """The demo portfolio the files tile (scoring columns only), in the demo's order (by fiscal year) or by company."""
    from riskcore.data.synth import generate_portfolio

    frame = generate_portfolio(5000, seed=SEED).frame.drop(columns=["default_12m", "true_pd"])
    if order == "company":  # as a loan system's export sorted by account: a company's years next to each other
        frame = frame.sort_values(["company_id", "fiscal_year"], kind="stable").reset_index(drop=True)
    return frame


def _portfolio(base: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start:stop`` of the demo portfolio tiled, ids made unique per tile, ratios perturbed."""
    from riskcore.data.schema import DEMO_SPEC

    positions = np.arange(start, stop)
    frame = base.iloc[positions % len(base)].reset_index(drop=True)
    tile = positions // len(base)
    frame["company_id"] = frame["company_id"].astype(str) + "-" + pd.Series(tile).astype(str).str.zfill(3)
    rng = np.random.default_rng([SEED, start])
    for f in DEMO_SPEC.features:
        if f.kind == "numeric" and not f.integer and f.name in frame:
            x = frame[f.name].to_numpy(dtype=float)
            y = np.round(x * (1 + rng.normal(0, 0.01, len(x))), 4)
            # stay inside the valid range wherever the original was (the injected impossible values stay)
            inside = (x >= (f.min if f.min is not None else -np.inf)) & (x <= (f.max if f.max is not None else np.inf))
            frame[f.name] = np.where(inside, np.clip(y, f.min, f.max), y)
    return frame


def write_portfolios(folder: Path, sizes: list[int], formats: list[str], chunk_rows: int = 250_000,
                     order: str = "year") -> dict[tuple[str, int], Path]:
    """Write the tiled portfolio once per size and format, chunk by chunk; the smaller files are prefixes."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    base = _base(order)
    paths = {(fmt, n): folder / f"portfolio_{n}.{fmt}" for fmt in formats for n in sizes}
    writers: dict[tuple[str, int], Any] = {}
    schema = None
    try:
        for start in range(0, max(sizes), chunk_rows):
            stop = min(start + chunk_rows, max(sizes))
            table = pa.Table.from_pandas(_portfolio(base, start, stop), preserve_index=False)
            schema = schema or table.schema
            table = table.cast(schema)
            for (fmt, n), path in paths.items():
                if start >= n:
                    continue
                part = table.slice(0, min(stop, n) - start)
                if (fmt, n) not in writers:
                    writers[(fmt, n)] = (pq.ParquetWriter(path, schema) if fmt == "parquet"
                                         else pcsv.CSVWriter(path, schema))
                writers[(fmt, n)].write_table(part)
    finally:
        for w in writers.values():
            w.close()
    return paths


def _child_train(models_dir: str, kind: str = "lightgbm", grading: str = "pit") -> None:
    """Train a champion in a child, so the parent never holds LightGBM's worker threads.

    ``lightgbm``: one search point of :data:`CHAMPION_PARAMS` (a few hundred trees); ``logistic``: the quick
    profile's logistic regression, as ``train --quick`` fits it. ``grading="ttc"``: the champion grades
    through the cycle (``[grading] through_the_cycle = true``), so scoring adds the through-the-cycle PD.
    """
    from dataclasses import replace

    from riskcore.config import GradingRules, TrainingConfig, set_thread_defaults

    set_thread_defaults()  # setup only: sleeping OpenMP threads keep training from crawling on a busy machine
    import riskcore.modelling.search as search
    import riskcore.modelling.train as training
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.bundle import load_bundle

    train_frame = generate_portfolio(1500, seed=SEED).frame
    if kind == "lightgbm":
        # the search draws from this one point, so the champion has CHAMPION_PARAMS' tree count
        search.search_space = lambda kind: dict(CHAMPION_PARAMS)  # type: ignore[assignment]
        config = TrainingConfig.quick(candidates=("lightgbm",), n_iter=1, cv_folds=2, n_bootstrap=50)
    else:
        config = TrainingConfig.quick(candidates=("logistic",), n_bootstrap=50)
    config = replace(config, grading=GradingRules(through_the_cycle=grading == "ttc"))
    result = training.train(train_frame, DEMO_SPEC, models_dir=models_dir, config=config)
    bundle = load_bundle(result.bundle_dir)
    booster = getattr(bundle.scorer, "booster", None)
    print(json.dumps({"bundle": str(result.bundle_dir), "kind": bundle.kind,
                      "trees": int(booster.num_trees()) if booster is not None else None}))


def _train(models_dir: Path, kind: str = "lightgbm", grading: str = "pit") -> dict[str, Any]:
    """Train a ``kind`` champion (``lightgbm`` or ``logistic``) in a child process; its bundle, kind and trees."""
    models_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, __file__, "--train-child", str(models_dir.resolve()), "--train-kind", kind,
                           "--train-grading", grading],
                          capture_output=True, text=True, check=False, cwd=ROOT, env=_riskcore_env(models_dir))
    if proc.returncode:
        raise SystemExit(f"training the champion failed:\n{proc.stderr}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------------------
# the measured commands
# ---------------------------------------------------------------------------

def _riskcore_env(home: Path) -> dict[str, str]:
    """The user's environment with a fresh home, so the audit trail is a new SQLite file.

    ``PYTHONPATH`` names this checkout, so the command measured is this checkout's riskcore whatever else
    the environment would import under that name.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("RISKCORE_CONFIG", "RISKCORE_AUDIT_URL", "MLFLOW_TRACKING_URI")}
    env["RISKCORE_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


def cli_has_timings() -> bool:
    """Whether ``python -m riskcore score`` offers ``--timings``."""
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        proc = subprocess.run([sys.executable, "-m", "riskcore", "score", "--help"], capture_output=True, text=True,
                              check=False, cwd=home, env=_riskcore_env(Path(home)))
    return "--timings" in proc.stdout


def _run_facts(run: CommandRun, output: Path, *, cli: bool) -> dict[str, Any]:
    """A run's figures; it succeeded when it exited with 0 or 1 (1: rows rejected) and wrote its output."""
    timings = parse_timings(run.stderr) or {}
    order = list(timings)
    if cli:  # the stages in the order the CLI documents them, any others it reports, then the total
        order = [k for k in RISKCORE_STAGES[:-1] if k in timings] + \
            [k for k in timings if k not in RISKCORE_STAGES] + [k for k in ("total",) if k in timings]
    stages = {k: timings[k] for k in order} or None
    wrote = output.exists() and output.stat().st_size > 0
    facts: dict[str, Any] = {"ok": run.ok and wrote, "rc": run.rc, "wall_s": round(run.wall_s, 3),
                             "peak_mb": round(run.peak_mb, 1), "stages": stages}
    if run.killed:
        facts["error"] = "stopped: resident memory passed the limit"
    elif not run.ok or not wrote:
        facts["error"] = f"exit {run.rc}{'' if wrote else ', no output'}: {run.last_error_line()}"
    return facts


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r["ok"]]
    best = min(good, key=lambda r: r["wall_s"]) if good else runs[-1]
    return {**best, "peak_mb": max(r["peak_mb"] for r in runs), "repeats": len(runs)}


def run_riskcore(bundle: str, source: Path, work: Path, *, timings: bool, repeat: int,
                 mem_limit_mb: float) -> tuple[dict[str, Any], Path | None, Path | None]:
    """The user's command on ``source``; returns its facts, and the output file and home of the fastest run."""
    runs: list[tuple[dict[str, Any], Path, Path]] = []
    for i in range(repeat):
        home = work / f"home-{source.stem}-{source.suffix[1:]}-{i}"
        home.mkdir(parents=True)
        out = work / f"riskcore-{source.stem}-{i}{source.suffix}"
        cmd = [sys.executable, "-m", "riskcore", "score", "--model", bundle, "--input", str(source),
               "--output", str(out), *(["--timings"] if timings else [])]
        run = measure_command(cmd, env=_riskcore_env(home), cwd=home, mem_limit_mb=mem_limit_mb)
        runs.append((_run_facts(run, out, cli=True), out, home))
    facts = _best([f for f, _, _ in runs])
    kept = next(((out, home) for f, out, home in runs if f["ok"] and f["wall_s"] == facts["wall_s"]), (None, None))
    for _, out, home in runs:
        if (out, home) != kept:
            _remove(out)
            _remove(home)
    return facts, kept[0], kept[1]


def run_verify(home: Path, startup_s: float) -> dict[str, Any]:
    """``python -m riskcore audit verify`` against a home: rows verified, rows/s with and without start-up."""
    run = measure_command([sys.executable, "-m", "riskcore", "audit", "verify"], env=_riskcore_env(home), cwd=home)
    text = run.stdout + run.stderr
    match = re.search(r"([\d,]+)\s+rows", text)
    rows = int(match.group(1).replace(",", "")) if match else None
    net = run.wall_s - startup_s
    return {"ok": run.rc == 0, "rc": run.rc, "rows": rows, "wall_s": round(run.wall_s, 3),
            "peak_mb": round(run.peak_mb, 1), "rows_per_s": round(rows / run.wall_s) if rows else None,
            # below a quarter second the difference is start-up noise, not verification
            "rows_per_s_net": round(rows / net) if rows and net >= 0.25 else None,
            "message": run.last_error_line() if run.rc else (text.strip().splitlines() or [""])[-1][:200]}


def verify_startup() -> float:
    """Wall time of ``audit verify`` on an empty trail: the interpreter's start and imports, no rows."""
    walls = []
    for _ in range(3):  # the fastest of three: start-up is what varies most on a busy machine
        with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
            walls.append(measure_command([sys.executable, "-m", "riskcore", "audit", "verify"],
                                         env=_riskcore_env(Path(home)), cwd=home).wall_s)
    return min(walls)


def _handrolled_env() -> dict[str, str]:
    """The user's environment with the thread setting the CLI makes for itself (OpenMP threads sleep, not spin)."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def model_card(bundle: str, work: Path) -> Path:
    """The bundle's model card for the hand-rolled script (exported once per bundle, before anything is timed)."""
    path = work / f"card-{Path(bundle).name}.json"
    if not path.exists():
        export_card(bundle, path)
    return path


def run_handrolled(bundle: str, source: Path, work: Path, *, repeat: int, mem_limit_mb: float,
                   threads: int = 0) -> tuple[dict[str, Any], Path | None]:
    """The hand-rolled script on ``source``; returns its facts and the output file of the fastest run."""
    card = model_card(bundle, work)
    runs: list[tuple[dict[str, Any], Path]] = []
    for i in range(repeat):
        out = work / f"handrolled-{source.stem}-{i}{source.suffix}"
        cmd = [sys.executable, str(HERE / "handrolled_score.py"), "--card", str(card), "--input", str(source),
               "--output", str(out), "--timings", "--threads", str(threads)]
        run = measure_command(cmd, env=_handrolled_env(), cwd=ROOT, mem_limit_mb=mem_limit_mb)
        runs.append((_run_facts(run, out, cli=False), out))
    facts = _best([f for f, _ in runs])
    kept = next((out for f, out in runs if f["ok"] and f["wall_s"] == facts["wall_s"]), None)
    for _, out in runs:
        if out != kept:
            _remove(out)
    return facts, kept


def _remove(path: Path | None) -> None:
    if path is None or not path.exists():
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink()


def _read_p(path: Path, columns: list[str]) -> pd.DataFrame:
    """Key columns and ``p_default`` of a scored file (CSV or Parquet, whatever its suffix says)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    with path.open("rb") as fh:
        is_parquet = fh.read(4) == b"PAR1"
    if is_parquet:
        return pq.read_table(path, columns=columns).to_pandas()
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(include_columns=columns)).to_pandas()


def agreement(riskcore_out: Path, handrolled_out: Path) -> dict[str, Any]:
    """How closely riskcore's PDs match the hand-rolled ones on the rows both kept (by id and year).

    Rows riskcore rejected are not in its output; a key that appears twice in either file is left out.
    ``ok`` is true when at least one row was compared and every difference is within :data:`AGREEMENT_TOL`.
    """
    from riskcore.data.schema import DEMO_SPEC

    keys = [DEMO_SPEC.id or "company_id", DEMO_SPEC.time or "fiscal_year"]
    try:
        a = _read_p(riskcore_out, [*keys, "p_default"])
        b = _read_p(handrolled_out, [*keys, "p_default"])
    except (OSError, ValueError, KeyError) as err:
        return {"rows": 0, "ok": False, "note": f"not compared: {err}"[:200]}
    a = a.drop_duplicates(keys, keep=False)
    b = b.drop_duplicates(keys, keep=False)
    for f in (a, b):
        f[keys[0]] = f[keys[0]].astype(str)
        f[keys[1]] = pd.to_numeric(f[keys[1]], errors="coerce")
    both = a.merge(b, on=keys, suffixes=("_riskcore", "_handrolled"))
    diff = np.abs(pd.to_numeric(both["p_default_riskcore"], errors="coerce").to_numpy(dtype=float)
                  - both["p_default_handrolled"].to_numpy(dtype=float))
    worst = float(np.max(np.where(np.isnan(diff), np.inf, diff))) if len(diff) else None
    return {"rows": int(len(both)), "riskcore_rows": int(len(a)), "handrolled_rows": int(len(b)),
            "max_abs_diff": worst, "ok": worst is not None and worst <= AGREEMENT_TOL}


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _mb(x: float | None) -> str:
    return f"{x:,.0f}" if x is not None else "—"


def _cell(facts: dict[str, Any] | None, key: str, fmt: str) -> str:
    if not facts or facts.get("skipped") or not facts.get("ok"):
        return "—"
    return format(facts[key], fmt)


def _stages(facts: dict[str, Any] | None) -> str:
    if not facts:
        return ""
    if facts.get("skipped"):
        return f"skipped: {facts['skipped']}"
    if not facts.get("ok"):
        return f"failed: {facts.get('error', '')}"
    if not facts.get("stages"):
        return "stages unknown (no timings line)"
    return "  ".join(f"{k} {v:.2f}" for k, v in facts["stages"].items())


def print_table(runs: list[dict[str, Any]]) -> None:
    """The results table: wall times, ratio, peak memory, then stages and audit figures per run."""
    print()
    print(f"{'champion':9s} {'format':8s} {'rows':>10s} {'riskcore s':>11s} {'hand s':>8s} {'ratio':>7s} "
          f"{'riskcore MB':>12s} {'hand MB':>8s}  {'audit verify':s}")
    for r in runs:
        rc, hr, v = r["riskcore"], r["handrolled"], r.get("verify")
        ratio = f"{r['ratio']:6.2f}×" if r.get("ratio") else "     —"
        rc_mb = _mb(rc["peak_mb"]) if rc.get("ok") else "—"
        hr_mb = _mb(hr["peak_mb"]) if hr.get("ok") else "—"
        if v and v.get("rows"):
            net = f", {v['rows_per_s_net']:,} net of start-up" if v.get("rows_per_s_net") else ""
            audit = f"{v['rows']:,} rows in {v['wall_s']:.2f} s ({v['rows_per_s']:,} rows/s{net})"
        else:
            audit = f"{v['message']} (exit {v['rc']})" if v else "—"
        print(f"{r['champion']:9s} {r['format']:8s} {r['rows']:>10,} {_cell(rc, 'wall_s', '11.2f'):>11s} "
              f"{_cell(hr, 'wall_s', '8.2f'):>8s} {ratio:>7s} {rc_mb:>12s} {hr_mb:>8s}  {audit}")
    print()
    for r in runs:
        print(f"{r['champion']} {r['format']} {r['rows']:,}")
        print(f"   riskcore:    {_stages(r['riskcore'])}")
        print(f"   hand-rolled: {_stages(r['handrolled'])}")
        if r.get("agreement"):
            a = r["agreement"]
            if a.get("rows"):
                verdict = "equal" if a["ok"] else "NOT EQUAL"
                print(f"   agreement: {a['rows']:,} rows kept by both (riskcore wrote {a['riskcore_rows']:,}), "
                      f"max |Δ p_default| {a['max_abs_diff']:.2e} (tolerance {AGREEMENT_TOL:g}): {verdict}")
            else:
                print(f"   agreement: NOT CHECKED, {a.get('note', 'no rows in common')}")


def check_targets(runs: list[dict[str, Any]], rows: int, big_rows: int, startup_s: float) -> list[dict[str, Any]]:
    """Each target per format: value, limit, met / not met / unknown (never an assertion)."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, better: str, unit: str) -> None:
        status = "unknown" if value is None else (
            "met" if (value <= limit if better == "low" else value >= limit) else "not met")
        out.append({"target": name, "value": value, "limit": limit, "unit": unit, "status": status})

    by = {(r["champion"], r["format"], r["rows"]): r for r in runs}
    for kind, fmt in dict.fromkeys((r["champion"], r["format"]) for r in runs):
        small, big = by.get((kind, fmt, rows)), by.get((kind, fmt, big_rows))
        if small is None:
            continue
        rc = small["riskcore"]
        add(f"{kind} {fmt}: riskcore / hand-rolled wall at {rows:,} rows", small.get("ratio"),
            TARGET_RATIO.get(kind, 1.3), "low", "×")
        add(f"{kind} {fmt}: riskcore peak RSS at {rows:,} rows", rc["peak_mb"] if rc.get("ok") else None,
            TARGET_PEAK_MB, "low", "MB")
        if big is not None and big_rows != rows:
            growth = (big["riskcore"]["peak_mb"] / rc["peak_mb"]
                      if big["riskcore"].get("ok") and rc.get("ok") else None)
            add(f"{kind} {fmt}: riskcore peak RSS at {big_rows:,} / at {rows:,} rows", growth, TARGET_PEAK_GROWTH,
                "low", "×")
        stages = rc.get("stages") or {}
        scored = small.get("verify", {}).get("rows") or rows
        audit = stages.get("audit") * 1e6 / scored if "audit" in stages and scored else None
        add(f"{kind} {fmt}: audit stage per 1,000,000 scores", audit, TARGET_AUDIT_S_PER_MILLION, "low", "s")
        v = small.get("verify") or {}
        add(f"{kind} {fmt}: audit verify rows/s (start-up included)", v.get("rows_per_s"), TARGET_VERIFY_ROWS_PER_S,
            "high", "rows/s")
        add(f"{kind} {fmt}: audit verify rows/s (net of start-up)", v.get("rows_per_s_net"),
            TARGET_VERIFY_ROWS_PER_S, "high", "rows/s")
    print()
    print(f"targets (verify start-up on an empty trail: {startup_s:.2f} s)")
    for t in out:
        value = "unknown" if t["value"] is None else f"{t['value']:,.2f} {t['unit']}"
        sign = "≤" if t["unit"] != "rows/s" else "≥"
        print(f"   {t['target']:70s} {value:>22s}  (target {sign} {t['limit']:,} {t['unit']})  {t['status']}")
    return out


# ---------------------------------------------------------------------------
# section 1: the command end to end
# ---------------------------------------------------------------------------

def bench_command(models: list[dict[str, Any]], rows: int, big_rows: int, formats: list[str], repeat: int,
                  mem_limit_mb: float, work_dir: str | None, order: str = "year",
                  baseline_threads: int = 0) -> dict[str, Any]:
    """Write the files, run both commands with each champion; print and return the results.

    Every champion runs at ``rows``; the first one also at ``big_rows`` (how memory grows with the
    file does not depend on the model).
    """
    sizes = sorted({rows, big_rows})
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="score-bench-", dir=work_dir) as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        paths = write_portfolios(tmp, sizes, formats, order=order)
        t_data = time.perf_counter() - t0
        timings = cli_has_timings()
        print(f"rows ordered by {'company id' if order == 'company' else 'fiscal year, as the demo writes them'}")
        print(f"portfolio files: {', '.join(f'{p.name} {p.stat().st_size / 1e6:,.0f} MB' for p in paths.values())} "
              f"(written in {t_data:.1f} s)")
        for model in models:
            trees = f", {model['trees']} trees" if model.get("trees") else ""
            print(f"champion: {model['kind']}{trees} (trained in {model['train_s']:.1f} s)")
        print(f"hand-rolled LightGBM threads: {baseline_threads or 'every core'}; "
              f"CLI --timings: {'yes' if timings else 'no (stages unknown)'}; "
              f"load average {load_start[0]:.2f} on {os.cpu_count()} cores; memory limit {mem_limit_mb:,.0f} MB")
        startup = verify_startup()
        runs: list[dict[str, Any]] = []
        plan = [(m, n, fmt) for i, m in enumerate(models) for n in (sizes if i == 0 else [rows]) for fmt in formats]
        for model, n, fmt in plan:
            kind = model["kind"]
            source = paths[(fmt, n)]
            prev = next((r for r in runs if r["champion"] == kind and r["format"] == fmt and r["rows"] < n), None)
            entry: dict[str, Any] = {"champion": kind, "format": fmt, "rows": n,
                                     "load_before": round(os.getloadavg()[0], 2)}
            hand_out = rc_out = home = None
            skip = _projected_skip(prev, "handrolled", n, mem_limit_mb)
            if skip:
                entry["handrolled"] = {"ok": False, "skipped": skip, "peak_mb": None}
            else:
                entry["handrolled"], hand_out = run_handrolled(model["bundle"], source, tmp, repeat=repeat,
                                                               mem_limit_mb=mem_limit_mb, threads=baseline_threads)
            skip = _projected_skip(prev, "riskcore", n, mem_limit_mb)
            if skip:
                entry["riskcore"] = {"ok": False, "skipped": skip, "peak_mb": None}
            else:
                entry["riskcore"], rc_out, home = run_riskcore(model["bundle"], source, tmp, timings=timings,
                                                               repeat=repeat, mem_limit_mb=mem_limit_mb)
            if entry["riskcore"].get("ok") and entry["handrolled"].get("ok"):
                entry["ratio"] = round(entry["riskcore"]["wall_s"] / entry["handrolled"]["wall_s"], 3)
            if home is not None:
                entry["verify"] = run_verify(home, startup)
            if n == rows and rc_out is not None and hand_out is not None:
                entry["agreement"] = agreement(rc_out, hand_out)
            for p in (hand_out, rc_out, home):
                _remove(p)
            runs.append(entry)
            _progress_line(entry)
    print_table(runs)
    targets = check_targets(runs, rows, big_rows, startup)
    load_end = os.getloadavg()
    print(f"\nload average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end "
          f"({os.cpu_count()} cores, shared)")
    return {"rows": rows, "big_rows": big_rows, "formats": formats, "repeat": repeat, "champions": models,
            "baseline_threads": baseline_threads,
            "cli_timings": timings, "verify_startup_s": round(startup, 3), "mem_limit_mb": mem_limit_mb,
            "load_average": {"start": load_start, "end": load_end}, "cpus": os.cpu_count(),
            "runs": runs, "targets": targets}


def _projected_skip(prev: dict[str, Any] | None, who: str, n: int, mem_limit_mb: float) -> str | None:
    """A reason to skip a run whose peak memory, grown in proportion to the rows, would pass the limit."""
    if prev is None or not prev[who].get("ok") or not prev[who].get("peak_mb"):
        return None
    projected = prev[who]["peak_mb"] * n / prev["rows"]
    if projected > mem_limit_mb:
        return (f"{prev[who]['peak_mb']:,.0f} MB at {prev['rows']:,} rows projects to {projected:,.0f} MB here, "
                f"above the {mem_limit_mb:,.0f} MB limit (--mem-limit-mb)")
    return None


def _progress_line(entry: dict[str, Any]) -> None:
    rc, hr = entry["riskcore"], entry["handrolled"]

    def one(f: dict[str, Any]) -> str:
        if f.get("skipped"):
            return "skipped"
        return f"{f['wall_s']:.1f} s, {f['peak_mb']:,.0f} MB" if f.get("ok") else f"failed ({f.get('error', '')})"

    print(f"   {entry['champion']} {entry['format']} {entry['rows']:,} rows: riskcore {one(rc)}; "
          f"hand-rolled {one(hr)}", flush=True)


# ---------------------------------------------------------------------------
# section 2: one company and explanations, in process
# ---------------------------------------------------------------------------

def _latencies(fn: Any, n: int, warmup: int = 50) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def _ms(lat: np.ndarray) -> str:
    return f"p50 {np.percentile(lat, 50) * 1e3:7.3f} ms   p99 {np.percentile(lat, 99) * 1e3:7.3f} ms"


def _best_time(fn: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_latency(bundle_dir: str, n_calls: int, n_explain_rows: int) -> dict[str, Any]:
    """score_one and explain_one against the booster on one row; explain_frame against pred_contrib."""
    from riskcore.data.quality import prepare_frame
    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.features import add_panel_features
    from riskcore.serving.explain import explain_frame, explain_one
    from riskcore.serving.scoring import score_one

    bundle = load_bundle(bundle_dir)
    booster = bundle.scorer.booster  # type: ignore[attr-defined]
    frame = _portfolio(_base(), 0, 20_000)
    prepared = add_panel_features(prepare_frame(frame, bundle.spec).frame, bundle.spec)
    matrix = bundle.matrix(prepared)

    record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in frame.iloc[123].to_dict().items()}
    one_row = matrix[123:124].copy()
    bare1 = _latencies(lambda: booster.predict(one_row, raw_score=True, num_threads=1), n_calls)
    one = _latencies(lambda: score_one(bundle, record), n_calls)
    print()
    print("2. one company, in process")
    print(f"{'baseline: booster.predict(one row, raw_score=True)':52s} {_ms(bare1)}")
    print(f"{'score_one(bundle, dict)':52s} {_ms(one)}   "
          f"{np.percentile(one, 50) / np.percentile(bare1, 50):5.1f}× baseline p50")
    p50 = float(np.percentile(one, 50) * 1e3)
    print(f"   score_one p50 {p50:.3f} ms (target < 1 ms) {'met' if p50 < 1 else 'not met'}")

    n_ex = max(n_calls // 4, 50)
    contrib1 = _latencies(lambda: booster.predict(one_row, pred_contrib=True, num_threads=1), n_ex)
    ex1 = _latencies(lambda: explain_one(bundle, record), n_ex, warmup=10)
    sub = prepared.iloc[:n_explain_rows].reset_index(drop=True)
    sub_matrix = matrix[:n_explain_rows]
    t_contrib = _best_time(lambda: booster.predict(sub_matrix, pred_contrib=True), repeat=2)
    t_ex = _best_time(lambda: explain_frame(bundle, sub), repeat=2)
    print()
    print("3. explanations (TreeSHAP)")
    print(f"{'baseline: booster.predict(one row, pred_contrib=True)':52s} {_ms(contrib1)}")
    print(f"{'explain_one (waterfall in PD + reason codes)':52s} {_ms(ex1)}   "
          f"{np.percentile(ex1, 50) / np.percentile(contrib1, 50):5.1f}× baseline p50")
    e50 = float(np.percentile(ex1, 50) * 1e3)
    print(f"   one company's explanation p50 {e50:.2f} ms (target < 10 ms) {'met' if e50 < 10 else 'not met'}")
    n = n_explain_rows
    print(row(f"baseline: pred_contrib on {n:,} rows", t_contrib, extra=f"{n / t_contrib:,.0f} rows/s"))
    print(row(f"explain_frame on {n:,} rows", t_ex, t_contrib, f"{n / t_ex:,.0f} rows/s"))

    def pct(lat: np.ndarray) -> dict[str, float]:
        return {"p50_ms": round(float(np.percentile(lat, 50) * 1e3), 4),
                "p99_ms": round(float(np.percentile(lat, 99) * 1e3), 4)}

    return {"booster_one_row": pct(bare1), "score_one": pct(one), "booster_contrib_one_row": pct(contrib1),
            "explain_one": pct(ex1), "explain_rows": n, "pred_contrib_s": round(t_contrib, 4),
            "explain_frame_s": round(t_ex, 4),
            "targets": {"score_one_p50_below_1ms": p50 < 1, "explain_one_p50_below_10ms": e50 < 10}}


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def _default_mem_limit_mb() -> float:
    """Half the memory available now: enough for any sane run, and the machine stays usable for others."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 2
    except OSError:
        pass
    return 8192.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="rows of the main file (default 1,000,000)")
    parser.add_argument("--big-rows", type=int, default=None, help="rows of the big file (default 5,000,000)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated: csv, parquet")
    parser.add_argument("--champions", default=",".join(CHAMPIONS),
                        help="comma-separated: lightgbm (a few hundred trees), logistic (the quick profile's)")
    parser.add_argument("--baseline-threads", type=int, default=0,
                        help="LightGBM threads of the hand-rolled script (default 0: every core, as riskcore)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="small files and fewer calls (checks the script)")
    parser.add_argument("--no-latency", action="store_true", help="skip section 2 (one company, explanations)")
    parser.add_argument("--mem-limit-mb", type=float, default=None,
                        help="skip or stop a command past this resident memory (default: half the available)")
    parser.add_argument("--order", choices=["year", "company"], default="year",
                        help="rows by fiscal year as the demo writes them (default; scoring gathers each company's "
                             "history in a first pass) or by company id, as a loan system's export usually is")
    parser.add_argument("--work-dir", default=None, help="folder for the temporary files (default: the system's)")
    parser.add_argument("--train-child", dest="train_child", help=argparse.SUPPRESS)
    parser.add_argument("--grading", choices=["pit", "ttc"], default="pit",
                        help="the champions grade on the point-in-time PD (default) or through the cycle")
    parser.add_argument("--train-kind", dest="train_kind", default="lightgbm", help=argparse.SUPPRESS)
    parser.add_argument("--train-grading", dest="train_grading", default="pit", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        _child_train(args.train_child, args.train_kind, args.train_grading)
        return
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    big_rows = args.big_rows or (100_000 if args.quick else 5_000_000)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"--formats: {', '.join(map(repr, unknown))} unknown; use csv, parquet or both")
    mem_limit_mb = args.mem_limit_mb or _default_mem_limit_mb()
    champions = [c.strip() for c in args.champions.split(",") if c.strip()]
    if not champions or set(champions) - set(CHAMPIONS):
        parser.error(f"--champions: use {', '.join(CHAMPIONS)} or both (comma-separated)")

    print(f"1. python -m riskcore score, audit trail included, against the hand-rolled script "
          f"(best of {args.repeat})")
    with tempfile.TemporaryDirectory(prefix="score-bench-model-", dir=args.work_dir) as models:
        trained = []
        for kind in champions:
            t0 = time.perf_counter()
            model = {**_train(Path(models) / kind, kind, args.grading), "train_s": 0.0}
            model["train_s"] = round(time.perf_counter() - t0, 1)
            trained.append(model)
        results: dict[str, Any] = {"command": bench_command(trained, rows, big_rows, formats, max(args.repeat, 1),
                                                            mem_limit_mb, args.work_dir, args.order,
                                                            args.baseline_threads)}
        boosted = next((m for m in trained if m["kind"] == "lightgbm"), None)
        if not args.no_latency and boosted is not None:
            results["latency"] = bench_latency(boosted["bundle"], *((300, 1000) if args.quick else (2000, 10_000)))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / ("score_bench" + ("" if args.order == "year" else f"_{args.order}")
                    + ("" if args.grading == "pit" else f"_{args.grading}") + ".json")
    out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(f"\nresults: {out}")
    differing = [f"{r['champion']} {r['format']} {r['rows']:,} rows" for r in results["command"]["runs"]
                 if "agreement" in r and not r["agreement"].get("ok")]
    if differing:
        raise SystemExit(f"riskcore's p_default differs from the hand-rolled script's by more than {AGREEMENT_TOL:g} "
                         f"(or could not be compared): {'; '.join(differing)}")


if __name__ == "__main__":
    main()
