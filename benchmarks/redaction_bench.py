"""What keeping personal data out of the audit trail costs: a streamed request with one redacted text column.

A request of ``--rows`` scores (500,000 by default) arrives in chunks of 50,000 (``score``'s chunk size) through
``AuditLog.batch()`` on a fresh SQLite file, its inputs the demo portfolio's model inputs plus its
``company_name`` (one name per company, each repeated over its fiscal years, as in a panel). Run twice on the same
chunks: without a redaction (the name stored as written) and with the product's (the name stored as
``hmac-sha256:<key id>:<hex>``). Printed: the seconds of each, the difference, the hashing alone
(``Redaction.hash_array`` over the name column of every chunk) and the stored bytes. Then ``verify()`` of the
redacted trail. Figures go to ``benchmarks/output/redaction_bench.json``.

    .venv/bin/python benchmarks/redaction_bench.py [--rows 500000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio  # noqa: E402
from riskcore.serving.audit import AuditLog, Redaction  # noqa: E402

CHUNK = 50_000
SALT = b"0123456789abcdef0123456789abcdef"


def _chunks(rows: int) -> list[pd.DataFrame]:
    """The inputs of ``rows`` scores: the demo's model inputs and names, tiled, in chunks of CHUNK rows."""
    frame = generate_portfolio(20_000, seed=7).frame
    columns = [c for c in (*DEMO_SPEC.key_columns, *DEMO_SPEC.feature_names, DEMO_SPEC.exposure, "company_name")
               if c in frame]
    reps = -(-rows // len(frame))
    tiled = pd.concat([frame[columns]] * reps, ignore_index=True).head(rows)
    # every copy of the portfolio is other companies: their names differ, each repeated over its own years
    copy = np.repeat(np.arange(reps), len(frame))[:rows].astype(str)
    tiled["company_name"] = tiled["company_name"].astype(str) + " #" + copy
    tiled["company_id"] = tiled["company_id"].astype(str) + "-" + copy
    return [tiled.iloc[i:i + CHUNK].reset_index(drop=True) for i in range(0, rows, CHUNK)]


def _record(url: str, chunks: list[pd.DataFrame], redaction: Redaction | None) -> float:
    log = AuditLog(url, redaction=redaction)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    with log.batch(source="cli", caller="bench", model_version="v1", bundle_hash="f" * 64) as batch:
        for chunk in chunks:
            n = len(chunk)
            batch.add(chunk["company_id"].to_numpy(dtype=object), chunk, rng.random(n),
                      np.where(rng.random(n) < 0.1, "refer", "accept"), np.full(n, "B", dtype=object))
    seconds = time.perf_counter() - start
    log.close()
    return seconds


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    chunks = _chunks(args.rows)
    redaction = Redaction(SALT)
    names = [c["company_name"] for c in chunks]
    distinct = int(pd.concat(names).nunique())
    print(f"{args.rows:,} rows in {len(chunks)} chunks; {distinct:,} distinct names; "
          f"{len(chunks[0].columns)} input columns; load average {os.getloadavg()[0]:.2f}")
    import pyarrow as pa

    arrays = [pa.array(n, pa.string()) for n in names]
    hashing = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for arr in arrays:
            redaction.hash_array("text", arr)
        hashing.append(time.perf_counter() - t0)
    figures: dict[str, float] = {"rows": args.rows, "distinct_names": distinct, "hash_only_s": min(hashing)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, red in (("plain", None), ("redacted", redaction)):
            times = []
            for k in range(args.repeat):
                path = Path(tmp) / f"{label}-{k}.db"
                times.append(_record(f"sqlite:///{path}", chunks, red))
                figures[f"{label}_bytes"] = path.stat().st_size
            figures[f"{label}_s"] = min(times)
        t0 = time.perf_counter()
        result = AuditLog(f"sqlite:///{Path(tmp) / 'redacted-0.db'}").verify()
        figures["verify_redacted_s"] = time.perf_counter() - t0
        assert result.ok, result.message
    extra = figures["redacted_s"] - figures["plain_s"]
    print(f"recorded without redaction: {figures['plain_s']:.2f} s ({args.rows / figures['plain_s']:,.0f} rows/s), "
          f"{figures['plain_bytes'] / 1e6:.1f} MB")
    print(f"recorded with the name redacted: {figures['redacted_s']:.2f} s "
          f"({args.rows / figures['redacted_s']:,.0f} rows/s), {figures['redacted_bytes'] / 1e6:.1f} MB; "
          f"+{extra:.2f} s (+{extra / figures['plain_s']:.0%})")
    print(f"hashing the name column alone: {figures['hash_only_s']:.2f} s "
          f"({figures['hash_only_s'] / distinct * 1e6:.2f} µs per distinct name)")
    print(f"verify() of the redacted trail: {figures['verify_redacted_s']:.2f} s ({result.message})")
    out = ROOT / "benchmarks" / "output"
    out.mkdir(exist_ok=True)
    (out / "redaction_bench.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
