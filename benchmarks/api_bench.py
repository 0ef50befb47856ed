"""The REST API against a hand-rolled audited scoring service: requests/s, p50 and p99, audit rows.

For each configuration — the champion's kind (LightGBM or logistic), with or
without a challenger in shadow, one or more uvicorn workers — two servers run in
their own processes on 127.0.0.1:

* riskcore's API, ``python -m api --workers W``, in a fresh state folder
  (``api_rate_limit = 1000000``; ``[serving] challenger`` for the shadow runs);
* the baseline, ``benchmarks/handrolled_api.py``: the simplest audited service a
  team would write by hand (FastAPI with a pydantic body, the booster on one row,
  one SQLite row per score chained by SHA-256 and committed before the answer),
  fed with numbers exported here from the same bundles so it computes the same PD
  with plain libraries.

Both are driven with the same companies by the same clients: 1, 8 and 32
keep-alive connections spread over a few client processes, each an asyncio loop
(:mod:`_loadgen`), first on ``POST /predict`` (one company), then on ``POST
/predict_batch`` (100 companies; 1 and 8 clients unless ``--batch-clients`` says
otherwise). riskcore's API goes first, for at most ``--max-seconds`` per load
(every client sends at least one request); the baseline then receives exactly the
requests riskcore answered. It prints requests/s, p50 and p99 of each server and
their ratio, what the load generator's own processes and each server used of the
machine's cores, and checks

* that the baseline computes riskcore's PD (in process for the companies sent, and
  afterwards every score of both audit trails, company by company);
* riskcore's audit trail: exactly one row per scored company (two with a shadow:
  the champion's and the challenger's), one request id per HTTP request, and
  ``verify()`` intact — OK or MISMATCH, and exit status 1 on a mismatch;
* the baseline's table the same way (rows, request ids, its chain).

The last table has one line per configuration with the targets' verdicts:
``/predict`` at 8 clients on one worker at least 0.8× the baseline's requests/s
with p99 at most 50 ms; at 1 client a p50 within 2 ms of the baseline's; a
logistic champion at least 0.8× the rate of a LightGBM one; a shadow costing at
most 30 % of the champion-only rate; two workers at least 1.5× one worker (only
meaningful where two cores are free for the server: on a 2-core machine the load
generator takes its share of them, and the output says so). Timings are never
asserted; the results go to ``benchmarks/output/api_bench.json``.

Bundles are small models trained on a 1,000-company demo portfolio, kept in
``benchmarks/output/bundles`` and reused by later runs (``--retrain`` trains them
again; the first run trains four, about a minute). The default matrix (2 kinds ×
shadow or not × 1 and 2 workers × 3 + 2 loads) takes about 9 minutes on a 2-core
machine against an API that scores companies one by one; wrap it in ``flock
/tmp/bench.lock`` on a shared machine. ``--quick`` is a smoke run of about 40 s.

    python benchmarks/api_bench.py [--kinds lightgbm,logistic] [--clients 1,8,32] [--batch-clients 1,8]
        [--requests 400] [--batch-requests 24] [--max-seconds 6] [--workers 1,2] [--no-shadow | --shadow-only]
        [--quick] [--group-wait-ms MS] [--group-max N] [--client-processes 2] [--retrain]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _loadgen import LoadPool, LoadResult  # noqa: E402

OUTPUT = HERE / "output"
BUNDLES = OUTPUT / "bundles"
BATCH_SIZE = 100
SEED = 7
KEY = "bench-" + "k" * 40  # the baseline's key; riskcore's comes from its key store
FULL: dict[str, Any] = {"kinds": "lightgbm,logistic", "clients": [1, 8, 32], "batch_clients": [1, 8], "requests": 400,
                        "batch_requests": 24, "workers": [1, 2]}
QUICK: dict[str, Any] = {"kinds": "lightgbm", "clients": [1, 8], "batch_clients": [1, 8], "requests": 40,
                         "batch_requests": 4, "workers": [1]}
TARGETS = {"rate_vs_baseline": 0.8, "p99_ms": 50.0, "p50_gap_ms": 2.0, "logistic_vs_lightgbm": 0.8,
           "shadow_cost": 0.30, "two_workers": 1.5}


# ---------------------------------------------------------------------------
# bundles and what the baseline needs of them
# ---------------------------------------------------------------------------

def _train(folder: Path, kind: str, seed: int) -> Path:
    from riskcore.config import TrainingConfig
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.train import train

    portfolio = generate_portfolio(1000, seed=seed)  # the model only has to be realistic, not good
    config = TrainingConfig.quick(candidates=(kind,), n_iter=1, cv_folds=2, n_bootstrap=200)
    return Path(train(portfolio.frame, DEMO_SPEC, config=config, models_dir=folder).bundle_dir)


def _bundle(kind: str, role: str, retrain: bool) -> Any:
    """The cached bundle of ``kind`` for ``role`` (champion or challenger), trained when missing or unusable."""
    from riskcore.errors import RiskcoreError
    from riskcore.modelling.bundle import load_bundle

    folder = BUNDLES / f"{kind}-{role}"
    if not retrain and folder.is_dir():
        found = sorted(p for p in folder.iterdir() if p.is_dir())
        if len(found) == 1:
            try:
                return load_bundle(found[0])
            except RiskcoreError as err:
                print(f"  the cached {kind} {role} cannot be used ({err}); training it again")
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    path = _train(folder, kind, SEED if role == "champion" else SEED + 1)
    print(f"  trained the {kind} {role} in {time.perf_counter() - t0:.0f} s: {path.name}")
    return load_bundle(path)


def _export_model(bundle: Any) -> dict[str, Any]:
    """What the hand-rolled service needs to compute this bundle's PD without riskcore."""
    from riskcore.evaluation.grading import PD_FLOOR
    from riskcore.modelling.scorers import LightGBMScorer, SklearnScorer

    fb, spec = bundle.features, bundle.spec
    layout = fb.layout_
    engineered = []
    for name in layout.engineered:
        r = spec.feature(name).recipe
        engineered.append({"name": name, "op": r.op, "inputs": list(r.inputs), "log_inputs": list(r.log_inputs),
                           "scale": r.scale, "weights": list(r.weights), "center": fb.center_.get(name, []),
                           "spread": fb.scale_.get(name, [])})
    scorer = bundle.scorer
    model: dict[str, Any]
    if isinstance(scorer, LightGBMScorer):
        model = {"kind": "lightgbm", "text": scorer.booster.model_to_string()}
    elif isinstance(scorer, SklearnScorer) and scorer.kind == "logistic":
        ct = scorer.transform.named_steps["prep"]
        columns = {name: list(cols) for name, _, cols in ct.transformers_ if name in ("num", "cat")}
        num = ct.named_transformers_["num"]
        impute, quantile = num.named_steps["impute"], num.named_steps["quantile"]
        onehot = ct.named_transformers_["cat"].named_steps["onehot"] if "cat" in columns else None
        model = {"kind": "logistic", "numeric_columns": columns["num"], "medians": impute.statistics_.tolist(),
                 "indicator": impute.indicator_.features_.tolist() if impute.indicator_ is not None else [],
                 "quantiles": quantile.quantiles_.T.tolist(), "references": quantile.references_.tolist(),
                 "categorical_columns": columns.get("cat", []),
                 "onehot": [c.tolist() for c in onehot.categories_] if onehot is not None else [],
                 "coef": scorer.model.coef_[0].tolist(), "intercept": float(scorer.model.intercept_[0])}
    else:
        raise SystemExit(f"the hand-rolled service knows LightGBM and logistic models, not {bundle.kind!r}")
    return {"version": bundle.version, "threshold": bundle.threshold, "numeric": list(layout.numeric),
            "categorical": list(layout.categorical), "categories": {n: fb.categories_[n] for n in layout.categorical},
            "engineered": engineered, "calibrator": bundle.calibrator.to_dict(), "pd_floor": PD_FLOOR,
            "model": model}


