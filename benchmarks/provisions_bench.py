"""Provisions at scale: ``python -m riskcore provisions`` on a million companies, against ``score`` on the same file.

The file is a panel in the demo layout: ``--companies`` companies (default 1,000,000), each with its row of the
as-of year (the demo's last fiscal year; its default flag left empty, the outcome is not known yet) and the
``--history`` years before it (default 2) with the default flag, as a bank keeps them: the demo portfolio's last
``history + 1`` fiscal years tiled, ids unique per tile, ratios perturbed (``score_bench._portfolio``), the
demo's exposure column included. Each tile brings the demo's companies of those years, those that defaulted or
left before the as-of year too; the last tile is cut at a company so the file holds exactly ``--companies``
companies in the as-of year. Rows are ordered by fiscal year as the demo writes them, or by company
(``--order company``).

Measured in the same run, each command in its own process behind ``_common.measure_command`` (wall time from
the interpreter's start to its exit, peak resident memory of that command alone), with a champion trained once
through the engine (``score_bench._train``: a LightGBM model of a few hundred trees, or ``--champion logistic``):

1. ``python -m riskcore score --model M --input FILE --output OUT``: every step on, the audit trail a fresh
   SQLite file (``score_bench.run_riskcore``);
2. ``python -m riskcore provisions --model M --input FILE --as-of YYYY-12-31 --out FOLDER``: the rows up to the
   as-of year scored once, the as-of rows again under the upside and downside scenarios, the term structures,
   stages and ECL, every as-of company's score recorded in its own fresh audit trail, the files written; then
   ``audit verify`` on that trail;
3. ``benchmarks/handrolled_provisions.py``: the same job written with plain libraries and no riskcore in its
   process (the model's numbers from the model card ``model_card.py`` exports; the scenarios' weights and
   macro moves from the riskcore run's ``summary.json``).

Printed: wall seconds and peak MB of each, the ratios provisions / score and provisions / hand-rolled, stage
timings where a command prints them (``--timings``), the target lines, and the agreement of the two
provisions: companies, total ECL (relative difference; not exact, as riskcore shrinks thin grades' hazards
toward their neighbours and rejects invalid rows the script scores), stages, and each company's base 12-month
PD. Targets (checked and printed, never asserted): provisions within 2× score on the same file, peak memory
at most 1.2 GB. A command whose memory passes ``--mem-limit-mb`` is stopped. Results also go to
``benchmarks/output/provisions_bench.json``.

    .venv/bin/python benchmarks/provisions_bench.py [--companies 1000000] [--history 2] [--formats csv,parquet]
                                                    [--order year|company] [--champion lightgbm|logistic]
                                                    [--repeat 1] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
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

from _common import measure_command  # noqa: E402
from score_bench import (  # noqa: E402
    SEED,
    _default_mem_limit_mb,
    _handrolled_env,
    _portfolio,
    _remove,
    _riskcore_env,
    _run_facts,
    _train,
    model_card,
    run_riskcore,
    run_verify,
)

OUTPUT = HERE / "output"
FORMATS = ("csv", "parquet")
TARGET_RATIO = 2.0  # provisions / score wall time on the same file
TARGET_PEAK_MB = 1.2 * 1024  # 1.2 GB, as score_bench counts a GB
ECL_TOLERANCE = 0.05  # relative difference of the total ECL allowed between riskcore and the hand-rolled script
WRITE_ROWS = 250_000


# ---------------------------------------------------------------------------
# the panel
# ---------------------------------------------------------------------------

def panel_base(history: int, order: str) -> tuple[pd.DataFrame, int]:
    """The demo portfolio's last ``history + 1`` fiscal years (its default flag empty in the last), and that year."""
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio

    spec = DEMO_SPEC
    assert spec.id and spec.time and spec.target
    frame = generate_portfolio(5000, seed=SEED).frame.drop(columns=["true_pd"])
    as_of = int(frame[spec.time].max())
    frame = frame[frame[spec.time] >= as_of - history].copy()
    frame[spec.target] = frame[spec.target].astype("Int64").mask(frame[spec.time] == as_of)  # not known yet
    keys = [spec.time, spec.id] if order == "year" else [spec.id, spec.time]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True), as_of


