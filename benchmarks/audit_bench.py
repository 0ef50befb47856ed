"""The audit trail: one large batch, verifying the chain, and eight writer processes.

Baseline measured in the same run: a plain ``sqlite3`` ``executemany`` of the
same rows (same columns, same pragmas: WAL, synchronous=NORMAL, one
transaction) into a bare table, with the JSON text and hashes prepared
beforehand, so the ratio is the price of validation, canonical JSON, the hash
chain and SQLAlchemy.

    .venv/bin/python benchmarks/audit_bench.py
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, timeit  # noqa: E402

from riskcore.audit import AuditLog, AuditRecord, _inputs_json  # noqa: E402

N_ROWS = 100_000
N_INPUTS = 40
N_PROCESSES = 8
N_CALLS = 500
META = {"source": "api", "caller": "bench", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}


def _records(n: int) -> list[AuditRecord]:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(n, N_INPUTS)).round(6)
    names = [f"x{j:02d}" for j in range(N_INPUTS)]
    p = rng.random(n)
    return [AuditRecord(f"C{i:06d}", dict(zip(names, values[i].tolist(), strict=True)), float(p[i]),
                        "refer" if p[i] > 0.8 else "accept", f"G{int(p[i] * 10)}", ("leverage", "liquidity"))
            for i in range(n)]


def _baseline(path: Path, rows: list[tuple]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, ts TEXT, request_id TEXT, caller TEXT, source TEXT, "
                 "model_version TEXT, bundle_hash TEXT, company_id TEXT, input_hash TEXT, inputs TEXT, "
                 "p_default REAL, decision TEXT, grade TEXT, reasons TEXT, prev_hash TEXT, row_hash TEXT)")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    conn.close()


def _writer(url: str, worker: int, start: multiprocessing.synchronize.Barrier) -> float:
    log = AuditLog(url)
    log.count()  # connect before the clock starts
    start.wait()
    t0 = time.perf_counter()
    for i in range(N_CALLS):
        log.record([AuditRecord(f"w{worker}-{i}", {"x": float(i)}, 0.1, "accept", "B")], **META)
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


def main() -> None:
    records = _records(N_ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        json_s, texts = timeit(lambda: [_inputs_json(r.inputs) for r in records], repeat=3)
        plain = [(i + 1, "2024-06-01T00:00:00.000000+00:00", "r", "bench", "api", "v", "f" * 64, r.company_id,
                  "0" * 64, text, r.p_default, r.decision, r.grade, '["leverage","liquidity"]', "0" * 64, "0" * 64)
                 for i, (r, text) in enumerate(zip(records, texts, strict=True))]
        runs = iter(range(100))
        base_s, _ = timeit(lambda: _baseline(folder / f"plain{next(runs)}.db", plain), repeat=3)

        logs: list[AuditLog] = []

        def write() -> None:
            log = AuditLog(f"sqlite:///{folder / f'audit{len(logs)}.db'}")
            logs.append(log)
            log.record(records, **META)

        record_s, _ = timeit(write, repeat=3)
        verify_s, result = timeit(lambda: logs[-1].verify(), repeat=3)
        for log in logs:
            log.close()
        wall, writing, kept, message = _concurrent(folder)

    print(f"audit trail: {N_ROWS:,} records × {N_INPUTS} numeric inputs, one record() call (one transaction)")
    print(row("baseline: sqlite3 executemany, prepared rows", base_s, None, f"{N_ROWS / base_s:,.0f} rows/s"))
    print(row("AuditLog.record (validate, JSON, hash chain, insert)", record_s, base_s,
              f"{N_ROWS / record_s:,.0f} rows/s"))
    print(row("  of which: canonical JSON of the inputs alone", json_s, base_s,
              "sorted keys, 40 floats formatted per row"))
    print(row("AuditLog.verify (stream, recompute every hash)", verify_s, base_s,
              f"{N_ROWS / verify_s:,.0f} rows/s; {result.message}"))
    print(f"{N_PROCESSES} processes × {N_CALLS} single-record calls (spawn):")
    print(row("  wall time, process start included", wall))
    print(row("  writing only (after every process has connected)", writing, None,
              f"{kept:,} of {N_PROCESSES * N_CALLS:,} rows kept; {message}"))


if __name__ == "__main__":
    main()
