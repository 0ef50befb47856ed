"""The REST API under a bounded local load: throughput, p50 and p99 latency, audit rows.

A uvicorn server (``python -m api --workers 1``) runs in a subprocess on
127.0.0.1 with a LightGBM bundle (trained here on a small demo portfolio, or
``--bundle FOLDER``). Eight client threads with keep-alive connections send

* 8 × 500 POST /predict (one company each), then
* 8 × 25 POST /predict_batch (100 companies each).

Every response must be 200, and afterwards the audit trail must hold exactly
one row per scored company, one request id per request, and an intact chain.

Baselines measured in the same run, in this process and on one thread: the
same companies through ``score_one`` (the /predict path) and through
``score_frame`` on 100-row frames (the batch path). The ratio is the HTTP
wall time over the in-process time for the same work: the price of HTTP,
JSON, validation, auth and the audit trail.

With ``--shadow`` a second LightGBM model is trained too and configured as
``[serving] challenger``: every request is then scored by both models and
both scores are recorded (two audit rows per company), the price of trying a
challenger on live traffic.

    .venv/bin/python benchmarks/api_bench.py [--bundle FOLDER] [--clients 8] [--requests 500] [--shadow]
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, timeit  # noqa: E402

BATCH_SIZE = 100
BATCH_REQUESTS = 25  # per client
SEED = 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _train(folder: Path, kind: str = "lightgbm") -> Path:
    from riskcore.config import TrainingConfig
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.train import train

    portfolio = generate_portfolio(1000, seed=SEED)  # the model only has to be realistic, not good
    config = TrainingConfig.quick(candidates=(kind,), n_iter=1, cv_folds=2, n_bootstrap=200)
    return Path(train(portfolio.frame, DEMO_SPEC, config=config, models_dir=folder).bundle_dir)


def _companies(bundle: Any, n: int, prefix: str) -> list[dict[str, Any]]:
    """n valid companies from the bundle's holdout rows (repeated when there are fewer), unique ids."""
    hold = bundle.holdout()
    names = list(bundle.spec.feature_names)
    rows = hold[names + ["exposure_eur"]].to_dict(orient="records") if "exposure_eur" in hold else \
        hold[names].to_dict(orient="records")
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        features = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in r.items()
                    if k in names and v is not None and not (isinstance(v, float) and math.isnan(v))}
        company: dict[str, Any] = {"company_id": f"{prefix}{i:06d}", "features": features}
        ead = r.get("exposure_eur")
        if isinstance(ead, float) and not math.isnan(ead):
            company["exposure"] = ead
        out.append(company)
    return out


def _start_server(home: Path, bundle_dir: Path, port: int, challenger: str = "") -> subprocess.Popen[bytes]:
    config = home / "riskcore.toml"
    shadow = f'\n[serving]\nchallenger = "{challenger}"\n' if challenger else ""
    config.write_text("api_rate_limit = 1000000\napi_max_batch = 1000\n" + shadow, encoding="utf-8")
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_API_BUNDLE": str(bundle_dir),
           "RISKCORE_CONFIG": str(config)}
    env.pop("RISKCORE_AUDIT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--log-level", "warning"],
                            cwd=Path(__file__).resolve().parents[1], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the API server did not become ready within 120 s")


def _load(base: str, key: str, path: str, bodies: list[list[Any]]) -> tuple[float, list[float], list[str]]:
    """Each thread sends its list of bodies one after the other; returns wall time, latencies, request ids."""
    latencies: list[list[float]] = [[] for _ in bodies]
    ids: list[list[str]] = [[] for _ in bodies]
    errors: list[str] = []
    start = threading.Barrier(len(bodies) + 1)

    def client(n: int) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as http:
            http.get("/health")  # connect before the clock starts
            start.wait()
            for body in bodies[n]:
                t0 = time.perf_counter()
                r = http.post(path, json=body)
                latencies[n].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
                    return
                ids[n].append(r.json()["request_id"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(bodies))]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return wall, [x for part in latencies for x in part], [x for part in ids for x in part]


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