def write_panels(folder: Path, companies: int, history: int, formats: list[str], order: str
                 ) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the panel once per format, a few tiles at a time; its paths and facts (rows, companies, as-of year)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from riskcore.data.schema import DEMO_SPEC

    id_col, time_col = str(DEMO_SPEC.id), str(DEMO_SPEC.time)
    base, as_of = panel_base(history, order)
    size = len(base)
    # the companies of a tile in id order; the last tile keeps the first ones until it holds the remaining count
    ranked = np.sort(base[id_col].unique())
    rank = pd.Index(ranked).get_indexer(base[id_col])
    now_ids = base.loc[base[time_col] == as_of, id_col].unique()
    per_tile = len(now_ids)
    full, rest = divmod(companies, per_tile)
    cut = int(np.searchsorted(np.cumsum(np.isin(ranked, now_ids)), rest)) if rest else -1
    keep_last = rank <= cut
    tiles = full + (1 if rest else 0)
    # year order: each year's rows of every tile, one year after the other; company order: whole tiles
    if order == "year":
        bounds = base.groupby(time_col, sort=True).indices
        segments = [(int(v.min()), int(v.max()) + 1) for v in bounds.values()]
    else:
        segments = [(0, size)]
    paths = {fmt: folder / f"panel_{companies}.{fmt}" for fmt in formats}
    writers: dict[str, Any] = {}
    schema = None
    rows = 0

    def flush(frames: list[pd.DataFrame]) -> None:
        nonlocal schema, rows
        table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
        schema = schema or table.schema
        table = table.cast(schema)
        rows += table.num_rows
        for fmt, path in paths.items():
            if fmt not in writers:
                writers[fmt] = pq.ParquetWriter(path, schema) if fmt == "parquet" else pcsv.CSVWriter(path, schema)
            writers[fmt].write_table(table)

    try:
        for a, b in segments:
            frames: list[pd.DataFrame] = []
            pending = 0
            for t in range(tiles):
                part = _portfolio(base, t * size + a, t * size + b)
                if rest and t == tiles - 1:
                    part = part[keep_last[a:b]]
                frames.append(part)
                pending += len(part)
                if pending >= WRITE_ROWS:
                    flush(frames)
                    frames, pending = [], 0
            if frames:
                flush(frames)
    finally:
        for w in writers.values():
            w.close()
    return paths, {"rows": rows, "companies": companies, "as_of": as_of, "history": history,
                   "companies_per_tile": per_tile, "tiles": tiles, "rows_per_tile": size}


# ---------------------------------------------------------------------------
# the measured commands
# ---------------------------------------------------------------------------

def has_timings(command: str) -> bool:
    """Whether ``python -m riskcore COMMAND`` offers ``--timings``."""
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        proc = subprocess.run([sys.executable, "-m", "riskcore", command, "--help"], capture_output=True, text=True,
                              check=False, cwd=home, env=_riskcore_env(Path(home)))
    return "--timings" in proc.stdout