def _export(champion: Any, shadow: Any | None, path: Path) -> dict[str, Any]:
    spec = champion.spec
    request = {"numeric": [f.name for f in spec.features if f.kind == "numeric"] +
                          [f.name for f in spec.panel_features],
               "categorical": [f.name for f in spec.features if f.kind == "categorical"]}
    exported = {"champion": _export_model(champion), "shadow": _export_model(shadow) if shadow else None,
                "request": request}
    path.write_text(json.dumps(exported), encoding="utf-8")
    return exported


# ---------------------------------------------------------------------------
# companies and request bodies
# ---------------------------------------------------------------------------

def _company_pool(bundle: Any) -> list[dict[str, Any]]:
    """The valid companies of the bundle's holdout rows: features (no missing values sent) and exposure."""
    from riskcore.serving.records import validate_record

    spec = bundle.spec
    hold = bundle.holdout()
    names = [n for n in [*spec.feature_names, *(f.name for f in spec.panel_features)] if n in hold]
    pool = []
    for r in hold[names + ([spec.exposure] if spec.exposure in hold else [])].to_dict(orient="records"):
        features = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in r.items()
                    if k in names and v is not None and not (isinstance(v, float) and math.isnan(v))}
        if validate_record(spec, features, strict=True)[1]:
            continue
        company: dict[str, Any] = {"features": features}
        ead = r.get(spec.exposure)
        if isinstance(ead, float) and math.isfinite(ead) and ead >= 0:
            company["exposure"] = ead
        pool.append(company)
    if not pool:
        raise SystemExit("no valid company among the bundle's holdout rows")
    return pool


