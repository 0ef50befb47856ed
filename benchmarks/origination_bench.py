"""Origination PDs from the audit trail: ``AuditLog.origination`` over a million companies, and over ten thousand.

The trail holds one scoring request of ``--rows`` scores (default 1,000,000), recorded as ``score`` records a
file: ``AuditLog.batch()``, chunks of ``--chunk`` rows (default 100,000), company ids ``C0000001``, … , inputs
``year`` (a fiscal year, 2015–2024) and ``--inputs`` decimal columns (default 10; only ``year`` is read back),
a PD, a decision and a grade. Then, each in a process of its own (so its memory is the lookup's, not the
recording's): ``origination`` of every company, and of ``--sample`` companies drawn at random (default
10,000), with ``year_column="year"``. Printed: seconds of the call, companies found, peak resident memory of
the process (``resource.getrusage``) and its resident memory just before the call (imports and the id list).

    .venv/bin/python benchmarks/origination_bench.py [--rows 1000000] [--chunk 100000] [--inputs 10]
        [--sample 10000] [--url URL] [--postgres-url postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB]

Without ``--url`` the trail is a fresh SQLite file in a temporary folder; ``--postgres-url`` adds a fresh
database on that server (dropped afterwards; the role needs CREATE DATABASE).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import measure_command  # noqa: E402
from audit_bench import Backend, backends  # noqa: E402

from riskcore.serving.audit import AuditLog  # noqa: E402

META = {"source": "cli", "caller": "bench", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}


def company_ids(n: int) -> np.ndarray:
    """The ids of the request's rows: ``C0000001`` … in file order."""
    return np.array([f"C{i:07d}" for i in range(1, n + 1)], dtype=object)


def record(url: str, rows: int, chunk: int, n_inputs: int) -> float:
    """Record one request of ``rows`` scores chunk by chunk; its seconds."""
    rng = np.random.default_rng(7)
    ids = company_ids(rows)
    years = rng.integers(2015, 2025, rows)
    p = rng.random(rows)
    decision = np.where(p > 0.8, "refer", "accept").astype(object)
    grade = np.array([f"G{int(x * 10)}" for x in p], dtype=object)
    inputs = pd.DataFrame({"year": years, **{f"x{k:02d}": rng.normal(size=rows).round(4) for k in range(n_inputs)}})
    log = AuditLog(url)
    t0 = time.perf_counter()
    with log.batch(**META) as batch:
        for start in range(0, rows, chunk):
            part = slice(start, start + chunk)
            batch.add(ids[part], inputs.iloc[part], p[part], decision[part], grade[part])
    seconds = time.perf_counter() - t0
    log.close()
    return seconds


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def lookup(url: str, rows: int, n: int) -> dict[str, Any]:
    """One ``origination`` call over ``n`` of the request's companies (all of them when ``n == rows``), shuffled."""
    rng = np.random.default_rng(11)
    ids = company_ids(rows)
    wanted = ids[rng.permutation(rows)[:n]].tolist()
    del ids
    log = AuditLog(url)
    log.count()  # connected, tables checked: not part of the lookup
    before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    found = log.origination(wanted, year_column="year")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"ids": n, "found": len(found), "seconds": seconds, "peak_mb": peak, "before_mb": before,
            "peak_before_mb": peak_before}


def _lookup_process(url: str, rows: int, n: int) -> dict[str, Any]:
    """One lookup in a process of its own, started through ``_common.measure_command``'s small wrapper.

    Linux keeps a process's peak resident memory across ``exec``: a child started straight from this process,
    which just recorded a million scores, would report this process's peak as its own.
    """
    run = measure_command([sys.executable, __file__, "--lookup", url, "--rows", str(rows), "--sample", str(n)])
    if run.rc != 0:
        raise SystemExit(f"the lookup of {n:,} companies failed:\n{run.stderr}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def run(backend: Backend, args: argparse.Namespace) -> None:
    with backend.database("origination") as url:
        seconds = record(url, args.rows, args.chunk, args.inputs)
        print(f"{backend.label}: recorded {args.rows:,} scores ({args.inputs} inputs besides year, chunks of "
              f"{args.chunk:,}) in {seconds:.1f} s")
        for n in (args.rows, args.sample):
            r = _lookup_process(url, args.rows, n)
            print(f"  origination of {r['ids']:>9,} companies: {r['seconds']:6.2f} s, {r['found']:,} found, "
                  f"peak RSS {r['peak_mb']:4.0f} MB (before the call: {r['before_mb']:.0f} MB resident, peak "
                  f"{r['peak_before_mb']:.0f} MB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--inputs", type=int, default=10)
    parser.add_argument("--sample", type=int, default=10_000)
    parser.add_argument("--url", action="append", default=[])
    parser.add_argument("--postgres-url", action="append", default=[])
    parser.add_argument("--lookup", help=argparse.SUPPRESS)  # the child process: one lookup on this URL
    args = parser.parse_args(argv)
    if args.lookup:
        print(json.dumps(lookup(args.lookup, args.rows, args.sample)))
        return
    with tempfile.TemporaryDirectory(prefix="origination_bench_") as folder:
        for backend in backends(args.url, args.postgres_url, Path(folder)):
            run(backend, args)


if __name__ == "__main__":
    main()