def run_provisions(bundle: str, source: Path, work: Path, as_of: str, *, timings: bool, repeat: int,
                   mem_limit_mb: float) -> tuple[dict[str, Any], Path | None, Path | None]:
    """The provisions command on ``source``; its facts, and the output folder and home of the fastest run."""
    runs: list[tuple[dict[str, Any], Path, Path]] = []
    for i in range(repeat):
        home = work / f"home-provisions-{source.suffix[1:]}-{i}"
        home.mkdir(parents=True)
        out = work / f"provisions-{source.suffix[1:]}-{i}"
        cmd = [sys.executable, "-m", "riskcore", "provisions", "--model", bundle, "--input", str(source),
               "--as-of", as_of, "--out", str(out), *(["--timings"] if timings else [])]
        run = measure_command(cmd, env=_riskcore_env(home), cwd=home, mem_limit_mb=mem_limit_mb)
        facts = _run_facts(run, out / "companies.csv", cli=False)
        facts["report"] = [ln for ln in run.stdout.splitlines() if ln.strip()][:12]
        summary = out / "summary.json"
        if facts["ok"] and summary.exists():
            s = json.loads(summary.read_text(encoding="utf-8"))
            facts["summary"] = {k: s.get(k) for k in ("companies", "ecl", "ead", "by_stage", "history_rows",
                                                      "rejected_rows", "scenarios", "notes", "origination_sources")}
        runs.append((facts, out, home))
    good = [f for f, _, _ in runs if f["ok"]]
    best = min(good, key=lambda f: f["wall_s"]) if good else runs[-1][0]
    facts = {**best, "peak_mb": max(f["peak_mb"] for f, _, _ in runs), "repeats": len(runs)}
    kept = next(((out, home) for f, out, home in runs if f is best and f["ok"]), (None, None))
    for _, out, home in runs:
        if (out, home) != kept:
            _remove(out)
            _remove(home)
    return facts, kept[0], kept[1]


def scenarios_file(bundle: str, provisions: dict[str, Any], work: Path) -> tuple[Path, str]:
    """The scenarios for the hand-rolled script: the riskcore run's, or (when it failed) the settings' defaults.

    The file also gives the macro inputs' valid ranges (a moved value stays inside, as riskcore keeps it).
    """
    from riskcore.config import load_settings
    from riskcore.modelling.bundle import load_bundle
    from riskcore.serving.provisions import default_scenarios

    spec = load_bundle(bundle).spec
    bounds = {f.name: [f.min, f.max] for f in spec.features if f.family == "macro" and f.kind == "numeric"}
    chosen = (provisions.get("summary") or {}).get("scenarios")
    origin = "the riskcore run's summary.json"
    if not chosen:
        rules = load_settings().provisions
        chosen = [{"name": s.name, "weight": s.weight, "shifts": s.shifts}
                  for s in default_scenarios(load_bundle(bundle), rules)]
        origin = "the settings' defaults (the riskcore run left no summary.json)"
    path = work / "scenarios.json"
    path.write_text(json.dumps({"scenarios": [{k: s[k] for k in ("name", "weight", "shifts")} for s in chosen],
                                "bounds": bounds}), encoding="utf-8")
    return path, origin


def run_handrolled(bundle: str, source: Path, work: Path, scenarios: Path, as_of: int, *, repeat: int,
                   mem_limit_mb: float) -> tuple[dict[str, Any], Path | None]:
    """The hand-rolled script on ``source``; its facts (with its summary line) and the companies file it wrote."""
    from riskcore.data.schema import DEMO_SPEC

    card = model_card(bundle, work)
    runs: list[tuple[dict[str, Any], Path]] = []
    for i in range(repeat):
        out = work / f"handrolled-companies-{source.suffix[1:]}-{i}.csv"
        cmd = [sys.executable, str(HERE / "handrolled_provisions.py"), "--card", str(card), "--scenarios",
               str(scenarios), "--input", str(source), "--as-of", str(as_of), "--out", str(out),
               "--exposure", str(DEMO_SPEC.exposure), "--timings"]
        run = measure_command(cmd, env=_handrolled_env(), cwd=ROOT, mem_limit_mb=mem_limit_mb)
        facts = _run_facts(run, out, cli=False)
        for line in run.stdout.splitlines():
            if line.startswith("summary:"):
                facts["summary"] = json.loads(line[len("summary:"):])
        runs.append((facts, out))
    good = [f for f, _ in runs if f["ok"]]
    best = min(good, key=lambda f: f["wall_s"]) if good else runs[-1][0]
    facts = {**best, "peak_mb": max(f["peak_mb"] for f, _ in runs), "repeats": len(runs)}
    kept = next((out for f, out in runs if f is best and f["ok"]), None)
    for _, out in runs:
        if out != kept:
            _remove(out)
    return facts, kept


