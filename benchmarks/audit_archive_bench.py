"""Retention of the audit trail: archiving the oldest years of a 1,000,000-score, ten-year trail, and exports.

Run it alone on the machine (other benchmarks share the lock)::

    flock /tmp/bench.lock .venv/bin/python benchmarks/audit_archive_bench.py [--rows 1000000] [--years 10]
        [--per-year 52] [--archive-years 3] [--postgres-url postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB]

The trail is recorded by the product's own batch path (``AuditLog.batch``: validation, hashing, fingerprints,
LZ4, the company index, the chain lock), ``--per-year`` requests a year of the demo portfolio's model inputs
(39 float, 3 int, 3 text columns) tiled with a little noise, plus a move of the model ledger each year. Only the
heads' times come from a stand-in clock (ten years cannot be waited for): ``riskcore.serving.audit._store.utc_now``
is set to a clock that the builder moves through the years.

Then, each command run as a user runs it, in its own process (wall time, peak resident memory of that process,
``_common.measure_command``):

* ``audit verify`` on an empty trail (the command's start: imports and connection), then on the trail, and
  ``AuditLog.verify()`` in process;
* ``audit export --since Y --until Y+1`` of one year, against ``handrolled_audit_export.py`` (the same stored
  chunks decoded and written to one Parquet file, nothing checked), both as commands and, without the
  interpreter's start, ``AuditLog.export`` in process against the script's own clock; ``audit verify --export``
  of it, and ``examine_export`` in process;
* ``audit archive --before`` the first year not archived, and its steps from its progress lines (write,
  verify from the files, the delete transaction); then ``VACUUM`` as the archive's ``--vacuum`` runs it,
  timed apart;
* ``audit verify`` after (the live chain from the anchor) and ``audit verify --archives``;
* the database's size: as built, after ``VACUUM`` before archiving (the reference), after archiving (SQLite keeps
  the freed pages for later scores: same file size, the free pages counted) and after ``VACUUM``; on PostgreSQL the
  audit relations' size (plain ``VACUUM`` makes space reusable, it does not shrink files).

Figures go to stdout and ``benchmarks/output/audit_archive_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _common import CommandRun, measure_command  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import riskcore.serving.audit._store as audit_store  # noqa: E402  (the stand-in clock of the heads)
from riskcore.serving.audit import AuditLog, ModelMove, examine_export  # noqa: E402

OUTPUT = HERE / "output"
START_YEAR = 2015


def demo_inputs(n: int) -> pd.DataFrame:
    """The demo portfolio's model inputs tiled to ``n`` rows, floats with 1 % noise."""
    from riskcore.data.synth import generate_portfolio

    portfolio = generate_portfolio(n_companies=2000)
    frame = portfolio.frame
    names = [c for c in portfolio.spec.feature_names if c in frame.columns]
    base = frame[names].reset_index(drop=True)
    tiled = base.iloc[np.arange(n) % len(base)].reset_index(drop=True)
    rng = np.random.default_rng(7)
    for name in tiled.columns:
        if tiled[name].dtype.kind == "f":
            tiled[name] = (tiled[name] * (1 + rng.normal(0, 0.01, n))).round(4)
    return tiled


class Clock:
    """The heads' clock: the builder sets it; every reading is a microsecond later."""

    def __init__(self) -> None:
        self.now = datetime(START_YEAR, 1, 1, tzinfo=UTC)

    def __call__(self) -> str:
        self.now += timedelta(microseconds=1)
        return self.now.isoformat(timespec="microseconds")


