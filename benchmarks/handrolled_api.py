"""The hand-rolled baseline of riskcore's REST API: the simplest audited scoring service a team would write.

FastAPI with a pydantic body → the model row built with NumPy from the exported
feature order and category codes → ``lightgbm.Booster.predict`` (or, for a
logistic champion, the pipeline's fitted numbers applied with NumPy and
``scipy.special.ndtri``) → the calibrated PD with ``numpy.interp`` → one SQLite
row per score, chained to the previous row by SHA-256 and committed before the
answer is sent. It imports nothing of riskcore: everything it needs is in a JSON
file that ``benchmarks/api_bench.py`` exports from the bundles beforehand
(feature order, category codes, row-feature recipes, the LightGBM model text or
the logistic pipeline's imputer medians, quantiles, one-hot layout and
coefficients, the calibrator's points).

Endpoints: ``GET /health``; ``POST /predict`` (one company) and ``POST
/predict_batch`` (``{"companies": [...]}``), both checking the ``X-API-Key``
header. With a shadow model in the file every company is scored by it too and
its score is written as a row of its own (role ``shadow``) in the same
transaction.

What it leaves out on purpose, and riskcore does: the spec's rules (ranges,
required features, the same sentence for every mistake), per-company errors in a
batch, grades, risk levels and expected loss, roles and rate limits, champion
fallback and hot swaps, canary routing, columnar audit chunks with per-row
fingerprints. That is the price the benchmark measures.

    python benchmarks/handrolled_api.py serve --model FILE --db FILE --key KEY [--port 8001] [--workers 1]
    python benchmarks/handrolled_api.py verify --db FILE      # rows, request ids, and the chain checked
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations, local classes, at run time

import argparse
import hashlib
import hmac
import json
import os
import socket
import sqlite3
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

GENESIS = "0" * 64
BOUNDS_THRESHOLD = 1e-7  # scikit-learn's QuantileTransformer: values this close to an end map to it
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    company_id TEXT NOT NULL,
    role TEXT NOT NULL,
    model_version TEXT NOT NULL,
    p_default REAL NOT NULL,
    score_raw REAL NOT NULL,
    inputs TEXT NOT NULL,
    created_at TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""


# ---------------------------------------------------------------------------
# the model, from the exported numbers
# ---------------------------------------------------------------------------

def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class Model:
    """One exported model: the row layout, the scorer and the calibrator."""

    def __init__(self, spec: dict[str, Any]):
        self.version: str = spec["version"]
        self.threshold = float(spec["threshold"])
        self.numeric: list[str] = spec["numeric"]
        self.categorical: list[str] = spec["categorical"]
        self.codes = [{c: float(i) for i, c in enumerate(spec["categories"][name])} for name in self.categorical]
        index = {name: i for i, name in enumerate(self.numeric)}
        self.engineered = [(e["op"], [index[i] for i in e["inputs"]], [i in e["log_inputs"] for i in e["inputs"]],
                            float(e["scale"]), np.asarray(e["weights"] or [1.0] * len(e["inputs"])),
                            np.asarray(e["center"] or [0.0] * len(e["inputs"])),
                            np.asarray(e["spread"] or [1.0] * len(e["inputs"])))
                           for e in spec["engineered"]]
        cal = spec["calibrator"]
        self.cal_method = cal["method"]
        if self.cal_method == "isotonic":
            self.cal_x, self.cal_y = np.asarray(cal["x"]), np.asarray(cal["y"])
        else:
            self.cal_a, self.cal_b = float(cal["a"]), float(cal["b"])
        self.pd_floor = float(spec["pd_floor"])
        model = spec["model"]
        self.kind = model["kind"]
        if self.kind == "lightgbm":
            import lightgbm as lgb

            self.booster = lgb.Booster(model_str=model["text"])
        elif self.kind == "logistic":
            from scipy.special import ndtri

            self.ndtri = ndtri
            self.num_idx = np.asarray(model["numeric_columns"], dtype=int)
            self.medians = np.asarray(model["medians"])
            self.indicator = np.asarray(model["indicator"], dtype=int)
            self.quantiles = [np.asarray(q) for q in model["quantiles"]]
            self.references = np.asarray(model["references"])
            self.cat_idx = np.asarray(model["categorical_columns"], dtype=int)
            self.onehot = [np.asarray(c) for c in model["onehot"]]
            self.coef = np.asarray(model["coef"])
            self.intercept = float(model["intercept"])
            eps = np.spacing(1)
            self.clip = (float(ndtri(BOUNDS_THRESHOLD - eps)), float(ndtri(1 - (BOUNDS_THRESHOLD - eps))))
        else:
            raise SystemExit(f"model kind {self.kind!r} is not one this service knows (lightgbm, logistic)")

    def matrix(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """The model matrix: numeric values, category codes, row features."""
        nan = float("nan")
        numeric = np.array([[nan if (v := r.get(c)) is None else v for c in self.numeric] for r in rows], dtype=float)
        cats = np.array([[codes.get(r.get(c), nan) for c, codes in zip(self.categorical, self.codes)] for r in rows],
                        dtype=float).reshape(len(rows), len(self.categorical))
        eng = np.empty((len(rows), len(self.engineered)))
        for j, (op, inputs, logs, scale, weights, center, spread) in enumerate(self.engineered):
            cols = [_signed_log(numeric[:, i]) if lg else numeric[:, i] for i, lg in zip(inputs, logs)]
            if op == "product":
                v = cols[0].copy()
                for c in cols[1:]:
                    v = v * c
                eng[:, j] = v * scale
            else:  # composite: z-scores against the training medians and spreads, weighted
                z = np.column_stack([(c - m) / s for c, m, s in zip(cols, center, spread)])
                all_missing = np.isnan(z).all(axis=1)
                eng[:, j] = np.where(all_missing, nan, np.nansum(z * weights, axis=1) / np.sum(np.abs(weights)))
        return np.hstack([numeric, cats, eng])

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        if self.kind == "lightgbm":
            return np.asarray(self.booster.predict(x, raw_score=True, num_threads=1), dtype=float)
        num = x[:, self.num_idx]
        missing = np.isnan(num)
        num = np.hstack([np.where(missing, self.medians, num), missing[:, self.indicator].astype(float)])
        out = np.empty_like(num)
        ref = self.references
        for j, q in enumerate(self.quantiles):
            col = num[:, j]
            u = 0.5 * (np.interp(col, q, ref) - np.interp(-col, -q[::-1], -ref[::-1]))
            u[col + BOUNDS_THRESHOLD > q[-1]] = 1.0
            u[col - BOUNDS_THRESHOLD < q[0]] = 0.0
            out[:, j] = np.clip(self.ndtri(u), *self.clip)
        codes = np.nan_to_num(x[:, self.cat_idx], nan=-1.0)
        onehot = [(codes[:, j:j + 1] == cats[None, :]).astype(float) for j, cats in enumerate(self.onehot)]
        features = np.hstack([out, *onehot])
        return np.asarray(features @ self.coef + self.intercept, dtype=float)

    def pd(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability of default, floored."""
        if self.cal_method == "isotonic":
            p = np.interp(raw, self.cal_x, self.cal_y)
        else:
            p = 1.0 / (1.0 + np.exp(-(self.cal_a * raw + self.cal_b)))
        return np.clip(p, self.pd_floor, 1.0)