def agreement(riskcore_folder: Path, handrolled_out: Path) -> dict[str, Any]:
    """The two provisions side by side: companies, total ECL, stages, base 12-month PDs of the companies in both."""
    import pyarrow.csv as pcsv

    from riskcore.data.schema import DEMO_SPEC

    id_col = str(DEMO_SPEC.id)
    columns = [id_col, "stage", "ecl", "pd_12m_base"]

    def read(path: Path) -> pd.DataFrame:
        options = pcsv.ConvertOptions(include_columns=columns, column_types={id_col: "string"})
        return pcsv.read_csv(path, convert_options=options).to_pandas()

    try:
        a, b = read(riskcore_folder / "companies.csv"), read(handrolled_out)
    except (OSError, ValueError, KeyError) as err:
        return {"ok": False, "note": f"not compared: {err}"[:200]}
    ecl_a, ecl_b = float(a["ecl"].sum()), float(b["ecl"].sum())
    both = a.merge(b, on=id_col, suffixes=("_riskcore", "_handrolled"))
    live = both[(both["stage_riskcore"] < 3) & (both["stage_handrolled"] < 3)]
    diff = np.abs(live["pd_12m_base_riskcore"].to_numpy(dtype=float)
                  - live["pd_12m_base_handrolled"].to_numpy(dtype=float))
    rel = abs(ecl_a - ecl_b) / ecl_a if ecl_a else float("inf")
    in_both = float(both["ecl_riskcore"].sum())
    stages = {str(s): {"riskcore": int((a["stage"] == s).sum()), "handrolled": int((b["stage"] == s).sum())}
              for s in (1, 2, 3)}
    return {"riskcore_companies": int(len(a)), "handrolled_companies": int(len(b)), "in_both": int(len(both)),
            "riskcore_ecl": ecl_a, "handrolled_ecl": ecl_b, "ecl_relative_diff": rel,
            "ecl_in_both_relative_diff": abs(in_both - float(both["ecl_handrolled"].sum())) / max(in_both, 1e-12),
            "same_stage_share": (float((both["stage_riskcore"] == both["stage_handrolled"]).mean()) if len(both)
                                 else None),
            "stages": stages, "pd_base_max_abs_diff": float(diff.max()) if len(diff) else None,
            "ok": rel <= ECL_TOLERANCE}


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _one(f: dict[str, Any]) -> str:
    if f.get("skipped"):
        return "skipped"
    return f"{f['wall_s']:.1f} s, {f['peak_mb']:,.0f} MB" if f.get("ok") else f"failed ({f.get('error', '')})"


def _stages(f: dict[str, Any]) -> str:
    if not f.get("ok"):
        return f"failed: {f.get('error', '')}"
    if not f.get("stages"):
        return "stages unknown (no timings line)"
    return "  ".join(f"{k} {v:.2f}" for k, v in f["stages"].items())