def _http_line(name: str, wall: float, lat: list[float], baseline: float, unit: str, n_units: int) -> str:
    extra = (f"{len(lat) / wall:,.0f} req/s ({n_units / wall:,.0f} {unit}/s), "
             f"p50 {statistics.median(lat) * 1000:.1f} ms, p99 {_quantile(lat, 0.99) * 1000:.1f} ms")
    return row(name, wall, baseline, extra)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="a bundle folder to serve (default: train a small LightGBM bundle)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="POST /predict requests per client")
    parser.add_argument("--shadow", action="store_true", help="score every request with a challenger in shadow too")
    args = parser.parse_args(argv)

    from riskcore.config import load_settings
    from riskcore.identity import KeyStore
    from riskcore.modelling.bundle import load_bundle
    from riskcore.serving.audit import AuditLog
    from riskcore.serving.scoring import score_frame, score_one

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        t0 = time.perf_counter()
        bundle_dir = Path(args.bundle) if args.bundle else _train(Path(tmp) / "models")
        bundle = load_bundle(bundle_dir)
        prep_s = time.perf_counter() - t0
        settings = load_settings(env={"RISKCORE_HOME": str(home)})
        key = KeyStore(settings.keys_file).add("service", "bench")[1]
        port = _free_port()
        challenger = _train(settings.models_dir).name if args.shadow else ""
        server = _start_server(home, bundle_dir, port, challenger)
        try:
            n_single = args.clients * args.requests
            singles = _companies(bundle, n_single, "S")
            batch_companies = _companies(bundle, args.clients * BATCH_REQUESTS * BATCH_SIZE, "B")
            predict_bodies = [singles[n::args.clients] for n in range(args.clients)]
            batches = [{"companies": batch_companies[i:i + BATCH_SIZE]}
                       for i in range(0, len(batch_companies), BATCH_SIZE)]
            batch_bodies = [batches[n::args.clients] for n in range(args.clients)]
            base = f"http://127.0.0.1:{port}"
            p_wall, p_lat, p_ids = _load(base, key, "/predict", predict_bodies)
            b_wall, b_lat, b_ids = _load(base, key, "/predict_batch", batch_bodies)
        finally:
            server.terminate()
            server.wait(timeout=30)

        audit = AuditLog(settings.resolved_audit_url)
        n_rows = audit.count()
        rows = audit.recent(n_rows + 1) if n_rows else None
        verified = audit.verify()
        audit.close()

        # in-process baselines, same companies, one thread
        def records(companies: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**c["features"], "company_id": c["company_id"],
                     **({"exposure_eur": c["exposure"]} if "exposure" in c else {})} for c in companies]

        single_records = records(singles)
        one_s, _ = timeit(lambda: [score_one(bundle, r) for r in single_records], repeat=3)
        import pandas as pd

        frames = [pd.DataFrame(records(b["companies"])) for b in batches]
        frame_s, _ = timeit(lambda: [score_frame(bundle, f, passthrough=False) for f in frames], repeat=3)
        batch_records = records(batch_companies)
        one_b_s, _ = timeit(lambda: [score_one(bundle, r) for r in batch_records], repeat=1)

    n_batch = len(batches)
    n_scored = (n_single + n_batch * BATCH_SIZE) * (2 if args.shadow else 1)
    shadow = "; challenger in shadow (2 audit rows per company)" if args.shadow else ""
    print(f"REST API on 127.0.0.1, uvicorn 1 worker, {os.cpu_count()} CPUs; model {bundle.version}{shadow} "
          f"(bundle {'given' if args.bundle else 'trained'} in {prep_s:.0f} s); {args.clients} client threads")
    print(row("baseline: score_one in-process, same companies", one_s, None,
              f"{n_single:,} companies, {one_s / n_single * 1e3:.3f} ms each"))
    print(_http_line(f"POST /predict: {n_single:,} requests", p_wall, p_lat, one_s, "companies", n_single))
    print(row("baseline: score_frame in-process, 100-row frames", frame_s, None,
              f"{n_batch} frames, {frame_s / n_batch * 1e3:.1f} ms each"))
    print(row("  (score_one for the same companies)", one_b_s, frame_s,
              f"{one_b_s / n_batch * 1e3:.1f} ms per 100 — the path the API uses"))
    print(_http_line(f"POST /predict_batch: {n_batch} × {BATCH_SIZE} companies", b_wall, b_lat, frame_s,
                     "companies", n_batch * BATCH_SIZE))
    ids_ok = rows is not None and rows["request_id"].nunique() == len(p_ids) + len(b_ids)
    status = "OK" if n_rows == n_scored and ids_ok and verified.ok else "MISMATCH"
    print(f"audit trail: {n_rows:,} rows for {n_scored:,} scored companies; "
          f"{rows['request_id'].nunique() if rows is not None else 0:,} request ids for "
          f"{len(p_ids) + len(b_ids):,} requests; {verified.message} — {status}")
    if status != "OK":
        sys.exit(1)


if __name__ == "__main__":
    main()
