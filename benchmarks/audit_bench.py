"""The audit trail on SQLite and on PostgreSQL: a large streamed request, verifying it, eight writers, the CLI.

Engine part, in process, on each back end. Inputs: the demo portfolio's model
inputs (39 float, 3 int, 3 text columns) tiled to ``--rows`` with a little noise. A
request of 1,000,000 scores arrives as 10 chunks of 100,000 through
``AuditLog.batch()`` (rows/s, company ids in file order and shuffled), then
``AuditLog.verify()`` re-hashes it (rows/s), then 8 writer processes (spawn)
send 500 single-score ``record()`` calls each (requests/s, every row kept,
chain intact). Baseline measured in the same run, on the same back end: the
narrow outputs only (company_id, p_default, decision, grade; one transaction,
a plain table, no index, no inputs, no hashes): ``sqlite3`` ``executemany``
(WAL, synchronous=NORMAL) on SQLite, psycopg ``COPY`` on PostgreSQL
(``handrolled_audit_pg.py``). The ratio is the price of validation, storing
every input, hashing, fingerprints, the chain lock and the company index.

CLI part (skip with ``--no-cli``): the command the user types,
``python -m riskcore score --model BUNDLE --input FILE --output OUT --timings``,
in its own process with ``RISKCORE_AUDIT_URL`` set to each back end (recording
every score is part of it), on a demo-layout file of ``--cli-rows`` rows and a
LightGBM champion built as ``score_bench.py`` builds them, against
``handrolled_score.py`` (no validation, no audit trail) on the same file; wall
time, peak memory (``_common.measure_command``), the ratio to hand-rolled and
the ``audit`` stage. Then ``python -m riskcore audit verify`` on each trail,
and once before scoring on the empty trail (start-up and connection only).

Back ends: ``--postgres-url URL`` names a server on which every run gets a
fresh database, dropped afterwards (the role needs CREATE DATABASE); ``--url
URL`` a database used as given, every run appending to its trail (figures count
the rows each run wrote; verify walks the whole trail). Both repeat or take a
comma list. The first SQLite back end is the reference of the ratios: fresh
files in a temporary folder (one per run, removed afterwards) unless ``--url``
names one. Figures are rows/s and ratios (the machine may be shared; the load
average is printed), also written to ``benchmarks/output/audit_bench.json``.

    .venv/bin/python benchmarks/audit_bench.py [--rows 1000000] [--chunk 100000] [--repeat 3] [--url URL]
        [--postgres-url postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB] [--cli-rows 200000] [--no-cli]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.synchronize
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import measure_command  # noqa: E402
from handrolled_audit_pg import copy_outputs, driver_url, drop_table  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import ArgumentError  # noqa: E402

from riskcore.serving.audit import AuditLog, AuditRecord  # noqa: E402

N_PROCESSES = 8
N_CALLS = 500
META = {"source": "cli", "caller": "bench", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}
OUTPUT = HERE / "output"


# ---------------------------------------------------------------------------
# back ends
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Backend:
    """Where the runs write: a URL used as given, or a fresh database per run (SQLite folder, PostgreSQL server)."""

    kind: str
    given: str | None = None
    server: str | None = None
    folder: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} ({'as given' if self.given else 'fresh'})"

    @property
    def where(self) -> str:
        url = make_url(self.given or self.server or "sqlite://")
        return f"files in {self.folder}" if self.folder else url.render_as_string(hide_password=True)

    @contextmanager
    def database(self, stem: str) -> Iterator[str]:
        """The URL of the run's database: the given one, or a fresh one removed when the block ends."""
        if self.given:
            yield self.given
            return
        name = f"{stem}_{uuid.uuid4().hex[:8]}"
        if self.folder is not None:
            path = self.folder / f"{name}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        import psycopg

        assert self.server is not None
        name = f"rc_bench_{name}"
        admin = driver_url(self.server, "postgres")
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as err:
            raise SystemExit(f"cannot create a database on {self.where}: {err}; --postgres-url needs a role that "
                             "may CREATE DATABASE (or pass an existing database with --url)") from None
        try:
            yield make_url(self.server).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _kind(url: str) -> str:
    try:
        kind = make_url(url).get_backend_name()
    except ArgumentError as err:
        raise SystemExit(f"{url!r} is not a database URL ({err}); use sqlite:///FILE or "
                         "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB") from None
    if kind not in ("sqlite", "postgresql"):
        raise SystemExit(f"{url!r}: the benchmark knows sqlite and postgresql URLs, not {kind!r}")
    return kind