def build(url: str, rows: int, years: int, per_year: int, chunk: int) -> dict[str, Any]:
    """Record ``rows`` scores over ``years`` years through the batch path; seconds and counts."""
    clock = Clock()
    audit_store.utc_now = clock  # type: ignore[assignment]
    per_request = rows // (years * per_year)
    inputs = demo_inputs(per_request)
    rng = np.random.default_rng(11)
    p = rng.random(per_request)
    decision = np.where(p > 0.8, "refer", "accept").astype(object)
    grade = np.array([f"G{int(x * 10)}" for x in p], dtype=object)
    reasons = np.where(p > 0.8, "high_leverage; late_payments", "").astype(object)
    log = AuditLog(url)
    t0 = time.perf_counter()
    written = 0
    for y in range(years):
        for k in range(per_year):
            clock.now = datetime(START_YEAR + y, 1, 1, tzinfo=UTC) + timedelta(days=int(k * 365 / per_year))
            ids = np.array([f"C{(written + i) % 250_000:07d}" for i in range(per_request)], dtype=object)
            with log.batch(source="cli", caller="cli:bench", model_version=f"v{y}", bundle_hash="ab" * 32) as batch:
                for start in range(0, per_request, chunk):
                    stop = min(start + chunk, per_request)
                    batch.add(ids[start:stop], inputs.iloc[start:stop], p[start:stop], decision[start:stop],
                              grade[start:stop], reasons[start:stop])
            written += per_request
        clock.now = datetime(START_YEAR + y, 12, 31, tzinfo=UTC)
        log.record_move(ModelMove(event="promote", actor="cli:admin", from_version=f"v{y}", to_version=f"v{y + 1}",
                                  reason="yearly recalibration"))
        print(f"  built {START_YEAR + y}: {written:,} scores, {time.perf_counter() - t0:.1f} s", flush=True)
    seconds = time.perf_counter() - t0
    log.close()
    return {"seconds": round(seconds, 1), "rows": written, "heads": years * (per_year + 1),
            "rows_per_s": round(written / seconds)}


def size_mb(url: str) -> dict[str, float]:
    """The database's size: the SQLite file (with its WAL) and its free pages, or PostgreSQL's audit relations."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        total = sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))
        with sqlite3.connect(path) as conn:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return {"mb": round(total / 1e6, 1), "free_mb": round(free * page / 1e6, 1)}
    import psycopg

    with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        row = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "WHERE c.relkind = 'r' AND c.relname LIKE 'audit%'").fetchone()
    return {"mb": round(float(row[0] if row else 0) / 1e6, 1)}


def vacuum(url: str) -> float:
    """VACUUM as ``audit archive --vacuum`` runs it; its seconds."""
    t0 = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or "", isolation_level=None)
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as conn:
            for table in ("audit_segments", "audit_ids", "audit_requests"):
                conn.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - t0


def run(env: dict[str, str], *args: str) -> CommandRun:
    done = measure_command([sys.executable, "-m", "riskcore", *args], env=env, cwd=ROOT)
    if done.rc != 0:
        raise SystemExit(f"python -m riskcore {' '.join(args)} failed ({done.rc}): {done.last_error_line()}")
    return done


def in_process(fn: Any) -> float:
    """Seconds of one call in this process (no interpreter start, no imports)."""
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 2)


def fact(done: CommandRun) -> dict[str, float]:
    return {"seconds": round(done.wall_s, 2), "peak_mb": round(done.peak_mb)}


def steps(stderr: str) -> dict[str, float]:
    """Seconds between the archive's progress lines (TextProgress prints the elapsed time on each)."""
    marks = [(float(m.group(1)), m.group(2)) for m in re.finditer(r"\]\s+\d+%\s+([\d.]+)s\s+(.*)", stderr)]
    names = {"writing heads": "write", "verifying": "verify_files", "archive written": "rename",
             "removing heads": "delete_transaction", "anchoring": "commit", "vacuuming": "vacuum"}
    out: dict[str, float] = {}
    for (t, message), (t_next, _) in zip(marks, marks[1:]):
        for prefix, name in names.items():
            if message.startswith(prefix):
                out[name] = round(t_next - t, 2)
    return out


