"""Scoring on 2 local Dask workers against streamed scoring in one process, in the same run.

What is timed is what the user pays: each command in its own process, from the interpreter's start to
its exit, every step on (read, validate, score, grade, record every score in a fresh SQLite audit trail,
write). The portfolio is the demo layout tiled (``benchmarks/score_bench.py``), sorted by company and
written as Parquet partitions of whole tiles (a company's rows never span two partitions), and as one
Parquet file of the same rows for the one-process run. The model is score_bench's LightGBM champion.

- one process: ``python -m riskcore score --model BUNDLE --input FILE --output OUT.parquet``;
- 2 workers: ``python -m riskcore score --engine dask --workers 2 --input FOLDER --output OUT --timings``,
  which starts a LocalCluster of 2 worker processes with one thread each.

Reported: wall seconds of each, the ratio, rows per second per worker, peak memory of the one-process
command, of the largest process of the cluster's tree (client, scheduler and workers: the wrapper's
``RUSAGE_CHILDREN``) and of each worker by its own report (``ru_maxrss`` at the end of each partition).
Targets (printed, never asserted): 2 workers at least 1.7× the one-process throughput; memory per worker
flat in the number of rows (compare two ``--rows``). Results also go to ``benchmarks/output/dask_bench.json``.

    .venv/bin/python benchmarks/dask_bench.py [--rows 10000000] [--partition-rows 250000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _common import measure_command, parse_timings  # noqa: E402
from score_bench import _base, _portfolio, _riskcore_env, _train  # noqa: E402

OUTPUT = HERE / "output"
TARGET_RATIO = 1.7


def write_partitions(folder: Path, rows: int, partition_rows: int) -> tuple[Path, Path, int]:
    """The tiled portfolio sorted by company: Parquet partitions of whole tiles, and one file of the same rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = _base("company")
    tiles = max(1, partition_rows // len(base))
    parts = folder / "partitions"
    parts.mkdir()
    whole = folder / "portfolio.parquet"
    writer = None
    schema = None
    n_parts = 0
    try:
        for start in range(0, rows, tiles * len(base)):
            table = pa.Table.from_pandas(_portfolio(base, start, min(start + tiles * len(base), rows)),
                                         preserve_index=False)
            schema = schema or table.schema
            table = table.cast(schema)
            pq.write_table(table, parts / f"part-{n_parts:05d}.parquet")
            n_parts += 1
            writer = writer or pq.ParquetWriter(whole, schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return whole, parts, n_parts


def _facts(run: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"ok": run.ok, "rc": run.rc, "wall_s": run.wall_s, "peak_mb": run.peak_mb,
            **({} if run.ok else {"error": run.last_error_line()}), **(extra or {})}


def main() -> None:
    """Write the data, train the model, run both commands, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partition-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dask-bench-", dir=ROOT / "benchmarks" / "output") as tmp:
        folder = Path(tmp)
        model = _train(folder / "models")
        whole, parts, n_parts = write_partitions(folder, args.rows, args.partition_rows)
        local_home, dask_home = folder / "home-local", folder / "home-dask"
        local_home.mkdir()
        dask_home.mkdir()
        local = measure_command([sys.executable, "-m", "riskcore", "score", "--model", model["bundle"], "--input",
                                 str(whole), "--output", str(folder / "local.parquet")],
                                env=_riskcore_env(local_home), cwd=local_home)
        dask = measure_command([sys.executable, "-m", "riskcore", "score", "--engine", "dask", "--model",
                                model["bundle"], "--input", str(parts), "--output", str(folder / "dask-out"),
                                "--workers", str(args.workers), "--timings"], env=_riskcore_env(dask_home),
                               cwd=dask_home)
        timings = parse_timings(dask.stderr) or {}
        report: dict[str, Any] = {
            "worker_peak_mb": {k.split(":", 1)[1]: v for k, v in timings.items() if k.startswith("worker_peak_mb:")},
            "client_audit_s": timings.get("audit"), "job_s": timings.get("total")}
        for home in (local_home, dask_home):
            verify = subprocess.run([sys.executable, "-m", "riskcore", "audit", "verify"], cwd=home,
                                    env=_riskcore_env(home), capture_output=True, text=True, check=False)
            report.setdefault("verify", {})[home.name] = verify.returncode
    ratio = local.wall_s / dask.wall_s if local.ok and dask.ok else float("nan")
    result = {"rows": args.rows, "partitions": n_parts, "workers": args.workers, "one_process": _facts(local),
              "dask": _facts(dask, report), "ratio": ratio,
              "rows_per_s_per_worker": args.rows / dask.wall_s / args.workers if dask.ok else float("nan"),
              "rows_per_s_one_process": args.rows / local.wall_s if local.ok else float("nan")}
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "dask_bench.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"{args.rows:,} rows in {n_parts} partitions; model {model['kind']} ({model['trees']} trees)")
    print(f"one process : {local.wall_s:8.1f} s  peak {local.peak_mb:7.0f} MB  "
          f"{result['rows_per_s_one_process']:,.0f} rows/s"
          + ("" if local.ok else f"  FAILED {local.last_error_line()}"))
    print(f"{args.workers} workers   : {dask.wall_s:8.1f} s  largest process {dask.peak_mb:7.0f} MB  "
          f"{result['rows_per_s_per_worker']:,.0f} rows/s per worker"
          + ("" if dask.ok else f"  FAILED {dask.last_error_line()}"))
    for worker, mb in report.get("worker_peak_mb", {}).items():
        print(f"  worker {worker}: peak {mb:,.0f} MB (its own report)")
    print(f"ratio {ratio:.2f}× (target ≥ {TARGET_RATIO}×: {'met' if ratio >= TARGET_RATIO else 'NOT met'}); "
          f"audit verify exit codes {report.get('verify')}")


if __name__ == "__main__":
    main()