def backends(urls: list[str], servers: list[str], folder: Path) -> list[Backend]:
    """The back ends to measure, SQLite first (the reference of the ratios)."""
    out = [Backend(_kind(u), given=u) for u in urls]
    for server in servers:
        if _kind(server) != "postgresql":
            raise SystemExit(f"--postgres-url {server!r} is not a PostgreSQL URL; pass SQLite files with --url")
        out.append(Backend("postgresql", server=server))
    if not any(b.kind == "sqlite" for b in out):
        out.insert(0, Backend("sqlite", folder=folder))
    return sorted(out, key=lambda b: b.kind != "sqlite")


def _size_mb(url: str) -> float:
    """Size of the audit tables: the SQLite file (and its WAL), or PostgreSQL's audit relations with indexes."""
    if _kind(url) == "sqlite":
        path = make_url(url).database or ""
        return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p)) / 1e6
    import psycopg

    with psycopg.connect(driver_url(url)) as conn:
        row = conn.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                           "WHERE c.relkind = 'r' AND c.relname LIKE 'audit%'").fetchone()
    return float(row[0] if row else 0) / 1e6


# ---------------------------------------------------------------------------
# engine part
# ---------------------------------------------------------------------------

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


def _sqlite_baseline(url: str, table: str, ids: np.ndarray, p: np.ndarray, decision: np.ndarray,
                     grade: np.ndarray) -> float:
    t0 = time.perf_counter()
    conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f'CREATE TABLE "{table}" (company_id TEXT, p_default REAL, decision TEXT, grade TEXT)')
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f'INSERT INTO "{table}" VALUES (?,?,?,?)', zip(ids.tolist(), p.tolist(), decision.tolist(),
                                                                    grade.tolist(), strict=True))
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def _baseline(backend: Backend, outputs: tuple[np.ndarray, ...]) -> float:
    """One hand-rolled write of the narrow outputs into a plain table; its seconds (connect to commit)."""
    ids, p, decision, grade = outputs[:4]
    table = f"bench_plain_{uuid.uuid4().hex[:8]}"
    with backend.database("plain") as url:
        try:
            if backend.kind == "sqlite":
                return _sqlite_baseline(url, table, ids, p, decision, grade)
            return copy_outputs(url, table, ids.tolist(), p.tolist(), decision.tolist(), grade.tolist())
        finally:
            if backend.given and backend.kind == "sqlite":
                with sqlite3.connect(make_url(url).database or "") as conn:
                    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            elif backend.given:
                drop_table(url, table)


def _record_stream(url: str, inputs: pd.DataFrame, outputs: tuple[np.ndarray, ...], chunk: int) -> float:
    """One request of every score through ``AuditLog.batch()``; its seconds, opening the log included."""
    ids, p, decision, grade, reasons = outputs
    t0 = time.perf_counter()
    log = AuditLog(url)
    log.count()  # creates the tables on a fresh database
    with log.batch(**META) as batch:
        for start in range(0, len(ids), chunk):
            part = slice(start, start + chunk)
            batch.add(ids[part], inputs.iloc[part], p[part], decision[part], grade[part], reasons[part])
    log.close()
    return time.perf_counter() - t0