# ---------------------------------------------------------------------------
# the audit table: one row per score, each chained to the one before
# ---------------------------------------------------------------------------

def row_hash(prev: str, fields: list[Any]) -> str:
    """SHA-256 of the previous row's hash and this row's fields as JSON."""
    return hashlib.sha256((prev + json.dumps(fields, separators=(",", ":"))).encode()).hexdigest()


class AuditTable:
    """A SQLite file in WAL mode; every request appends its rows in one transaction."""

    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()
        with self._connect() as conn:
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self._connect()
        return conn

    def append(self, rows: list[list[Any]]) -> None:
        """Chain and commit ``rows`` (request_id, company_id, role, version, pd, raw, inputs, created_at)."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")  # the chain's tail is read and extended by one writer at a time
        try:
            last = conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = last[0] if last else GENESIS
            chained = []
            for fields in rows:
                h = row_hash(prev, fields)
                chained.append((*fields, prev, h))
                prev = h
            conn.executemany("INSERT INTO audit (request_id, company_id, role, model_version, p_default, score_raw, "
                             "inputs, created_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chained)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def verify(path: str) -> dict[str, Any]:
    """Rows, distinct request ids, (company, role) pairs, and whether every row's hash and link hold."""
    conn = sqlite3.connect(path)
    prev, ok, broken = GENESIS, True, None
    n, requests, pairs = 0, set(), set()
    duplicates = 0
    for rid, company, role, version, p, raw, inputs, created, prev_hash, h in conn.execute(
            "SELECT request_id, company_id, role, model_version, p_default, score_raw, inputs, created_at, prev_hash, "
            "hash FROM audit ORDER BY id"):
        n += 1
        requests.add(rid)
        duplicates += (company, role) in pairs
        pairs.add((company, role))
        if ok and (prev_hash != prev or row_hash(prev, [rid, company, role, version, p, raw, inputs, created]) != h):
            ok, broken = False, n
        prev = h
    conn.close()
    return {"rows": n, "request_ids": len(requests), "duplicates": duplicates, "ok": ok, "first_broken_row": broken}


# ---------------------------------------------------------------------------
# the service
# ---------------------------------------------------------------------------