def bench(url: str, label: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    print(f"\n== {label}: {args.rows:,} scores over {args.years} years ==", flush=True)
    result: dict[str, Any] = {"build": build(url, args.rows, args.years, args.per_year, args.chunk)}
    env = {**os.environ, "RISKCORE_AUDIT_URL": url, "RISKCORE_HOME": str(folder / "home"),
           "PYTHONPATH": str(ROOT)}
    result["startup"] = fact(run({**env, "RISKCORE_AUDIT_URL": f"sqlite:///{folder / 'empty.db'}"}, "audit",
                                 "verify"))  # the command's start on an empty trail: imports and connection
    result["size_built"] = size_mb(url)
    result["vacuum_before_s"] = round(vacuum(url), 1)
    result["size_before"] = size_mb(url)
    result["verify_before"] = fact(run(env, "audit", "verify"))
    result["verify_before"]["in_process_s"] = in_process(lambda: AuditLog(url).verify())
    year = START_YEAR + args.years - 1
    export = folder / f"export-{year}"
    result["export_one_year"] = fact(run(env, "audit", "export", "--since", f"{year}-01-01", "--until",
                                         f"{year + 1}-01-01", "--out", str(export)))
    result["export_one_year"]["mb"] = round(sum(p.stat().st_size for p in export.rglob("*") if p.is_file()) / 1e6, 1)
    hand = measure_command([sys.executable, str(HERE / "handrolled_audit_export.py"), "--url", url, "--since",
                            f"{year}-01-01T00:00:00.000000+00:00", "--until", f"{year + 1}-01-01T00:00:00.000000+00:00",
                            "--out", str(folder / "handrolled.parquet")], cwd=ROOT)
    result["export_one_year"]["in_process_s"] = in_process(lambda: AuditLog(url).export(
        folder / f"export-{year}-again", since=f"{year}-01-01", until=f"{year + 1}-01-01", actor="bench"))
    result["handrolled_export_one_year"] = {**fact(hand), "in_process_s": float(hand.stdout.split()[-2])}
    result["export_ratio_commands"] = round(result["export_one_year"]["seconds"] / hand.wall_s, 2)
    result["export_ratio_in_process"] = round(result["export_one_year"]["in_process_s"]
                                              / result["handrolled_export_one_year"]["in_process_s"], 2)
    result["verify_export_offline"] = {**fact(run(env, "audit", "verify", "--export", str(export))),
                                       "in_process_s": in_process(lambda: examine_export(export))}
    before = f"{START_YEAR + args.archive_years}-01-01"
    archived = run(env, "audit", "archive", "--before", before, "--out", str(folder / "archives"))
    result["archive"] = {**fact(archived), "before": before, "steps": steps(archived.stderr),
                         "summary": archived.stdout.strip().splitlines()[-1][:300]}
    result["size_after_archive"] = size_mb(url)
    result["vacuum_after_s"] = round(vacuum(url), 1)
    result["size_after_vacuum"] = size_mb(url)
    result["archives_mb"] = round(sum(p.stat().st_size for p in (folder / "archives").rglob("*") if p.is_file())
                                  / 1e6, 1)
    after = run(env, "audit", "verify")
    result["verify_after"] = {**fact(after), "in_process_s": in_process(lambda: AuditLog(url).verify()),
                              "message": after.stdout.strip().splitlines()[0][:300]}
    whole = run(env, "audit", "verify", "--archives", str(folder / "archives"))
    result["verify_with_archives"] = {**fact(whole), "ok": "archive(s) verified" in whole.stdout}
    print(json.dumps(result, indent=2), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--per-year", type=int, default=52, help="requests a year (weekly batches by default)")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per chunk of a request")
    parser.add_argument("--archive-years", type=int, default=3, help="the oldest years to archive")
    parser.add_argument("--postgres-url", help="also on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    load = os.getloadavg()
    results: dict[str, Any] = {"rows": args.rows, "years": args.years, "per_year": args.per_year,
                               "load_average": [round(x, 1) for x in load], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="audit-archive-bench-") as tmp:
        folder = Path(tmp) / "sqlite"
        folder.mkdir()
        results["sqlite"] = bench(f"sqlite:///{folder / 'audit.db'}", "SQLite", args, folder)
        if args.postgres_url:
            import psycopg

            server = make_url(args.postgres_url)
            name = f"rc_archive_bench_{uuid.uuid4().hex[:8]}"
            admin = server.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                folder = Path(tmp) / "postgresql"
                folder.mkdir()
                url = server.set(database=name).render_as_string(hide_password=False)
                results["postgresql"] = bench(url, "PostgreSQL", args, folder)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    results["load_average_end"] = [round(x, 1) for x in os.getloadavg()]
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "audit_archive_bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {OUTPUT / 'audit_archive_bench.json'}")


if __name__ == "__main__":
    main()