def _verify(url: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    log = AuditLog(url)
    result = log.verify()
    seconds = time.perf_counter() - t0
    log.close()
    return seconds, result


def bench_stream(backend: Backend, inputs: pd.DataFrame, outputs: tuple[np.ndarray, ...], chunk: int,
                 repeat: int, *, verify: bool) -> dict[str, Any]:
    """Median seconds of ``repeat`` streamed requests (a fresh database each); verify and size on the last one."""
    times: list[float] = []
    facts: dict[str, Any] = {}
    for i in range(repeat):
        with backend.database("audit") as url:
            times.append(_record_stream(url, inputs, outputs, chunk))
            if verify and i == repeat - 1:
                runs = [_verify(url) for _ in range(repeat)]
                result = runs[-1][1]
                seconds = statistics.median(s for s, _ in runs)
                facts = {"verify_s": round(seconds, 3), "verify_rows": result.rows,
                         "verify_rows_per_s": round(result.rows / seconds), "verify_ok": result.ok,
                         "verify_message": result.message, "size_mb": round(_size_mb(url), 1)}
    seconds = statistics.median(times)
    return {"s": round(seconds, 3), "rows_per_s": round(len(inputs) / seconds), **facts}


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


def bench_concurrent(backend: Backend) -> dict[str, Any]:
    """8 writer processes × 500 single-score calls: wall, writing-only requests/s, rows kept, chain verified."""
    with backend.database("concurrent") as url:
        log = AuditLog(url)
        before = log.count()
        log.close()
        ctx = multiprocessing.get_context("spawn")
        with ctx.Manager() as manager:
            start = manager.Barrier(N_PROCESSES + 1)
            t0 = time.perf_counter()
            with ctx.Pool(N_PROCESSES) as pool:
                pending = pool.starmap_async(_writer, [(url, w, start) for w in range(N_PROCESSES)])
                start.wait()
                t1 = time.perf_counter()
                pending.get()
                writing = time.perf_counter() - t1
            wall = time.perf_counter() - t0
        log = AuditLog(url)
        kept = log.count() - before
        result = log.verify()
        log.close()
    sent = N_PROCESSES * N_CALLS
    return {"wall_s": round(wall, 3), "writing_s": round(writing, 3), "requests_per_s": round(sent / writing),
            "sent": sent, "kept": kept, "verify_ok": result.ok, "verify_message": result.message}


# ---------------------------------------------------------------------------
# CLI part: the user's command with RISKCORE_AUDIT_URL on each back end
# ---------------------------------------------------------------------------

def _cli_verify(env: dict[str, str], home: Path) -> dict[str, Any]:
    run = measure_command([sys.executable, "-m", "riskcore", "audit", "verify"], env=env, cwd=home)
    text = run.stdout + run.stderr
    match = re.search(r"chain intact: ([\d,]+) rows", text)
    return {"ok": run.rc == 0 and match is not None, "rc": run.rc,
            "rows": int(match.group(1).replace(",", "")) if match else None, "wall_s": round(run.wall_s, 3),
            "peak_mb": round(run.peak_mb, 1), "message": run.last_error_line()}


def _cli_on(url: str, bundle: str, source: Path, work: Path, mem_limit_mb: float) -> dict[str, Any]:
    """Verify the empty trail, score the file with the audit trail at ``url``, verify again."""
    import score_bench as sb

    home = work / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    env = {**sb._riskcore_env(home), "RISKCORE_AUDIT_URL": url}
    empty = _cli_verify(env, home)
    out = work / f"scored-{home.name}{source.suffix}"
    cmd = [sys.executable, "-m", "riskcore", "score", "--model", bundle, "--input", str(source), "--output", str(out),
           "--timings"]
    facts = sb._run_facts(measure_command(cmd, env=env, cwd=home, mem_limit_mb=mem_limit_mb), out, cli=True)
    after = _cli_verify(env, home)
    sb._remove(out)
    sb._remove(home)
    recorded = after["rows"] - empty["rows"] if after["rows"] is not None and empty["rows"] is not None else None
    audit_s = (facts.get("stages") or {}).get("audit")
    net = after["wall_s"] - empty["wall_s"]
    return {"score": facts, "recorded": recorded, "audit_s": audit_s,
            "audit_rows_per_s": round(recorded / audit_s) if recorded and audit_s else None,
            "verify_empty": empty, "verify": after,
            "verify_rows_per_s": round(after["rows"] / after["wall_s"]) if after["rows"] else None,
            # the empty trail's verify is start-up and connection; below a quarter second the rest is noise
            "verify_rows_per_s_net": (round(after["rows"] / net) if after["rows"] and empty["rows"] == 0
                                      and net >= 0.25 else None)}


def bench_cli(targets: list[Backend], rows: int, fmt: str, work_dir: str | None) -> dict[str, Any]:
    """Train the champion, write the file, run the hand-rolled script once and the CLI on every back end."""
    import score_bench as sb

    mem_limit_mb = sb._default_mem_limit_mb()
    with tempfile.TemporaryDirectory(prefix="audit-bench-cli-", dir=work_dir) as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        model = sb._train(tmp)
        model["train_s"] = round(time.perf_counter() - t0, 1)
        source = sb.write_portfolios(tmp, [rows], [fmt])[(fmt, rows)]
        print(f"   champion {model['kind']}, {model['trees']} trees (trained in {model['train_s']} s); "
              f"{source.name} {source.stat().st_size / 1e6:,.0f} MB", flush=True)
        hand, hand_out = sb.run_handrolled(model["bundle"], source, tmp, repeat=1, mem_limit_mb=mem_limit_mb)
        sb._remove(hand_out)
        per_backend = []
        for backend in targets:
            with backend.database("cli") as url:
                facts = _cli_on(url, model["bundle"], source, tmp, mem_limit_mb)
            score = facts["score"]
            if score.get("ok") and hand.get("ok"):
                facts["ratio_to_handrolled"] = round(score["wall_s"] / hand["wall_s"], 3)
            per_backend.append(facts)
            state = f"{score['wall_s']:.1f} s" if score.get("ok") else f"failed: {score.get('error')}"
            print(f"   {backend.label}: riskcore score {state}", flush=True)
    return {"rows": rows, "format": fmt, "champion": model, "handrolled": hand, "backends": per_backend}


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _fmt(value: Any, unit: str) -> str:
    if value is None or isinstance(value, str):
        return value or "—"
    return f"{value:.2f}×" if unit == "×" else f"{value:.2f} s" if unit == "s" else f"{value:,.0f} {unit}"


def _lines(engine: list[dict[str, Any]], cli: dict[str, Any] | None) -> list[tuple[str, str, list[Any]]]:
    """The table's rows: (what, unit, one value per back end)."""
    out: list[tuple[str, str, list[Any]]] = []
    if engine:
        con = [e["concurrent"] for e in engine]
        out += [("hand-rolled: 4 output columns (executemany | COPY)", "rows/s",
                 [e["baseline"]["rows_per_s"] for e in engine]),
                ("AuditLog.batch, ids in file order", "rows/s", [e["stream"]["rows_per_s"] for e in engine]),
                ("  time / hand-rolled time", "×", [e["stream"]["s"] / e["baseline"]["s"] for e in engine]),
                ("AuditLog.batch, ids shuffled", "rows/s", [e["shuffled"]["rows_per_s"] for e in engine]),
                ("AuditLog.verify", "rows/s", [e["stream"]["verify_rows_per_s"] for e in engine]),
                ("audit tables after one request", "MB", [e["stream"]["size_mb"] for e in engine]),
                (f"{N_PROCESSES} processes × {N_CALLS} record(): writing", "req/s", [c["requests_per_s"] for c in con]),
                ("  wall, process start included", "s", [c["wall_s"] for c in con]),
                ("  rows kept of sent; chain", "",
                 [f"{c['kept']:,}/{c['sent']:,}; {'intact' if c['verify_ok'] else 'BROKEN'}" for c in con])]
    if cli:
        per, hand = cli["backends"], cli["handrolled"]
        out += [(f"CLI score, {cli['rows']:,} rows {cli['format']}: hand-rolled (no audit)", "s",
                 [hand["wall_s"] if hand.get("ok") else None] * len(per)),
                ("  riskcore score (audit on this back end)", "s",
                 [b["score"]["wall_s"] if b["score"].get("ok") else None for b in per]),
                ("  riskcore / hand-rolled", "×", [b.get("ratio_to_handrolled") for b in per]),
                ("  peak memory", "MB", [b["score"]["peak_mb"] for b in per]),
                ("  audit stage", "s", [b["audit_s"] for b in per]),
                ("  audit stage", "rows/s", [b["audit_rows_per_s"] for b in per]),
                ("audit verify (CLI): wall", "s", [b["verify"]["wall_s"] for b in per]),
                ("  on the empty trail (start-up, connection)", "s", [b["verify_empty"]["wall_s"] for b in per]),
                ("  start-up included", "rows/s", [b["verify_rows_per_s"] for b in per]),
                ("  net of start-up", "rows/s", [b["verify_rows_per_s_net"] for b in per])]
    return out


def print_table(targets: list[Backend], engine: list[dict[str, Any]], cli: dict[str, Any] | None) -> None:
    """Side by side: one column per back end, then each other back end's value over the SQLite reference's."""
    heads = [b.label for b in targets]
    others = list(range(1, len(targets)))
    print()
    print(f"{'':58s}" + "".join(f"{h:>22s}" for h in heads) + "".join(f"{heads[i].split()[0] + '/sqlite':>18s}"
                                                                       for i in others))
    for name, unit, values in _lines(engine, cli):
        cells = "".join(f"{_fmt(v, unit):>22s}" for v in values)
        ratios = ""
        for i in others:
            ref, val = values[0], values[i]
            ok = isinstance(ref, int | float) and isinstance(val, int | float) and ref
            ratios += f"{(f'{val / ref:.2f}×' if ok else ''):>18s}"
        print(f"{name:58s}{cells}{ratios}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="scores in the streamed request")
    parser.add_argument("--chunk", type=int, default=100_000, help="scores per add() call")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine measurement; the median counts")
    parser.add_argument("--url", action="append", default=[], help="a database used as given (repeat or commas)")
    parser.add_argument("--postgres-url", action="append", default=[],
                        help="a PostgreSQL server: a fresh database per run, dropped afterwards (repeat or commas)")
    parser.add_argument("--cli-rows", type=int, default=200_000, help="rows of the file the CLI scores")
    parser.add_argument("--cli-format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI part")
    parser.add_argument("--work-dir", default=None, help="folder for the temporary files (default: the system's)")
    args = parser.parse_args(argv)

    def split(values: list[str]) -> list[str]:
        return [u.strip() for v in values for u in v.split(",") if u.strip()]

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="audit-bench-", dir=args.work_dir) as tmp:
        targets = backends(split(args.url), split(args.postgres_url), Path(tmp))
        n = args.rows
        inputs = _demo_inputs(n)
        kinds = inputs.dtypes.map(lambda d: d.kind).value_counts().to_dict()
        print(f"audit trail: {n:,} scores in chunks of {args.chunk:,}; inputs {inputs.shape[1]} columns {kinds}; "
              f"median of {args.repeat}; {os.cpu_count()} cores, load average {load_start[0]:.2f}")
        for b in targets:
            print(f"   {b.label}: {b.where}")
        sorted_out, shuffled_out = _outputs(n, shuffled=False), _outputs(n, shuffled=True)
        engine: list[dict[str, Any]] = []
        for b in targets:
            base = statistics.median(_baseline(b, sorted_out) for _ in range(args.repeat))
            facts = {"baseline": {"s": round(base, 3), "rows_per_s": round(n / base)},
                     "stream": bench_stream(b, inputs, sorted_out, args.chunk, args.repeat, verify=True),
                     "shuffled": bench_stream(b, inputs, shuffled_out, args.chunk, args.repeat, verify=False),
                     "concurrent": bench_concurrent(b)}
            engine.append(facts)
            print(f"   {b.label}: {facts['stream']['rows_per_s']:,} rows/s streamed, "
                  f"{facts['stream']['verify_message']}", flush=True)
        del inputs
        cli = None
        if not args.no_cli:
            print(f"CLI: python -m riskcore score on {args.cli_rows:,} rows, RISKCORE_AUDIT_URL on each back end",
                  flush=True)
            cli = bench_cli(targets, args.cli_rows, args.cli_format, args.work_dir)
        print_table(targets, engine, cli)
    load_end = os.getloadavg()
    print(f"\nload average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end "
          f"({os.cpu_count()} cores, shared)")
    results = {"rows": n, "chunk": args.chunk, "repeat": args.repeat, "cpus": os.cpu_count(),
               "load_average": {"start": load_start, "end": load_end},
               "backends": [{"label": b.label, "kind": b.kind, "where": b.where, **e} for b, e in zip(targets, engine)],
               "cli": cli}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / "audit_bench.json"
    out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
