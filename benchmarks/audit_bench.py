"""The audit trail: one large streamed request, verifying it, and eight writer processes.

Inputs are demo-like: the model inputs of the demo portfolio (39 float, 3 int
and 3 text columns), tiled to the row count with a little noise so they do not
compress unrealistically well. A request of 1,000,000 scores arrives as 10
chunks of 100,000 through ``AuditLog.batch()``, into a SQLite file.

Baseline measured in the same run: a plain ``sqlite3`` ``executemany`` of the
narrow outputs only (company_id, p_default, decision, grade; one transaction,
WAL, synchronous=NORMAL, no index, no inputs, no hashes), so the ratio is the
price of validation, storing every input, hashing, fingerprints and the company
index. Figures are ratios and rows per second because the machine is shared.

    .venv/bin/python benchmarks/audit_bench.py [--rows 1000000] [--chunk 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, timeit  # noqa: E402

from riskcore.serving.audit import AuditLog, AuditRecord  # noqa: E402

N_PROCESSES = 8
N_CALLS = 500
META = {"source": "cli", "caller": "bench", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}


def _demo_inputs(n: int) -> pd.DataFrame:
    from riskcore.data.synth import generate_portfolio

    portfolio = generate_portfolio(n_companies=2000)
    frame = portfolio.frame
    names = [n for n in portfolio.spec.feature_names if n in frame.columns]
    extra = [c for c in ("fiscal_year",) if c in frame.columns and c not in names]
    base = frame[names + extra].reset_index(drop=True)
    tiled = base.iloc[np.arange(n) % len(base)].reset_index(drop=True)
    rng = np.random.default_rng(7)
    for name in tiled.columns:
        if tiled[name].dtype.kind == "f":
            tiled[name] = (tiled[name] * (1 + rng.normal(0, 0.01, n))).round(4)
    return tiled


def _outputs(n: int, shuffled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    ids = np.array([f"C{i % (n // 10 or 1):07d}" for i in range(n)], dtype=object)  # ten years per company
    if shuffled:
        ids = ids[rng.permutation(n)]
    p = rng.random(n)
    decision = np.where(p > 0.8, "refer", "accept").astype(object)
    grade = np.array([f"G{int(x * 10)}" for x in p], dtype=object)
    reasons = np.where(p > 0.8, "high_leverage; late_payments", "").astype(object)
    return ids, p, decision, grade, reasons


def _baseline(path: Path, ids: np.ndarray, p: np.ndarray, decision: np.ndarray, grade: np.ndarray) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (company_id TEXT, p_default REAL, decision TEXT, grade TEXT)")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t VALUES (?,?,?,?)", zip(ids.tolist(), p.tolist(), decision.tolist(),
                                                           grade.tolist(), strict=True))
    conn.execute("COMMIT")
    conn.close()


def _record_stream(url: str, inputs: pd.DataFrame, outputs: tuple[np.ndarray, ...], chunk: int) -> str:
    ids, p, decision, grade, reasons = outputs
    log = AuditLog(url)
    log.count()  # create the tables before the clock matters
    with log.batch(**META) as batch:
        for start in range(0, len(ids), chunk):
            part = slice(start, start + chunk)
            batch.add(ids[part], inputs.iloc[part], p[part], decision[part], grade[part], reasons[part])
    log.close()
    return batch.request_id


def _writer(url: str, worker: int, start: multiprocessing.synchronize.Barrier) -> float:
    log = AuditLog(url)
    log.count()  # connect before the clock starts
    start.wait()
    t0 = time.perf_counter()
    for i in range(N_CALLS):
        log.record([AuditRecord(f"w{worker}-{i}", {"x": float(i)}, 0.1, "accept", "B")],
                   **{**META, "source": "api"})
    log.close()
    return time.perf_counter() - t0


def _concurrent(folder: Path) -> tuple[float, float, int, str]:
    url = f"sqlite:///{folder / 'concurrent.db'}"
    AuditLog(url).count()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(N_PROCESSES + 1)
    t0 = time.perf_counter()
    with ctx.Pool(N_PROCESSES) as pool:
        pending = pool.starmap_async(_writer, [(url, w, start) for w in range(N_PROCESSES)])
        start.wait()
        t1 = time.perf_counter()
        pending.get()
        writing = time.perf_counter() - t1
    wall = time.perf_counter() - t0
    log = AuditLog(url)
    return wall, writing, log.count(), log.verify().message


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.rows
    inputs = _demo_inputs(n)
    kinds = inputs.dtypes.map(lambda d: d.kind).value_counts().to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = iter(range(1000))
        sorted_out = _outputs(n, shuffled=False)
        shuffled_out = _outputs(n, shuffled=True)
        base_s, _ = timeit(lambda: _baseline(folder / f"plain{next(runs)}.db", *sorted_out[:4]), repeat=args.repeat)
        urls: list[str] = []

        def write(outputs: tuple[np.ndarray, ...]) -> None:
            urls.append(f"sqlite:///{folder / f'audit{next(runs)}.db'}")
            _record_stream(urls[-1], inputs, outputs, args.chunk)

        record_s, _ = timeit(lambda: write(sorted_out), repeat=args.repeat)
        verify_s, result = timeit(lambda: AuditLog(urls[-1]).verify(), repeat=args.repeat)
        size_mb = os.path.getsize(urls[-1].removeprefix("sqlite:///")) / 1e6
        shuffled_s, _ = timeit(lambda: write(shuffled_out), repeat=args.repeat)
        wall, writing, kept, message = _concurrent(folder)

    print(f"audit trail: {n:,} scores in chunks of {args.chunk:,}; inputs {inputs.shape[1]} columns {kinds}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(row("baseline: sqlite3 executemany, 4 output columns only", base_s, None, f"{n / base_s:,.0f} rows/s"))
    print(row("AuditLog.batch: add() × chunks + commit()", record_s, base_s,
              f"{n / record_s:,.0f} rows/s; target 1,000,000 in <= 3 s; file {size_mb:,.0f} MB"))
    print(row("  same, company ids in random order", shuffled_s, base_s, f"{n / shuffled_s:,.0f} rows/s"))
    print(row("AuditLog.verify (re-hash every chunk, walk the chain)", verify_s, base_s,
              f"{n / verify_s:,.0f} rows/s (target >= 1,000,000); {result.message}"))
    print(f"{N_PROCESSES} processes × {N_CALLS} single-record calls (spawn):")
    print(row("  wall time, process start included", wall))
    print(row("  writing only (after every process has connected)", writing, None,
              f"{kept:,} of {N_PROCESSES * N_CALLS:,} rows kept, {N_PROCESSES * N_CALLS / writing:,.0f} "
              f"requests/s; {message}"))


if __name__ == "__main__":
    main()