class Companies:
    """Unique company ids over the whole run, features cycling through the pool."""

    def __init__(self, pool: list[dict[str, Any]]):
        self.pool, self.n = pool, 0

    def take(self, prefix: str) -> dict[str, Any]:
        """The next company, its id ``prefix`` and a running number."""
        c = {"company_id": f"{prefix}{self.n:07d}", **self.pool[self.n % len(self.pool)]}
        self.n += 1
        return c

    def predict_bodies(self, prefix: str, clients: int, per_client: int) -> list[list[bytes]]:
        """One body per /predict request, per client."""
        return [[json.dumps(self.take(prefix)).encode() for _ in range(per_client)] for _ in range(clients)]

    def batch_bodies(self, prefix: str, clients: int, per_client: int) -> list[list[bytes]]:
        """One body of BATCH_SIZE companies per /predict_batch request, per client."""
        return [[json.dumps({"companies": [self.take(prefix) for _ in range(BATCH_SIZE)]}).encode()
                 for _ in range(per_client)] for _ in range(clients)]


# ---------------------------------------------------------------------------
# the two servers
# ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"{what} did not become ready within 120 s")


@dataclass
class Server:
    """A server under test: its process, port, key and where its audit trail is."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    key: str
    audit: str
    log: Path
    workers: int = 1

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server and its worker processes."""
        import psutil

        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def connections(self) -> list[int]:
        """Established connections to the server's port held by each worker process, most first."""
        import psutil

        try:
            kids = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            return []
        counts = []
        for kid in kids:
            try:
                if "resource_tracker" in " ".join(kid.cmdline()):
                    continue
                counts.append(sum(1 for c in kid.net_connections(kind="tcp")
                                  if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port))
            except psutil.Error:
                pass
        return sorted(counts, reverse=True)

    def stop(self) -> None:
        """Terminate the server (and its workers) and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _start_riskcore(home: Path, champion: Any, challenger: Any | None, workers: int,
                    group_wait_ms: float | None, group_max: int | None) -> Server:
    from riskcore.config import load_settings
    from riskcore.identity import KeyStore

    home.mkdir(parents=True)
    config = home / "riskcore.toml"
    lines = ["api_rate_limit = 1000000", "api_max_batch = 1000"]
    # the grouping settings are written only when asked for: a riskcore.toml naming a setting the server does
    # not know is refused
    if group_wait_ms is not None:
        lines.append(f"api_group_wait_ms = {group_wait_ms}")
    if group_max is not None:
        lines.append(f"api_group_max = {group_max}")
    if challenger is not None:
        lines += ["", "[serving]", f'challenger = "{challenger.version}"']
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(path=config, env={"RISKCORE_HOME": str(home)})
    if challenger is not None:
        shutil.copytree(challenger.path, settings.models_dir / challenger.version)
    key = KeyStore(settings.keys_file).add("service", "bench")[1]
    port = _free_port()
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_API_BUNDLE": str(champion.path),
           "RISKCORE_CONFIG": str(config)}
    env.pop("RISKCORE_AUDIT_URL", None)
    log = home / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers), "--log-level", "warning"],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = Server("riskcore", proc, port, key, settings.resolved_audit_url, log, workers)
    _wait_ready(proc, f"http://127.0.0.1:{port}/ready", f"the riskcore API (log: {log})")
    return server


def _start_baseline(folder: Path, model_file: Path, workers: int) -> Server:
    folder.mkdir(parents=True)
    port = _free_port()
    db, log = folder / "audit.db", folder / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(HERE / "handrolled_api.py"), "serve", "--model", str(model_file),
                                 "--db", str(db), "--key", KEY, "--port", str(port), "--workers", str(workers)],
                                cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    server = Server("baseline", proc, port, KEY, str(db), log, workers)
    _wait_ready(proc, f"http://127.0.0.1:{port}/health", f"the hand-rolled service (log: {log})")
    return server


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------

@dataclass
class Measured:
    """One server under one load: requests, companies, time, latencies and the CPU used."""

    requests: int
    companies: int
    wall_s: float
    rps: float
    companies_per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    client_cores: float
    server_cores: float
    late_start_ms: float
    connections: list[int] = field(default_factory=list)  # per worker, when there are several


def _quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def _load(pool: LoadPool, server: Server, path: str, bodies: list[list[bytes]], track: dict[str, Any],
          max_seconds: float | None = None) -> tuple[Measured, list[list[bytes]]]:
    """Drive ``server`` with ``bodies``; every answer must be 200 with every company scored.

    Returns the figures and the bodies each client sent (all of them, or fewer when time ran out).
    """
    per_request = BATCH_SIZE if path == "/predict_batch" else 1
    spread: list[int] = []
    done = threading.Event()

    def watch() -> None:  # how the workers shared the clients' connections: the fullest sample of the run
        while not done.wait(0.1):
            now = server.connections()
            if sum(now) > sum(spread):
                spread[:] = now

    watcher = threading.Thread(target=watch, daemon=True)
    if server.workers > 1:
        watcher.start()
    cpu0 = server.cpu_s()
    try:
        out: LoadResult = pool.run("127.0.0.1", server.port, path, {"X-API-Key": server.key}, bodies,
                                   keep_bodies=path == "/predict_batch", max_seconds=max_seconds)
    finally:
        done.set()
    cpu1 = server.cpu_s()
    if watcher.is_alive():
        watcher.join()
    bad = [s for s in out.statuses if s != 200]
    if bad or out.errors:
        raise SystemExit(f"{server.name} {path}: {len(bad)} of {len(out.statuses)} answers were not 200, "
                         f"e.g. {out.errors[:1]} (server log: {server.log})")
    for body in out.bodies:
        scored = json.loads(body)["n_scored"]
        if scored != BATCH_SIZE:
            raise SystemExit(f"{server.name} {path}: a batch scored {scored} of {BATCH_SIZE} companies")
    companies = len(out.statuses) * per_request
    track["requests"] += len(out.statuses)
    track["companies"] += companies
    track["request_ids"].update(out.request_ids)
    lat = out.latencies
    sent = [b[:out.sent.get(i, 0)] for i, b in enumerate(bodies)]
    return Measured(requests=len(lat), companies=companies, wall_s=out.wall_s, rps=len(lat) / out.wall_s,
                    companies_per_s=companies / out.wall_s, p50_ms=statistics.median(lat) * 1e3,
                    p99_ms=_quantile(lat, 0.99) * 1e3, mean_ms=statistics.fmean(lat) * 1e3,
                    client_cores=out.client_cpu_s / out.wall_s, server_cores=(cpu1 - cpu0) / out.wall_s,
                    late_start_ms=out.late_start_s * 1e3, connections=spread), sent


@dataclass
class Line:
    """One configuration: both servers' figures."""

    kind: str
    shadow: bool
    workers: int
    path: str
    clients: int
    riskcore: Measured
    baseline: Measured
    verdicts: dict[str, bool] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """riskcore's requests/s over the baseline's."""
        return self.riskcore.rps / self.baseline.rps