def create_app() -> Any:
    """The FastAPI app of the files named by HANDROLLED_MODEL, HANDROLLED_DB and the key HANDROLLED_KEY."""
    from fastapi import FastAPI, Header, HTTPException, Response
    from pydantic import BaseModel, ConfigDict, Field, create_model

    exported = json.loads(Path(os.environ["HANDROLLED_MODEL"]).read_text(encoding="utf-8"))
    champion = Model(exported["champion"])
    shadow = Model(exported["shadow"]) if exported.get("shadow") else None
    audit = AuditTable(os.environ["HANDROLLED_DB"])
    key = os.environ["HANDROLLED_KEY"].encode()

    fields: dict[str, Any] = {name: (float | None, None) for name in exported["request"]["numeric"]}
    fields.update({name: (str | None, None) for name in exported["request"]["categorical"]})
    Features = create_model("Features", __config__=ConfigDict(extra="forbid", protected_namespaces=()), **fields)

    class Company(BaseModel):
        company_id: str = Field(min_length=1, max_length=200)
        fiscal_year: int | None = None
        exposure: float | None = Field(None, ge=0)
        features: Features  # type: ignore[valid-type]

    class Batch(BaseModel):
        companies: list[Company] = Field(min_length=1, max_length=1000)

    app = FastAPI(title="hand-rolled scoring service")

    def check_key(x_api_key: str | None) -> None:
        if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), key):
            raise HTTPException(401, "a valid X-API-Key header is required")

    def score(companies: list[Company], rid: str) -> tuple[np.ndarray, np.ndarray]:
        values = [c.features.model_dump() for c in companies]  # type: ignore[attr-defined]
        x = champion.matrix(values)
        raw = champion.raw(x)
        pd_ = champion.pd(raw)
        now = datetime.now(UTC).isoformat()
        inputs = [json.dumps(v, sort_keys=True) for v in values]
        rows = [[rid, c.company_id, "champion", champion.version, float(p), float(r), i, now]
                for c, p, r, i in zip(companies, pd_, raw, inputs)]
        if shadow is not None:
            s_raw = shadow.raw(shadow.matrix(values))  # its own row: the composite's centre is the model's own
            rows += [[rid, c.company_id, "shadow", shadow.version, float(p), float(r), i, now]
                     for c, p, r, i in zip(companies, shadow.pd(s_raw), s_raw, inputs)]
        audit.append(rows)
        return raw, pd_

    def answer(c: Company, raw: float, p: float, rid: str) -> dict[str, Any]:
        return {"company_id": c.company_id, "p_default": p, "score_raw": raw,
                "decision": "refer" if p >= champion.threshold else "accept",
                "model_version": champion.version, "request_id": rid}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(company: Company, response: Response, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        check_key(x_api_key)
        rid = uuid.uuid4().hex
        raw, pd_ = score([company], rid)
        response.headers["X-Request-ID"] = rid
        return answer(company, float(raw[0]), float(pd_[0]), rid)

    @app.post("/predict_batch")
    def predict_batch(batch: Batch, response: Response, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        check_key(x_api_key)
        rid = uuid.uuid4().hex
        raw, pd_ = score(batch.companies, rid)
        response.headers["X-Request-ID"] = rid
        results = [answer(c, float(r), float(p), rid) for c, r, p in zip(batch.companies, raw, pd_)]
        return {"results": results, "n_scored": len(results), "request_id": rid}

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the app, or verify an audit file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the scoring service with uvicorn")
    serve.add_argument("--model", required=True, help="the JSON file exported by api_bench.py")
    serve.add_argument("--db", required=True, help="the SQLite audit file (created when missing)")
    serve.add_argument("--key", required=True, help="the API key clients send in X-API-Key")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument("--workers", type=int, default=1)
    check = sub.add_parser("verify", help="count the audit rows and check their chain")
    check.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    if args.command == "verify":
        result = verify(args.db)
        print(json.dumps(result))
        return 0 if result["ok"] else 1
    import uvicorn

    os.environ.update(HANDROLLED_MODEL=str(Path(args.model).resolve()), HANDROLLED_DB=str(Path(args.db).resolve()),
                      HANDROLLED_KEY=args.key)
    AuditTable(os.environ["HANDROLLED_DB"])  # the table exists before the workers start
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    config = uvicorn.Config("handrolled_api:create_app", factory=True, host=args.host, port=args.port,
                            workers=args.workers, log_level="warning")
    if args.workers == 1:
        uvicorn.Server(config).run()
        return 0
    # as python -m api does: the shared socket named as TCP, so each accepted connection gets TCP_NODELAY (else
    # every keep-alive answer waits for the client's delayed acknowledgement, 40 ms)
    from uvicorn.supervisors import Multiprocess

    bound = config.bind_socket()
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