def report(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Print one file's table, stages, agreement and targets; return the targets."""
    sc, pv, hr = entry["score"], entry["provisions"], entry["handrolled"]
    print()
    print(f"{'command':34s} {'wall s':>9s} {'peak MB':>9s}")
    for name, f in (("riskcore score", sc), ("riskcore provisions", pv), ("hand-rolled provisions", hr)):
        wall = f"{f['wall_s']:9.2f}" if f.get("ok") else "        —"
        peak = f"{f['peak_mb']:9,.0f}" if f.get("ok") else "        —"
        print(f"{name:34s} {wall} {peak}")
    for key, label in (("provisions_over_score", "provisions / score"),
                       ("provisions_over_handrolled", "provisions / hand-rolled")):
        if entry.get(key):
            print(f"{label:34s} {entry[key]:8.2f}×")
    print()
    print(f"   score:       {_stages(sc)}")
    print(f"   provisions:  {_stages(pv)}")
    print(f"   hand-rolled: {_stages(hr)}")
    if pv.get("report"):
        print("   provisions said:")
        for line in pv["report"]:
            print(f"      {line}")
    v = entry.get("verify")
    if v:
        print(f"   audit verify of the provisions' trail: {v['rows'] or 0:,} rows in {v['wall_s']:.2f} s "
              f"(exit {v['rc']}) {v['message']}")
    a = entry.get("agreement")
    if a and "riskcore_ecl" in a:
        print(f"   agreement: companies riskcore {a['riskcore_companies']:,}, hand-rolled {a['handrolled_companies']:,}"
              f", in both {a['in_both']:,}")
        print(f"      total ECL riskcore {a['riskcore_ecl']:,.0f}, hand-rolled {a['handrolled_ecl']:,.0f}: relative "
              f"difference {a['ecl_relative_diff']:.2%} (tolerance {ECL_TOLERANCE:.0%}) "
              f"{'within' if a['ok'] else 'NOT WITHIN'}; on the companies in both {a['ecl_in_both_relative_diff']:.2%}")
        st = a["stages"]
        print("      stages riskcore / hand-rolled: "
              + ", ".join(f"{s}: {st[s]['riskcore']:,} / {st[s]['handrolled']:,}" for s in st)
              + (f"; same stage {a['same_stage_share']:.2%}" if a.get("same_stage_share") is not None else ""))
        if a.get("pd_base_max_abs_diff") is not None:
            print(f"      base 12-month PD, companies in both not in default: max |Δ| {a['pd_base_max_abs_diff']:.2e}")
    elif a:
        print(f"   agreement: NOT CHECKED, {a.get('note', '')}")
    targets = []

    def add(name: str, value: float | None, limit: float, unit: str) -> None:
        status = "unknown" if value is None else ("met" if value <= limit else "not met")
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit, "status": status})

    n = entry["companies"]
    add(f"{entry['format']}: provisions / score wall on {n:,} companies", entry.get("provisions_over_score"),
        TARGET_RATIO, "×")
    add(f"{entry['format']}: provisions peak RSS on {n:,} companies", pv["peak_mb"] if pv.get("ok") else None,
        TARGET_PEAK_MB, "MB")
    print()
    print("targets")
    for t in targets:
        value = "unknown" if t["value"] is None else f"{t['value']:,.2f} {t['unit']}"
        print(f"   {t['target']:60s} {value:>14s}  (target ≤ {t['limit']:,.1f} {t['unit']})  {t['status']}")
    return targets


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def bench(model: dict[str, Any], companies: int, history: int, formats: list[str], order: str, repeat: int,
          mem_limit_mb: float, work_dir: str | None) -> dict[str, Any]:
    """Write the panel, run the three commands on each format; print and return the results."""
    load_start = os.getloadavg()
    entries = []
    with tempfile.TemporaryDirectory(prefix="provisions-bench-", dir=work_dir) as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        paths, panel = write_panels(tmp, companies, history, formats, order)
        t_data = time.perf_counter() - t0
        as_of = f"{panel['as_of']}-12-31"
        timings = {c: has_timings(c) for c in ("score", "provisions")}
        print(f"panel: {companies:,} companies at {as_of}, each with up to {history} earlier years; {panel['rows']:,} "
              f"rows ({panel['tiles']} tiles of {panel['companies_per_tile']:,} companies, "
              f"{panel['rows_per_tile']:,} rows), ordered by {'company' if order == 'company' else 'fiscal year'}")
        print(f"files: {', '.join(f'{p.name} {p.stat().st_size / 1e6:,.0f} MB' for p in paths.values())} "
              f"(written in {t_data:.1f} s)")
        trees = f", {model['trees']} trees" if model.get("trees") else ""
        print(f"champion: {model['kind']}{trees} (trained in {model['train_s']:.1f} s); --timings: "
              + ", ".join(f"{c} {'yes' if v else 'no'}" for c, v in timings.items())
              + f"; load average {load_start[0]:.2f} on {os.cpu_count()} cores; memory limit {mem_limit_mb:,.0f} MB",
              flush=True)
        for fmt, source in paths.items():
            entry: dict[str, Any] = {"format": fmt, "companies": companies, "rows": panel["rows"],
                                     "load_before": round(os.getloadavg()[0], 2)}
            entry["score"], out, home = run_riskcore(model["bundle"], source, tmp, timings=timings["score"],
                                                     repeat=repeat, mem_limit_mb=mem_limit_mb)
            _remove(out)
            _remove(home)
            print(f"   {fmt}: score {_one(entry['score'])}", flush=True)
            entry["provisions"], folder, home = run_provisions(model["bundle"], source, tmp, as_of,
                                                               timings=timings["provisions"], repeat=repeat,
                                                               mem_limit_mb=mem_limit_mb)
            print(f"   {fmt}: provisions {_one(entry['provisions'])}", flush=True)
            if home is not None:
                entry["verify"] = run_verify(home, 0.0)
            scenarios, origin = scenarios_file(model["bundle"], entry["provisions"], tmp)
            entry["scenarios_from"] = origin
            entry["handrolled"], hand_out = run_handrolled(model["bundle"], source, tmp, scenarios, panel["as_of"],
                                                           repeat=repeat, mem_limit_mb=mem_limit_mb)
            print(f"   {fmt}: hand-rolled {_one(entry['handrolled'])} (scenarios from {origin})", flush=True)
            if entry["provisions"].get("ok") and entry["score"].get("ok"):
                entry["provisions_over_score"] = round(entry["provisions"]["wall_s"] / entry["score"]["wall_s"], 3)
            if entry["provisions"].get("ok") and entry["handrolled"].get("ok"):
                entry["provisions_over_handrolled"] = round(entry["provisions"]["wall_s"]
                                                            / entry["handrolled"]["wall_s"], 3)
            if folder is not None and hand_out is not None:
                entry["agreement"] = agreement(folder, hand_out)
            for p in (folder, home, hand_out):
                _remove(p)
            entry["targets"] = report(entry)
            entries.append(entry)
    load_end = os.getloadavg()
    print(f"\nload average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end "
          f"({os.cpu_count()} cores, shared)")
    return {"panel": panel, "order": order, "formats": formats, "repeat": repeat, "champion": model,
            "cli_timings": timings, "mem_limit_mb": mem_limit_mb, "cpus": os.cpu_count(),
            "load_average": {"start": load_start, "end": load_end}, "runs": entries}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=1_000_000, help="companies in the as-of year")
    parser.add_argument("--history", type=int, default=2, help="fiscal years before the as-of year (1 to 9)")
    parser.add_argument("--formats", default="csv", help="comma-separated: csv, parquet (default csv)")
    parser.add_argument("--order", choices=["year", "company"], default="year",
                        help="rows by fiscal year as the demo writes them (default) or by company id")
    parser.add_argument("--champion", choices=["lightgbm", "logistic"], default="lightgbm",
                        help="a LightGBM model of a few hundred trees (default) or the quick profile's logistic one")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the fastest counts")
    parser.add_argument("--mem-limit-mb", type=float, default=None,
                        help="stop a command past this resident memory (default: half the available)")
    parser.add_argument("--work-dir", default=None, help="folder for the temporary files (default: the system's)")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or set(formats) - set(FORMATS):
        parser.error(f"--formats: use {', '.join(FORMATS)} or both (comma-separated)")
    if args.companies < 1:
        parser.error("--companies must be at least 1, e.g. 1000000")
    if not 1 <= args.history <= 9:
        parser.error("--history must be 1 to 9 years (the demo holds 10 fiscal years)")
    mem_limit_mb = args.mem_limit_mb or _default_mem_limit_mb()
    print(f"python -m riskcore provisions against score on the same file and the hand-rolled script "
          f"(best of {args.repeat})")
    with tempfile.TemporaryDirectory(prefix="provisions-bench-model-", dir=args.work_dir) as models:
        t0 = time.perf_counter()
        model = {**_train(Path(models) / args.champion, args.champion), "train_s": 0.0}
        model["train_s"] = round(time.perf_counter() - t0, 1)
        results = bench(model, args.companies, args.history, formats, args.order, max(args.repeat, 1), mem_limit_mb,
                        args.work_dir)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / ("provisions_bench" + ("" if args.order == "year" else f"_{args.order}") + ".json")
    out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