def _riskcore_trail(url: str) -> tuple[dict[tuple[str, str], float], int, int, Any]:
    """(company, source) → PD, the rows, the distinct request ids, and ``verify()``."""
    from riskcore.serving.audit import AuditLog

    audit = AuditLog(url)
    try:
        n_rows = audit.count()
        rows = audit.recent(max(n_rows, 1)) if n_rows else None
        verified = audit.verify()
    finally:
        audit.close()
    pds: dict[tuple[str, str], float] = {}
    n_ids = 0
    if rows is not None:
        n_ids = int(rows["request_id"].nunique())
        for company, source, p in zip(rows["company_id"], rows["source"], rows["p_default"], strict=True):
            pds[(str(company), "champion" if source == "api" else str(source))] = float(p)
    return pds, n_rows, n_ids, verified


def _baseline_trail(db: str) -> tuple[dict[tuple[str, str], float], dict[str, Any]]:
    import handrolled_api

    checked = handrolled_api.verify(db)
    conn = sqlite3.connect(db)
    pds = {(c, r): float(p) for c, r, p in conn.execute("SELECT company_id, role, p_default FROM audit")}
    conn.close()
    return pds, checked


# ---------------------------------------------------------------------------
# one server run: a kind, shadow or not, a number of workers
# ---------------------------------------------------------------------------

def _server_run(args: argparse.Namespace, pool: LoadPool, kind: str, shadow: bool, workers: int,
                champion: Any, challenger: Any | None, companies: Companies, tmp: Path) -> tuple[list[Line], bool]:
    tag = f"{kind}-{'shadow' if shadow else 'solo'}-w{workers}"
    run_dir = tmp / tag
    model_file = run_dir / "model.json"
    run_dir.mkdir()
    _export(champion, challenger, model_file)
    rc = _start_riskcore(run_dir / "riskcore", champion, challenger, workers, args.group_wait_ms, args.group_max)
    try:
        base = _start_baseline(run_dir / "baseline", model_file, workers)
    except BaseException:
        rc.stop()
        raise
    servers = (rc, base)
    tracks: dict[str, dict[str, Any]] = {s.name: {"requests": 0, "companies": 0, "request_ids": set()}
                                         for s in servers}
    lines = []
    try:
        # warm both: connections, thread pools, the first audit write
        warm = companies.predict_bodies(f"{tag}-warm-", 4, 10)
        warm_b = companies.batch_bodies(f"{tag}-warmb-", 1, 1)
        for s in servers:
            _load(pool, s, "/predict", warm, tracks[s.name])
            _load(pool, s, "/predict_batch", warm_b, tracks[s.name])
        for path in ("/predict", "/predict_batch"):
            for clients in args.clients if path == "/predict" else args.batch_clients:
                if path == "/predict":
                    per = max(1, args.requests // clients)
                    bodies = companies.predict_bodies(f"{tag}-p{clients}-", clients, per)
                else:
                    per = max(1, args.batch_requests // clients)
                    bodies = companies.batch_bodies(f"{tag}-b{clients}-", clients, per)
                # riskcore first, within the time allowed; the baseline then gets exactly the bodies it answered
                m_rc, sent = _load(pool, rc, path, bodies, tracks["riskcore"], args.max_seconds)
                m_base, _ = _load(pool, base, path, sent, tracks["baseline"])
                line = Line(kind, shadow, workers, path, clients, m_rc, m_base)
                lines.append(line)
                print(f"  {path:14s} {clients:3d} clients, {m_rc.requests:4d} requests: riskcore {m_rc.rps:7.1f} "
                      f"req/s p50 {m_rc.p50_ms:6.1f} "
                      f"p99 {m_rc.p99_ms:6.1f} ms | baseline {m_base.rps:7.1f} req/s p50 {m_base.p50_ms:6.1f} "
                      f"p99 {m_base.p99_ms:6.1f} ms | ratio {line.ratio:4.2f} | CPU cores: clients "
                      f"{m_rc.client_cores:.2f}/{m_base.client_cores:.2f}, servers {m_rc.server_cores:.2f}/"
                      f"{m_base.server_cores:.2f}"
                      + (f" | connections per worker {'/'.join(map(str, m_rc.connections))} and "
                         f"{'/'.join(map(str, m_base.connections))}" if workers > 1 else ""), flush=True)
    finally:
        for s in servers:
            s.stop()

    # the audit trails: one row per scored company and model, one request id per request, the chain intact
    per_company = 2 if shadow else 1
    ok = True
    rc_pds, n_rows, n_ids, verified = _riskcore_trail(rc.audit)
    t = tracks["riskcore"]
    rc_ok = (n_rows == t["companies"] * per_company == len(rc_pds) and n_ids == t["requests"] ==
             len(t["request_ids"]) and verified.ok)
    print(f"  riskcore audit trail: {n_rows:,} rows for {t['companies']:,} scored companies × {per_company}; "
          f"{n_ids:,} request ids for {t['requests']:,} requests; {verified.message} — {'OK' if rc_ok else 'MISMATCH'}")
    base_pds, checked = _baseline_trail(base.audit)
    t = tracks["baseline"]
    base_ok = (checked["rows"] == t["companies"] * per_company == len(base_pds) and
               checked["request_ids"] == t["requests"] and checked["ok"])
    print(f"  baseline audit table: {checked['rows']:,} rows; {checked['request_ids']:,} request ids for "
          f"{t['requests']:,} requests; chain {'intact' if checked['ok'] else 'broken'} — "
          f"{'OK' if base_ok else 'MISMATCH'}")
    same = rc_pds.keys() == base_pds.keys()
    diff = max((abs(rc_pds[k] - base_pds[k]) for k in rc_pds.keys() & base_pds.keys()), default=float("nan"))
    print(f"  the same scores in both trails: {len(rc_pds):,} (company, model) pairs "
          f"{'identical' if same else 'DIFFERENT'}, max |ΔPD| {diff:.2e}")
    ok = rc_ok and base_ok and same and diff <= 1e-9
    return lines, ok


# ---------------------------------------------------------------------------
# verdicts and the table
# ---------------------------------------------------------------------------

def _verdicts(lines: list[Line]) -> list[str]:
    """Per-line verdicts (written into the lines) and the cross-configuration ones (returned as text)."""
    by = {(x.kind, x.shadow, x.workers, x.path, x.clients): x for x in lines}
    for x in lines:
        if x.path == "/predict" and x.clients == 8 and x.workers == 1:
            x.verdicts["≥0.8× baseline"] = x.ratio >= TARGETS["rate_vs_baseline"]
            x.verdicts["p99≤50ms"] = x.riskcore.p99_ms <= TARGETS["p99_ms"]
        if x.path == "/predict" and x.clients == 1:
            x.verdicts["p50 ≤ +2ms"] = x.riskcore.p50_ms - x.baseline.p50_ms <= TARGETS["p50_gap_ms"]
        lgb = by.get(("lightgbm", x.shadow, x.workers, x.path, x.clients))
        if x.kind == "logistic" and lgb is not None:
            x.verdicts["≥0.8× lgbm"] = x.riskcore.rps >= TARGETS["logistic_vs_lightgbm"] * lgb.riskcore.rps
        solo = by.get((x.kind, False, x.workers, x.path, x.clients))
        if x.shadow and solo is not None:
            x.verdicts["shadow ≤30%"] = x.riskcore.rps >= (1 - TARGETS["shadow_cost"]) * solo.riskcore.rps
        one = by.get((x.kind, x.shadow, 1, x.path, x.clients))
        if x.workers == 2 and one is not None:
            x.verdicts["≥1.5× 1 worker"] = x.riskcore.rps >= TARGETS["two_workers"] * one.riskcore.rps
    notes = []
    for x in lines:
        lgb = by.get(("lightgbm", x.shadow, x.workers, x.path, x.clients))
        solo = by.get((x.kind, False, x.workers, x.path, x.clients))
        one = by.get((x.kind, x.shadow, 1, x.path, x.clients))
        name = f"{x.kind:8s} {'shadow' if x.shadow else 'solo':6s} w{x.workers} {x.path:14s} {x.clients:2d} clients"
        parts = []
        if x.kind == "logistic" and lgb is not None:
            parts.append(f"logistic/LightGBM {x.riskcore.rps / lgb.riskcore.rps:4.2f}×")
        if x.shadow and solo is not None:
            parts.append(f"shadow costs {1 - x.riskcore.rps / solo.riskcore.rps:+4.0%} of the rate")
        if x.workers > 1 and one is not None:
            parts.append(f"{x.workers} workers/1 {x.riskcore.rps / one.riskcore.rps:4.2f}× "
                         f"(baseline {x.baseline.rps / one.baseline.rps:4.2f}×)")
        if parts:
            notes.append(f"  {name}: " + "; ".join(parts))
    return notes


def _table(lines: list[Line]) -> str:
    head = (f"{'kind':8s} {'shadow':6s} {'w':>1s} {'endpoint':14s} {'cl':>3s} | {'riskcore':>8s} {'p50':>6s} "
            f"{'p99':>6s} | {'baseline':>8s} {'p50':>6s} {'p99':>6s} | {'ratio':>5s} | {'cli CPU':>7s} "
            f"{'srv CPU':>7s} | targets")
    out = [head, "-" * len(head)]
    for x in lines:
        verdicts = ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in x.verdicts.items())
        out.append(f"{x.kind:8s} {'yes' if x.shadow else 'no':6s} {x.workers:1d} {x.path:14s} {x.clients:3d} | "
                   f"{x.riskcore.rps:8.1f} {x.riskcore.p50_ms:6.1f} {x.riskcore.p99_ms:6.1f} | "
                   f"{x.baseline.rps:8.1f} {x.baseline.p50_ms:6.1f} {x.baseline.p99_ms:6.1f} | {x.ratio:5.2f} | "
                   f"{x.riskcore.client_cores:7.2f} {x.riskcore.server_cores:7.2f} | {verdicts}")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------

def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--kinds", help=f"champion kinds (default {FULL['kinds']})")
    p.add_argument("--clients", type=_ints, help="concurrent clients on POST /predict (default 1,8,32)")
    p.add_argument("--batch-clients", type=_ints,
                   help="concurrent clients on POST /predict_batch (default 1,8: each client sends at least one "
                        "batch, and 32 batches of 100 take today's API minutes with a logistic champion)")
    p.add_argument("--requests", type=int,
                   help=f"POST /predict requests per configuration, shared by the clients (default {FULL['requests']})")
    p.add_argument("--batch-requests", type=int,
                   help=f"POST /predict_batch requests ({BATCH_SIZE} companies each) per configuration "
                        f"(default {FULL['batch_requests']})")
    p.add_argument("--workers", type=_ints, help="uvicorn workers of each server (default 1,2)")
    shadow = p.add_mutually_exclusive_group()
    shadow.add_argument("--no-shadow", action="store_true", help="only the champion scores")
    shadow.add_argument("--shadow-only", action="store_true", help="only runs with a challenger in shadow")
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run: LightGBM, 1 and 8 clients, 40 + 4 requests, one worker "
                        "(options given explicitly still apply)")
    p.add_argument("--group-wait-ms", type=float, default=None,
                   help="riskcore.toml's api_group_wait_ms for the API (written only when given)")
    p.add_argument("--group-max", type=int, default=None,
                   help="riskcore.toml's api_group_max for the API (written only when given)")
    p.add_argument("--max-seconds", type=float, default=6.0,
                   help="stop sending new requests to riskcore's API after this many seconds of a load run "
                        "(each client sends at least one; the baseline then gets the same requests; default 6)")
    p.add_argument("--client-processes", type=int, default=2, help="load generator processes (default 2)")
    p.add_argument("--retrain", action="store_true", help="train the bundles again instead of reusing them")
    p.add_argument("--out", default=str(OUTPUT / "api_bench.json"), help="where the results go (JSON)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 1 when an audit trail or a score does not match."""
    args = _parser().parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    shadows = [True] if args.shadow_only else [False] if args.no_shadow else [False, True]
    from riskcore.config import set_thread_defaults

    set_thread_defaults()
    cpus = os.cpu_count() or 1
    free = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load_start = os.getloadavg()
    print(f"machine: {cpus} CPUs ({free} usable by this process), load average "
          f"{', '.join(f'{x:.2f}' for x in load_start)}; load generator: {args.client_processes} processes of "
          f"asyncio keep-alive clients, on the same cores as the servers")
    if free <= 2:
        print("  with 2 cores the load generator competes with the server under test; the 2-worker runs cannot "
              "show what two free cores give")

    print("bundles:")
    models = {}
    for kind in kinds:
        models[kind] = (_bundle(kind, "champion", args.retrain),
                        _bundle(kind, "challenger", args.retrain) if True in shadows else None)
    pool = LoadPool(args.client_processes)
    all_lines: list[Line] = []
    checks: dict[str, Any] = {}
    ok = True
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
            for kind in kinds:
                champion, challenger = models[kind]
                companies = Companies(_company_pool(champion))
                checks[kind] = _equality(champion, challenger, companies.pool, Path(tmp) / f"{kind}-check.json")
                for shadow in shadows:
                    for workers in args.workers:
                        print(f"{kind} champion{' + ' + kind + ' challenger in shadow' if shadow else ''}, "
                              f"{workers} worker{'s' if workers > 1 else ''}:", flush=True)
                        lines, run_ok = _server_run(args, pool, kind, shadow, workers, champion,
                                                    challenger if shadow else None, companies, Path(tmp))
                        all_lines += lines
                        ok = ok and run_ok
    finally:
        pool.close()
    elapsed = time.perf_counter() - t_start

    notes = _verdicts(all_lines)
    print(f"\nriskcore's API against the hand-rolled service ({elapsed:.0f} s; req/s, p50 and p99 in ms; CPU in cores "
          f"of {cpus}: the load generator's and riskcore's server during its run)")
    print(_table(all_lines))
    if notes:
        print("across configurations (riskcore's req/s):")
        print("\n".join(notes))
    for x in all_lines:
        slow = min(x.riskcore.p50_ms, x.baseline.p50_ms) >= 40
        if x.workers > 1 and x.path == "/predict" and x.clients == 1 and slow:
            print(f"note: with {x.workers} workers one client waits ≥40 ms per answer on both servers ({x.kind}, "
                  f"{'shadow' if x.shadow else 'solo'}: p50 {x.riskcore.p50_ms:.0f} and {x.baseline.p50_ms:.0f} ms) "
                  f"while they use {x.riskcore.server_cores:.2f} and {x.baseline.server_cores:.2f} cores: a keep-alive "
                  "answer waits for the client's delayed ACK, because uvicorn's --workers N leaves TCP_NODELAY off "
                  "(Kludex/uvicorn#3149); the 2-worker rates at few clients measure that wait, not the cores")
            break
    client = [x.riskcore.client_cores for x in all_lines] + [x.baseline.client_cores for x in all_lines]
    if client:
        print(f"load generator CPU: {statistics.median(client):.2f} cores median, {max(client):.2f} at most, of {cpus}")
    load_end = os.getloadavg()
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in load_end)} (above {cpus} means other work shared "
          "the cores with this run: compare ratios, not absolute rates)")
    print(f"audit trails and scores: {'OK' if ok else 'MISMATCH'}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"cpus": cpus, "usable_cpus": free, "client_processes": args.client_processes,
                    "load_average_start": load_start, "load_average_end": load_end},
        "options": {k: v for k, v in vars(args).items() if k != "out"}, "targets": TARGETS,
        "equality": checks, "ok": ok, "seconds": elapsed,
        "lines": [{**{k: v for k, v in asdict(x).items() if k not in ("riskcore", "baseline")},
                   "riskcore": asdict(x.riskcore), "baseline": asdict(x.baseline), "ratio": x.ratio}
                  for x in all_lines],
    }, indent=2, default=str), encoding="utf-8")
    print(f"results: {out}")
    return 0 if ok else 1


def _equality(champion: Any, challenger: Any | None, pool: list[dict[str, Any]], path: Path) -> dict[str, float]:
    """The baseline's PD and raw score against riskcore's ``score_one`` for the pool's companies, in process."""
    import handrolled_api

    from riskcore.serving.scoring import score_one

    exported = _export(champion, challenger, path)
    result = {}
    for role, bundle in (("champion", champion), ("shadow", challenger)):
        if bundle is None:
            continue
        model = handrolled_api.Model(exported[role])
        features = [c["features"] for c in pool]
        raw = model.raw(model.matrix(features))
        pd_ = model.pd(raw)
        ours = [score_one(bundle, f, strict=True) for f in features]
        d_pd = max(abs(o["p_default"] - p) for o, p in zip(ours, pd_, strict=True))
        d_raw = max(abs(o["score_raw"] - r) for o, r in zip(ours, raw, strict=True))
        print(f"  the baseline's {bundle.kind} {role} against riskcore's score_one, {len(pool)} companies: "
              f"max |ΔPD| {d_pd:.2e}, max |Δraw score| {d_raw:.2e}")
        result[f"{role}_max_abs_pd"], result[f"{role}_max_abs_raw"] = d_pd, d_raw
    return result


if __name__ == "__main__":
    sys.exit(main())
